// What a browser must never do: run a customer's message as code, or keep working after
// the session ends.
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_SECURITY_PORT ?? 3412));

test.describe.configure({ mode: "serial" });
test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

test("markup in a message, a name or a preview is shown as text", async ({ page }) => {
  const payloads = [
    `<img src=x onerror="window.__xss = 1">`,
    `<script>window.__xss = 2</script>`,
    `"><svg onload="window.__xss = 3">`,
  ];
  await signIn(page, server.url);
  for (const text of payloads) await server.customerWrites("5511987650001", text);
  await page.getByTestId("conversation").filter({ hasText: "Ana Souza" }).click();
  const bubbles = page.getByTestId("message");
  await expect(bubbles).toHaveCount(payloads.length);
  for (const [i, text] of payloads.entries()) {
    await expect(bubbles.nth(i)).toContainText(text);
  }
  await expect(page.locator("[data-testid=thread] img, [data-testid=thread] script, [data-testid=thread] svg[onload]")).toHaveCount(0);
  // Also after a full server render of the same page.
  await page.reload();
  await expect(bubbles).toHaveCount(payloads.length);
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
});

test("signing out ends the session for the page", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto(server.url + "/");
  await expect(page).toHaveURL(/\/login$/);
});
