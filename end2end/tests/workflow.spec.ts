// The team workflow in the browser: starting a conversation, assignment seen live in two
// agents' tabs, resolve and reopen, private notes, and a long list scrolled to its end.
import type { Browser, Page } from "@playwright/test";
import { agentTab as newAgentTab, appReady, expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_WORKFLOW_PORT ?? 3415));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

const agentTab = (browser: Browser, email: string, name: string) => newAgentTab(browser, server, email, name);

function row(page: Page, name: string) {
  return page.getByTestId("conversation").filter({ hasText: name });
}

test("an agent starts a conversation with a template to a new number and sees it read", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("new-conversation").click();
  await page.getByTestId("new-number").fill("12");
  await expect(page.getByTestId("new-number-error")).toBeVisible();
  await page.getByTestId("new-number").fill("+44 7700 900 555");
  await expect(page.getByTestId("new-number-ok")).toContainText("+447700900555");
  await page.getByTestId("new-name").fill("Nadia New");
  await page.getByTestId("template-pick").selectOption({ label: "hello_world · en_US · utility" });
  await page.getByTestId("send-template").click();
  await expect(page).toHaveURL(/\/c\//);
  await expect(page.getByTestId("chat-title")).toHaveText("Nadia New");
  const sent = page.locator("[data-testid=message][data-kind=template]");
  await expect(sent).toHaveAttribute("data-status", "read", { timeout: 15_000 });
  await expect(sent.getByTestId("sent-by")).toBeVisible();
  await expect(row(page, "Nadia New")).toBeVisible();
});

test("assigning to a colleague moves the conversation from my Mine to theirs, live", async ({ page, browser }) => {
  await server.customerWrites("5511900001001", "who will help me?");
  await signIn(page, server.url);
  const rita = await agentTab(browser, "rita@example.com", "Rita");
  await page.getByTestId("view-mine").click();
  await rita.getByTestId("view-mine").click();

  await page.goto(server.url + "/");
  await appReady(page);
  await page.getByTestId("view-all").click();
  await row(page, "who will help me?").click();
  await page.getByTestId("assign-to-me").click();
  await page.getByTestId("view-mine").click();
  await expect(row(page, "who will help me?")).toBeVisible();
  await expect(row(rita, "who will help me?")).toHaveCount(0);

  await page.getByTestId("assignee").selectOption({ label: "Rita" });
  await expect(row(page, "who will help me?")).toHaveCount(0);
  await expect(row(rita, "who will help me?")).toBeVisible();
  await expect(page.getByTestId("activity").last()).toContainText("assigned this to Rita");
});

test("resolving hides a conversation from Open, and the customer's next message reopens it live", async ({ page }) => {
  await server.customerWrites("5511900001002", "my order is late");
  await signIn(page, server.url);
  await page.getByTestId("view-all").click();
  await row(page, "my order is late").click();
  await page.getByTestId("resolve").click();
  await expect(page.getByTestId("conversation-status")).toHaveText("Resolved");
  await expect(row(page, "my order is late")).toHaveCount(0);
  await expect(page.getByTestId("activity").last()).toContainText("resolved this");

  await server.customerWrites("5511900001002", "hello? still late");
  await expect(page.getByTestId("conversation-status")).toHaveText("Open");
  await expect(row(page, "still late")).toBeVisible();
  await expect(page.getByTestId("activity").last()).toContainText("Reopened");
  // The keyboard shortcut resolves too.
  await page.getByTestId("thread").click();
  await page.keyboard.press("Alt+Shift+R");
  await expect(page.getByTestId("conversation-status")).toHaveText("Resolved");
});

test("a note reaches a colleague and never WhatsApp", async ({ page, browser }) => {
  await server.customerWrites("5511900001003", "can I pay by card?");
  await signIn(page, server.url);
  const rita = await agentTab(browser, "rita@example.com", "Rita");
  await row(page, "can I pay by card?").click();
  const conversation = page.url().split("/c/")[1];
  await rita.goto(server.url + "/c/" + conversation);
  await expect(rita.getByTestId("chat-title")).toBeVisible();

  await page.getByTestId("mode-note").click();
  await page.getByTestId("composer").fill("@Rita please check the card terminal");
  await page.getByTestId("send").click();
  const note = page.locator("[data-testid=message][data-kind=note]");
  await expect(note).toContainText("only your team sees this");
  await expect(note.getByTestId("mention")).toHaveText("@Rita");
  await expect(note).toHaveAttribute("data-id", /^(?!local-)/);
  const seen = rita.locator("[data-testid=message][data-kind=note]");
  await expect(seen).toContainText("please check the card terminal");

  expect(JSON.stringify(await server.sent())).not.toContain("card terminal");
});

