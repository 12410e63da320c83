// Long histories load newest page first, and "Load older messages" pages back to the start.
import type { Page } from "@playwright/test";
import { bubbleSaying, expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_HISTORY_PORT ?? 3411));

test.beforeAll(async () => {
  await server.start();
  for (let i = 1; i <= 65; i++) {
    await server.customerWrites("4915112345678", `message ${i}`);
  }
});
test.afterAll(async () => server.stop());

/** Scrolls the open thread up with the wheel until it holds a full window (200). */
async function fillWindow(page: Page) {
  await page.getByTestId("thread").hover();
  await expect(async () => {
    await page.mouse.wheel(0, -4000);
    await expect(page.getByTestId("entry")).toHaveCount(200, { timeout: 700 });
  }).toPass({ timeout: 30_000 });
}

/** Holds the thread's page requests until `release()`; `asking` settles when one is made. */
async function holdPages(page: Page) {
  let release = () => {};
  const held = new Promise<void>((r) => (release = r));
  let asked = () => {};
  const asking = new Promise<void>((r) => (asked = r));
  await page.route("**/api/load_messages*", async (route) => {
    asked();
    await held;
    await route.continue();
  });
  return { asking, release };
}

/** The texts of the bubbles within the thread's view. */
function bodiesInView(page: Page): Promise<string[]> {
  return page.getByTestId("thread").evaluate((t) => {
    const box = t.getBoundingClientRect();
    return [...t.querySelectorAll("[data-testid=message] .body")]
      .filter((b) => b.getBoundingClientRect().bottom > box.top && b.getBoundingClientRect().top < box.bottom)
      .map((b) => b.textContent!);
  });
}

test("history loads the newest page first and pages back with load older", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "Jonas Weber" }).click();
  const messages = page.getByTestId("message");
  // Every loaded message has its entry; only those near the view are drawn as bubbles.
  const entries = page.getByTestId("entry");
  await expect(entries).toHaveCount(50);
  await expect(messages.last()).toContainText("message 65");
  await expect(messages.last()).toBeInViewport();
  expect(await messages.count()).toBeLessThan(50);

  // The button itself, without scrolling to it: scrolled near the top, the thread loads
  // the older page by itself (the next test), and the button could go from under a click.
  await page.getByTestId("load-older").dispatchEvent("click");
  await expect(entries).toHaveCount(65);
  await expect(page.getByTestId("load-older")).toHaveCount(0);
  // The newest message is still where it was.
  await expect(messages.last()).toContainText("message 65");
  await expect(messages.last()).toBeInViewport();
  // At the top the history starts with message 1, in order.
  await page.getByTestId("thread").evaluate((el) => el.scrollTo(0, 0));
  await expect(messages.first()).toContainText("message 1");
  await expect(messages.first()).toBeInViewport();
  const first = (await messages.locator(".body").allTextContents()).slice(0, 20);
  expect(first).toEqual(Array.from({ length: 20 }, (_, i) => `message ${i + 1}`));
});

test("only the bubbles near the view are drawn; the others hold their place as boxes of their height", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "Jonas Weber" }).click();
  const thread = page.getByTestId("thread");
  const entries = page.getByTestId("entry");
  await expect(entries).toHaveCount(50);
  await expect(bubbleSaying(page, "message 65")).toBeInViewport();
  // The far ones become empty boxes: fewer bubbles than entries, and every entry keeps a
  // height, so the thread is as tall as when all were drawn.
  await expect.poll(() => page.getByTestId("message").count()).toBeLessThan(50);
  const empty = page.locator("[data-testid=entry]:not(:has([data-testid=message]))");
  expect(await empty.count()).toBeGreaterThan(0);
  for (const h of await empty.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height))) {
    expect(h).toBeGreaterThan(20);
  }
  // From the first entry's top to the last one's bottom (Jump to latest comes and goes).
  const span = () => thread.evaluate((t) => {
    const all = t.querySelectorAll("[data-testid=entry]");
    return all[all.length - 1].getBoundingClientRect().bottom - all[0].getBoundingClientRect().top;
  });
  const height = await span();
  // Scrolled to the middle: the bubbles there are drawn, in order, and nothing moves.
  await thread.evaluate((el) => el.scrollTo(0, (el.scrollHeight - el.clientHeight) / 2));
  // A bubble in the middle of the view, once the ones there are drawn.
  const inView = () => thread.evaluate((t) => {
    const box = t.getBoundingClientRect();
    const y = box.top + box.height / 2;
    for (const b of t.querySelectorAll("[data-testid=message]")) {
      const r = b.getBoundingClientRect();
      if (r.top <= y && r.bottom >= y - 40) return { text: b.querySelector(".body")!.textContent!, top: r.top };
    }
    return null;
  });
  await expect.poll(inView).not.toBeNull();
  const { text, top } = (await inView())!;
  await page.waitForTimeout(300);
  expect(await bubbleSaying(page, text).evaluate((el) => el.getBoundingClientRect().top)).toBe(top);
  expect(await span()).toBe(height);
  const drawn = (await page.locator("[data-testid=message] .body").allTextContents()).map((t) => Number(t.slice(8)));
  expect(drawn).toEqual([...drawn].sort((a, b) => a - b));
  expect(drawn.length).toBeLessThan(50);
});

