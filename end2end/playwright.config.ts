import { defineConfig, devices } from "@playwright/test";

// Each spec file starts its own server (tests/server.ts) so it can restart it; the
// browser is Debian's Chromium, never a downloaded one.
const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
};

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [["list"]],
  use: {
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: { ...devices["Desktop Chrome"], launchOptions: chromium },
    },
    {
      // The main flow again at a phone's width: every screen must fit and pass axe-core.
      name: "phone",
      testMatch: /look\.spec\.ts/,
      use: { ...devices["Desktop Chrome"], viewport: { width: 390, height: 844 }, launchOptions: chromium },
    },
  ],
});
