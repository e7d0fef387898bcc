// The explorer when credentials are configured: the page and its assets load without them (they
// hold no data), then the page asks for credentials, keeps them for the tab only, and sends them
// with every request; with header tenancy it asks for the tenant.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { ago, launchBrowser, newPage, pick, rowTexts, screenshot, TestServer } from "./browser.ts";

let browser: Browser;
const secured = new TestServer({ authBasic: "alice:s3cret" });
const tenanted = new TestServer({ tenancy: "header" });
const ALICE = { authorization: `Basic ${btoa("alice:s3cret")}` };

beforeAll(async () => {
  secured.start();
  tenanted.start();
  await secured.write(
    [{ namespace: "secure", pod: "vault-0", container: "vault", time: ago(60_000), log: "sealed: false" }],
    ALICE,
  );
  for (const tenant of ["team-a", "team-b"]) {
    await tenanted.write([{ namespace: "apps", pod: "web-1", container: "nginx", time: ago(60_000), log: `line of ${tenant}` }], {
      "x-scope-orgid": tenant,
    });
  }
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await secured.close();
  await tenanted.close();
}, 60_000);

describe("the explorer with credentials configured", () => {
  test("loads, asks for user and password, refuses wrong ones, then reads with them (kept for the session only)", async () => {
    const { context, page } = await newPage(browser);
    try {
      const res = await page.goto(`${secured.url}/`);
      expect(res?.status()).toBe(200);
      const dialog = page.locator("form[aria-label='sign in']");
      await dialog.waitFor();
      expect(await dialog.locator(".problem").textContent()).toBe("unauthorized: this endpoint requires credentials");
      // The page's script and style sheet load without credentials. Asked here, not counted from the
      // browser's response events: Chromium may report a response after the page is up.
      const assets = (await page.evaluate(
        `[...document.querySelectorAll("script[src], link[rel=stylesheet]")].map((e) => new URL(e.src || e.href).pathname)`,
      )) as string[];
      expect(assets.filter((p) => p.startsWith("/assets/")).length).toBe(2);
      for (const asset of assets) expect((await fetch(`${secured.url}${asset}`)).status).toBe(200);
      await screenshot(page, "auth-prompt");

      await dialog.locator("input[name=user]").fill("alice");
      await dialog.locator("input[name=password]").fill("wrong");
      await dialog.locator("button[type=submit]").click();
      await dialog.locator(".problem", { hasText: "the credentials given are not valid here" }).waitFor();

      await dialog.locator("input[name=password]").fill("s3cret");
      await dialog.locator("button[type=submit]").click();
      await dialog.waitFor({ state: "detached" });
      await pick(page, "namespace", "sec", "secure");
      await pick(page, "pod", "vault", "vault-0");
      // Picking the pod reloads the view (the namespace alone showed the line already, and the rows
      // are empty for a moment): wait for the pod's view to be loaded and to hold the line.
      await page.waitForURL(/pod=vault-0/);
      await page.waitForFunction(
        `[...document.querySelectorAll(".logview .row .text")].map((e) => e.textContent).join("\\n") === "sealed: false" &&
        !document.querySelector(".status")?.textContent?.includes("loading")`,
      );
      // In sessionStorage, never in localStorage.
      const stored = await page.evaluate(() => ({
        session: JSON.stringify(sessionStorage),
        local: JSON.stringify(localStorage),
      }));
      expect(stored.session).toContain("alice");
      expect(stored.local).not.toContain("alice");
      expect(stored.local).not.toContain("s3cret");
      // A new tab (a new session) is asked again.
      const other = await context.newPage();
      await other.goto(`${secured.url}/?namespace=secure&pod=vault-0&since=1h`);
      await other.locator("form[aria-label='sign in']").waitFor();
    } finally {
      await context.close();
    }
  }, 60_000);

  test("with header tenancy, the page asks for the tenant and shows only that tenant's lines", async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${tenanted.url}/?namespace=apps&pod=web-1&container=nginx&since=1h`);
      const dialog = page.locator("form[aria-label='sign in']");
      await dialog.waitFor();
      expect(await dialog.locator(".problem").textContent()).toContain("X-Scope-OrgID");
      await dialog.locator("label", { hasText: "Tenant only" }).click();
      await dialog.locator("input[name=tenant]").fill("team-b");
      await dialog.locator("button[type=submit]").click();
      await page.locator(".row .text", { hasText: "line of team-b" }).waitFor();
      expect(await rowTexts(page)).toEqual(["line of team-b"]);
      await screenshot(page, "auth-tenant");
    } finally {
      await context.close();
    }
  }, 60_000);
});
