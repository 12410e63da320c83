// The browser side of issue "twice as fast": how the open thread costs as history grows.
// It fills one conversation with MESSAGES customer messages, opens it, and measures in
// the page itself (performance.now(), a MutationObserver):
// - a customer message: the webhook POST (made from the page) → its bubble in the DOM;
// - a receipt: how many bubbles its re-render touches;
// - each older page, from the click to its bubbles in the DOM, at every depth;
// - scrolling back from the newest to the first message: time between frames, and each
//   older page from its request to its entries in the thread;
// - how many messages the thread holds at the end, and how many bubbles the DOM;
// - the WebAssembly bundle, raw and gzipped, and navigation → hydrated and live.
import { test } from "@playwright/test";
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { signIn } from "../tests/fixtures";
import { Server } from "../tests/server";
import { body as batchBody, fill, quantiles, sign, table } from "./common";

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const SCROLL = Number(process.env.BENCH_SCROLL ?? 120);
const WA = "4915112345678";
const server = new Server(Number(process.env.BENCH_PORT ?? 3590));

/** Messages of the one bench customer. */
const body = (messages: { id: string; text: string; ts: number }[]) =>
  batchBody(messages.map((m) => ({ ...m, from: WA, name: "Bench Customer" })));

test.beforeAll(async () => {
  await server.start();
  await fill(server.url, MESSAGES, (j, ts) => ({ from: WA, name: "Bench Customer", id: `wamid.BENCH.${j}`, text: `history ${j}`, ts }));
});
test.afterAll(async () => server.stop());

