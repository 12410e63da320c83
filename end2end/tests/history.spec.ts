// Long histories load newest page first, and "Load older messages" pages back to the start.
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_HISTORY_PORT ?? 3411));

test.beforeAll(async () => {
  await server.start();
  for (let i = 1; i <= 65; i++) {
    await server.customerWrites("4915112345678", `message ${i}`);
  }
});
test.afterAll(async () => server.stop());

test("history loads the newest page first and pages back with load older", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "Jonas Weber" }).click();
  const messages = page.getByTestId("message");
  await expect(messages).toHaveCount(50);
  await expect(messages.last()).toContainText("message 65");
  await expect(messages.first()).toContainText("message 16");

  await page.getByTestId("load-older").click();
  await expect(messages).toHaveCount(65);
  await expect(messages.first()).toContainText("message 1");
  await expect(page.getByTestId("load-older")).toHaveCount(0);
  // The newest message is still where it was.
  await expect(messages.last()).toContainText("message 65");
});