test("after the thread's width changes, each empty box takes the height its bubble has at the new width", async ({ page }) => {
  const wa = "4915112346666";
  const filler = "lorem ipsum dolor sit amet ".repeat(15);
  // One page of long messages, which wrap differently at another width.
  for (let i = 1; i <= 40; i++) await server.customerWrites(wa, `long ${i} ${filler}`);
  await page.setViewportSize({ width: 1280, height: 800 });
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "long 40 " }).click();
  const thread = page.getByTestId("thread");
  const first = page.getByTestId("entry").first();
  await expect(page.getByTestId("entry")).toHaveCount(40);
  const isBox = () => first.evaluate((e) => !e.querySelector("[data-testid=message]"));
  const height = () => first.evaluate((e) => e.getBoundingClientRect().height);
  // The first message, far above the newest, is an empty box.
  await expect.poll(isBox).toBe(true);
  const wide = await height();

  await page.setViewportSize({ width: 800, height: 800 });
  // Measured again once the width holds still, and far again: a box once more.
  await expect.poll(height).not.toBe(wide);
  await expect.poll(isBox).toBe(true);
  const box = await height();
  // Scrolled to it, its bubble is drawn as tall as the box that held its place.
  await thread.evaluate((el) => el.scrollTo(0, 0));
  await expect.poll(isBox).toBe(false);
  expect(Math.abs((await height()) - box)).toBeLessThanOrEqual(1);
  expect(box).toBeGreaterThan(wide);
});

test("scrolling near the top loads the older page by itself and keeps the view where it was", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "Jonas Weber" }).click();
  const messages = page.getByTestId("message");
  const entries = page.getByTestId("entry");
  await expect(entries).toHaveCount(50);
  const bubble = (text: string) => bubbleSaying(page, text);
  const oldestLoaded = bubble("message 16");
  // Opened at the newest; the agent scrolls up with the wheel, no click.
  await expect(messages.last()).toBeInViewport();
  await page.getByTestId("thread").hover();
  await page.mouse.wheel(0, -3000);
  await expect(entries).toHaveCount(65);
  await expect(messages.first()).toContainText("message 1");
  // What the agent was reading is still in view, not pushed down by the new page.
  await expect(oldestLoaded).toBeInViewport();
  await expect(bubble("message 1")).not.toBeInViewport();
  // Far from the newest, one click brings it back: the button waits in view, not at the end.
  const jump = page.getByTestId("jump-latest");
  await expect(jump).toBeInViewport();
  await jump.click();
  await expect(messages.last()).toBeInViewport();
  await expect(jump).toHaveCount(0);
});