test("thread costs at depth", async ({ page }) => {
  const rows: [string, string][] = [];

  // Navigation → hydrated and live.
  await signIn(page, server.url);
  const live: number[] = [];
  // The WebAssembly files the inbox's first load fetches (the main module, and the chunks
  // of the split-off parts the page shows: here, in simulator mode, the simulator panel).
  const fetched = new Set<string>();
  const record = (r: import("@playwright/test").Request) => {
    if (r.url().endsWith(".wasm")) fetched.add(path.basename(new URL(r.url()).pathname));
  };
  page.on("request", record);
  for (let i = 0; i < 5; i++) {
    await page.goto(server.url + "/");
    await page.locator("[data-testid=live-state][data-state=live]").waitFor();
    if (i === 0) page.off("request", record);
    live.push(await page.evaluate(() => performance.now()));
  }
  rows.push(["navigation → hydrated and live", quantiles(live)]);
  console.log("navigation measured");

  await page.getByTestId("conversation").filter({ hasText: "Bench Customer" }).click();
  await page.locator("[data-testid=message] .body", { hasText: `history ${MESSAGES - 1}` }).waitFor();

  // A customer message, posted from the page, until its bubble is in the DOM.
  const arrival = async (text: string, id: string) => {
    const raw = body([{ id, text, ts: Math.floor(Date.now() / 1000) }]);
    return page.evaluate(async ({ raw, sig, text }) => {
      const seen = new Promise<number>((resolve) => {
        const observer = new MutationObserver(() => {
          for (const el of document.querySelectorAll("[data-testid=message] .body")) {
            if (el.textContent === text) {
              observer.disconnect();
              resolve(performance.now());
              return;
            }
          }
        });
        observer.observe(document.body, { childList: true, subtree: true, characterData: true });
      });
      const t0 = performance.now();
      await fetch("/webhook", { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": sig }, body: raw });
      const late = new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 10_000));
      return (await Promise.race([seen, late])) - t0;
    }, { raw, sig: sign(raw), text });
  };
  const fresh: number[] = [];
  for (let i = 0; i < SAMPLES; i++) fresh.push(await arrival(`live ${i}`, `wamid.BENCH.LIVE.${i}`));
  const lost = fresh.filter(Number.isNaN).length;
  if (lost) throw new Error(`${lost} customer messages never showed`);
  rows.push([`customer message → bubble (newest page open)`, quantiles(fresh)]);
  console.log("arrivals measured");

  // A reply's receipts: how many bubbles each re-render touches.
  await page.evaluate(() => {
    (window as any).__touched = [];
    const observer = new MutationObserver((records) => {
      const bubbles = new Set<Element>();
      let outside = 0;
      for (const r of records) {
        const node = r.target instanceof Element ? r.target : r.target.parentElement;
        const bubble = node?.closest("[data-testid=message]");
        if (bubble) bubbles.add(bubble);
        else if (node?.closest("[data-testid=thread]")) outside++;
      }
      (window as any).__touched.push({ bubbles: bubbles.size, outside });
    });
    observer.observe(document.querySelector("[data-testid=thread]")!, { childList: true, subtree: true, attributes: true, characterData: true });
  });
  await page.getByTestId("composer").fill("bench reply");
  await page.getByTestId("composer").press("Enter");
  await page.locator("[data-testid=message][data-status=read]", { hasText: "bench reply" }).waitFor({ timeout: 30_000 });
  const touched: { bubbles: number; outside: number }[] = await page.evaluate(() => (window as any).__touched);
  const receipts = touched.slice(-3);
  rows.push([
    "a receipt re-renders (last 3 receipts)",
    receipts.map((t) => `${t.bubbles} bubble${t.bubbles === 1 ? "" : "s"}, ${t.outside} nodes outside`).join("; "),
  ]);

  console.log("receipts measured");
  // Every older page, from the click to its bubbles, down to the first message.
  const pages: number[] = [];
  for (;;) {
    const ms = await page.evaluate(async () => {
      const button = document.querySelector<HTMLButtonElement>("[data-testid=load-older]");
      if (!button) return null;
      // The thread's first entry: a page comes in drawn, and the entries far from the view
      // become empty boxes a frame later.
      const first = () => document.querySelector("[data-testid=entry]")?.getAttribute("data-id");
      const before = first();
      const t0 = performance.now();
      // As an agent reads back: scrolled to the top, where the button is (and where the
      // older page loads by itself; the click then finds it loading). Clicked from far
      // below, with the window full, the page would let go of what is in view.
      document.querySelector("[data-testid=thread]")!.scrollTo(0, 0);
      button.click();
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        if (first() !== before) return performance.now() - t0;
        if (performance.now() - t0 > 10_000) {
          const thread = document.querySelector<HTMLElement>("[data-testid=thread]")!;
          const state = {
            entries: document.querySelectorAll("[data-testid=entry]").length,
            scrollTop: thread.scrollTop,
            scrollHeight: thread.scrollHeight,
            olderButton: button.textContent,
            newerButton: document.querySelector("[data-testid=load-newer]")?.textContent ?? null,
          };
          throw new Error(`an older page did not come: ${JSON.stringify(state)}`);
        }
      }
    });
    if (ms === null) break;
    pages.push(ms);
    if (process.env.BENCH_TRACE) console.log(`page ${pages.length}: ${ms.toFixed(1)} ms`);
  }
  const depth = (from: number, to: number) => quantiles(pages.slice(from, to));
  rows.push(["older page → drawn, pages 1–10", depth(0, 10)]);
  rows.push([`older page → drawn, pages ${pages.length - 9}–${pages.length}`, depth(pages.length - 10, pages.length)]);
  rows.push(["older page → drawn, all", depth(0, pages.length)]);
  // At the first message, as an agent reading it sees the thread: the window's entries,
  // and the bubbles drawn (only those near the view).
  await page.getByTestId("thread").evaluate((el) => el.scrollTo(0, 0));
  await page.locator("[data-testid=message] .body", { hasText: /^history 0$/ }).waitFor();
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const entries = await page.getByTestId("entry").count();
  const drawn = await page.getByTestId("message").count();
  rows.push(["at the first message: messages held / bubbles in the DOM", `${entries} / ${drawn}`]);

  // Back to the newest after reading all the way back: arrivals cost what they did.
  console.log(`paged back: ${pages.length} pages`);
  await page.getByTestId("jump-latest").click({ timeout: 10_000 });
  await page.locator("[data-testid=message] .body", { hasText: /^bench reply$/ }).waitFor({ timeout: 10_000 });
  const after: number[] = [];
  for (let i = 0; i < SAMPLES; i++) after.push(await arrival(`after ${i}`, `wamid.BENCH.AFTER.${i}`));
  if (after.some(Number.isNaN)) throw new Error("a customer message never showed after paging");
  rows.push([`customer message → bubble, after paging through all`, quantiles(after)]);

  // Reading back as a person scrolls: from the newest up to the first message, SCROLL px a
  // frame, the older pages loading by themselves near the top. Every frame's distance from
  // the last (a long one is a stutter the agent sees), and each page from its request to
  // its entries in the thread.
  console.log("scrolling back");
  const scrolled = await page.evaluate(async (step) => {
    const thread = document.querySelector<HTMLElement>("[data-testid=thread]")!;
    const first = () => thread.querySelector("[data-testid=entry]")?.getAttribute("data-id");
    performance.setResourceTimingBufferSize(100_000);
    performance.clearResourceTimings();
    const frames: number[] = [];
    const pages: number[] = [];
    let seen = first();
    let last = performance.now();
    const start = last;
    for (;;) {
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      frames.push(now - last);
      last = now;
      if (first() !== seen) {
        seen = first();
        const asked = performance.getEntriesByType("resource").filter((e) => e.name.includes("load_messages")).pop();
        if (asked) pages.push(now - asked.startTime);
      }
      if (thread.scrollTop === 0 && !document.querySelector("[data-testid=load-older]")) break;
      if (now - start > 600_000) throw new Error("scrolling back did not reach the first message");
      thread.scrollTop -= step;
    }
    return { frames, pages };
  }, SCROLL);
  rows.push([`scrolling back ${SCROLL} px a frame: time between frames`, `${quantiles(scrolled.frames)}; ${scrolled.frames.filter((f) => f > 50).length} over 50 ms`]);
  rows.push(["scrolling back: an older page, asked → in the thread", quantiles(scrolled.pages)]);

  // The bundle: what the inbox's first load fetches, the main module, and every chunk.
  const pkg = path.resolve(__dirname, "..", "..", "target", "site", "pkg");
  const size = (files: string[]) => {
    let raw = 0;
    let gz = 0;
    for (const f of files) {
      const bytes = readFileSync(path.join(pkg, f));
      raw += bytes.length;
      gz += gzipSync(bytes, { level: 9 }).length;
    }
    return `${(raw / 1024).toFixed(0)} KiB, ${(gz / 1024).toFixed(0)} KiB gzipped`;
  };
  const all = readdirSync(pkg).filter((f) => f.endsWith(".wasm"));
  rows.push([`WASM the inbox's first load fetches (${fetched.size} files)`, size([...fetched])]);
  rows.push(["WASM main module (switchboard.wasm)", size(["switchboard.wasm"])]);
  rows.push([`WASM, every chunk (${all.length} files)`, size(all)]);

  table(`thread benchmark: ${MESSAGES} messages in one conversation`, rows);
});
