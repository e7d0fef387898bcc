// The explorer with many lines: scrolling through 100k lines (page after page through the cursor)
// keeps the DOM to the rows in view. Also prints (never asserts) how long the first rows of a
// 10k-line view take to paint.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { entry } from "../helpers.ts";
import { countOf, launchBrowser, newPage, screenshot, TestServer, waitForLoaded } from "./browser.ts";

let browser: Browser;
const server = new TestServer();
const BIG = 100_000;
const TEN_K = 10_000;

async function fill(pod: string, n: number): Promise<void> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spanNs = 50n * 60_000_000_000n; // the last 50 minutes
  for (let from = 0; from < n; from += 10_000) {
    const batch = [];
    for (let i = from; i < Math.min(n, from + 10_000); i++) {
      batch.push(
        entry({
          namespace: "scale",
          pod,
          container: "main",
          timeNs: now - spanNs + (spanNs * BigInt(i)) / BigInt(n),
          log: `line ${i} ${"x".repeat(i % 80)}`,
          stream: i % 10 === 0 ? "stderr" : "stdout",
        }),
      );
    }
    await server.store.write(batch);
  }
}

beforeAll(async () => {
  server.start();
  await fill("big-0", BIG);
  await fill("ten-k-0", TEN_K);
  // Run from source, the server bundles the page on its first request: not part of a first paint.
  await (await fetch(`${server.url}/`)).text();
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server.close();
}, 60_000);

describe("the explorer at scale", () => {
  test("first rows of a 10k-line view (time printed, not asserted)", async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${server.url}/?namespace=scale&pod=ten-k-0&container=main&since=1h`);
      await page.locator(".logview .row").first().waitFor();
      await page.waitForFunction(`performance.getEntriesByName("explorer-first-rows").length > 0`);
      const mark = (await page.evaluate(`performance.getEntriesByName("explorer-first-rows")[0].startTime`)) as number;
      expect(mark).toBeGreaterThan(0);
      console.log(`first rows of a 10k-line view painted ${mark.toFixed(0)} ms after navigation started`);
    } finally {
      await context.close();
    }
  }, 60_000);

  test("scrolling through 100k lines keeps fewer than 500 rows in the DOM", async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${server.url}/?namespace=scale&pod=big-0&container=main&since=1h&order=oldest`);
      await page.locator(".logview .row").first().waitFor();
      let most = 0;
      let count = 0;
      for (let step = 0; step < 400 && count < BIG; step++) {
        // Scroll to the bottom; the next page loads as the end comes near.
        await page.locator(".logview").evaluate((el) => {
          el.scrollTop = el.scrollHeight;
          el.dispatchEvent(new Event("scroll"));
        });
        await waitForLoaded(page);
        count = await countOf(page);
        most = Math.max(most, await page.locator(".logview .row").count());
      }
      expect(count).toBe(BIG);
      expect(await page.locator(".status").textContent()).toContain("all of the range");
      // The last line is in view, and the DOM holds only the rows around it. (The last page may
      // have grown the list after the loop's last scroll: go to the bottom once more.)
      await page.locator(".logview").evaluate((el) => {
        el.scrollTop = el.scrollHeight;
        el.dispatchEvent(new Event("scroll"));
      });
      await page.locator(".row .text", { hasText: `line ${BIG - 1} ` }).waitFor();
      // Half-way, too.
      await page.locator(".logview").evaluate((el) => {
        el.scrollTop = el.scrollHeight / 2;
        el.dispatchEvent(new Event("scroll"));
      });
      await page
        .locator(".row .text", { hasText: /^line 50\d\d\d / })
        .first()
        .waitFor();
      most = Math.max(most, await page.locator(".logview .row").count());
      console.log(`scrolling 100k lines: at most ${most} rows in the DOM`);
      expect(most).toBeGreaterThan(10);
      expect(most).toBeLessThan(500);
      // Wrapped, rows differ in height and still only those in view are there.
      await page.locator("button", { hasText: "Wrap" }).click();
      await page.locator(".logview.wrap .row").first().waitFor();
      const wrapped = await page.locator(".logview .row").count();
      console.log(`wrapped: ${wrapped} rows in the DOM`);
      expect(wrapped).toBeLessThan(500);
      await screenshot(page, "scale-100k");
    } finally {
      await context.close();
    }
  }, 180_000);
});
