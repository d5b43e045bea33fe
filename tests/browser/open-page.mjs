// Opens one page in Debian's headless Chromium and prints, as one JSON line, what the
// page's script left in `window.parleyResult` (and the browser console, to explain a
// failure). tests/tests/browser.rs serves the page and judges the result.
//
//   node open-page.mjs <page-url>
//
// Playwright only drives the browser: it never downloads one (playwright-core has no
// browsers of its own), so PARLEY_CHROMIUM or /usr/bin/chromium must exist.
import { chromium } from "playwright-core";

const url = process.argv[2];
if (!url) {
  console.error("usage: node open-page.mjs <page-url>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.PARLEY_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Playwright adds --headless and a fresh --user-data-dir itself; the rest keep a root,
  // GPU-less, offline machine quiet and fast.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  timeout: 30_000,
});
try {
  const page = await browser.newPage();
  const console_lines = [];
  page.on("console", (m) => console_lines.push(`${m.type()}: ${m.text()}`));
  await page.goto(url, { timeout: 15_000 });
  await page.waitForFunction(() => window.parleyResult !== undefined, null, { timeout: 20_000 });
  const result = await page.evaluate(() => window.parleyResult);
  console.log(JSON.stringify({ result, console: console_lines }));
} finally {
  await browser.close();
}
