// The team's data in and out: the audit log on the admin page, contacts imported from a
// CSV file and downloaded again, and one conversation exported from its header.
import { readFile } from "node:fs/promises";
import { expect, signIn, test } from "./fixtures";
import { Server } from "./server";

const server = new Server(Number(process.env.E2E_DATA_PORT ?? 3421));

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

test("an admin sees who changed what in the audit log, filters it and downloads it", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("admin-link").click();

  const inboxForm = page.getByTestId("add-inbox");
  await inboxForm.getByLabel("Phone number id").fill("500000000000009");
  await inboxForm.getByLabel("Inbox name").fill("Audited");
  await inboxForm.getByRole("button", { name: "Add inbox" }).click();
  await expect(page.locator("[data-testid=inbox-row][data-phone-number-id='500000000000009']")).toBeVisible();

  await page.getByTestId("audit-refresh").click();
  const created = page.locator("[data-testid=audit-row][data-action='inbox.created']");
  await expect(created).toHaveCount(1);
  await expect(created).toContainText("Audited");
  await expect(page.locator("[data-testid=audit-row][data-action='sign_in']").first()).toBeVisible();

  // Only sign-ins: the inbox row goes away.
  await page.getByTestId("audit-action").selectOption("sign_in");
  await expect(created).toHaveCount(0);
  await expect(page.getByTestId("audit-row").first()).toHaveAttribute("data-action", "sign_in");

  // The CSV holds what the table shows, with the same filter.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("audit-csv").click()]);
  const csv = await readFile((await download.path())!, "utf8");
  const lines = csv.trim().split(/\r?\n/);
  expect(lines[0]).toContain("action");
  expect(lines.length).toBeGreaterThan(1);
  for (const line of lines.slice(1)) expect(line).toContain("sign_in");
});

test("contacts come in from a CSV after a dry run that names each bad line, and go out again", async ({ page }) => {
  await signIn(page, server.url);
  await page.getByTestId("contacts-link").click();
  await page.getByTestId("contacts-transfer").locator("summary").click();
  const csv =
    "phone,name,labels,attribute:plan\n" +
    "+44 7700 900123,Zoe Price,vip;wholesale,gold\n" +
    "not a number,Nobody,,\n" +
    "+1 415 555 0100,Al Ortiz,,silver\n";
  await page.getByTestId("import-file").setInputFiles({ name: "contacts.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });

  await page.getByTestId("import-check").click();
  const report = page.getByTestId("import-report");
  await expect(report).toContainText("Would create 2");
  await expect(page.getByTestId("import-errors")).toContainText("3");
  await expect(page.getByTestId("contact-row")).toHaveCount(0);

  await page.getByTestId("import-apply").click();
  await expect(report).toContainText("Created 2");
  await page.reload();
  await expect(page.getByTestId("contact-row")).toHaveCount(2);
  await expect(page.getByTestId("contacts-page")).toContainText("Zoe Price");

  await page.getByTestId("contacts-transfer").locator("summary").click();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("contacts-csv").click()]);
  const out = await readFile((await download.path())!, "utf8");
  expect(out).toContain("attribute:plan");
  expect(out).toContain("+447700900123,Zoe Price,vip;wholesale");
  expect(out).toContain("+14155550100,Al Ortiz");
});

test("one conversation downloads as readable text from its header", async ({ page }) => {
  await server.customerWrites("5511987650031", "Is the blue one back in stock?");
  await signIn(page, server.url);
  await page.getByTestId("conversation").filter({ hasText: "blue one" }).click();
  await page.getByTestId("export-menu").locator("summary").click();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-text").click()]);
  const text = await readFile((await download.path())!, "utf8");
  expect(text).toContain("Is the blue one back in stock?");
  expect(text).toContain("5511987650031");
});
