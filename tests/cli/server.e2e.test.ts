// `kube-insight-logserver logs` against the real server: a server process on an embedded store,
// lines written through POST /write, the client as a real process. (The other e2e files use a
// small stand-in server for what a real one cannot be made to do on cue: drop lines for a slow
// reader, close a stream mid-way, answer 5xx.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startServerProcess, type ServerProcess } from "../../scripts/server-process.ts";
import { fbRecord, unique } from "../helpers.ts";
import { runCli, startCli } from "./cli-process.ts";

const root = resolve(import.meta.dir, "../..");
const dataDir = mkdtempSync(join(tmpdir(), "logserver-cli-"));
let server: ServerProcess;
let port = 0;

async function start(): Promise<ServerProcess> {
  return startServerProcess(
    ["bun", join(root, "src/main.ts"), "--port", String(port), "--bind-address", "127.0.0.1", "--data-dir", dataDir],
    { cwd: root, timeoutMs: 20_000 },
  );
}

beforeAll(async () => {
  server = await start();
  port = Number(new URL(server.url).port);
}, 30_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function write(records: unknown[]): Promise<void> {
  const res = await fetch(`${server.url}/write`, { method: "POST", body: JSON.stringify(records) });
  expect(res.status).toBe(200);
}

describe("logs against the real server", () => {
  const n = unique("shop");
  const at = (s: number) => `2018-05-03T12:00:0${s}Z`;
  beforeAll(async () => {
    await write([
      fbRecord({ namespace: n, pod: "web-1", container: "nginx", log: "nginx starting", time: at(0), labels: { app: "web" } }),
      fbRecord({ namespace: n, pod: "web-1", container: "sidecar", log: "sidecar up", time: at(1), labels: { app: "web" } }),
      fbRecord({ namespace: n, pod: "web-1", container: "nginx", log: "GET / 200", time: at(2), labels: { app: "web" } }),
      fbRecord({ namespace: n, pod: "web-2", container: "nginx", log: "other pod", time: at(3), labels: { app: "web" } }),
      fbRecord({ namespace: n, pod: "db-0", container: "postgres", log: "db line", time: at(4), labels: { app: "db" } }),
    ]);
  });

  test("one container, its text only; a pod with --prefix --timestamps", async () => {
    expect(await runCli(["-n", n, "web-1", "-c", "nginx"], { server: server.url })).toEqual({
      code: 0,
      stdout: "nginx starting\nGET / 200\n",
      stderr: "",
    });
    const pod = await runCli(["-n", n, "pod/web-1", "--prefix", "--timestamps"], { server: server.url });
    expect(pod.stdout).toBe(
      `[pod/web-1/nginx] ${at(0)} nginx starting\n[pod/web-1/sidecar] ${at(1)} sidecar up\n[pod/web-1/nginx] ${at(2)} GET / 200\n`,
    );
  });

  test("-l with --tail, and --grep", async () => {
    expect((await runCli(["-n", n, "-l", "app=web", "--tail", "2"], { server: server.url })).stdout).toBe(
      "GET / 200\nother pod\n",
    );
    expect((await runCli(["-n", n, "-l", "app in (x)"], { server: server.url })).code).toBe(1);
    expect((await runCli(["-n", n, "-l", "app=web", "--grep", "^(GET|other)"], { server: server.url })).stdout).toBe(
      "GET / 200\nother pod\n",
    );
  });

  test("-f: the last lines, then new ones, and again after the server restarts", async () => {
    const cli = startCli(["-n", n, "web-2", "-c", "nginx", "-f", "--tail", "1"], { server: server.url, timeoutMs: 40_000 });
    await cli.waitFor((o) => o.stdout === "other pod\n");
    const now = () => new Date().toISOString();
    await write([fbRecord({ namespace: n, pod: "web-2", container: "nginx", log: "live 1", time: now() })]);
    await cli.waitFor((o) => o.stdout.endsWith("live 1\n"), 3_000);
    // A restart on the same port and data: the client reconnects and prints only what is new.
    await server.stop();
    server = await start();
    await write([fbRecord({ namespace: n, pod: "web-2", container: "nginx", log: "live 2", time: now() })]);
    await cli.waitFor((o) => o.stdout.endsWith("live 2\n"), 10_000);
    expect(cli.stdout()).toBe("other pod\nlive 1\nlive 2\n");
    expect(await cli.interrupt()).toBe(0);
  }, 60_000);
});

describe("logs against a server that keeps tenants apart", () => {
  const dir = mkdtempSync(join(tmpdir(), "logserver-cli-tenants-"));
  let tenanted: ServerProcess;
  const n = unique("tenants");
  beforeAll(async () => {
    tenanted = await startServerProcess(
      ["bun", join(root, "src/main.ts"), "--port", "0", "--bind-address", "127.0.0.1", "--data-dir", dir, "--tenancy", "header"],
      { cwd: root, timeoutMs: 20_000 },
    );
    for (const tenant of ["team-a", "team-b"]) {
      const res = await fetch(`${tenanted.url}/write`, {
        method: "POST",
        headers: { "x-scope-orgid": tenant },
        body: JSON.stringify([fbRecord({ namespace: n, pod: "web-1", container: "nginx", log: `line of ${tenant}` })]),
      });
      expect(res.status).toBe(200);
    }
  }, 30_000);
  afterAll(async () => {
    await tenanted?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("--tenant (or KUBE_INSIGHT_TENANT) reads that tenant's lines only; none is a clear error", async () => {
    const args = ["-n", n, "web-1"];
    expect(await runCli([...args, "--tenant", "team-a"], { server: tenanted.url })).toEqual({
      code: 0,
      stdout: "line of team-a\n",
      stderr: "",
    });
    expect((await runCli(args, { server: tenanted.url, env: { KUBE_INSIGHT_TENANT: "team-b" } })).stdout).toBe(
      "line of team-b\n",
    );
    const none = await runCli(args, { server: tenanted.url });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("X-Scope-OrgID");
    expect((await runCli([...args, "--tenant", "../team-a"], { server: tenanted.url })).code).toBe(2);
  });
});