test("an older page is built only near the view: its far end comes in as boxes, and the view never shows one", async ({ page }) => {
  const wa = "4915112347171";
  for (let i = 1; i <= 100; i++) await server.customerWrites(wa, `built ${i}`);
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "built 100" }).click();
  const entries = page.getByTestId("entry");
  await expect(entries).toHaveCount(50);
  await expect(bubbleSaying(page, "built 100")).toBeInViewport();
  // Every bubble ever built, and every frame in which the view showed an empty box.
  await page.getByTestId("thread").evaluate((thread) => {
    const w = window as any;
    w.__built = new Set<string>();
    new MutationObserver(() => {
      for (const b of thread.querySelectorAll("[data-testid=message] .body")) w.__built.add(b.textContent);
    }).observe(thread, { childList: true, subtree: true });
    w.__emptyInView = 0;
    // Looked at once each frame is painted (a task queued in a frame runs after it):
    // within the frame, the thread's own frame callback may not have set the view yet.
    const look = () => {
      const view = thread.getBoundingClientRect();
      for (const e of thread.querySelectorAll("[data-testid=entry]")) {
        const r = e.getBoundingClientRect();
        if (r.bottom > view.top && r.top < view.bottom && !e.querySelector("[data-testid=message], .activity-line")) w.__emptyInView++;
      }
    };
    const frame = () => {
      setTimeout(look, 0);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  // Near the top the older page loads by itself; it is held until the agent's jump there
  // is drawn (the boxes passed on the way show for a frame, as before any page).
  const { release } = await holdPages(page);
  await page.getByTestId("thread").evaluate((el) => el.scrollTo(0, 0));
  await expect(bubbleSaying(page, "built 51")).toBeInViewport();
  await page.waitForTimeout(200);
  await page.evaluate(() => ((window as any).__emptyInView = 0));
  release();
  await expect(entries).toHaveCount(100);
  await page.waitForTimeout(300);
  const built = () => page.evaluate(() => [...(window as any).__built] as string[]);
  // The page's end next to what the agent reads was built; its far end never was.
  expect(await built()).toContain("built 50");
  expect(await built()).not.toContain("built 1");
  expect(await page.evaluate(() => (window as any).__emptyInView)).toBe(0);
  // Scrolled up to them (a jump, whose boxes show for a frame), they are drawn, in order.
  await page.getByTestId("thread").evaluate((el) => el.scrollTo(0, 0));
  await expect(bubbleSaying(page, "built 1")).toBeInViewport();
  const drawn = (await page.locator("[data-testid=message] .body").allTextContents()).map((t) => Number(t.slice(6)));
  expect(drawn).toEqual([...drawn].sort((a, b) => a - b));
  expect(drawn[0]).toBe(1);
});

test("where the browser has no scroll anchoring (Safari), boxes drawn above the view at their true height leave what is read in place", async ({ page }) => {
  const wa = "4915112347373";
  // Long messages first, short ones after: the older page's boxes are estimated from the
  // short ones, so each is drawn taller than its box.
  const long = "so this is how it went, " .repeat(16);
  for (let i = 1; i <= 50; i++) await server.customerWrites(wa, `tall ${i}: ${long}`);
  for (let i = 1; i <= 50; i++) await server.customerWrites(wa, `short ${i}`);
  await signIn(page, server.url);
  // Before the thread is drawn, so the app sees a browser without anchoring from the start.
  await page.addStyleTag({ content: "[data-testid=thread] { overflow-anchor: none !important; }" });
  await page.getByTestId("conversation").filter({ hasText: "short 50" }).click();
  await expect(bubbleSaying(page, "short 50")).toBeInViewport();
  const thread = page.getByTestId("thread");
  await thread.evaluate((el) => el.scrollTo(0, 0));
  await expect(page.getByTestId("entry")).toHaveCount(100);
  // The page came in above what was read, and its near end was drawn: the view held.
  await page.waitForTimeout(300);
  await expect(bubbleSaying(page, "short 1")).toBeInViewport();
  // Up by 150 px at a time, as a wheel does: what is read moves by just that.
  const step = () => thread.evaluate(async (el) => {
    const frames = (n: number) => new Promise<void>((r) => {
      const next = () => (n-- <= 0 ? r() : requestAnimationFrame(next));
      next();
    });
    await frames(2);
    const view = el.getBoundingClientRect();
    const read = [...el.querySelectorAll("[data-testid=message]")].find((b) => b.getBoundingClientRect().top >= view.top)!;
    const before = read.getBoundingClientRect().top;
    const wanted = Math.min(150, el.scrollTop);
    el.scrollBy(0, -150);
    await frames(6);
    return { moved: Math.round(read.getBoundingClientRect().top - before), wanted: Math.round(wanted), top: el.scrollTop };
  });
  let steps = 0;
  for (;;) {
    const { moved, wanted, top } = await step();
    expect(Math.abs(moved - wanted), `step ${steps}: moved ${moved} for ${wanted}`).toBeLessThanOrEqual(1);
    steps++;
    if (top === 0 || steps > 200) break;
  }
  expect(steps).toBeGreaterThan(5);
  await expect(page.getByTestId("message").filter({ hasText: "tall 1:" })).toBeInViewport();
});

test("where the browser has no scroll anchoring (Safari), the thread's width changing leaves what is read in place", async ({ page }) => {
  const wa = "4915112347474";
  const filler = "and then it wrapped again, ".repeat(12);
  for (let i = 1; i <= 40; i++) await server.customerWrites(wa, `wrap ${i} ${filler}`);
  await page.setViewportSize({ width: 1280, height: 800 });
  await signIn(page, server.url);
  // Before the thread is drawn, so the app sees a browser without anchoring from the start.
  await page.addStyleTag({ content: "[data-testid=thread] { overflow-anchor: none !important; }" });
  await page.getByTestId("conversation").filter({ hasText: "wrap 40 " }).click();
  await expect(page.getByTestId("entry")).toHaveCount(40);
  const thread = page.getByTestId("thread");
  // Halfway up: drawn bubbles and empty boxes above the view.
  await thread.evaluate((el) => el.scrollTo(0, el.scrollHeight / 2));
  await page.waitForTimeout(300);
  const read = () => thread.evaluate((el) => {
    const view = el.getBoundingClientRect();
    const b = [...el.querySelectorAll("[data-testid=message]")].find((m) => m.getBoundingClientRect().top >= view.top)!;
    return { text: b.querySelector(".body")!.textContent!.split(" ").slice(0, 2).join(" "), top: Math.round(b.getBoundingClientRect().top - view.top) };
  });
  const before = await read();
  const topOf = (text: string) => thread.evaluate((el, text) => {
    const b = [...el.querySelectorAll("[data-testid=message]")].find((m) => m.querySelector(".body")!.textContent!.startsWith(`${text} `));
    return b ? Math.round(b.getBoundingClientRect().top - el.getBoundingClientRect().top) : null;
  }, text);
  // Narrower: every bubble wraps anew, and once the width holds still every box is drawn again.
  await page.setViewportSize({ width: 800, height: 800 });
  await page.waitForTimeout(700);
  expect(Math.abs((await topOf(before.text))! - before.top), `${before.text} was at ${before.top}`).toBeLessThanOrEqual(2);
  // And wider again.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.waitForTimeout(700);
  expect(Math.abs((await topOf(before.text))! - before.top), `${before.text} was at ${before.top}`).toBeLessThanOrEqual(2);
});

test("an older page that comes in at the very top leaves the view where it was, even when the oldest message held is a reaction", async ({ page }) => {
  const wa = "4915112347272";
  for (let i = 1; i < 20; i++) await server.customerWrites(wa, `held ${i}`);
  const wamid = await server.customerSends({ wa_id: wa, text: "held 20" });
  // The reaction is the oldest message of the newest page: it has no entry of its own.
  await server.customerSends({ wa_id: wa, kind: "reaction", target: wamid, text: "👍" });
  for (let i = 21; i <= 69; i++) await server.customerWrites(wa, `held ${i}`);
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "held 69" }).click();
  const entries = page.getByTestId("entry");
  await expect(entries).toHaveCount(49);
  const { asking, release } = await holdPages(page);
  // At the very top (where the browser's own scroll anchoring does nothing).
  const thread = page.getByTestId("thread");
  await thread.evaluate((el) => el.scrollTo(0, 0));
  await asking;
  await expect(bubbleSaying(page, "held 21")).toBeInViewport();
  await page.waitForTimeout(200);
  const top = () => bubbleSaying(page, "held 21").evaluate((el) => el.getBoundingClientRect().top);
  const before = await top();
  release();
  await expect(entries).toHaveCount(69);
  await page.waitForTimeout(300);
  expect(Math.abs((await top()) - before)).toBeLessThanOrEqual(2);
});

