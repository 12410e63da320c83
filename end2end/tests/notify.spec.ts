// Notifications in the browser, two agents in two contexts with the permission granted:
// a customer message in a background tab raises one desktop notification and the title
// count; a note mentioning Bo notifies Bo only.
import type { Browser, BrowserContext, Page } from "@playwright/test";
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_NOTIFY_PORT ?? 3420));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

/** Records every notification the page creates, as `window.__notes`. */
async function granted(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ permissions: ["notifications"] });
  await context.addInitScript(() => {
    const w = window as any;
    w.__notes = [];
    const Real = w.Notification;
    w.Notification = class extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        w.__notes.push({ title, body: options?.body, tag: options?.tag });
      }
    };
  });
  return context;
}

const notes = (page: Page) => page.evaluate(() => (window as any).__notes as { title: string; body: string }[]);

async function hide(page: Page) {
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  });
}

test("a background tab gets one notification and the title count; a mention notifies only its teammate", async ({ browser }) => {
  const ana = await (await granted(browser)).newPage();
  await signIn(ana, server.url);
  await ana.getByTestId("settings-link").click();
  await expect(ana.getByTestId("notification-permission")).toHaveAttribute("data-permission", "granted");
  await expect(ana.getByTestId("allow-notifications")).toHaveCount(0);
  await ana.getByTestId("save-settings").click();
  await expect(ana.getByTestId("settings-saved")).toBeVisible();

  const inbox = (await server.api("list_inboxes", {}))[0].id;
  const bo = await server.api("create_user", { email: "bo@example.com", name: "Bo", role: "agent", password: "agent-password-1" });
  await server.api("set_inbox_member", { inbox_id: inbox, user_id: bo.id, member: true });
  const boPage = await (await granted(browser)).newPage();
  await boPage.goto(server.url + "/login");
  await boPage.getByTestId("email").fill("bo@example.com");
  await boPage.getByTestId("password").fill("agent-password-1");
  await boPage.getByTestId("sign-in").click();
  await expect(boPage.getByTestId("signed-in-as")).toContainText("Bo");

  await ana.goto(server.url + "/");
  await expect(ana.getByTestId("live-state")).toContainText("Live");
  await expect(boPage.getByTestId("live-state")).toContainText("Live");
  await hide(ana);
  await server.customerWrites("5511900003001", "my parcel never came");
  await expect.poll(() => notes(ana).then((n) => n.length)).toBe(1);
  const [first] = await notes(ana);
  expect(first.body).toBe("my parcel never came");
  await expect(ana).toHaveTitle("(1) Switchboard");
  await expect(ana.locator("link[rel=icon]")).toHaveAttribute("href", /circle/);

  // Ana writes a note to Bo: Bo is told, Ana (who wrote it) is not.
  await ana.getByTestId("conversation").first().click();
  await ana.getByTestId("mode-note").click();
  await ana.getByTestId("composer").fill("@Bo can you check the tracking?");
  await ana.getByTestId("composer").press("Enter");
  await expect
    .poll(() => notes(boPage).then((n) => n.filter((x) => x.title.includes("mentioned you")).length))
    .toBe(1);
  const mention = (await notes(boPage)).find((x) => x.title.includes("mentioned you"))!;
  expect(mention.title).toContain("mentioned you");
  expect(mention.body).toBe("@Bo can you check the tracking?");
  await ana.waitForTimeout(1000);
  expect((await notes(ana)).length).toBe(1);
});
