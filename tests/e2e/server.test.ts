// The real server process: options, a full write/query round trip over TCP, graceful
// shutdown, and the compiled single binary.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startServerProcess } from "../../scripts/server-process.ts";
import { fbRecord, unique } from "../helpers.ts";

const root = resolve(import.meta.dir, "../..");
const main = join(root, "src/main.ts");
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "logserver-e2e-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts the server with a minimal environment and waits for it to listen. */
function start(cmd: string[], env: Record<string, string> = {}, cwd = root) {
  return startServerProcess(cmd, {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    timeoutMs: 20_000,
  });
}

async function roundTrip(url: string): Promise<void> {
  const n = unique();
  const write = await fetch(`${url}/write`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([fbRecord({ namespace: n, log: "over the wire", time: "2018-05-07T00:00:00.123456789Z" })]),
  });
  expect(write.status).toBe(200);
  const q = new URLSearchParams({
    namespace: n,
    pod_name: "web-1",
    container_name: "nginx",
    start_time: "2018-05-07T00:00:00.000Z",
    end_time: "2018-05-07T00:01:00.000Z",
  });
  const res = await fetch(`${url}/query?${q}`);
  expect(await res.json()).toEqual({
    log_rows: [{ time: "2018-05-07T00:00:00.123456789Z", log: "over the wire", stream: "stdout" }],
  });
  expect((await fetch(`${url}/write`)).status).toBe(200);
  expect(await (await fetch(`${url}/metrics`)).text()).toContain("http_requests_total");
  const swagger = await fetch(`${url}/swagger`);
  expect(swagger.status).toBe(200);
  const script = await fetch(`${url}/swagger/assets/swagger-ui-bundle.js`);
  expect(script.status).toBe(200);
  expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(500_000);
}

