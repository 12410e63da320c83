// Canned responses: made on their page, then `/thanks` in the composer becomes the text
// with the contact's name, ready to send.
import { appReady, expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_CANNED_PORT ?? 3416));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

test("an admin adds /thanks and it expands with the contact's name in the composer", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("canned-link").click();
  await expect(page.getByTestId("canned-empty")).toBeVisible();
  await page.getByTestId("canned-shortcut").fill("thanks");
  await page.getByTestId("canned-text").fill("Thanks for writing, {{contact.name}}! — {{agent.name}}");
  await page.getByTestId("canned-save").click();
  await expect(page.getByTestId("canned-row")).toHaveCount(1);
  await expect(page.getByTestId("canned-row")).toContainText("/thanks");
  // A taken shortcut is refused with the reason.
  await page.getByTestId("canned-shortcut").fill("Thanks");
  await page.getByTestId("canned-text").fill("again");
  await page.getByTestId("canned-save").click();
  await expect(page.getByTestId("canned-error")).toContainText("already in use");

  await server.customerWrites("5511987650001", "Oi, tudo bem?");
  await page.goto(server.url + "/");
  await appReady(page);
  await page.getByTestId("conversation").filter({ hasText: "Ana Souza" }).click();
  const composer = page.getByTestId("composer");
  await composer.pressSequentially("/th");
  await expect(page.getByTestId("canned-option")).toHaveCount(1);
  await expect(page.getByTestId("canned-option")).toContainText("/thanks");
  await composer.press("Tab");
  await expect(composer).toHaveValue(/^Thanks for writing, Ana Souza! — .+/);
  await expect(page.getByTestId("canned-menu")).toHaveCount(0);
  await composer.press("Enter");
  await expect(page.locator("[data-testid=message][data-direction=out]").last()).toContainText(
    "Thanks for writing, Ana Souza!",
  );
});
