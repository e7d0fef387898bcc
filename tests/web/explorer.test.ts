// The explorer in a real browser (Debian's chromium through playwright-core) against a real server
// on the embedded store: known lines are written, then a person's steps are taken in the page.
// Every test saves a screenshot under tests/web/screenshots/ (git-ignored).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import {
  ago,
  clipboard,
  countOf,
  launchBrowser,
  newPage,
  pick,
  rowTexts,
  screenshot,
  TestServer,
  waitForCount,
  waitForLoaded,
} from "./browser.ts";

const MIN = 60_000;
let browser: Browser;
const server = new TestServer();

beforeAll(async () => {
  server.start();
  // shop/web-1 (nginx, sidecar), shop/api-1 (app), other/db-0 (postgres): over the last 50 minutes.
  const records: Parameters<TestServer["write"]>[0] = [];
  for (let i = 0; i < 30; i++) {
    const t = ago(50 * MIN - i * 100_000); // 50 → ~0 minutes ago
    records.push({
      namespace: "shop",
      pod: "web-1",
      container: "nginx",
      time: t,
      log: `GET /item/${i} 200`,
      labels: { app: "web", tier: "front" },
    });
    if (i % 5 === 0) {
      records.push({
        namespace: "shop",
        pod: "web-1",
        container: "nginx",
        time: t,
        log: `error: upstream timeout ${i}`,
        stream: "stderr",
        labels: { app: "web", tier: "front" },
      });
    }
    records.push({
      namespace: "shop",
      pod: "web-1",
      container: "sidecar",
      time: t,
      log: `sidecar tick ${i}`,
      labels: { app: "web", tier: "front" },
    });
    records.push({
      namespace: "shop",
      pod: "api-1",
      container: "app",
      time: t,
      log: `{"level":"info","msg":"api call ${i}","user":"u${i}"}`,
      labels: { app: "api" },
    });
  }
  records.push({ namespace: "other", pod: "db-0", container: "postgres", time: ago(10 * MIN), log: "checkpoint complete" });
  await server.write(records);
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server.close();
}, 60_000);

async function openPod(page: Page): Promise<void> {
  await page.goto(`${server.url}/`);
  await pick(page, "namespace", "sh", "shop");
  await pick(page, "pod", "web", "web-1");
  await pick(page, "container", "ngi", "nginx");
  await waitForCount(page, 36);
}