describe("server process", () => {
  test("--help lists the options and exits 0; --version prints the version", () => {
    const help = Bun.spawnSync(["bun", main, "--help"], { cwd: root });
    expect(help.exitCode).toBe(0);
    const text = help.stdout.toString();
    expect(text).toContain("--cassandra-replication-factors");
    expect(text).toContain("env ENABLE_PROFILING");
    const version = Bun.spawnSync(["bun", main, "--version"], { cwd: root });
    expect(version.exitCode).toBe(0);
    expect(version.stdout.toString()).toMatch(/^version: \d+\.\d+\.\d+/);
  });

  test("an invalid option value exits non-zero with one line naming it", () => {
    const r = Bun.spawnSync(["bun", main, "--port", "eighty"], { cwd: root });
    expect(r.exitCode).not.toBe(0);
    const lines = r.stderr.toString().trim().split("\n");
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("--port");
  });

  test("serves writes, queries, health, metrics and docs over TCP; SIGTERM stops it cleanly", async () => {
    const server = await start(["bun", main, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", tempDir()]);
    try {
      await roundTrip(server.url);
    } finally {
      server.proc.kill("SIGTERM");
    }
    expect(await server.proc.exited).toBe(0);
    expect(server.output()).toContain('"msg":"stopped"');
  }, 30_000);

  test("after SIGTERM the data file alone holds every acknowledged line (the log is checkpointed)", async () => {
    const dataDir = tempDir();
    const server = await start(["bun", main, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", dataDir]);
    const n = unique();
    const base = Date.UTC(2018, 4, 7);
    for (let b = 0; b < 15; b++) {
      const records = Array.from({ length: 1000 }, (_, i) =>
        fbRecord({ namespace: n, log: `${b}-${i}`, time: new Date(base + b * 1000 + i).toISOString() }),
      );
      const res = await fetch(`${server.url}/write`, { method: "POST", body: JSON.stringify(records) });
      expect(res.status).toBe(200);
    }
    // A query leaves its statement prepared, as a serving server's queries do.
    const q = new URLSearchParams({
      namespace: n,
      pod_name: "web-1",
      container_name: "nginx",
      start_time: "2018-05-07T00:00:00Z",
    });
    expect(((await (await fetch(`${server.url}/query?${q}`)).json()) as { log_rows: unknown[] }).log_rows.length).toBe(15_000);
    server.proc.kill("SIGTERM");
    expect(await server.proc.exited).toBe(0);
    const wal = join(dataDir, "logs.sqlite-wal");
    expect(!existsSync(wal) || statSync(wal).size === 0).toBe(true);
    const alone = tempDir();
    copyFileSync(join(dataDir, "logs.sqlite"), join(alone, "logs.sqlite"));
    const db = new Database(join(alone, "logs.sqlite"), { readonly: true });
    expect((db.query("SELECT sum(lines) AS n FROM chunks").get() as { n: number }).n).toBe(15_000);
    db.close();
  }, 60_000);

  test("SIGTERM ends open follows (/tail) and the server exits", async () => {
    const server = await start(["bun", main, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", tempDir()]);
    const res = await fetch(`${server.url}/tail?namespace=any`);
    expect(res.status).toBe(200);
    const body = res.body!.getReader();
    await body.read(); // the stream is open
    server.proc.kill("SIGTERM");
    const ended = await Promise.race([server.proc.exited, Bun.sleep(10_000).then(() => "still running")]);
    expect(ended).toBe(0);
    // The follow ended cleanly: the client reads to the end of the stream.
    for (let i = 0; i < 10; i++) if ((await body.read()).done) break;
  }, 20_000);

  test("a write in flight when SIGTERM arrives is finished and stored", async () => {
    const dataDir = tempDir();
    const server = await start(["bun", main, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", dataDir]);
    const n = unique();
    const body = new TextEncoder().encode(
      JSON.stringify([fbRecord({ namespace: n, log: "in flight", time: "2018-05-07T00:00:00Z" })]),
    );
    let sent = false;
    // A body that arrives slowly: half now, the rest after the signal.
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(body.subarray(0, 40));
          return;
        }
        await Bun.sleep(500);
        controller.enqueue(body.subarray(40));
        controller.close();
      },
    });
    const pending = fetch(`${server.url}/write`, {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    await Bun.sleep(200);
    server.proc.kill("SIGTERM");
    const res = await pending;
    expect(res.status).toBe(200);
    expect(await server.proc.exited).toBe(0);

    const again = await start(["bun", main, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", dataDir]);
    try {
      const q = new URLSearchParams({
        namespace: n,
        pod_name: "web-1",
        container_name: "nginx",
        start_time: "2018-05-07T00:00:00Z",
        end_time: "2018-05-07T00:00:01Z",
      });
      const rows = (await (await fetch(`${again.url}/query?${q}`)).json()) as { log_rows: { log: string }[] };
      expect(rows.log_rows.map((r) => r.log)).toEqual(["in flight"]);
    } finally {
      again.proc.kill("SIGTERM");
      await again.proc.exited;
    }
  }, 30_000);

  test("ENABLE_PROFILING=true turns the profiling endpoints on", async () => {
    const server = await start(["bun", main, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", tempDir()], {
      ENABLE_PROFILING: "true",
    });
    try {
      expect((await fetch(`${server.url}/debug/memory`)).status).toBe(200);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  }, 30_000);
});

describe("compiled single binary", () => {
  test("bun run build makes one executable that serves everything, docs UI included", async () => {
    const build = Bun.spawnSync(["bun", "run", "build"], { cwd: root });
    expect(build.exitCode).toBe(0);
    // Run a copy from an empty directory: nothing may come from the source tree.
    const dir = tempDir();
    const binary = join(dir, "kube-insight-logserver");
    await Bun.write(binary, Bun.file(join(root, "dist/kube-insight-logserver")));
    chmodSync(binary, 0o755);
    const server = await start([binary, "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", join(dir, "data")], {}, dir);
    try {
      await roundTrip(server.url);
      // The same binary is the client.
      const n = unique();
      await fetch(`${server.url}/write`, {
        method: "POST",
        body: JSON.stringify([fbRecord({ namespace: n, log: "read by the binary", time: "2018-05-07T00:00:00Z" })]),
      });
      const client = Bun.spawnSync([binary, "logs", "-n", n, "web-1", "--timestamps", "--server", server.url], { cwd: dir });
      expect(client.exitCode).toBe(0);
      expect(client.stdout.toString()).toBe("2018-05-07T00:00:00Z read by the binary\n");
    } finally {
      server.proc.kill("SIGTERM");
    }
    expect(await server.proc.exited).toBe(0);
  }, 120_000);
});
