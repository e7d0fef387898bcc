// Live follow in a real browser: a line written after the view opened appears; scrolled away from
// the newest lines, the view stays put and says how many came; after the server restarts, the
// follow reconnects by itself.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { ago, launchBrowser, newPage, rowTexts, screenshot, TestServer, waitForCount, waitForStatus } from "./browser.ts";

let browser: Browser;
const server = new TestServer();
const VIEW = "/?namespace=live&pod=app-1&container=main&since=1h";
/** How long a line may take to show before the test gives up (not a performance bound). */
const PATIENCE_MS = 15_000;

beforeAll(async () => {
  server.start();
  const records = Array.from({ length: 200 }, (_, i) => ({
    namespace: "live",
    pod: "app-1",
    container: "main",
    time: ago(30 * 60_000 - i * 5_000),
    log: `old line ${i}`,
  }));
  await server.write(records);
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server.close();
}, 60_000);

async function writeNow(log: string): Promise<number> {
  const t0 = performance.now();
  await server.write([{ namespace: "live", pod: "app-1", container: "main", time: new Date().toISOString(), log }]);
  return t0;
}

describe("follow", () => {
  test("new lines appear; scrolled away the view pauses and counts them; a restarted server is followed again", async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${server.url}${VIEW}`);
      await waitForCount(page, 200);
      await page.locator(".logview").click({ position: { x: 5, y: 5 } });
      await page.keyboard.press("f"); // the keyboard shortcut
      await waitForStatus(page, "follow: live");
      expect(new URL(page.url()).searchParams.get("follow")).toBe("1");

      const t0 = await writeNow("fresh line 1");
      await page.locator(".row .text", { hasText: "fresh line 1" }).waitFor({ timeout: PATIENCE_MS });
      console.log(`follow: a written line showed in the page after ${(performance.now() - t0).toFixed(0)} ms`);
      expect((await rowTexts(page))[0]).toBe("fresh line 1"); // newest first, at the top

      // Scrolled down: the view stays where it is and says how many lines came.
      await page.locator(".logview").evaluate((el) => {
        el.scrollTop = 1000;
        el.dispatchEvent(new Event("scroll"));
      });
      const firstInView = async () =>
        page.locator(".logview").evaluate((el) => {
          const top = el.getBoundingClientRect().top;
          const row = [...el.querySelectorAll(".row")].find((r) => r.getBoundingClientRect().bottom > top + 1);
          return row?.querySelector(".text")?.textContent;
        });
      const before = await firstInView();
      await writeNow("fresh line 2");
      // Paused from the moment the view left the newest lines; then it counts what came.
      const marker = page.locator(".status .paused");
      await marker.locator("text=Paused · 1 new line ").waitFor({ timeout: PATIENCE_MS });
      expect(await firstInView()).toBe(before);
      await screenshot(page, "follow-paused");
      await marker.click();
      await page.locator(".status .paused").waitFor({ state: "detached" });
      expect((await rowTexts(page))[0]).toBe("fresh line 2");

      // The server goes away and comes back on the same port: the follow resumes.
      await server.stop();
      await waitForStatus(page, "follow: reconnecting");
      server.start();
      await waitForStatus(page, "follow: live", PATIENCE_MS);
      await writeNow("after the restart");
      await page.locator(".row .text", { hasText: "after the restart" }).waitFor({ timeout: PATIENCE_MS });
      // Each line once.
      const texts = await rowTexts(page);
      expect(texts.filter((t) => t.startsWith("fresh line")).length).toBe(2);
      expect(texts[0]).toBe("after the restart");
      await screenshot(page, "follow");
    } finally {
      await context.close();
    }
  }, 90_000);
});
