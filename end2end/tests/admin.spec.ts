// An admin sets up an agent and a second inbox in the UI; the agent then sees that inbox
// and nothing else.
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_ADMIN_PORT ?? 3413));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

test("an admin adds an agent and an inbox, and membership decides what the agent sees", async ({ page, browser }) => {
  await signIn(page, server.url);
  await page.getByTestId("admin-link").click();

  const agentForm = page.getByTestId("add-agent");
  await agentForm.getByLabel("Email").fill("rita@example.com");
  await agentForm.getByLabel("Name").fill("Rita");
  await agentForm.getByLabel("Initial password").fill("rita-password-1");
  await agentForm.getByRole("button", { name: "Add agent" }).click();
  await expect(page.locator("[data-testid=agent-row][data-email='rita@example.com']")).toBeVisible();

  const inboxForm = page.getByTestId("add-inbox");
  await inboxForm.getByLabel("Phone number id").fill("500000000000001");
  await inboxForm.getByLabel("Inbox name").fill("Returns");
  await inboxForm.getByRole("button", { name: "Add inbox" }).click();
  const returns = page.locator("[data-testid=inbox-row][data-phone-number-id='500000000000001']");
  await expect(returns).toContainText("Returns");
  await returns.getByLabel("Rita").check();
  await expect(returns.getByLabel("Rita")).toBeChecked();

  // One customer writes to each inbox.
  const inboxes = await server.api("list_inboxes", {});
  const returnsId = inboxes.find((i: any) => i.phone_number_id === "500000000000001").id;
  await server.customerWrites("5511987650001", "to the main number");
  await server.api("simulate_customer_message", { wa_id: "4915112345678", text: "about my return", inbox_id: returnsId });

  // Rita signs in on her own and sees only the Returns conversation.
  const rita = await (await browser.newContext()).newPage();
  await rita.goto(server.url + "/login");
  await rita.getByTestId("email").fill("rita@example.com");
  await rita.getByTestId("password").fill("rita-password-1");
  await rita.getByTestId("sign-in").click();
  await expect(rita.getByTestId("signed-in-as")).toContainText("Rita");
  await expect(rita.getByTestId("admin-link")).toHaveCount(0);
  await expect(rita.getByTestId("conversation")).toHaveCount(1);
  await expect(rita.getByTestId("conversation")).toContainText("about my return");
  // And live: a new message to the main number never shows up for her.
  await server.customerWrites("5511987650002", "main number again");
  await server.api("simulate_customer_message", { wa_id: "4915112345678", text: "still waiting", inbox_id: returnsId });
  await expect(rita.getByTestId("conversation")).toContainText("still waiting");
  await expect(rita.getByTestId("conversation")).toHaveCount(1);
  await rita.goto(server.url + "/admin");
  await expect(rita.getByTestId("admin")).toContainText("only admins may do this");
});

test("the admin page hydrates when it is the first page loaded, not only after a click", async ({ page }) => {
  await signIn(page, server.url);
  await page.goto(server.url + "/admin");
  // The fixture fails the test on a page error, which is how a hydration mismatch shows.
  const inboxForm = page.getByTestId("add-inbox");
  await expect(inboxForm.getByLabel("Phone number id")).toBeEnabled();
  await expect(page.getByTestId("audit-row").first()).toBeVisible();
  await expect(page.getByTestId("webhooks-empty").or(page.getByTestId("webhook-row").first())).toBeVisible();
});

test("the inbox loads without the code of the screens opened now and then, which comes when one is opened", async ({ page }) => {
  // Built with `cargo leptos build --split`: each such screen is a WebAssembly chunk of
  // its own, named after its route.
  const fetched: string[] = [];
  page.on("request", (r) => {
    if (r.url().endsWith(".wasm")) fetched.push(new URL(r.url()).pathname);
  });
  await signIn(page, server.url);
  expect(fetched).toContain("/pkg/switchboard.wasm");
  const screens = /split___(admin|settings|contacts|canned|search|new)_screen/;
  expect(fetched.filter((p) => screens.test(p))).toEqual([]);

  await page.getByTestId("admin-link").click();
  await expect(page.getByTestId("add-agent")).toBeVisible();
  expect(fetched.filter((p) => screens.test(p))).toEqual([expect.stringMatching(/split___admin_screen/)]);
  await page.getByTestId("settings-link").click();
  await expect(page.getByTestId("settings")).toBeVisible();
  expect(fetched.filter((p) => /split___settings_screen/.test(p))).toHaveLength(1);
});
