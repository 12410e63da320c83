// The browser side of issue "twice as fast": the conversation list with CONVERSATIONS
// conversations (5,000), measured in the page itself (performance.now(), a
// MutationObserver, requestAnimationFrame):
// - each page of the infinite scroll, from reaching the end to its rows drawn (the list is
//   virtual: it draws the rows near the view, and says how many it holds in `data-loaded`);
// - scrolling the whole loaded list top to bottom: the time between frames;
// - a customer message in a conversation far down: the webhook POST → its row on top,
//   and how many rows that event touched.
import { test } from "@playwright/test";
import { signIn } from "../tests/fixtures";
import { Server } from "../tests/server";
import { body, fill, quantiles, sign, table } from "./common";

const CONVERSATIONS = Number(process.env.BENCH_CONVERSATIONS ?? 5_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const server = new Server(Number(process.env.BENCH_PORT ?? 3591));

const customer = (i: number) => ({ from: `4917${String(i).padStart(8, "0")}`, name: `List Customer ${i}` });

test.beforeAll(async () => {
  await server.start();
  // One message from each customer, customer 0 the oldest.
  await fill(server.url, CONVERSATIONS, (j, ts) => ({ ...customer(j), id: `wamid.LIST.${j}`, text: `hello ${j}`, ts }));
});
test.afterAll(async () => server.stop());

test("conversation list at 5,000", async ({ page }) => {
  const rows: [string, string][] = [];
  await signIn(page, server.url);
  await page.goto(server.url + "/");
  await page.locator("[data-testid=live-state][data-state=live]").waitFor();
  await page.getByTestId("conversation").first().waitFor();

  // The infinite scroll: the list's end reached, until the next page's rows are drawn.
  const pages: number[] = [];
  for (;;) {
    const ms = await page.evaluate(async () => {
      const list = document.querySelector<HTMLElement>("[data-testid=conversation-list]")!;
      const count = () => Number(list.querySelector("[data-testid=conversation-rows]")?.getAttribute("data-loaded") ?? 0);
      const last = () => [...list.querySelectorAll("[data-testid=conversation]")].at(-1)?.getAttribute("data-id");
      const before = count();
      const lastBefore = last();
      const t0 = performance.now();
      list.scrollTop = list.scrollHeight;
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        // The page is in once it is counted and its first rows are drawn at the end.
        if (count() > before && last() !== lastBefore) return performance.now() - t0;
        if (performance.now() - t0 > 3_000) return null;
      }
    });
    if (ms === null) break;
    pages.push(ms);
  }
  const loaded = Number(await page.getByTestId("conversation-rows").getAttribute("data-loaded"));
  if (loaded < CONVERSATIONS) throw new Error(`the list stopped at ${loaded} of ${CONVERSATIONS}`);
  const drawn = await page.getByTestId("conversation").count();
  rows.push(["list page → drawn, pages 1–10", quantiles(pages.slice(0, 10))]);
  rows.push([`list page → drawn, pages ${pages.length - 9}–${pages.length}`, quantiles(pages.slice(-10))]);
  rows.push(["rows in the DOM with all loaded", `${drawn} of ${loaded}`]);
  console.log(`paged: ${pages.length} pages, ${loaded} rows`);

  // Scrolling: the whole list, top to bottom and back, 300 px a frame.
  const frames: number[] = await page.evaluate(async () => {
    const list = document.querySelector<HTMLElement>("[data-testid=conversation-list]")!;
    const gaps: number[] = [];
    for (const direction of [1, -1]) {
      list.scrollTop = direction === 1 ? 0 : list.scrollHeight;
      let last = await new Promise<number>((r) => requestAnimationFrame(r));
      for (;;) {
        const before = list.scrollTop;
        list.scrollTop += direction * 300;
        const now = await new Promise<number>((r) => requestAnimationFrame(r));
        gaps.push(now - last);
        last = now;
        if (list.scrollTop === before) break;
      }
    }
    return gaps;
  });
  const long = frames.filter((f) => f > 50).length;
  rows.push(["scrolling, time between frames", `${quantiles(frames)}; ${long} over 50 ms`]);

  // A message from a customer far down the list: POST → their row on top.
  await page.evaluate(() => {
    const list = document.querySelector("[data-testid=conversation-list] ul")!;
    (window as any).__rows = [];
    new MutationObserver((records) => {
      const touched = new Set<Node>();
      for (const r of records) {
        for (const n of [...r.addedNodes, ...r.removedNodes]) if (n.nodeName === "LI") touched.add(n);
        const node = r.target instanceof Element ? r.target : r.target.parentElement;
        const row = node?.closest("li");
        if (row && list.contains(row)) touched.add(row);
      }
      (window as any).__rows.push(...touched);
    }).observe(list, { childList: true, subtree: true, attributes: true, characterData: true });
  });
  const moves: number[] = [];
  const touched: number[] = [];
  let ts = 0;
  for (let k = 0; k < SAMPLES; k++) {
    // The list sorts by the customer's timestamp (seconds): each sample in a later second,
    // so it is unambiguously the newest.
    while (Math.floor(Date.now() / 1000) <= ts) await new Promise((r) => setTimeout(r, 50));
    ts = Math.floor(Date.now() / 1000);
    const who = customer(Math.floor(CONVERSATIONS / 2) + k * 7);
    const raw = body([{ ...who, id: `wamid.LIST.MOVE.${k}`, text: `moved ${k}`, ts }]);
    const result = await page.evaluate(async ({ raw, sig, name }) => {
      (window as any).__rows = [];
      const list = document.querySelector("[data-testid=conversation-list]")!;
      const onTop = () => list.querySelector("[data-testid=conversation-name]")?.textContent === name;
      const t0 = performance.now();
      await fetch("/webhook", { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": sig }, body: raw });
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        if (onTop()) break;
        if (performance.now() - t0 > 10_000) return null;
      }
      const ms = performance.now() - t0;
      // Whatever else the event changes comes within a few frames.
      await new Promise((r) => setTimeout(r, 200));
      return { ms, rows: new Set((window as any).__rows).size };
    }, { raw, sig: sign(raw), name: who.name });
    if (!result) throw new Error(`${who.name} never came to the top`);
    moves.push(result.ms);
    touched.push(result.rows);
  }
  rows.push(["customer message → row on top (from far down)", quantiles(moves)]);
  rows.push(["rows an event touches (added, removed or changed)", `min ${Math.min(...touched)}, max ${Math.max(...touched)}`]);

  table(`list benchmark: ${CONVERSATIONS} conversations`, rows);
});
