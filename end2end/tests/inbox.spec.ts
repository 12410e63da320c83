// The whole loop in a real browser: server-rendered page, hydration, live customer
// messages, a reply whose ticks move to blue, reload, and a server restart.
import { Page } from "@playwright/test";
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_PORT ?? 3410));

test.describe.configure({ mode: "serial" });
test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

function row(page: Page, name: string) {
  return page.getByTestId("conversation").filter({ hasText: name });
}

test("a visitor who is not signed in is sent to the sign-in page, which shows the demo login", async ({ page }) => {
  await page.goto(server.url + "/");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId("demo-login")).toContainText(server.demo.email);
  await page.getByTestId("email").fill(server.demo.email);
  await page.getByTestId("password").fill("not the password");
  await page.getByTestId("sign-in").click();
  await expect(page.getByTestId("sign-in-error")).toHaveText("wrong email or password");
});

test("what is typed before the app has loaded is kept, and forms wait for the app", async ({ page }) => {
  // Hold the WebAssembly back, so the page stays server-rendered HTML while we type.
  const holdApp = async () => {
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    await page.route("**/*.wasm", async (route) => {
      await held;
      await route.continue();
    });
    return release;
  };
  let release = await holdApp();
  await page.goto(server.url + "/login");
  await page.getByTestId("email").fill(server.demo.email);
  await page.getByTestId("password").fill(server.demo.password);
  await expect(page.getByTestId("sign-in")).toBeDisabled();
  release();
  await page.getByTestId("sign-in").click();
  await expect(page.getByTestId("signed-in-as")).toBeVisible();

  // Elsewhere the controls cannot be used at all until the app runs: a plain form submit
  // would put the fields in a URL, and hydration would reset what was typed.
  await page.unrouteAll();
  release = await holdApp();
  await page.reload();
  for (const field of ["sim-text", "status-filter", "label-filter"]) {
    await expect(page.getByTestId(field)).toBeDisabled();
  }
  release();
  await expect(page.getByTestId("sim-text")).toBeEnabled();
  await expect(page.getByTestId("label-filter")).toBeEnabled();
  // The search boxes too: words typed before would be reset, never searched.
  for (const [path, field] of [["/search", "search-input"], ["/contacts", "contact-search"]]) {
    await page.unrouteAll();
    release = await holdApp();
    await page.goto(server.url + path);
    await expect(page.getByTestId(field)).toBeDisabled();
    release();
    await expect(page.getByTestId(field)).toBeEnabled();
  }
});

test("the inbox is server-rendered, then hydrated, and says it is a simulator", async ({ page }) => {
  await signIn(page, server.url);
  const html = await (await page.request.get(server.url + "/")).text();
  expect(html).toContain('data-testid="conversation-list"');
  expect(html).toContain('data-testid="simulator-badge"');

  await signIn(page, server.url);
  await expect(page.getByTestId("simulator-badge")).toBeVisible();
  await expect(page.getByTestId("simulator-panel")).toBeVisible();
});

test("a customer's message appears live, and unread counts rise on conversations not open", async ({ page }) => {
  await signIn(page, server.url);
  const panel = page.getByTestId("simulator-panel");
  await panel.getByTestId("sim-customer").selectOption({ label: "Ana Souza" });
  await panel.getByTestId("sim-text").fill("Is my order on its way?");
  await panel.getByTestId("sim-send").click();

  const ana = row(page, "Ana Souza");
  await expect(ana).toContainText("Is my order on its way?");
  await expect(ana.getByTestId("unread")).toHaveText("1");

  await ana.click();
  const chat = page.getByTestId("chatbox");
  await expect(chat.getByTestId("chat-title")).toHaveText("Ana Souza");
  await expect(chat.getByTestId("message").last()).toContainText("Is my order on its way?");
  await expect(ana.getByTestId("unread")).toHaveCount(0);

  // Another customer writes: their row appears with an unread count; Ana stays open.
  await panel.getByTestId("sim-customer").selectOption({ label: "Bruno Lima" });
  await panel.getByTestId("sim-text").fill("Do you ship to Portugal?");
  await panel.getByTestId("sim-send").click();
  const bruno = row(page, "Bruno Lima");
  await expect(bruno.getByTestId("unread")).toHaveText("1");
  await server.customerWrites("5511987650002", "Hello? Anyone there?");
  await expect(bruno.getByTestId("unread")).toHaveText("2");

  // Ana writes again: it lands in the open ChatBox without a reload, and stays read.
  await server.customerWrites("5511987650001", "It was due yesterday");
  await expect(chat.getByTestId("message").last()).toContainText("It was due yesterday");
  await expect(ana.getByTestId("unread")).toHaveCount(0);
});

