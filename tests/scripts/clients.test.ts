// The load generator / ingest client (scripts/insert.ts) against a real server on the embedded
// store, its lines read back with the binary's own client (`logs`).
import { afterAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { JsonBatchFactory, makeBatch, makeContainers } from "../../scripts/insert.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { unique } from "../helpers.ts";
import { serve } from "../stores.ts";

const root = resolve(import.meta.dir, "../..");
const store = new EmbeddedStore({ dataDir: ":memory:" });
const server = serve(store);
afterAll(async () => {
  await server.stop();
  await store.close();
});

/** Runs a client script; async, because the server it talks to lives in this process. */
async function run(script: string, args: string[]) {
  const proc = Bun.spawn(["bun", join(root, "scripts", script), ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

describe("load generator", () => {
  test("the template factory builds exactly the bytes of the plain builder", () => {
    const containers = makeContainers("t", 4, 2, 2);
    for (const format of ["json", "json_lines"] as const) {
      for (const [i, c] of containers.entries()) {
        const factory = new JsonBatchFactory(c, i, 250, format);
        for (const seq of [0, 250, 99_750, 4_321_000]) {
          const start = Date.UTC(2026, 4, 3, 23, 59, 59, 900);
          expect(
            Buffer.compare(
              Buffer.from(factory.make(start, seq)),
              Buffer.from(makeBatch(c, i, start, seq, 250, format, false).body),
            ),
          ).toBe(0);
        }
      }
    }
  });

  test("every generated line is valid Fluent Bit input, ~200 bytes, with a date that agrees with its time", () => {
    const [c] = makeContainers("t", 1, 1, 1);
    const records = JSON.parse(new TextDecoder().decode(makeBatch(c!, 0, Date.UTC(2026, 4, 3), 0, 100, "json", false).body)) as {
      date: number;
      time: string;
      log: string;
    }[];
    expect(records.length).toBe(100);
    expect(new Set(records.map((r) => r.log)).size).toBe(100);
    for (const r of records) {
      expect(r.log.length).toBe(200);
      const timeUs = Date.parse(r.time) * 1000 + Number(r.time.slice(23, 26));
      expect(Math.abs(Math.round(r.date * 1e6) - timeUs)).toBeLessThanOrEqual(1);
    }
  });

  test("the insert CLI sends N lines at a rate, in any format, and they are stored", async () => {
    const n = unique();
    const started = performance.now();
    const json = await run("insert.ts", [
      "--url",
      server.url,
      "--lines",
      "2500",
      "--rate",
      "10000",
      "--batch",
      "1000",
      "--namespace",
      n,
      "--pod",
      "p",
      "--container",
      "c",
      "--start",
      "2026-05-03T00:00:00Z",
    ]);
    const seconds = (performance.now() - started) / 1000;
    expect(json.exitCode).toBe(0);
    expect(json.stdout).toContain("sent 2500 lines");
    // Paced: the third batch is not due before 2,000 lines / 10,000 per s = 0.2 s.
    expect(seconds).toBeGreaterThan(0.2);
    for (const format of ["json_lines", "msgpack"]) {
      const r = await run("insert.ts", [
        "--url",
        server.url,
        "--lines",
        "300",
        "--batch",
        "100",
        "--format",
        format,
        "--gzip",
        "--namespace",
        n,
        "--pod",
        "p",
        "--container",
        format,
        "--start",
        "2026-05-03T00:00:00Z",
      ]);
      expect(r.exitCode).toBe(0);
    }
    const logs = async (container: string) => {
      const proc = Bun.spawn(
        ["bun", join(root, "src/main.ts"), "logs", "-n", n, "p", "-c", container, "--timestamps", "--server", server.url],
        { cwd: root, stdout: "pipe", stderr: "pipe" },
      );
      const [stdout, exitCode] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(exitCode).toBe(0);
      return stdout.trim().split("\n");
    };
    const lines = await logs("c");
    expect(lines.length).toBe(2500);
    expect(lines[0]).toMatch(/^2026-05-03T00:00:00Z 2026-05-03T12:04:57\.000Z INFO /);
    expect(lines[1]).toMatch(/^2026-05-03T00:00:00\.001007919Z /);
    for (const container of ["json_lines", "msgpack"]) expect((await logs(container)).length).toBe(300);
  }, 60_000);
});
