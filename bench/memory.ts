// `bun bench/memory.ts`: the server's resident memory under the two loads that used to grow it
// without bound, side by side with a baseline binary when one is given.
//
//   bun bench/memory.ts [--store embedded|cassandra] [--clients 64] [--query-lines 10000]
//                       [--baseline path/to/an/older/kube-insight-logserver] [--limit-gb 12]
//                       [--only attack|query]
//
//   attack  `clients` concurrent POST /write of gzip bodies of about 16 MiB that decompress to
//           about 64 MiB of valid Fluent Bit JSON (the default caps), twice; the server's peak RSS
//           and the answers (200, 429, 503, ...).
//   query   `query-lines` lines of 1 MiB written to one container, then one GET /query over all of
//           them, read to the end; the server's peak RSS while it answers.
// A server whose RSS passes --limit-gb is killed, and reported so, rather than let it take the
// machine. The server under test is the compiled binary of this tree (built first).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { fmt, MB, memoryOf, ROOT, table } from "./lib.ts";
import { startServerProcess } from "../scripts/server-process.ts";

const { values: opts } = parseArgs({
  options: {
    store: { type: "string", default: "embedded" },
    clients: { type: "string", default: "64" },
    "query-lines": { type: "string", default: "10000" },
    baseline: { type: "string" },
    "limit-gb": { type: "string", default: "12" },
    cassandra: { type: "string", default: "127.0.0.1:9042" },
    only: { type: "string" },
  },
});
const CLIENTS = Number(opts.clients);
const QUERY_LINES = Number(opts["query-lines"]);
const LIMIT = Number(opts["limit-gb"]) * 1024 * MB;

interface Run {
  label: string;
  binary: string;
}

/** Samples a process's RSS every 20 ms; kills it past the limit. */
function watch(pid: number) {
  let peak = 0;
  let killed = false;
  const timer = setInterval(() => {
    try {
      const { rss } = memoryOf(pid);
      peak = Math.max(peak, rss);
      if (rss > LIMIT && !killed) {
        killed = true;
        process.kill(pid, "SIGKILL");
      }
    } catch {
      /* gone */
    }
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return { peak, killed };
    },
  };
}

/** A gzip body of valid records: about 16 MiB on the wire, about 64 MiB decompressed. */
function attackBody(seed: number): Uint8Array {
  const records: string[] = [];
  let size = 2;
  let i = 0;
  const base = Date.UTC(2026, 4, 3, 12) * 1000;
  while (size < 63.5 * MB) {
    // Random hex and repetition in proportions that gzip to about a quarter (15 MiB of 63.5).
    const random = Buffer.from(crypto.getRandomValues(new Uint8Array(880))).toString("hex");
    const log = `${random}${"a".repeat(2300)}`;
    const us = base + seed * 1_000_000 + i++;
    const rec = `{"date":${(us / 1e6).toFixed(6)},"log":"${log}","stream":"stdout","kubernetes":{"namespace_name":"attack","pod_name":"p${seed}","container_name":"c"}}`;
    records.push(rec);
    size += rec.length + 1;
  }
  return gzipSync(`[${records.join(",")}]`, { level: 6 });
}

