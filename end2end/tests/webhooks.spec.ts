// Outgoing webhooks from the admin page: add one, copy its secret, and see a customer's
// message arrive at the receiver signed with it; pause and resume it.
import { createHmac } from "node:crypto";
import { createServer, IncomingMessage } from "node:http";
import { AddressInfo } from "node:net";
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_WEBHOOKS_PORT ?? 3418), {
  // The receiver below listens on loopback.
  SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE: "1",
});

type Got = { body: string; headers: IncomingMessage["headers"] };
const got: Got[] = [];
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    got.push({ body, headers: req.headers });
    res.writeHead(204).end();
  });
});

test.beforeAll(async () => {
  await server.start();
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
});
test.afterAll(async () => {
  await server.stop();
  receiver.close();
});

test("an admin subscribes a URL and a customer's message reaches it signed, in order", async ({ page }) => {
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
  await signIn(page, server.url);
  await page.getByTestId("admin-link").click();
  await expect(page.getByTestId("webhooks-empty")).toBeVisible();

  const form = page.getByTestId("add-webhook");
  await form.getByLabel("Webhook URL").fill(url);
  await form.getByLabel("message.created").check();
  await form.getByRole("button", { name: "Add webhook" }).click();
  const secret = (await page.getByTestId("new-webhook-secret").locator("code").textContent()) ?? "";
  expect(secret.length).toBeGreaterThan(32);
  const row = page.getByTestId("webhook-row");
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(url);
  await expect(row.getByTestId("webhook-state")).toHaveText("active");

  await server.customerWrites("5511987650002", "Where is my order?");
  await server.customerWrites("5511987650002", "It was due Monday");
  await expect.poll(() => got.length).toBe(2);
  for (const g of got) {
    const expected = "sha256=" + createHmac("sha256", secret).update(g.body).digest("hex");
    expect(g.headers["x-switchboard-signature"]).toBe(expected);
    expect(JSON.parse(g.body).type).toBe("message.created");
  }
  const texts = got.map((g) => JSON.parse(g.body).data.text);
  expect(texts).toEqual(["Where is my order?", "It was due Monday"]);

  await row.getByRole("button", { name: "Pause" }).click();
  await expect(row.getByTestId("webhook-state")).toHaveText("paused");
  await server.customerWrites("5511987650002", "Hello?");
  await page.getByTestId("refresh-webhooks").click();
  await expect(row.getByTestId("webhook-lag")).not.toHaveText("0");
  expect(got.length).toBe(2);
  await row.getByRole("button", { name: "Resume" }).click();
  await expect.poll(() => got.length).toBe(3);
  await page.getByTestId("refresh-webhooks").click();
  await expect(row.getByTestId("webhook-state")).toHaveText("active");
  await expect(row.getByTestId("webhook-lag")).toHaveText("0");

  // The audit log on the same page says who subscribed the URL, and paused it.
  await page.getByTestId("audit-refresh").click();
  const created = page.locator("[data-testid=audit-row][data-action='webhook.created']");
  await expect(created).toHaveCount(1);
  await expect(created).toContainText("127.0.0.1");
  await expect(page.locator("[data-testid=audit-row][data-action='webhook.updated']").first()).toBeVisible();
});
