// The compiled single binary serves the explorer with its assets embedded: built with `bun run
// build`, copied into an empty directory (nothing may come from the source tree), and read in a
// real browser that may fetch nothing but the binary's own address. Also prints the sizes of the
// page's script and style, as served (minified) and gzipped.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startServerProcess } from "../../scripts/server-process.ts";
import { fbRecord } from "../helpers.ts";
import { ago, launchBrowser, newPage, rowTexts, screenshot } from "./browser.ts";

const root = resolve(import.meta.dir, "../..");
const dir = mkdtempSync(join(tmpdir(), "logserver-web-binary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the compiled binary", () => {
  test("serves the explorer and its assets from inside the executable, offline", async () => {
    const build = Bun.spawnSync(["bun", "run", "build"], { cwd: root, stdout: "pipe", stderr: "pipe" });
    expect({ exitCode: build.exitCode, stderr: build.exitCode === 0 ? "" : build.stderr.toString() }).toEqual({
      exitCode: 0,
      stderr: "",
    });
    const binary = join(dir, "kube-insight-logserver");
    await Bun.write(binary, Bun.file(join(root, "dist/kube-insight-logserver")));
    chmodSync(binary, 0o755);
    const server = await startServerProcess(
      [binary, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", join(dir, "data")],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
        timeoutMs: 20_000,
      },
    );
    const browser = await launchBrowser();
    try {
      const write = await fetch(`${server.url}/write`, {
        method: "POST",
        body: JSON.stringify([
          fbRecord({ namespace: "bin", pod: "p-0", container: "c", log: "served by the binary", time: ago(60_000) }),
        ]),
      });
      expect(write.status).toBe(200);

      const { context, page } = await newPage(browser);
      // Offline: any request to another address fails the test.
      const elsewhere: string[] = [];
      await context.route("**/*", (route) => {
        if (route.request().url().startsWith(server.url)) return route.continue();
        elsewhere.push(route.request().url());
        return route.abort();
      });
      const sizes: string[] = [];
      page.on("response", async (r) => {
        if (!r.url().includes("/assets/")) return;
        const body = await r.body();
        const gzipped = Bun.gzipSync(new Uint8Array(body)).byteLength;
        sizes.push(`${new URL(r.url()).pathname}: ${body.byteLength} bytes, ${gzipped} gzipped`);
      });
      await page.goto(`${server.url}/?namespace=bin&pod=p-0&container=c&since=1h`);
      await page.locator(".row .text", { hasText: "served by the binary" }).waitFor();
      expect(await rowTexts(page)).toEqual(["served by the binary"]);
      // The histogram comes from its own request (the counts), which may answer after the rows.
      await page.locator(".histogram .u-over").waitFor({ timeout: 10_000 });
      expect(await page.locator(".histogram .u-over").count()).toBe(1);
      expect(elsewhere).toEqual([]);
      expect(sizes.length).toBe(2);
      console.log(`explorer assets, as the binary serves them:\n  ${sizes.join("\n  ")}`);
      await screenshot(page, "binary");
      await context.close();
    } finally {
      await browser.close();
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  }, 120_000);
});
