// The team in the browser: a colleague shows online, then away when their tab is hidden,
// and "… is replying" shows in my ChatBox while they type in the same conversation.
import type { Browser } from "@playwright/test";
import { agentTab as newAgentTab, appReady, expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_TEAM_PORT ?? 3419));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

const agentTab = (browser: Browser, email: string, name: string) => newAgentTab(browser, server, email, name);

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
  // The assignee picker says so too.
  const boOption = page.getByTestId("assignee").locator("option", { hasText: "Bo" });
  await expect(boOption).toHaveText("Bo");
  await setVisibility("hidden");
  await expect(boInMine).toHaveAttribute("data-status", "away");
  await expect(boOption).toHaveText("Bo (away)");
  await setVisibility("visible");
  await expect(boInMine).toHaveAttribute("data-status", "online");
  await expect(boOption).toHaveText("Bo");

  // Bo leaves the tab open and walks away: five minutes without input is away (the check
  // runs every 15 s), and moving the mouse again is online.
  await bo.clock.install();
  await bo.clock.fastForward("05:30");
  await expect(boInMine).toHaveAttribute("data-status", "away", { timeout: 25_000 });
  await bo.mouse.move(40, 40);
  await bo.mouse.move(80, 90);
  await expect(boInMine).toHaveAttribute("data-status", "online");

  // And the admin page's list of agents.
  await page.getByTestId("admin-link").click();
  const boRow = page.locator("[data-testid=agent-row][data-email='bo@example.com']");
  await expect(boRow.getByTestId("agent-presence")).toHaveAttribute("data-status", "online");
});

test("keyboard: ? lists the shortcuts, j and k walk the list, n writes a note, keys typed in a field stay there", async ({ page }) => {
  await server.customerWrites("5511900002002", "first customer");
  await server.customerWrites("5511900002003", "second customer");
  await signIn(page, server.url);
  await page.goto(server.url + "/");
  await appReady(page);
  await expect(page.getByTestId("conversation")).toHaveCount(3);
  await page.keyboard.press("?");
  await expect(page.getByTestId("shortcuts")).toBeVisible();
  await expect(page.getByTestId("shortcuts")).toContainText("Next / previous conversation");
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("shortcuts")).toHaveCount(0);

  const rows = page.getByTestId("conversation");
  await page.keyboard.press("j");
  await expect(rows.nth(0)).toHaveAttribute("aria-current", "page");
  await page.keyboard.press("j");
  await expect(rows.nth(1)).toHaveAttribute("aria-current", "page");
  await page.keyboard.press("k");
  await expect(rows.nth(0)).toHaveAttribute("aria-current", "page");

  await page.keyboard.press("n");
  await expect(page.getByTestId("mode-note")).toHaveAttribute("aria-selected", "true");
  await expect(page.getByTestId("composer")).toBeFocused();
  await page.keyboard.type("just a note");
  await expect(page.getByTestId("composer")).toHaveValue("just a note");
  await expect(rows.nth(0)).toHaveAttribute("aria-current", "page");
});

test("a reply begun before a colleague's went out is held once, with a warning, and sent on the next Send", async ({ page, browser }) => {
  await server.customerWrites("5511900002077", "can someone help with my refund?");
  await signIn(page, server.url);
  const bo = await agentTab(browser, "bo@example.com", "Bo");
  for (const p of [page, bo]) {
    await p.goto(server.url + "/");
    await p.getByTestId("conversation").filter({ hasText: "my refund" }).click();
    await expect(p.getByTestId("composer")).toBeEnabled();
  }
  await page.getByTestId("composer").fill("Let me look into your refund");
  await bo.getByTestId("composer").fill("Refund sent, arrives in 3 days");
  await bo.getByTestId("send").click();
  const out = (p: typeof page) => p.locator("[data-testid=message][data-direction=out]");
  await expect(out(page)).toContainText(["Refund sent, arrives in 3 days"]);

  await page.getByTestId("send").click();
  await expect(page.getByTestId("replied-since")).toContainText("Bo replied to the customer since you began");
  await expect(out(page)).toHaveCount(1);
  await expect(page.getByTestId("composer")).toHaveValue("Let me look into your refund");
  await page.getByTestId("send").click();
  await expect(out(page)).toHaveCount(2);
  await expect(page.getByTestId("replied-since")).toHaveCount(0);

  // A reply begun after the colleague's goes straight out.
  await expect(out(bo)).toHaveCount(2);
  await bo.getByTestId("composer").fill("Anything else?");
  await bo.getByTestId("send").click();
  await expect(out(bo)).toHaveCount(3);
});
