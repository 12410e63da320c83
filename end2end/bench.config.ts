import { defineConfig, devices } from "@playwright/test";

// The browser benchmarks (bench/*.bench.ts): numbers, not tests. Run them with
// `scripts/bench-browser`, against the release build.
export default defineConfig({
  testDir: "./bench",
  testMatch: /\.bench\.ts$/,
  timeout: 30 * 60_000,
  workers: 1,
  reporter: [["list"]],
  use: {
    ...devices["Desktop Chrome"],
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    },
  },
});