async function attack(url: string, pid: number, bodies: Uint8Array[]) {
  const w = watch(pid);
  const statuses: Record<string, number> = {};
  const t0 = performance.now();
  for (let wave = 0; wave < 2; wave++) {
    await Promise.all(
      bodies.map(async (body) => {
        const key = await fetch(`${url}/write`, {
          method: "POST",
          body,
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        })
          .then(async (r) => {
            await r.arrayBuffer();
            return String(r.status);
          })
          .catch(() => "conn error");
        statuses[key] = (statuses[key] ?? 0) + 1;
      }),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ...w.stop(), statuses, seconds };
}

async function queryLoad(url: string, pid: number) {
  const line = "q".repeat(1024 * 1024 - 64);
  const base = Date.UTC(2026, 4, 4, 12);
  for (let i = 0; i < QUERY_LINES; i += 8) {
    const records = [];
    for (let k = i; k < Math.min(QUERY_LINES, i + 8); k++) {
      records.push({
        log: `${k} ${line}`,
        time: new Date(base + k).toISOString(),
        kubernetes: { namespace_name: "big", pod_name: "p", container_name: "c" },
      });
    }
    for (let attempt = 0; ; attempt++) {
      const r = await fetch(`${url}/write`, { method: "POST", body: JSON.stringify(records) });
      await r.arrayBuffer();
      if (r.status === 200) break;
      if (attempt > 50) throw new Error(`loading the query data: ${r.status}`);
      await Bun.sleep(200);
    }
  }
  await Bun.sleep(1000);
  const before = memoryOf(pid).rss;
  const w = watch(pid);
  const t0 = performance.now();
  let bytes = 0;
  let outcome = "complete";
  try {
    const q = new URLSearchParams({
      namespace: "big",
      pod_name: "p",
      container_name: "c",
      start_time: new Date(base - 1000).toISOString(),
      end_time: new Date(base + QUERY_LINES + 1000).toISOString(),
    });
    const res = await fetch(`${url}/query?${q}`);
    if (res.status !== 200) outcome = `status ${res.status}`;
    for await (const chunk of res.body!) bytes += chunk.byteLength;
  } catch (error) {
    outcome = `cut: ${(error as Error).message.slice(0, 60)}`;
  }
  return { ...w.stop(), before, bytes, outcome, seconds: (performance.now() - t0) / 1000 };
}

async function start(binary: string, dataDir: string) {
  const args =
    opts.store === "cassandra"
      ? ["--store", "cassandra", "--cassandra-keyspace", `memory_${Date.now()}`, opts.cassandra!.split(":")[0]!]
      : ["--store", "embedded", "--data-dir", dataDir];
  return startServerProcess([binary, "--port", "0", "--bind-address", "127.0.0.1", ...args], {
    cwd: ROOT,
    stderr: "inherit",
  });
}

const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
if (build.exitCode !== 0) throw new Error("bun run build failed");
const runs: Run[] = [{ label: "this tree", binary: join(ROOT, "dist/kube-insight-logserver") }];
if (opts.baseline) runs.push({ label: "baseline", binary: opts.baseline });

console.log(`preparing ${CLIENTS} attack bodies...`);
const bodies = Array.from({ length: CLIENTS }, (_, i) => attackBody(i));
console.log(`  ${fmt(bodies[0]!.byteLength / MB, 1)} MiB each on the wire`);

const rows: string[][] = [];
for (const run of runs) {
  for (const scenario of ["attack", "query"] as const) {
    if (opts.only !== undefined && opts.only !== scenario) continue;
    const dir = mkdtempSync(join(tmpdir(), "logserver-memory-"));
    const server = await start(run.binary, dir);
    const pid = server.proc.pid;
    console.log(`${run.label}: ${scenario}...`);
    try {
      if (scenario === "attack") {
        const r = await attack(server.url, pid, bodies);
        rows.push([
          `${run.label}: ${CLIENTS} x gzip 16 MiB -> 64 MiB, twice`,
          r.killed ? `> ${fmt(LIMIT / MB)} (killed)` : fmt(r.peak / MB),
          Object.entries(r.statuses)
            .map(([k, v]) => `${k}: ${v}`)
            .join(", "),
          fmt(r.seconds, 1),
        ]);
      } else {
        const r = await queryLoad(server.url, pid);
        rows.push([
          `${run.label}: query of ${fmt(QUERY_LINES)} lines of 1 MiB`,
          r.killed ? `> ${fmt(LIMIT / MB)} (killed)` : fmt(r.peak / MB),
          `${r.outcome}, ${fmt(r.bytes / MB)} MiB read, RSS before ${fmt(r.before / MB)} MB`,
          fmt(r.seconds, 1),
        ]);
      }
    } finally {
      await server.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
console.log(`\n${table(["load", "peak RSS MB", "answers", "seconds"], rows)}\n`);