test("a page that comes in after the agent scrolled away from its end leaves the view where the agent put it", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "Jonas Weber" }).click();
  const entries = page.getByTestId("entry");
  await expect(entries).toHaveCount(50);
  await expect(page.getByTestId("message").last()).toBeInViewport();
  // The older page is held on its way, so the agent can scroll meanwhile.
  const { asking, release } = await holdPages(page);
  const thread = page.getByTestId("thread");
  // Near the top the older page is asked for; then the agent scrolls back down to read.
  await thread.evaluate((el) => el.scrollTo(0, 0));
  await asking;
  await thread.evaluate((el) => el.scrollTo(0, (el.scrollHeight - el.clientHeight) / 2));
  await expect.poll(() => bodiesInView(page).then((b) => b.length)).toBeGreaterThan(2);
  const reading = (await bodiesInView(page))[1];
  const top = () => bubbleSaying(page, reading).evaluate((el) => el.getBoundingClientRect().top);
  const before = await top();
  release();
  await expect(entries).toHaveCount(65);
  await page.waitForTimeout(300);
  expect(Math.abs((await top()) - before)).toBeLessThanOrEqual(2);
});

test("a long thread holds a window of pages: far back, the newest are let go and come back in order", async ({ page }) => {
  const wa = "4915112349999";
  for (let i = 1; i <= 260; i++) await server.customerWrites(wa, `window ${i}`);
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "window 260" }).click();
  const messages = page.getByTestId("message");
  const bodies = messages.locator(".body");
  const entries = page.getByTestId("entry");
  await expect(entries).toHaveCount(50);
  await expect(bodies.last()).toHaveText("window 260");
  const thread = page.getByTestId("thread");
  await thread.hover();
  // Back to the very first message with the wheel alone.
  await expect(async () => {
    await page.mouse.wheel(0, -4000);
    await expect(bodies.first()).toHaveText("window 1", { timeout: 700 });
  }).toPass({ timeout: 30_000 });
  // The tab holds no more than its window: the newest were let go.
  const held = await entries.count();
  expect(held).toBeLessThanOrEqual(200);
  await expect(bodies.filter({ hasText: /^window 260$/ })).toHaveCount(0);
  await expect(page.getByTestId("load-newer")).toBeAttached();
  // A message arriving now waits beyond the window, not across the gap.
  await server.customerWrites(wa, "window live");
  await page.waitForTimeout(500);
  await expect(bodies.filter({ hasText: /^window live$/ })).toHaveCount(0);
  await expect(entries).toHaveCount(held);
  // Jump to latest is in view up here, and goes straight to the newest page; reaching it
  // takes no scrolling down (which would load the newer pages it jumps past).
  await expect(page.getByTestId("jump-latest")).toBeInViewport();
  await page.getByTestId("jump-latest").click();
  await expect(bodies.last()).toHaveText("window live");
  await expect(entries).toHaveCount(50);
  await expect(bodies.last()).toBeInViewport();
  // At the newest again: the next customer message shows as it comes.
  await server.customerWrites(wa, "after the jump");
  await expect(bodies.last()).toHaveText("after the jump");
  await expect(async () => {
    await page.mouse.wheel(0, -4000);
    await expect(bodies.first()).toHaveText("window 1", { timeout: 700 });
  }).toPass({ timeout: 30_000 });
  // Back down: newer pages return in order, the old end goes, and the live one is last.
  await expect(async () => {
    await page.mouse.wheel(0, 4000);
    await expect(bodies.last()).toHaveText("after the jump", { timeout: 700 });
  }).toPass({ timeout: 30_000 });
  expect(await entries.count()).toBeLessThanOrEqual(200);
  // Only what is near the view is drawn; the oldest were let go.
  expect(await messages.count()).toBeLessThan(await entries.count());
  await expect(bodies.filter({ hasText: /^window 1$/ })).toHaveCount(0);
  await expect(page.getByTestId("load-older")).toBeAttached();
  const texts = await bodies.allTextContents();
  const numbers = texts.filter((t) => /^window \d+$/.test(t)).map((t) => Number(t.slice(7)));
  expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  expect(numbers.at(-1)).toBe(260);
  await expect(bodies.last()).toHaveText("after the jump");
  expect(new Set(numbers).size).toBe(numbers.length);
  await expect(page.getByTestId("load-newer")).toHaveCount(0);
});

