// `bun bench/read.ts`: the read path's figures on each store, over 1,000,000 lines in 50
// containers (10 pods of 5 containers, one namespace): each container logs 10 lines a second for
// the last 33 minutes of a 30-day range, and the first one a line an hour for the 30 days before:
//
//   bun bench/read.ts [--store embedded|cassandra|all] [--runs 20] [--cassandra 127.0.0.1:9042]
//                     [--lines-per-container 20000] [--server binary|source]
//
//   backward 100      the last 100 lines of one container, over 30 days and over 1 day
//   page 10k          a 10,000-line page forward of one container
//   filter            a substring, and a regex, over the 1,000,000 lines (lines scanned per second)
//   merge             20,000 rows of the namespace (50 containers merged) against 20,000 rows of one
//                     container, same range length in rows
//   discovery         /namespaces, /namespaces/{ns}/pods, /labels, /labels/app/values
//   tail              the delay from a write to its SSE event (p50, p99), one line every 50 ms
//
// Every figure is a median (p50) and p99 of `runs` runs through HTTP, against the compiled server.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cassandraAnswers } from "../scripts/cassandra.ts";
import { fmt, ROOT, startServer, summarize, table, type Server } from "./lib.ts";

const { values: opts } = parseArgs({
  options: {
    store: { type: "string", default: "all" },
    runs: { type: "string", default: "20" },
    cassandra: { type: "string", default: process.env.CASSANDRA_HOSTS?.split(",")[0] ?? "127.0.0.1:9042" },
    "lines-per-container": { type: "string", default: "20000" },
    server: { type: "string", default: "binary" },
  },
});
const RUNS = Number(opts.runs);
const PER_CONTAINER = Number(opts["lines-per-container"]);
const CONTAINERS = 50;
const PODS = 10;
const DAYS = 30;
const NS = "bench";
const END_MS = Date.UTC(2026, 4, 31);
const START_MS = END_MS - DAYS * 86_400_000;
/** Lines of a container are this far apart, up to END_MS. */
const STEP_MS = 100;
const BUSY_FROM_MS = END_MS - PER_CONTAINER * STEP_MS;
/** One line in this many holds the needle the filters look for. */
const NEEDLE_EVERY = 10_000;
const SERVER = opts.server === "source" ? "source" : "binary";

const pod = (i: number) => `api-${i % PODS}`;
const container = (i: number) => `c${Math.floor(i / PODS)}`;
const iso = (ms: number) => new Date(ms).toISOString();

function line(i: number, k: number): string {
  const needle = (k * CONTAINERS + i) % NEEDLE_EVERY === 0 ? " needle-7f3a" : "";
  const text = `INFO [worker-${i % 16}] GET /api/v1/orders/${(k * 7919 + i) % 100000} status=${200 + (k % 5)} took=${k % 997}ms${needle}`;
  return text.padEnd(200, " .");
}