test("a list of 600 conversations scrolls to the oldest drawing only the rows near the view, keeps what is read in place, and opening one keeps the page and the list", async ({ page }) => {
  test.setTimeout(180_000);
  // The oldest is written first, a second before the rest, so it sorts last.
  await server.customerWrites("447800000000", "the very first");
  await new Promise((r) => setTimeout(r, 1100));
  const numbers = Array.from({ length: 599 }, (_, i) => `447900${String(i).padStart(6, "0")}`);
  for (let i = 0; i < numbers.length; i += 25) {
    await Promise.all(numbers.slice(i, i + 25).map((n, j) => server.customerWrites(n, `bulk ${i + j}`)));
  }
  await signIn(page, server.url);
  await page.getByTestId("view-all").click();
  await page.getByTestId("status-filter").selectOption("any");
  const list = page.getByTestId("conversation-list");
  const oldest = row(page, "the very first");
  const more = page.getByTestId("load-more-conversations");
  // Conversations of the earlier tests are older still: scroll until the list ends.
  for (let i = 0; i < 80 && !((await oldest.isVisible()) && (await more.count()) === 0); i++) {
    await list.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.waitForTimeout(200);
  }
  await expect(oldest).toBeVisible();
  const loaded = Number(await page.getByTestId("conversation-rows").getAttribute("data-loaded"));
  expect(loaded).toBeGreaterThanOrEqual(600);
  // A virtual list: the rows drawn are those near the view, however many are loaded.
  const drawn = await page.getByTestId("conversation").count();
  expect(drawn).toBeGreaterThan(0);
  expect(drawn).toBeLessThan(100);
  await expect(more).toHaveCount(0);
  // Scrolled half-way, a new customer's conversation goes on top of the list, out of
  // view: what the agent is reading stays where it is.
  await list.evaluate((el) => el.scrollTo(0, el.scrollHeight / 2));
  await page.waitForTimeout(300);
  const reading = async () => list.evaluate((el) => {
    const box = el.getBoundingClientRect();
    const first = [...el.querySelectorAll("[data-testid=conversation]")].find((r) => r.getBoundingClientRect().top >= box.top)!;
    return { id: first.getAttribute("data-id"), top: Math.round(first.getBoundingClientRect().top) };
  });
  const before = await reading();
  await server.customerWrites("447911000001", "a new customer meanwhile");
  await expect(page.getByTestId("conversation-rows")).toHaveAttribute("data-loaded", String(loaded + 1));
  await page.waitForTimeout(300);
  const read = page.locator(`[data-testid=conversation][data-id="${before.id}"]`);
  expect(Math.round((await read.boundingBox())!.y)).toBe(before.top);
  await list.evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await expect(oldest).toBeVisible();
  // Opening it leaves the page and the list where they were: no "Loading…" in place of
  // the whole app while the route changes, no jump to the top of the list.
  await page.evaluate(() => {
    (window as any).__appRemoved = 0;
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.removedNodes) if ((n as Element).classList?.contains("app")) (window as any).__appRemoved++;
    }).observe(document.body, { childList: true, subtree: true });
  });
  await oldest.click();
  await expect(oldest).toHaveAttribute("aria-current", "page");
  await expect(page.getByTestId("chat-title")).toHaveText("+447800000000");
  expect(await page.evaluate(() => (window as any).__appRemoved)).toBe(0);
  await expect(oldest).toBeInViewport();
  // Back at the top, the newest are drawn again and the oldest let go.
  await list.evaluate((el) => el.scrollTo(0, 0));
  await expect(page.getByTestId("conversation").first()).toContainText(/bulk|a new customer meanwhile/);
  await expect(oldest).toHaveCount(0);
  // `k` opens the one above the oldest, far from the rows drawn: the list brings it into view.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press("k");
  const open = page.locator("[data-testid=conversation][aria-current=page]");
  await expect(open).toBeInViewport();
  await expect(open).not.toContainText("the very first");
});

test("a conversation beyond the loaded part of the list, opened from a search result or its link, shows its contact and its controls work", async ({ page }) => {
  // The previous test's oldest conversation is some 600 below the first page.
  await signIn(page, server.url);
  await page.getByTestId("view-all").click();
  await page.getByTestId("status-filter").selectOption("any");
  const rows = page.getByTestId("conversation-rows");
  await expect(page.getByTestId("conversation").first()).toBeVisible();
  await page.waitForTimeout(500);
  const loaded = await rows.getAttribute("data-loaded");
  await page.getByTestId("search-link").click();
  await page.getByTestId("search-input").fill("very first");
  await page.getByTestId("search-hit").first().click();
  await expect(page).toHaveURL(/\/c\/.+/);
  await expect(page.getByTestId("chat-title")).toHaveText("+447800000000");
  // It is not drawn below the loaded rows as if it came next: it joins the list when the
  // list's pages reach it.
  await page.waitForTimeout(500);
  await expect(rows).toHaveAttribute("data-loaded", loaded!);
  await expect(row(page, "the very first")).toHaveCount(0);
  await page.getByTestId("resolve").click();
  await expect(page.getByTestId("conversation-status")).toHaveText(/resolved/i);
  // Loaded whole by its link, as a bookmark or a notification opens it.
  const link = page.url().replace(/\?.*$/, "");
  await page.goto(link);
  await expect(page.getByTestId("chat-title")).toHaveText("+447800000000");
  await expect(page.getByTestId("conversation-status")).toHaveText(/resolved/i);
  await page.getByTestId("reopen").click();
  await expect(page.getByTestId("conversation-status")).toHaveText(/open/i);
});

test("each view's tab counts its conversations, and the counts follow new chats and assignments live", async ({ page }) => {
  await signIn(page, server.url);
  const count = (view: string) => page.getByTestId(`view-${view}`).getByTestId("view-count");
  await expect(count("all")).toHaveText(/^\d+$/);
  const number = async (view: string) => Number(await count(view).textContent());
  const [mine, unassigned, all] = [await number("mine"), await number("unassigned"), await number("all")];

  await server.customerWrites("5511900001077", "count me in");
  await expect(count("unassigned")).toHaveText(String(unassigned + 1));
  await expect(count("all")).toHaveText(String(all + 1));

  await page.getByTestId("view-all").click();
  await row(page, "count me in").click();
  await page.getByTestId("assign-to-me").click();
  await expect(count("mine")).toHaveText(String(mine + 1));
  await expect(count("unassigned")).toHaveText(String(unassigned));
});