test("load older clicked far below a full window pages back once, without letting go of what is read and loading it back", async ({ page }) => {
  const wa = "4915112348888";
  for (let i = 1; i <= 300; i++) await server.customerWrites(wa, `full ${i}`);
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "full 300" }).click();
  const entries = page.getByTestId("entry");
  const bodies = page.getByTestId("message").locator(".body");
  await expect(entries).toHaveCount(50);
  const thread = page.getByTestId("thread");
  // Three older pages: the window is full.
  await fillWindow(page);
  await thread.evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await expect(bodies.last()).toHaveText("full 300");
  await expect(page.getByTestId("load-newer")).toHaveCount(0);
  // The button activated from down here (a keyboard or a screen reader does not scroll):
  // the next older page comes, the newest are let go, and it stays so.
  const firstId = await entries.first().getAttribute("data-id");
  await page.getByTestId("load-older").dispatchEvent("click");
  await expect(entries.first()).not.toHaveAttribute("data-id", firstId!);
  await expect(page.getByTestId("load-newer")).toBeAttached();
  const after = await entries.first().getAttribute("data-id");
  await page.waitForTimeout(1000);
  await expect(entries.first()).toHaveAttribute("data-id", after!);
  await expect(page.getByTestId("load-newer")).toBeAttached();
  await expect(bodies.filter({ hasText: /^full 300$/ })).toHaveCount(0);
  // The view went where the page came in, far from the end let go.
  const inView = (await bodiesInView(page)).map((t) => Number(t.slice(5)));
  expect(inView.length).toBeGreaterThan(3);
  expect(Math.max(...inView)).toBeLessThanOrEqual(150);
});