async function load(server: Server): Promise<void> {
  const t0 = performance.now();
  const batch = 1000;
  let inFlight: Promise<void>[] = [];
  for (let k0 = 0; k0 < PER_CONTAINER; k0 += batch) {
    for (let i = 0; i < CONTAINERS; i++) {
      const records: string[] = [];
      for (let k = k0; k < Math.min(PER_CONTAINER, k0 + batch); k++) {
        const ms = BUSY_FROM_MS + k * STEP_MS + i;
        records.push(
          JSON.stringify({
            date: ms / 1000,
            log: line(i, k),
            stream: k % 10 === 0 ? "stderr" : "stdout",
            kubernetes: {
              namespace_name: NS,
              pod_name: pod(i),
              container_name: container(i),
              host: `worker${i % 4}`,
              labels: { app: `app${i % PODS}`, tier: i % 2 ? "backend" : "frontend" },
            },
          }),
        );
      }
      const body = `[${records.join(",")}]`;
      inFlight.push(
        (async () => {
          for (let attempt = 0; ; attempt++) {
            const res = await fetch(`${server.url}/write`, {
              method: "POST",
              body,
              headers: { "content-type": "application/json" },
            });
            await res.arrayBuffer();
            if (res.status === 200) return;
            if (attempt > 100) throw new Error(`loading: ${res.status}`);
            await Bun.sleep(200);
          }
        })(),
      );
      if (inFlight.length >= 4) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
  }
  await Promise.all(inFlight);
  // The first container's quiet past: a line an hour over the 30 days.
  const quiet: string[] = [];
  for (let ms = START_MS; ms < BUSY_FROM_MS; ms += 3_600_000) {
    quiet.push(
      JSON.stringify({
        date: ms / 1000,
        log: "INFO hourly heartbeat".padEnd(200, " ."),
        kubernetes: {
          namespace_name: NS,
          pod_name: pod(0),
          container_name: container(0),
          labels: { app: "app0", tier: "frontend" },
        },
      }),
    );
  }
  await (await fetch(`${server.url}/write`, { method: "POST", body: `[${quiet.join(",")}]` })).arrayBuffer();
  const seconds = (performance.now() - t0) / 1000;
  console.log(`  loaded ${fmt(CONTAINERS * PER_CONTAINER)} lines in ${fmt(seconds, 1)} s`);
}

/** p50/p99 (ms) of `runs` GETs, and the rows of the last answer. */
async function timeGet(server: Server, path: string, params: Record<string, string>, runs = RUNS) {
  const url = `${server.url}${path}?${new URLSearchParams(params)}`;
  const times: number[] = [];
  let rows = 0;
  for (let r = 0; r < runs + 1; r++) {
    const t0 = performance.now();
    const res = await fetch(url);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text.slice(0, 200)}`);
    if (r > 0) times.push(performance.now() - t0); // the first run warms up
    rows = (text.match(/"time":/g) ?? []).length;
  }
  return { ...summarize(times), rows };
}

async function tailLatency(server: Server): Promise<{ p50: number; p99: number; n: number }> {
  const controller = new AbortController();
  const res = await fetch(`${server.url}/tail?namespace=${NS}&pod_name=tail-probe`, { signal: controller.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const sent = new Map<string, number>();
  const delays: number[] = [];
  const receiving = (async () => {
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (const m of buffer.matchAll(/"log":"probe (\d+)"/g)) {
        const at = sent.get(m[1]!);
        if (at !== undefined) {
          delays.push(performance.now() - at);
          sent.delete(m[1]!);
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
    }
  })();
  await Bun.sleep(300);
  for (let i = 0; i < 40; i++) {
    const body = JSON.stringify([
      {
        time: new Date().toISOString(),
        log: `probe ${i}`,
        kubernetes: { namespace_name: NS, pod_name: "tail-probe", container_name: "c" },
      },
    ]);
    sent.set(String(i), performance.now());
    await (await fetch(`${server.url}/write`, { method: "POST", body })).arrayBuffer();
    await Bun.sleep(50);
  }
  for (let i = 0; i < 100 && sent.size > 0; i++) await Bun.sleep(50);
  controller.abort();
  await receiving;
  return summarize(delays);
}

interface Row {
  name: string;
  rows: number;
  p50: number;
  p99: number;
  note: string;
}

async function benchStore(store: "embedded" | "cassandra"): Promise<Row[]> {
  const dataDir = mkdtempSync(join(tmpdir(), "logserver-read-"));
  const [host, port] = opts.cassandra!.split(":");
  const args =
    store === "embedded"
      ? ["--store", "embedded", "--data-dir", dataDir]
      : ["--store", "cassandra", "--cassandra-keyspace", `bench_read_${Date.now()}`, "--cassandra-port", port ?? "9042", host!];
  console.log(`\n== ${store} store ==`);
  const server = await startServer(args, SERVER);
  const rows: Row[] = [];
  const add = (name: string, r: { p50: number; p99: number; rows: number }, note = "") => {
    rows.push({ name: `${store} ${name}`, rows: r.rows, p50: r.p50, p99: r.p99, note });
    console.log(`  ${name}: p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, ${fmt(r.rows)} rows ${note}`);
  };
  try {
    await load(server);
    const one = { namespace: NS, pod_name: pod(0), container_name: container(0) };
    add("backward 100, 30 days", await timeGet(server, "/query", { ...one, tail: "100", start_time: iso(START_MS) }));
    add("backward 100, 1 day", await timeGet(server, "/query", { ...one, tail: "100", start_time: iso(END_MS - 86_400_000) }));
    add(
      "page 10k forward",
      await timeGet(server, "/query", { ...one, limit: "10000", start_time: iso(START_MS), end_time: iso(END_MS) }),
    );
    const range = { start_time: iso(START_MS), end_time: iso(END_MS) };
    const total = CONTAINERS * PER_CONTAINER + Math.ceil((BUSY_FROM_MS - START_MS) / 3_600_000);
    for (const [name, filter] of [
      ["filter substring", { filter: "needle-7f3a" }],
      ["filter regex", { regexp: "needle-[0-9a-f]{4}\\b" }],
      ["filter regex, literal on every line", { regexp: "took=\\d+77ms" }],
    ] as const) {
      const r = await timeGet(server, "/query", { namespace: NS, ...filter, ...range }, Math.max(3, Math.ceil(RUNS / 4)));
      add(name, r, `(${fmt(total / (r.p50 / 1000))} lines scanned/s)`);
    }
    const merged = await timeGet(server, "/query", { namespace: NS, limit: "20000", ...range });
    const single = await timeGet(server, "/query", { ...one, limit: "20000", ...range });
    add("merge 50 containers, 20k rows", merged, `(${fmt(merged.p50 / single.p50, 2)}x one container)`);
    add("one container, 20k rows", single);
    add("discovery /namespaces", await timeGet(server, "/namespaces", range));
    add("discovery /namespaces/ns/pods", await timeGet(server, `/namespaces/${NS}/pods`, range));
    add("discovery /labels", await timeGet(server, "/labels", range));
    add("discovery /labels/app/values", await timeGet(server, "/labels/app/values", range));
    const tail = await tailLatency(server);
    add("tail: write to SSE event", { ...tail, rows: tail.n });
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

const stores: ("embedded" | "cassandra")[] = [];
if (opts.store === "embedded" || opts.store === "all") stores.push("embedded");
if (opts.store === "cassandra" || opts.store === "all") {
  const [host, port] = opts.cassandra!.split(":");
  if (await cassandraAnswers(host!, Number(port ?? 9042))) stores.push("cassandra");
  else console.log(`No Cassandra answers at ${opts.cassandra}: the Cassandra store is skipped (bun run cassandra:start).`);
}
if (SERVER === "binary") {
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("bun run build failed");
}
const all: Row[] = [];
for (const s of stores) all.push(...(await benchStore(s)));
const text = table(
  ["read", "rows", "p50 ms", "p99 ms", ""],
  all.map((r) => [r.name, fmt(r.rows), fmt(r.p50, 1), fmt(r.p99, 1), r.note]),
);
console.log(`\n${text}\n`);
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
const file = join(ROOT, "bench/results", `read-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}.json`);
writeFileSync(file, JSON.stringify({ runs: RUNS, perContainer: PER_CONTAINER, rows: all, table: text }, null, 2));
console.log(`figures written to ${file}`);
