// A `test` that fails when the page throws or panics (hydration errors included), so a
// broken WebAssembly app cannot pass by leaving server-rendered HTML on screen.
import { test as base, expect } from "@playwright/test";

export const test = base.extend<{ pageErrors: string[] }>({
  pageErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("console", (m) => {
        // The browser logs every 4xx/5xx and refused socket itself; tests that expect
        // them assert on the UI instead. It also logs that the chime found no sound card
        // (this machine has none). Anything else logged as an error counts.
        const browsers = /^Failed to load resource|^WebSocket connection to|^The AudioContext encountered an error from the audio device/;
        if (m.type() === "error" && !browsers.test(m.text())) errors.push(m.text());
      });
      await use(errors);
      expect(errors, "errors in the page").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the inbox's app runs: hydrated, its live socket connected. Until then the
 *  page is server-rendered HTML, where keys do nothing and a click may load a new page. */
export async function appReady(page: import("@playwright/test").Page) {
  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "live", { timeout: 20_000 });
}

/** The message bubble whose text is exactly `text`, matched on its body alone: its time
 *  follows it, so "depois 1" sent at 19:34 would read "depois 119:34" as a substring. */
export function bubbleSaying(page: import("@playwright/test").Page, text: string) {
  return page.getByTestId("message").filter({ has: page.locator(".body").getByText(text, { exact: true }) });
}

/** Signs in through the sign-in page with the demo credentials it shows, and waits for
 *  the inbox's app to run. */
export async function signIn(page: import("@playwright/test").Page, url: string) {
  const signedIn = page.getByTestId("signed-in-as");
  // Already signed in (the page's cookie says so): straight to the inbox. The sign-in page
  // would show its form first and send the visitor on only once hydrated, a race.
  const me = await page.request.post(url + "/api/me", { data: {}, headers: { origin: url } });
  if (me.ok()) {
    await page.goto(url + "/");
  } else {
    await page.goto(url + "/login");
    await expect(page.getByTestId("demo-email").or(signedIn)).toBeVisible();
    if (!(await signedIn.isVisible())) {
      const email = await page.getByTestId("demo-email").innerText();
      const password = await page.getByTestId("demo-password").innerText();
      await page.getByTestId("email").fill(email);
      await page.getByTestId("password").fill(password);
      await page.getByTestId("sign-in").click();
    }
  }
  await expect(signedIn).toBeVisible();
  await appReady(page);
}

/** Creates an agent who works the server's first inbox (once) and signs them in in a new
 *  browser context, as a second person at another computer. */
export async function agentTab(
  browser: import("@playwright/test").Browser,
  server: import("./server").Server,
  email: string,
  name: string,
): Promise<import("@playwright/test").Page> {
  const inbox = (await server.api("list_inboxes", {}))[0].id;
  const users = await server.api("list_users", {});
  let user = users.find((u: any) => u.email === email);
  if (!user) {
    user = await server.api("create_user", { email, name, role: "agent", password: "agent-password-1" });
    await server.api("set_inbox_member", { inbox_id: inbox, user_id: user.id, member: true });
  }
  const page = await (await browser.newContext()).newPage();
  await page.goto(server.url + "/login");
  await page.getByTestId("email").fill(email);
  await page.getByTestId("password").fill("agent-password-1");
  await page.getByTestId("sign-in").click();
  await expect(page.getByTestId("signed-in-as")).toContainText(name);
  await appReady(page);
  return page;
}

/** What a person sees, checked as well as a test can: axe-core finds no serious or
 *  critical WCAG A/AA violation (contrast, names, labels, roles) on the page as it is
 *  now, and nothing runs off the side (no horizontal scroll). */
export async function looksRight(page: import("@playwright/test").Page, screen: string) {
  const { default: AxeBuilder } = await import("@axe-core/playwright");
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.slice(0, 6).map((n) => `${n.target.join(" ")}: ${(n.failureSummary ?? "").split("\n").slice(-1)[0]}`).join("\n  ")}`);
  expect(bad, `accessibility of ${screen}`).toEqual([]);
  const overflow = await page.evaluate(() => {
    const root = document.scrollingElement ?? document.documentElement;
    return { scroll: root.scrollWidth, client: root.clientWidth };
  });
  expect(overflow.scroll, `${screen} scrolls sideways`).toBeLessThanOrEqual(overflow.client);
}
