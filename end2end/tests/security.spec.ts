// What a browser must never do: run a customer's message as code, or keep working after
// the session ends.
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_SECURITY_PORT ?? 3412));

test.describe.configure({ mode: "serial" });
test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

test("markup in a message, a name or a preview is shown as text", async ({ page }) => {
  const payloads = [
    `<img src=x onerror="window.__xss = 1">`,
    `<script>window.__xss = 2</script>`,
    `"><svg onload="window.__xss = 3">`,
  ];
  await signIn(page, server.url);
  for (const text of payloads) await server.customerWrites("5511987650001", text);
  await page.getByTestId("conversation").filter({ hasText: "Ana Souza" }).click();
  const bubbles = page.getByTestId("message");
  await expect(bubbles).toHaveCount(payloads.length);
  for (const [i, text] of payloads.entries()) {
    await expect(bubbles.nth(i)).toContainText(text);
  }
  await expect(page.locator("[data-testid=thread] img, [data-testid=thread] script, [data-testid=thread] svg[onload]")).toHaveCount(0);
  // Also after a full server render of the same page.
  await page.reload();
  await expect(bubbles).toHaveCount(payloads.length);
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
});

test("signing out ends the session for the page", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto(server.url + "/");
  await expect(page).toHaveURL(/\/login$/);
});

test("a customer's HTML document downloads when opened and runs nothing on our origin", async ({ page, context }) => {
  await signIn(page, server.url);
  // Were it to run on our origin, it would leave a mark in our storage and retitle the page.
  const script = `<script>localStorage.setItem("pwned", "1"); document.title = "PWNED";</script>`;
  await server.customerSends({
    wa_id: "5511987650001",
    kind: "document",
    file: { mime_type: "text/html", filename: "invoice.html", content: `<html><body>${script}<h1>Invoice</h1></body></html>` },
  });
  await page.getByTestId("conversation").filter({ hasText: "Ana Souza" }).click();
  const link = page.getByTestId("media-document").filter({ hasText: "invoice.html" });
  await expect(link).toBeVisible();
  const downloads: import("@playwright/test").Download[] = [];
  page.on("download", (d) => downloads.push(d));
  context.on("page", (p) => p.on("download", (d) => downloads.push(d)));
  await link.click();
  await expect.poll(() => downloads.length).toBe(1);
  expect(downloads[0].suggestedFilename()).toBe("invoice.html");
  // The download's own tab may close while we look; a closed tab ran nothing we can read.
  for (const p of context.pages()) {
    const title = await p.title().catch((e) => {
      if (p.isClosed()) return "";
      throw e;
    });
    expect(title).not.toBe("PWNED");
  }
  expect(await page.evaluate(() => localStorage.getItem("pwned"))).toBeNull();
  // Opened directly, the file is still only a download.
  const direct = await context.request.get(await link.getAttribute("href").then((h) => server.url + h));
  expect(direct.headers()["content-type"]).toBe("application/octet-stream");
  expect(direct.headers()["content-disposition"]).toMatch(/^attachment;/);
  expect(direct.headers()["content-security-policy"]).toBe("sandbox; default-src 'none'");
});
