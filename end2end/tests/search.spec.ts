// Search: a word from an older message, accents aside, found with the word marked; the
// result opens its conversation.
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_SEARCH_PORT ?? 3417));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

test("search finds a word from an old message and opens its conversation", async ({ page }) => {
  await server.customerWrites("5511987650001", "Preciso de informações sobre a entrega");
  for (let i = 0; i < 5; i++) await server.customerWrites("5511987650002", `mensagem ${i}`);
  await signIn(page, server.url);
  await page.getByTestId("search-link").click();
  await page.getByTestId("search-input").fill("informacoes");
  await expect(page.getByTestId("search-hit")).toHaveCount(1);
  await expect(page.getByTestId("search-hit").locator("mark")).toHaveText("informações");
  await expect(page.getByTestId("search-hit")).toContainText("Ana Souza");
  await page.getByTestId("search-hit").click();
  await expect(page).toHaveURL(/\/c\/.+/);
  await expect(page.getByTestId("chat-title")).toHaveText("Ana Souza");
  await expect(page.getByTestId("message").filter({ hasText: "informações sobre a entrega" })).toBeVisible();
  await page.goBack();
  await page.getByTestId("search-input").fill("nada disso");
  await expect(page.getByTestId("search-empty")).toBeVisible();
});
