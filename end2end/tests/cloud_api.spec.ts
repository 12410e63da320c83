// What Meta throws at an inbox, in a real browser: a photo, reactions, a send that fails
// and is retried, and a conversation whose 24-hour window has closed.
import { Page } from "@playwright/test";
import { appReady, expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_CLOUD_PORT ?? 3414));

test.describe.configure({ mode: "serial" });
test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

async function openConversation(page: Page, name: string) {
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: name }).click();
}

test("a customer's photo is downloaded by the app and displayed", async ({ page }) => {
  await server.customerSends({ wa_id: "5511987650001", kind: "image", text: "the damaged box" });
  await openConversation(page, "Ana Souza");
  const bubble = page.locator("[data-testid=message][data-kind=image]").last();
  await expect(bubble).toContainText("the damaged box");
  const img = bubble.getByTestId("media-image");
  await expect(img).toBeVisible();
  await expect(img).toHaveAttribute("src", /^\/media\//);
  // The file really loaded from the app's own route.
  await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBeGreaterThan(0);
});

test("reactions show on the bubble they react to, live", async ({ page }) => {
  const wamid = await server.customerSends({ wa_id: "5511987650002", text: "Did you get my photo?" });
  await openConversation(page, "Bruno Lima");
  const bubble = page.locator("[data-testid=message][data-direction=in]").filter({ hasText: "Did you get my photo?" });
  await expect(bubble).toBeVisible();
  // The customer reacts to their own message…
  await server.customerSends({ wa_id: "5511987650002", kind: "reaction", target: wamid, text: "👍" });
  await expect(bubble.locator("[data-testid=reaction][data-by=customer]")).toHaveText("👍");
  // …and the agent reacts from the bubble.
  await bubble.getByTestId("react").click();
  await bubble.getByTestId("react-pick").filter({ hasText: "❤️" }).click();
  await expect(bubble.locator("[data-testid=reaction][data-by=agent]")).toHaveText("❤️");
  // A reaction is not a bubble of its own.
  await expect(page.locator("[data-testid=message][data-kind=reaction]")).toHaveCount(0);
});

test("a failed send shows Meta's reason and what to do, and Retry really re-sends", async ({ page }) => {
  await server.customerWrites("4915112345678", "Where is my refund?");
  await server.api("simulate_fault", { fault: { fault: "fail_with", code: 131026 } });
  await openConversation(page, "Jonas Weber");
  const composer = page.getByTestId("composer");
  await composer.fill("Refund sent yesterday");
  await composer.press("Enter");
  const bubble = page.locator("[data-testid=message][data-direction=out]").filter({ hasText: "Refund sent yesterday" });
  await expect(bubble).toHaveAttribute("data-status", "failed");
  await expect(bubble.getByTestId("failure-reason")).toContainText("#131026");
  await expect(bubble.getByTestId("failure-advice")).toContainText("could not deliver");
  await bubble.getByTestId("retry").click();
  await expect(bubble).toHaveAttribute("data-status", "read", { timeout: 20_000 });
  await expect(bubble.getByTestId("failure")).toHaveCount(0);
  await expect(bubble.getByTestId("earlier-attempt")).toHaveAttribute("data-status", "failed");

  // Meta then says the failed attempt was delivered after all: the agent is told, live,
  // that the customer may have the message twice.
  const id = await bubble.getAttribute("data-id");
  const conversation = page.url().split("/c/")[1];
  const history = await server.api("load_messages", { conversation_id: conversation, before: null, limit: 50 });
  const sent = history.messages.find((m: any) => m.id === id);
  const oldWamid = sent.details.earlier_attempts[0].wamid;
  await server.postWebhook({
    object: "whatsapp_business_account",
    entry: [{ id: "100000000000001", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "15550001000", phone_number_id: "200000000000001" },
      statuses: [{ id: oldWamid, status: "delivered", timestamp: String(Math.floor(Date.now() / 1000)),
        recipient_id: "4915112345678", biz_opaque_callback_data: id }],
    } }] }],
  });
  await expect(bubble.getByTestId("delivered-twice")).toContainText("may have this message twice");
  await expect(bubble).toHaveAttribute("data-status", "read");
});