test("load newer clicked far above a full window pages forward once, without letting go of what is read and loading it back", async ({ page }) => {
  const wa = "4915112347777";
  for (let i = 1; i <= 400; i++) await server.customerWrites(wa, i === 200 ? "the word MARACUJA" : `ahead ${i}`);
  await signIn(page, server.url);
  await page.getByTestId("search-link").click();
  await page.getByTestId("search-input").fill("maracuja");
  await page.getByTestId("search-hit").click();
  await expect(page.locator("[data-testid=message][data-target]")).toContainText("MARACUJA");
  const entries = page.getByTestId("entry");
  const thread = page.getByTestId("thread");
  // Older pages up to a full window, the view at its top.
  await fillWindow(page);
  await thread.evaluate((el) => el.scrollTo(0, 0));
  await expect(page.getByTestId("load-newer")).toBeAttached();
  // The newer page asked for from up here: it comes, the oldest are let go, and it stays so.
  const lastId = await entries.last().getAttribute("data-id");
  await page.getByTestId("load-newer").dispatchEvent("click");
  await expect(entries.last()).not.toHaveAttribute("data-id", lastId!);
  await expect(page.getByTestId("load-older")).toBeAttached();
  const after = await entries.last().getAttribute("data-id");
  const firstAfter = await entries.first().getAttribute("data-id");
  await page.waitForTimeout(1000);
  await expect(entries.last()).toHaveAttribute("data-id", after!);
  await expect(entries.first()).toHaveAttribute("data-id", firstAfter!);
  // The view went where the page came in.
  const inView = await bodiesInView(page);
  expect(inView.length).toBeGreaterThan(3);
  expect(inView.some((t) => /^ahead (2[0-9][0-9])$/.test(t))).toBe(true);
});

test("days are separated, one sender's close messages form a run, and actions show on hover", async ({ page }) => {
  const wa = "4915112340000";
  const yesterday = Math.floor(Date.now() / 1000) - 86_400 - 60;
  await server.postWebhook({
    object: "whatsapp_business_account",
    entry: [{
      id: "100000000000001",
      changes: [{
        field: "messages",
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550001000", phone_number_id: "200000000000001" },
          contacts: [{ profile: { name: "Day Tester" }, wa_id: wa }],
          messages: [{ from: wa, id: "wamid.DAY1", timestamp: String(yesterday), type: "text", text: { body: "from before" } }],
        },
      }],
    }],
  });
  await server.customerWrites(wa, "today one");
  await server.customerWrites(wa, "today two");
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "Day Tester" }).click();
  const messages = page.getByTestId("message");
  await expect(messages).toHaveCount(3);
  const days = page.getByTestId("day-separator");
  await expect(days).toHaveCount(2);
  await expect(days.first()).not.toHaveText("Today");
  await expect(days.last()).toHaveText("Today");
  // The first of today opens a run; the next, a minute or less later, continues it.
  await expect(messages.nth(1)).not.toHaveClass(/continued/);
  await expect(messages.nth(2)).toHaveClass(/continued/);

  const actions = messages.nth(1).locator(".bubble-actions");
  await page.mouse.move(0, 0);
  await expect(actions).toHaveCSS("opacity", "0");
  await messages.nth(1).hover();
  await expect(actions).toHaveCSS("opacity", "1");
  await expect(actions.getByTestId("reply")).toBeVisible();

  // A phone has no hover: no row of buttons under every bubble, and a tap on one shows
  // its actions over the thread, taking no room from the messages.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.mouse.move(0, 0);
  const gap = async () => {
    const [a, b] = [await messages.nth(1).boundingBox(), await messages.nth(2).boundingBox()];
    return b!.y - (a!.y + a!.height);
  };
  const before = await gap();
  expect(before).toBeLessThan(12);
  await expect(actions).toHaveCSS("opacity", "0");
  await messages.nth(1).locator(".body").click();
  await expect(actions).toHaveCSS("opacity", "1");
  await expect(messages.nth(2).locator(".bubble-actions")).toHaveCSS("opacity", "0");
  expect(await gap()).toBe(before);
  await actions.getByTestId("reply").click();
  await expect(page.getByTestId("cancel-reply")).toBeVisible();
});
