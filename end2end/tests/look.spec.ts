// The main flow through every screen, as a person sees it: at desktop width, and again at
// 390 px in the "phone" project (playwright.config.ts). On each, axe-core finds no serious
// or critical accessibility violation and nothing scrolls sideways.
import { appReady, expect, looksRight, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_LOOK_PORT ?? 3422));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

test("every screen passes axe-core and fits the window", async ({ page }) => {
  await page.goto(server.url + "/login");
  await expect(page.getByTestId("demo-email")).toBeVisible();
  await looksRight(page, "sign-in");

  await server.customerWrites("5511900002001", "hello, is my order on its way?");
  await signIn(page, server.url);
  await looksRight(page, "inbox");
  // The simulator sits beside the list (on a phone, only while no thread is open).
  const sim = page.getByTestId("simulator-panel");
  await sim.locator("summary", { hasText: "Break something" }).click();
  await expect(sim.getByTestId("sim-fault").first()).toBeVisible();
  await looksRight(page, "simulator panel open");
  await page.getByTestId("conversation").first().click();
  await expect(page.getByTestId("composer")).toBeVisible();
  await page.getByTestId("composer").fill("It left the warehouse this morning.");
  await page.getByTestId("send").click();
  await expect(page.locator("[data-testid=message][data-direction=out]").last()).toHaveAttribute("data-status", /sent|delivered|read/);
  await looksRight(page, "inbox with a thread open");

  // Back to the list (on a phone the thread took the screen), and start a conversation.
  await page.getByRole("link", { name: "Switchboard" }).click();
  await page.getByTestId("new-conversation").click();
  await page.getByTestId("new-number").fill("+44 7700 900 556");
  await expect(page.getByTestId("template-pick")).toBeVisible();
  await page.getByTestId("template-pick").selectOption({ label: "hello_world · en_US · utility" });
  await looksRight(page, "new conversation with the template picker");

  // Each page loaded whole, as a bookmark or a reload does: it must hydrate, not only
  // render when reached by a click.
  for (const [path, screen] of [
    ["/contacts", "contacts-page"],
    ["/admin", "admin"],
    ["/settings", "settings"],
    ["/canned", "canned-page"],
    ["/search", "search-page"],
  ]) {
    await page.goto(server.url + path);
    await expect(page.getByTestId(screen)).toBeVisible();
    await appReady(page);
    await looksRight(page, screen);
  }
});

test("a phone held sideways leaves the open thread room to read", async ({ page }, info) => {
  test.skip(info.project.name === "phone", "sets its own window");
  await server.customerWrites("5511900002002", "sideways: can you read this?");
  await page.setViewportSize({ width: 844, height: 390 });
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "sideways: can you read this?" }).click();
  await expect(page.getByTestId("composer")).toBeVisible();
  // The header, the reply tabs and the composer leave the thread at least two fifths of
  // the screen, and everything fits the window.
  const thread = await page.getByTestId("thread").evaluate((el) => el.getBoundingClientRect().height);
  expect(thread).toBeGreaterThanOrEqual(390 * 0.4);
  await expect(page.getByTestId("composer")).toBeInViewport();
  await looksRight(page, "a thread held sideways");
});