test("after 24 hours the composer offers a template instead, and it goes out", async ({ page }) => {
  const old = Math.floor(Date.now() / 1000) - 25 * 3600;
  await server.postWebhook({
    object: "whatsapp_business_account",
    entry: [{ id: "100000000000001", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "15550001000", phone_number_id: "200000000000001" },
      contacts: [{ profile: { name: "Old Timer" }, wa_id: "5511900000024" }],
      messages: [{ from: "5511900000024", id: "wamid.E2E.OLD", timestamp: String(old), type: "text",
        text: { body: "Hello? Anyone?" } }],
    } }] }],
  });
  await openConversation(page, "Old Timer");
  const banner = page.getByTestId("window-banner");
  await expect(banner).toBeVisible();
  await expect(banner).toContainText("24-hour window is closed");
  await expect(page.getByTestId("composer")).toHaveCount(0);
  // The approved templates come from WhatsApp Manager (here, the simulator's account).
  const send = page.getByTestId("send-template");
  await page.getByTestId("template-pick").selectOption({ label: "order_update · pt_BR · utility" });
  await expect(send).toBeDisabled();
  await page.getByTestId("template-param").nth(0).fill("Ana");
  await page.getByTestId("template-param").nth(1).fill("#42");
  await expect(page.getByTestId("template-preview")).toContainText("Olá Ana, seu pedido #42 saiu para entrega.");
  await send.click();
  const bubble = page.locator("[data-testid=message][data-kind=template]").last();
  await expect(bubble).toContainText("order_update");
  await expect(bubble).toContainText("Olá Ana, seu pedido #42 saiu para entrega.");
  await expect(bubble).toHaveAttribute("data-status", /sent|delivered|read/);
});

test("a conversation outside the window, loaded whole, hydrates and offers its templates", async ({ page }) => {
  // "Old Timer", from the test before, is still outside the window. A reload draws the
  // composer on the server; the app must take the page over and the picker must work.
  await openConversation(page, "Old Timer");
  await expect(page.getByTestId("template-pick")).toBeVisible();
  await page.reload();
  await appReady(page);
  await page.getByTestId("template-pick").selectOption({ label: "order_update · pt_BR · utility" });
  await page.getByTestId("template-param").nth(0).fill("Bia");
  await expect(page.getByTestId("template-preview")).toContainText("Olá Bia");
});

