// Search: a word from an older message, accents aside, found with the word marked; the
// result opens its conversation at that message, with the history around it.
import { bubbleSaying, expect, signIn, test } from "./fixtures";
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

test("a search result deep in a long conversation opens the thread at it, newer pages below", async ({ page }) => {
  const wa = "5511987650003";
  for (let i = 0; i < 30; i++) await server.customerWrites(wa, `antes ${i}`);
  await server.customerWrites(wa, "O código do cupom é PITANGA");
  // More than two pages newer than it: the newest page alone would not hold it.
  for (let i = 0; i < 120; i++) await server.customerWrites(wa, `depois ${i}`);
  await signIn(page, server.url);
  await page.getByTestId("search-link").click();
  await page.getByTestId("search-input").fill("pitanga");
  await expect(page.getByTestId("search-hit")).toHaveCount(1);
  await page.getByTestId("search-hit").click();
  await expect(page).toHaveURL(/\/c\/.+\?at=/);

  const said = (text: string) => bubbleSaying(page, text);
  const target = page.locator("[data-testid=message][data-target]");
  await expect(target).toContainText("PITANGA");
  await expect(target).toBeInViewport();
  // The history around it, not the newest page: the newest message is not loaded yet.
  await expect(said("depois 0")).toHaveCount(1);
  await expect(said("depois 119")).toHaveCount(0);
  await expect(said("antes 29")).toHaveCount(1);
  await expect(said("antes 0")).toHaveCount(0);
  await expect(page.getByTestId("load-older")).toBeVisible();

  // Scrolled far from it (its bubble emptied) and back, it is still marked.
  const targetId = await target.getAttribute("data-id");
  const thread = page.getByTestId("thread");
  await thread.evaluate((el) => el.scrollTo(0, 0));
  await expect(said("antes 0")).toHaveCount(1);
  await thread.evaluate((el) => el.scrollTo(0, 0));
  await expect(target).toHaveCount(0);
  await page.locator(`[data-testid=entry][data-id="${targetId}"]`).scrollIntoViewIfNeeded();
  await expect(target).toContainText("PITANGA");
  await expect(target).toBeInViewport();

  // A customer message now does not land across the gap; newer pages bring it in order.
  await server.customerWrites(wa, "bem recente");
  await expect(said("bem recente")).toHaveCount(0);
  await expect(page.getByTestId("load-newer")).toBeAttached();
  while (await page.getByTestId("load-newer").isVisible()) {
    await page.getByTestId("load-newer").click();
    await expect(page.getByTestId("load-newer")).toBeEnabled({ timeout: 5000 }).catch(() => {});
  }
  // Only what is near the view is drawn: the newest show at the end of the thread.
  await page.getByTestId("thread").evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await expect(page.getByTestId("message").last()).toContainText("bem recente");
  await expect(said("depois 119")).toHaveCount(1);

  // Live again at the newest: the next message shows as it comes.
  await server.customerWrites(wa, "ao vivo");
  await expect(page.getByTestId("message").last()).toContainText("ao vivo");

  // Jump to latest from a result, straight to the newest page.
  await page.getByTestId("search-link").click();
  await page.getByTestId("search-input").fill("pitanga");
  await page.getByTestId("search-hit").click();
  await expect(page.locator("[data-testid=message][data-target]")).toContainText("PITANGA");
  await page.getByTestId("jump-latest").click();
  await expect(page).not.toHaveURL(/\?at=/);
  await expect(page.getByTestId("message").last()).toContainText("ao vivo");
  await expect(page.getByTestId("load-newer")).toHaveCount(0);
});