describe("the explorer", () => {
  test("the page and its assets are served; picking namespace → pod → container shows that container's lines", async () => {
    const { context, page } = await newPage(browser);
    try {
      const assets: { url: string; status: number }[] = [];
      page.on("response", (r) => {
        if (r.url().includes("/assets/")) assets.push({ url: r.url(), status: r.status() });
      });
      await openPod(page);
      // One script and one stylesheet, both embedded: nothing from elsewhere.
      expect(assets.length).toBe(2);
      expect(assets.every((a) => a.status === 200 && a.url.startsWith(server.url))).toBe(true);
      await expect(page.locator(".status b").getAttribute("data-count")).resolves.toBe("36");
      const texts = await rowTexts(page);
      expect(texts.length).toBeGreaterThan(10);
      expect(texts.every((t) => t.startsWith("GET /item/") || t.startsWith("error: upstream timeout"))).toBe(true);
      // Newest first by default; stderr lines are marked.
      expect(texts[0]).toBe("GET /item/29 200");
      expect(await page.locator(".row.stderr").count()).toBeGreaterThan(0);
      expect(await page.locator(".row.stderr .stream").first().textContent()).toBe("err");
      const url = new URL(page.url());
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        namespace: "shop",
        pod: "web-1",
        container: "nginx",
        since: "1h",
      });
      // All containers of the pod: the sidecar's lines too, with the container shown.
      await pick(page, "container", "all", "");
      await waitForCount(page, 66);
      expect(await page.locator(".row .source", { hasText: "web-1/sidecar" }).count()).toBeGreaterThan(0);
      // A line's details: its labels and container.
      await page.locator(".row", { hasText: "GET /item/29 200" }).click();
      const details = page.locator("aside.details");
      await expect(details.locator("pre.line").textContent()).resolves.toBe("GET /item/29 200");
      await expect(details.locator("tr", { hasText: "tier" }).locator("td").textContent()).resolves.toBe("front");
      await expect(details.locator("tr", { hasText: "container" }).locator("td").first().textContent()).resolves.toBe("nginx");
      await screenshot(page, "pick-pod");
    } finally {
      await context.close();
    }
  }, 60_000);

  test("search keeps only matching lines and highlights them; an invalid regex shows the server's message", async () => {
    const { context, page } = await newPage(browser, { dark: true });
    try {
      await openPod(page);
      await page.keyboard.press("/");
      await page.keyboard.type("UPSTREAM");
      await page.keyboard.press("Enter");
      await waitForCount(page, 6);
      const texts = await rowTexts(page);
      expect(texts.length).toBe(6);
      expect(texts.every((t) => t.startsWith("error: upstream timeout"))).toBe(true);
      expect(await page.locator(".row mark").first().textContent()).toBe("upstream");
      // Case: "UPSTREAM" matches nothing once case matters.
      await page.locator("button[title='match case']").click();
      await waitForCount(page, 0);
      await page.locator("button[title='match case']").click();
      // A regular expression.
      await page.locator("button[title='regular expression']").click();
      await page.locator("input[name=q]").fill("item/(1|2)5 ");
      await page.keyboard.press("Enter");
      await waitForCount(page, 2);
      expect((await rowTexts(page)).sort()).toEqual(["GET /item/15 200", "GET /item/25 200"]);
      expect(new URL(page.url()).searchParams.get("regex")).toBe("1");
      // An invalid one: the server's 400 message, inline.
      await page.locator("input[name=q]").fill("item/(");
      await page.keyboard.press("Enter");
      const error = page.locator(".search-error");
      await error.waitFor();
      expect(await error.textContent()).toMatch(/^invalid query: regexp: /);
      await screenshot(page, "search");
    } finally {
      await context.close();
    }
  }, 60_000);

  test("a copied permalink opens the same view", async () => {
    const { context, page } = await newPage(browser);
    try {
      await openPod(page);
      await page.locator("input[name=q]").fill("item/1");
      await page.keyboard.press("Enter");
      await waitForCount(page, 11);
      await page
        .locator("button", { hasText: "UTC" })
        .or(page.locator("button", { hasText: "Local" }))
        .click();
      await page.locator("button", { hasText: "Copy link" }).first().click();
      await page.locator(".toast", { hasText: "Link copied" }).waitFor();
      const link = await clipboard(page);
      const before = await rowTexts(page);
      const params = new URL(link).searchParams;
      // The range is made absolute, so that the link shows the same lines later.
      expect(params.get("from")).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(params.get("to")).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(params.get("since")).toBeNull();

      const other = await context.newPage();
      await other.goto(link);
      await other.locator(".logview .row").first().waitFor();
      await waitForCount(other, 11);
      expect(await rowTexts(other)).toEqual(before);
      expect(await other.locator(".combo[data-name=namespace] input").inputValue()).toBe("shop");
      expect(await other.locator(".combo[data-name=pod] input").inputValue()).toBe("web-1");
      expect(await other.locator(".combo[data-name=container] input").inputValue()).toBe("nginx");
      expect(await other.locator("input[name=q]").inputValue()).toBe("item/1");
      expect(await other.locator("input[name=from]").inputValue()).toBe(params.get("from")!);
      expect(await other.locator(".row .time").first().textContent()).toBe(
        await page.locator(".row .time").first().textContent(),
      );
      // A line's own link marks that line.
      await other.locator(".row", { hasText: "GET /item/12 200" }).click();
      await other.locator("aside.details button", { hasText: "Copy link" }).click();
      await other.locator(".toast", { hasText: "Link copied" }).waitFor();
      const lineLink = await clipboard(other);
      const third = await context.newPage();
      await third.goto(lineLink);
      await third.locator(".row.marked").waitFor();
      expect(await third.locator(".row.marked .text").textContent()).toBe("GET /item/12 200");
      await screenshot(other, "permalink");
    } finally {
      await context.close();
    }
  }, 60_000);

  test("dragging over the histogram zooms the range", async () => {
    const { context, page } = await newPage(browser);
    try {
      await openPod(page);
      const plot = page.locator(".histogram .u-over");
      await plot.waitFor();
      expect(Number(await page.locator(".histogram").getAttribute("data-buckets"))).toBeGreaterThan(10);
      const box = (await plot.boundingBox())!;
      const before = await page.locator(".status b").getAttribute("data-count");
      expect(before).toBe("36");
      // From 30% to 60% of the last hour: about 42 to 24 minutes ago.
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2, { steps: 5 });
      await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
      await page.mouse.up();
      await page.waitForURL((url) => url.searchParams.has("from"));
      const params = new URL(page.url()).searchParams;
      const from = Date.parse(params.get("from")!);
      const to = Date.parse(params.get("to")!);
      const now = Date.now();
      expect(from).toBeLessThan(to);
      expect(now - from).toBeGreaterThan(30 * MIN);
      expect(now - from).toBeLessThan(55 * MIN);
      expect(now - to).toBeGreaterThan(10 * MIN);
      expect(params.get("since")).toBeNull();
      // Fewer lines, all inside the new range.
      for (let i = 0; i < 200 && String(await countOf(page)) === before; i++) await Bun.sleep(50);
      await waitForLoaded(page);
      const count = await countOf(page);
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThan(36);
      // The histogram follows the zoomed range; by level too.
      await page.locator(".chart-head button", { hasText: "level" }).click();
      await page.waitForURL((url) => url.searchParams.get("hist") === "level");
      await screenshot(page, "histogram-zoom");
    } finally {
      await context.close();
    }
  }, 60_000);
});