test("a template's header and buttons are filled in the composer: a value, a link's end, an uploaded image, an offer's end, a carousel", async ({ page }) => {
  // "Old Timer", from the test before, is still outside the window.
  await openConversation(page, "Old Timer");
  const send = page.getByTestId("send-template");
  await page.getByTestId("template-pick").selectOption({ label: "delivery_update · en_US · utility" });
  await page.getByTestId("template-header-text").fill("#42");
  await page.getByTestId("template-param").fill("Ana");
  await expect(send).toBeDisabled();
  await page.getByTestId("template-button-value").fill("42");
  await expect(page.getByTestId("template-preview")).toContainText("Order #42");
  await send.click();
  const delivery = page.locator("[data-testid=message][data-kind=template]").filter({ hasText: "delivery_update" });
  await expect(delivery).toContainText("Order #42");
  await expect(delivery).toContainText("Hi Ana, your parcel is out for delivery today.");
  await expect(delivery).toHaveAttribute("data-status", "read", { timeout: 20_000 });

  await page.getByTestId("template-pick").selectOption({ label: "seasonal_promo · en_US · marketing" });
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    "base64",
  );
  await page.getByTestId("template-header-file").setInputFiles({ name: "spring.png", mimeType: "image/png", buffer: png });
  await expect(page.getByTestId("template-header-attached")).toContainText("spring.png");
  await page.getByTestId("template-param").fill("Ana");
  await send.click();
  const promo = page.locator("[data-testid=message][data-kind=template]").filter({ hasText: "seasonal_promo" });
  await expect(promo).toContainText("Ana, our new collection is here.");
  await expect(promo).toHaveAttribute("data-status", "read", { timeout: 20_000 });
  const img = promo.getByTestId("media-image");
  await expect(img).toHaveAttribute("src", /^\/media\//);
  await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBeGreaterThan(0);

  // A limited-time offer asks when it ends, in the agent's own time.
  await page.getByTestId("template-pick").selectOption({ label: "flash_sale · en_US · marketing" });
  await page.getByTestId("template-param").fill("Ana");
  await page.getByTestId("template-button-value").fill("HALF50");
  await expect(send).toBeDisabled();
  const ends = new Date(Date.now() + 2 * 86_400_000);
  const pad = (n: number) => String(n).padStart(2, "0");
  const local = `${ends.getFullYear()}-${pad(ends.getMonth() + 1)}-${pad(ends.getDate())}T18:30`;
  await page.getByTestId("template-offer-end").fill(local);
  await send.click();
  const sale = page.locator("[data-testid=message][data-kind=template]").filter({ hasText: "flash_sale" });
  await expect(sale).toContainText("Ana, everything is half price");
  await expect(sale.getByTestId("template-offer")).toContainText("18:30");
  await expect(sale).toHaveAttribute("data-status", "read", { timeout: 20_000 });

  // A carousel asks for each card's photo, values and product link.
  await page.getByTestId("template-pick").selectOption({ label: "spring_collection · en_US · marketing" });
  await expect(page.getByTestId("template-card-fields")).toHaveCount(2);
  await page.getByTestId("template-param").fill("Ana");
  const cardFields = page.getByTestId("template-card-fields");
  // The app's own icon stands in for a product photo at a public link.
  const photo = `${server.url}/favicon.svg`;
  await cardFields.nth(0).getByTestId("template-card-link").fill(photo);
  await cardFields.nth(0).getByTestId("template-card-param").nth(0).fill("Tulips");
  await cardFields.nth(0).getByTestId("template-card-param").nth(1).fill("$5");
  await cardFields.nth(0).getByTestId("template-card-button-value").fill("tulips");
  await cardFields.nth(1).getByTestId("template-card-link").fill(photo);
  await cardFields.nth(1).getByTestId("template-card-param").fill("Lilies");
  await expect(page.getByTestId("template-card-preview").nth(1)).toContainText("Card 2: Also in: Lilies");
  await expect(send).toBeDisabled();
  await cardFields.nth(1).getByTestId("template-card-button-value").fill("lilies");
  await send.click();
  const spring = page.locator("[data-testid=message][data-kind=template]").filter({ hasText: "spring_collection" });
  await expect(spring).toContainText("Ana, our spring collection is in.");
  const cards = spring.getByTestId("template-card");
  await expect(cards).toHaveCount(2);
  await expect(cards.nth(0)).toContainText("Tulips, now $5");
  await expect(cards.nth(1)).toContainText("Also in: Lilies");
  await expect(cards.nth(0).locator("img")).toHaveAttribute("src", photo);
  await expect(spring).toHaveAttribute("data-status", "read", { timeout: 20_000 });
});

test("an agent attaches a photo with a caption as a reply; it goes out and shows from our copy", async ({ page }) => {
  await server.customerWrites("14155550123", "Can you show me the blue one?");
  await openConversation(page, "Maya Chen");
  const question = page.locator("[data-testid=message][data-direction=in]").filter({ hasText: "blue one" });
  await question.getByTestId("reply").click();
  await expect(page.getByTestId("replying")).toContainText("Can you show me the blue one?");
  await page.getByTestId("composer").fill("This one");
  // A small PNG, as a file picker would hand it over.
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    "base64",
  );
  await page.getByTestId("attach").setInputFiles({ name: "blue.png", mimeType: "image/png", buffer: png });
  const bubble = page.locator("[data-testid=message][data-direction=out][data-kind=image]");
  await expect(bubble).toContainText("This one");
  await expect(bubble.getByTestId("quote")).toContainText("blue one");
  await expect(bubble).toHaveAttribute("data-status", "read", { timeout: 20_000 });
  const img = bubble.getByTestId("media-image");
  await expect(img).toHaveAttribute("src", /^\/media\//);
  await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBeGreaterThan(0);
  await expect(page.getByTestId("replying")).toHaveCount(0);
  await expect(page.getByTestId("composer")).toHaveValue("");
});