test("a reply shows a clock at once, then its ticks move live to blue", async ({ page }) => {
  await signIn(page, server.url);
  await row(page, "Ana Souza").click();
  const composer = page.getByTestId("composer");
  await composer.fill("It ships today, sorry for the wait!");
  await composer.press("Enter");

  const bubble = page.locator('[data-testid=message][data-direction=out]').last();
  await expect(bubble).toContainText("It ships today");
  await expect(composer).toHaveValue("");
  // Each state is held for 700 ms by the simulator, long enough to see every one.
  for (const status of ["pending", "sent", "delivered", "read"]) {
    await expect(bubble).toHaveAttribute("data-status", status);
    await expect(bubble.getByTestId("status")).toHaveAttribute("data-status", status);
  }
  const tick = bubble.getByTestId("status");
  await expect(tick).toHaveCSS("color", "rgb(29, 140, 248)");
  // The list shows the same blue ticks on Ana's row.
  await expect(row(page, "Ana Souza").getByTestId("status")).toHaveAttribute("data-status", "read");
});

test("a reload shows the same state, loaded from the database", async ({ page }) => {
  await signIn(page, server.url);
  await row(page, "Ana Souza").click();
  await expect(page).toHaveURL(/\/c\/.+/);
  const before = await page.getByTestId("message").allInnerTexts();
  expect(before.length).toBe(3);
  // A reload of the conversation's own URL: rendered by the server, hydrated cleanly.
  await page.reload();
  await expect(page.getByTestId("chat-title")).toHaveText("Ana Souza");
  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "live");
  await expect(page.getByTestId("message")).toHaveCount(3);
  expect(await page.getByTestId("message").allInnerTexts()).toEqual(before);
  const reply = page.locator('[data-testid=message][data-direction=out]').last();
  await expect(reply).toHaveAttribute("data-status", "read");
  await expect(row(page, "Bruno Lima").getByTestId("unread")).toHaveText("2");
});

test("after a crash and restart, an open tab reconnects and shows what it missed", async ({ page }) => {
  await signIn(page, server.url);
  await row(page, "Ana Souza").click();
  await expect(page.getByTestId("message")).toHaveCount(3);

  await server.kill();
  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "reconnecting");
  await server.start();
  // The session survives the restart: it is in the database, not in memory.
  await server.customerWrites("5511987650001", "Written while you were away");

  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "live", { timeout: 40_000 });
  await expect(page.getByTestId("message").last()).toContainText("Written while you were away");
  await expect(page.getByTestId("message")).toHaveCount(4);
});

test("the composer grows with a long reply and shrinks once it is sent, also where the browser does not size fields itself", async ({ page }) => {
  await server.customerWrites("5511900002001", "can you list the options?");
  await signIn(page, server.url);
  await row(page, "can you list the options?").click();
  const composer = page.getByTestId("composer");
  const height = async () => Math.round((await composer.boundingBox())!.height);
  // First as Chromium does it (CSS `field-sizing`), then as Firefox and Safari, which
  // lack it, get it from the app.
  for (const sizing of ["content", "fixed"]) {
    await page.addStyleTag({ content: `.composer textarea { field-sizing: ${sizing} !important; }` });
    const empty = await height();
    await composer.fill("Here is what we can do:");
    for (const line of ["one", "two", "three", "four"]) {
      await composer.press("Shift+Enter");
      await composer.pressSequentially(line);
    }
    await expect.poll(height, { message: sizing }).toBeGreaterThan(empty + 40);
    await composer.press("Enter");
    await expect(composer).toHaveValue("");
    await expect.poll(height, { message: sizing }).toBeLessThanOrEqual(empty);
  }
});
