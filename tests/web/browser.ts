// What the explorer's browser tests share: Debian's chromium driven by playwright-core, a real
// server over the embedded store, lines written through POST /write, screenshots.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createApp, type AppConfig } from "../../src/app.ts";
import { DEFAULT_CONFIG } from "../../src/config.ts";
import { serve, type HttpServer } from "../../src/server.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import type { LogStore } from "../../src/store/store.ts";
import { fbRecord } from "../helpers.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const SCREENSHOTS = join(import.meta.dir, "screenshots");

/** Chromium, or an error that says how to get it (the tests fail with it, never skip). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No chromium at ${CHROMIUM}: the explorer's browser tests need Debian's chromium package ` +
        "(`bun run test` installs it with apt-get when it can; else `apt-get install chromium`), " +
        "or CHROMIUM_PATH naming a Chromium executable.",
    );
  }
  // --no-sandbox: the tests run as root in CI, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

export async function newPage(
  browser: Browser,
  options: { dark?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 860 },
    colorScheme: options.dark ? "dark" : "light",
    timezoneId: "UTC",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const page = await context.newPage();
  return { context, page };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** A server over an embedded store in a temporary directory; restartable on the same port. */
export class TestServer {
  readonly dir = mkdtempSync(join(tmpdir(), "logserver-web-"));
  readonly store: LogStore = new EmbeddedStore({ dataDir: this.dir });
  private server: HttpServer | undefined;
  port = 0;

  constructor(private readonly config: Partial<AppConfig> = {}) {}

  start(): this {
    const app = createApp(this.store, this.config);
    this.server = serve(app, { hostname: "127.0.0.1", port: this.port, bodyTimeoutSeconds: DEFAULT_CONFIG.bodyTimeoutSeconds });
    this.port = this.server.port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops answering, dropping open connections (a follow sees its stream end). */
  async stop(): Promise<void> {
    await this.server?.stop(true);
    this.server = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Writes lines through POST /write, as Fluent Bit does. */
  async write(records: Parameters<typeof fbRecord>[0][], headers: Record<string, string> = {}): Promise<void> {
    const res = await fetch(`${this.url}/write`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(records.map((r) => fbRecord(r))),
    });
    if (res.status !== 200) throw new Error(`POST /write: ${res.status} ${await res.text()}`);
  }
}

/** An RFC 3339 time `agoMs` before now. */
export const ago = (agoMs: number) => new Date(Date.now() - agoMs).toISOString();

/** The texts of the rows in the DOM, top to bottom. */
export function rowTexts(page: Page): Promise<string[]> {
  return page.locator(".logview .row .text").allTextContents();
}

/** Picks a value in one of the explorer's pickers by typing part of it. */
export async function pick(page: Page, name: string, typed: string, value: string): Promise<void> {
  const input = page.locator(`.combo[data-name="${name}"] input`);
  await input.click();
  await input.fill(typed);
  await page.locator(`.combo[data-name="${name}"] li[data-value="${value}"]`).click();
}

// Code that runs in the page is given as strings or locators here: this project's TypeScript
// knows no DOM.

/** The number of lines the view holds (its status line). */
export async function countOf(page: Page): Promise<number> {
  return Number(await page.locator(".status b").getAttribute("data-count"));
}

/** Waits until the view is done loading and holds `n` lines. */
export async function waitForCount(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    `document.querySelector(".status b")?.getAttribute("data-count") === "${n}" && !document.querySelector(".status")?.textContent?.includes("loading")`,
  );
}

/** Waits until the view is done loading. */
export async function waitForLoaded(page: Page): Promise<void> {
  await page.locator(".status", { hasText: "loading" }).waitFor({ state: "detached" });
}

/** Waits until the status line says `text`. */
export async function waitForStatus(page: Page, text: string, timeout?: number): Promise<void> {
  await page.locator(".status", { hasText: text }).waitFor({ timeout });
}

/** What the page's clipboard holds. */
export function clipboard(page: Page): Promise<string> {
  return page.evaluate("navigator.clipboard.readText()") as Promise<string>;
}