test("a file WhatsApp would refuse is refused in the composer, with the reason", async ({ page }) => {
  await server.customerWrites("447700900123", "Send the spreadsheet please");
  await openConversation(page, "Olivia Brown");
  await page.getByTestId("attach").setInputFiles({ name: "cat.gif", mimeType: "image/gif", buffer: Buffer.from("GIF89a") });
  await expect(page.getByTestId("upload-error")).toContainText("image/gif");
  await expect(page.locator("[data-testid=message][data-direction=out]")).toHaveCount(0);
});

test("an agent sends reply buttons, a list and a document by link from the composer", async ({ page }) => {
  await server.customerWrites("14155550123", "Which plan should I take?");
  await openConversation(page, "Maya Chen");
  const sent = (kind: string) => page.locator(`[data-testid=message][data-direction=out][data-kind=${kind}]`).last();

  await page.getByTestId("more-buttons").click();
  const buttons = page.getByTestId("buttons-form");
  await buttons.getByTestId("structured-body").fill("Did that answer it?");
  await buttons.getByTestId("option-title").nth(0).fill("Yes");
  await expect(buttons.getByTestId("send-structured")).toBeDisabled();
  await buttons.getByTestId("option-title").nth(1).fill("Not yet");
  await buttons.getByTestId("send-structured").click();
  await expect(buttons).toHaveCount(0);
  await expect(sent("interactive")).toContainText("Did that answer it?");
  await expect(sent("interactive")).toContainText("Not yet");
  await expect(sent("interactive")).toHaveAttribute("data-status", /sent|delivered|read/);

  await page.getByTestId("more-list").click();
  const list = page.getByTestId("list-form");
  await list.getByTestId("structured-body").fill("Pick a plan");
  await list.getByTestId("list-button").fill("Plans");
  await list.getByTestId("option-title").nth(0).fill("Basic");
  await list.getByTestId("option-description").nth(0).fill("1 seat");
  await list.getByTestId("option-title").nth(1).fill("Team");
  await list.getByTestId("add-option").click();
  await list.getByTestId("option-title").nth(2).fill("Enterprise");
  await list.getByTestId("send-structured").click();
  await expect(sent("interactive")).toContainText("Plans");
  await expect(sent("interactive")).toContainText("Enterprise");
  await expect(sent("interactive")).toHaveAttribute("data-status", /sent|delivered|read/);

  await page.getByTestId("more-link").click();
  const link = page.getByTestId("link-form");
  await link.getByTestId("link-kind").selectOption("document");
  await link.getByTestId("link-url").fill("https://cdn.example.com/plans.pdf");
  await link.getByTestId("link-filename").fill("plans.pdf");
  await link.getByTestId("link-caption").fill("All the plans");
  await link.getByTestId("send-structured").click();
  await expect(sent("document")).toContainText("plans.pdf");
  await expect(sent("document")).toContainText("All the plans");
  await expect(sent("document")).toHaveAttribute("data-status", /sent|delivered|read/);
});

test("a rejected token shows the paused banner live, and resuming clears it", async ({ page }) => {
  await server.customerWrites("5511987650001", "Still there?");
  await openConversation(page, "Ana Souza");
  const banner = page.getByTestId("sending-paused");
  await expect(banner).toHaveCount(0);
  await server.api("simulate_fault", { fault: { fault: "send_error", http_status: 401, code: 190 } });
  const composer = page.getByTestId("composer");
  await composer.fill("Yes, checking now");
  await composer.press("Enter");
  // No reload: the pause arrives over the socket.
  await expect(banner).toContainText("access token");
  const bubble = page.locator("[data-testid=message][data-direction=out]").filter({ hasText: "Yes, checking now" });
  await expect(bubble).toHaveAttribute("data-status", "pending");
  const info = await server.api("server_info", {});
  await server.api("resume_sending", { inbox_id: info.inboxes[0].id });
  await expect(banner).toHaveCount(0);
  await expect(bubble).toHaveAttribute("data-status", "read", { timeout: 20_000 });
});
