// The team in the browser: a colleague shows online, then away when their tab is hidden,
// and "… is replying" shows in my ChatBox while they type in the same conversation.
import type { Browser, Page } from "@playwright/test";
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_TEAM_PORT ?? 3419));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

async function agentTab(browser: Browser, email: string, name: string): Promise<Page> {
  const inbox = (await server.api("list_inboxes", {}))[0].id;
  const user = await server.api("create_user", { email, name, role: "agent", password: "agent-password-1" });
  await server.api("set_inbox_member", { inbox_id: inbox, user_id: user.id, member: true });
  const page = await (await browser.newContext()).newPage();
  await page.goto(server.url + "/login");
  await page.getByTestId("email").fill(email);
  await page.getByTestId("password").fill("agent-password-1");
  await page.getByTestId("sign-in").click();
  await expect(page.getByTestId("signed-in-as")).toContainText(name);
  return page;
}

test("a colleague shows online, away when their tab is hidden, and replying while they type", async ({ page, browser }) => {
  await server.customerWrites("5511900002001", "is anyone there?");
  await signIn(page, server.url);
  const bo = await agentTab(browser, "bo@example.com", "Bo");
  const boInMine = page.getByTestId("teammate").filter({ hasText: "Bo" });
  await expect(boInMine).toHaveAttribute("data-status", "online");

  // Both open the same conversation; Bo types, and I am told before I answer too.
  for (const p of [page, bo]) {
    await p.goto(server.url + "/");
    await p.getByTestId("conversation").first().click();
  }
  await expect(page.getByTestId("agent-typing")).toHaveCount(0);
  await bo.getByTestId("composer").pressSequentially("On it, checking your order");
  await expect(page.getByTestId("agent-typing")).toContainText("Bo is replying");
  // Bo sees nothing of their own typing.
  await expect(bo.getByTestId("agent-typing")).toHaveCount(0);
  // It goes once Bo stops.
  await expect(page.getByTestId("agent-typing")).toHaveCount(0, { timeout: 12_000 });

  // Bo's tab is hidden: away; shown again: online.
  const setVisibility = (state: string) =>
    bo.evaluate((s) => {
      Object.defineProperty(document, "visibilityState", { value: s, configurable: true });
      // As the browser fires it: at the document, bubbling to the window.
      document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
    }, state);
  await setVisibility("hidden");
  await expect(boInMine).toHaveAttribute("data-status", "away");
  await setVisibility("visible");
  await expect(boInMine).toHaveAttribute("data-status", "online");
});
