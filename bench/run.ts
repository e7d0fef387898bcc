// `bun run bench`: ingest and query figures of the service against the raw ceiling of each store.
//
//   bun run bench [--store embedded|cassandra|all] [--duration 20] [--concurrency 4] [--batch 1000]
//                 [--cassandra 127.0.0.1:9042] [--query-runs 20] [--warmup 5] [--server binary|source]
//                 [--quick]   (ingest and verify only)
//
// For each store it starts the server itself (Cassandra only when a node answers), then:
//   ingest   Fluent Bit-shaped json batches (1,000 lines of ~200 bytes from one of 50 containers
//            in 10 pods in 3 namespaces), `concurrency` clients for `duration` s; then gzip bodies
//   verify   every container read back through /query: the counts must equal the counts sent
//   query    /query windows of 1k, 10k and 100k lines of one container, and 30 days of a sparse one
//   ceiling  the same rows straight through bun:sqlite / cassandra-driver
// and prints a table; the figures also go to bench/results/<timestamp>.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cassandraAnswers } from "../scripts/cassandra.ts";
import { gzipSync } from "node:zlib";
import { JsonBatchFactory, makeBatch, makeContainers, send, type Batch, type Container } from "../scripts/insert.ts";
import {
  cassandraReadCeiling,
  cassandraWriteCeiling,
  sqliteReadCeiling,
  sqliteWriteCeiling,
  type WorkloadShape,
} from "./ceiling.ts";
import { fmt, MB, memoryOf, ROOT, startServer, summarize, table, type Server } from "./lib.ts";
import { normalise } from "../src/ingest/fluentbit.ts";
import { decodeRecords } from "../src/ingest/formats.ts";
import { parseConfig } from "../src/config.ts";
import { CassandraStore } from "../src/store/cassandra.ts";
import { cassandraOptionsOf } from "../src/store/open.ts";
import { EmbeddedStore } from "../src/store/sqlite.ts";
import type { LogStore } from "../src/store/store.ts";

const { values: opts } = parseArgs({
  options: {
    store: { type: "string", default: "all" },
    duration: { type: "string", default: "20" },
    concurrency: { type: "string", default: "4" },
    batch: { type: "string", default: "1000" },
    cassandra: { type: "string", default: process.env.CASSANDRA_HOSTS?.split(",")[0] ?? "127.0.0.1:9042" },
    "query-runs": { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    server: { type: "string", default: "binary" },
    quick: { type: "boolean", default: false },
  },
});
const DURATION = Number(opts.duration);
const CONCURRENCY = Number(opts.concurrency);
const SHAPE: WorkloadShape = { containers: 50, pods: 10, namespaces: 3, batch: Number(opts.batch) };
const QUERY_RUNS = Number(opts["query-runs"]);
const WARMUP = Number(opts.warmup);
const SERVER = opts.server === "source" ? "source" : "binary";
/** Ingest and verify only: no queries, ceilings, in-process run or variants. */
const QUICK = opts.quick === true;
const [cHost, cPort] = opts.cassandra!.split(":");
const CASSANDRA = { host: cHost!, port: Number(cPort ?? 9042) };
const RUN_ID = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "_");
/** Log time of the generated lines: fixed, so that runs are comparable. */
const START_MS = Date.UTC(2026, 4, 3, 12, 0, 0);

interface IngestFigures {
  lines: number;
  seconds: number;
  linesPerSecond: number;
  mbPerSecond: number;
  wireMbPerSecond: number;
  latencyMs: { p50: number; p99: number; n: number };
  failedRequests: number;
  peakRssMb: number;
  verified: boolean;
}

async function ingest(
  server: Server,
  prefix: string,
  gzip: boolean,
  duration = DURATION,
): Promise<IngestFigures & { containers: Container[]; seqs: number[] }> {
  const containers = makeContainers(prefix, SHAPE.containers, SHAPE.pods, SHAPE.namespaces);
  const factories = containers.map((c, i) => new JsonBatchFactory(c, i, SHAPE.batch, "json"));
  const seqs = containers.map(() => 0);
  const latencies: number[] = [];
  let next = 0;
  let lines = 0;
  let bytes = 0;
  let wire = 0;
  let failed = 0;
  let peak = memoryOf(server.pid).rss;
  const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(server.pid).rss)), 100);
  const t0 = performance.now();
  const deadline = t0 + duration * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const i = next++ % containers.length;
        const seq = seqs[i]!;
        seqs[i]! += SHAPE.batch;
        const plain = factories[i]!.make(START_MS, seq);
        const plainBytes = plain.byteLength;
        const body: Batch = {
          body: gzip ? gzipSync(plain, { level: 1 }) : plain,
          headers: gzip
            ? { "content-type": "application/json", "content-encoding": "gzip" }
            : { "content-type": "application/json" },
          lines: SHAPE.batch,
          logBytes: 0,
          plainBytes,
        };
        // As Fluent Bit: a batch that is not accepted is sent again, byte-identical.
        let r = await send(server.url, body);
        latencies.push(r.ms);
        for (let attempt = 0; r.status !== 200 && attempt < 10; attempt++) {
          failed++;
          console.error(`  ${r.status}: ${r.body.slice(0, 200)} (sending again)`);
          await Bun.sleep(500);
          r = await send(server.url, body);
        }
        const accepted = r.status === 200 ? (JSON.parse(r.body) as { accepted: number }).accepted : 0;
        lines += accepted;
        bytes += plainBytes;
        wire += body.body.byteLength;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, memoryOf(server.pid).rss);
  return {
    containers,
    seqs,
    lines,
    seconds,
    linesPerSecond: lines / seconds,
    mbPerSecond: bytes / MB / seconds,
    wireMbPerSecond: wire / MB / seconds,
    latencyMs: summarize(latencies),
    failedRequests: failed,
    peakRssMb: peak / MB,
    verified: false,
  };
}

/** Reads every container back through /query and compares the counts with what was sent. */
async function verify(server: Server, containers: Container[], seqs: number[]): Promise<boolean> {
  let ok = true;
  for (let i = 0; i < containers.length; i++) {
    const c = containers[i]!;
    const q = new URLSearchParams({
      namespace: c.namespace,
      pod_name: c.pod,
      container_name: c.container,
      start_time: "2026-05-01T00:00:00Z",
      end_time: "2026-06-01T00:00:00Z",
    });
    const res = await fetch(`${server.url}/query?${q}`);
    const rows = ((await res.json()) as { log_rows: unknown[] }).log_rows.length;
    if (rows !== seqs[i]) {
      console.error(`  LOST DATA: ${c.namespace}/${c.pod}/${c.container}: sent ${seqs[i]}, read back ${rows}`);
      ok = false;
    }
  }
  return ok;
}

interface QueryFigures {
  rows: number;
  p50Ms: number;
  p99Ms: number;
  rowsPerSecond: number;
  directP50Ms?: number;
  ratioToDirect?: number;
}

const QUERY_CONTAINER = { namespace: "bench-query", pod: "query-pod-0", container: "main" };
const SPARSE_CONTAINER = { namespace: "bench-query", pod: "sparse-pod-0", container: "main" };

/** 100k lines 1 ms apart for the window queries, and a sparse container: 3 lines a day for 30 days. */
async function loadQueryData(server: Server): Promise<void> {
  const c = { ...makeContainers("bench-query", 1, 1, 1)[0]!, ...QUERY_CONTAINER };
  const writes: Promise<unknown>[] = [];
  for (let seq = 0; seq < 100_000; seq += 1000) {
    writes.push(send(server.url, makeBatch(c, 0, START_MS, seq, 1000, "json", false)));
    if (writes.length >= 4) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  const sparse = { ...c, ...SPARSE_CONTAINER };
  for (let day = 0; day < 30; day++) {
    for (const hour of [3, 11, 19]) {
      const r = await send(
        server.url,
        makeBatch(sparse, 1, START_MS + day * 86_400_000 + hour * 3_600_000, day * 3 + hour, 1, "json", false),
      );
      if (r.status !== 200) throw new Error(`loading sparse data: ${r.status} ${r.body}`);
    }
  }
}

/** Lines of the query container are 1 ms apart: lines first..first+n-1 lie in these bounds. */
function windowOf(first: number, n: number): { start: string; end: string; startNs: bigint; endNs: bigint } {
  const startMs = START_MS + first;
  const endMs = START_MS + first + n - 1;
  return {
    start: new Date(startMs).toISOString(),
    end: new Date(endMs).toISOString().replace("Z", "999999Z"),
    startNs: BigInt(startMs) * 1_000_000n,
    endNs: BigInt(endMs) * 1_000_000n + 999_999n,
  };
}

async function queryWindow(
  server: Server,
  who: typeof QUERY_CONTAINER,
  start: string,
  end: string,
  expected: number,
  runs: number,
): Promise<QueryFigures> {
  const q = new URLSearchParams({
    namespace: who.namespace,
    pod_name: who.pod,
    container_name: who.container,
    start_time: start,
    end_time: end,
  });
  const url = `${server.url}/query?${q}`;
  const first = ((await (await fetch(url)).json()) as { log_rows: unknown[] }).log_rows.length;
  if (first !== expected) throw new Error(`query ${start}..${end} returned ${first} rows, expected ${expected}`);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    times.push(performance.now() - t0);
  }
  const s = summarize(times);
  return { rows: first, p50Ms: s.p50, p99Ms: s.p99, rowsPerSecond: first / (s.p50 / 1000) };
}

interface StoreFigures {
  store: string;
  ingestJson: IngestFigures;
  ingestGzip: IngestFigures;
  queries: Record<string, QueryFigures>;
  ceiling: { writeLinesPerSecond: number; writeConfig: string; serviceShareOfCeiling: number };
  /** The service's own ingest path without HTTP or a load generator: decode, normalise, store. */
  inProcess: { linesPerSecond: number; shareOfCeiling: number };
  /** json ingest of the same store with other settings, side by side (label → figures). */
  variants: Record<string, IngestFigures>;
}

/**
 * The ingest path of the service, in this process: the same bodies decoded, normalised and
 * written through a store of the same kind, 4 at a time, with no HTTP and no load generator on
 * the two cores. Tells the cost of the service's code from the cost of the machine sharing.
 */
async function ingestInProcess(open: () => Promise<LogStore>): Promise<number> {
  const containers = makeContainers("bench-inproc", SHAPE.containers, SHAPE.pods, SHAPE.namespaces);
  // 500 distinct batches (~330 MB of bodies) built before the clock starts; the first 50 warm
  // the code up and are not timed.
  const bodies: Uint8Array[] = [];
  for (let k = 0; k < 500; k++) {
    const i = k % containers.length;
    bodies.push(
      new JsonBatchFactory(containers[i]!, i, SHAPE.batch, "json").make(
        START_MS,
        Math.floor(k / containers.length) * SHAPE.batch,
      ),
    );
  }
  const store = await open();
  try {
    let next = 0;
    const run = async (until: number) => {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < until) {
            const decoded = decodeRecords(bodies[next++]!, "application/json");
            await store.write(normalise(decoded, { dateKey: "date", maxLineSize: 1024 * 1024 }).entries);
          }
        }),
      );
    };
    await run(50);
    const t0 = performance.now();
    await run(bodies.length);
    return ((bodies.length - 50) * SHAPE.batch) / ((performance.now() - t0) / 1000);
  } finally {
    await store.close();
  }
}

async function benchStore(store: "embedded" | "cassandra"): Promise<StoreFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), "logserver-bench-"));
  const keyspace = `bench_${RUN_ID}`;
  const args =
    store === "embedded"
      ? ["--store", "embedded", "--data-dir", dataDir]
      : ["--store", "cassandra", "--cassandra-keyspace", keyspace, "--cassandra-port", String(CASSANDRA.port), CASSANDRA.host];
  console.log(`\n== ${store} store ==`);
  const server = await startServer(args, SERVER);
  try {
    console.log(`warm-up: ${WARMUP} s (not measured)`);
    await ingest(server, "bench-warmup", false, WARMUP);
    console.log(`ingest: json, ${CONCURRENCY} clients, ${DURATION} s`);
    const json = await ingest(server, "bench-json", false);
    console.log(
      `  ${fmt(json.linesPerSecond)} lines/s, p50 ${fmt(json.latencyMs.p50, 1)} ms, p99 ${fmt(json.latencyMs.p99, 1)} ms, peak RSS ${fmt(json.peakRssMb)} MB`,
    );
    console.log(`ingest: gzip`);
    const gz = await ingest(server, "bench-gzip", true);
    console.log(
      `  ${fmt(gz.linesPerSecond)} lines/s, p50 ${fmt(gz.latencyMs.p50, 1)} ms, p99 ${fmt(gz.latencyMs.p99, 1)} ms, peak RSS ${fmt(gz.peakRssMb)} MB`,
    );
    console.log("verify: reading every container back");
    json.verified = await verify(server, json.containers, json.seqs);
    gz.verified = await verify(server, gz.containers, gz.seqs);
    console.log(`  ${json.verified && gz.verified ? "all lines read back" : "DATA LOST"}`);
    if (QUICK) {
      return {
        store,
        ingestJson: strip(json),
        ingestGzip: strip(gz),
        queries: {},
        ceiling: { writeLinesPerSecond: Number.NaN, writeConfig: "(--quick: not measured)", serviceShareOfCeiling: Number.NaN },
        inProcess: { linesPerSecond: Number.NaN, shareOfCeiling: Number.NaN },
        variants: {},
      };
    }

    console.log("query: loading 100k lines and a sparse month");
    await loadQueryData(server);
    const queries: Record<string, QueryFigures> = {};
    for (const [name, first, lines] of [
      ["1k lines", 10_000, 1000],
      ["10k lines", 10_000, 10_000],
      ["100k lines", 0, 100_000],
    ] as const) {
      const w = windowOf(first, lines);
      const runs = lines === 100_000 ? Math.max(3, Math.ceil(QUERY_RUNS / 4)) : QUERY_RUNS;
      queries[name] = await queryWindow(server, QUERY_CONTAINER, w.start, w.end, lines, runs);
    }
    const month = { start: new Date(START_MS).toISOString(), end: new Date(START_MS + 30 * 86_400_000).toISOString() };
    queries["30 days, sparse"] = await queryWindow(server, SPARSE_CONTAINER, month.start, month.end, 90, QUERY_RUNS);

    console.log("ceiling: the same work straight through the store");
    const { startNs, endNs } = windowOf(10_000, 10_000);
    const window10k = { tenant: "", ...QUERY_CONTAINER, startNs, endNs };
    let direct: { rows: number; p50: number };
    let writeCeiling: { lines: number; seconds: number };
    let writeConfig: string;
    if (store === "embedded") {
      direct = sqliteReadCeiling(dataDir, window10k, QUERY_RUNS);
      // The fastest of a few ways: per-row or 50-row statements, small or large transactions.
      [writeCeiling, writeConfig] = await fastestOf(
        [
          [1, SHAPE.batch],
          [50, SHAPE.batch],
          [50, 20_000],
        ] as const,
        async ([perStatement, perTransaction]) =>
          sqliteWriteCeiling(dataDir, SHAPE, Math.min(json.lines, 2_000_000), START_MS, perStatement, perTransaction),
        ([perStatement, perTransaction]) =>
          `bun:sqlite, prepared INSERT of ${perStatement} row(s), ${perTransaction} rows per transaction`,
      );
    } else {
      direct = await cassandraReadCeiling(CASSANDRA, keyspace, window10k, QUERY_RUNS);
      // Tuned: the best of a few batch sizes and concurrencies.
      [writeCeiling, writeConfig] = await fastestOf(
        [
          [32, 100],
          [64, 50],
          [128, 25],
        ] as const,
        ([concurrency, rows]) =>
          cassandraWriteCeiling(
            CASSANDRA,
            `${keyspace}_ceiling_${concurrency}`,
            SHAPE,
            Math.min(json.lines, 200_000),
            START_MS,
            concurrency,
            rows,
          ),
        ([concurrency, rows]) =>
          `cassandra-driver, prepared INSERT, unlogged single-partition batches of ${rows}, ${concurrency} in flight`,
      );
    }
    const variants: Record<string, IngestFigures> = {};
    if (store === "embedded") {
      // The durability trade, measured: --embedded-sync normal beside the default (full).
      console.log("ingest: json, --embedded-sync normal");
      const normalDir = join(dataDir, "sync-normal");
      const normal = await startServer(["--store", "embedded", "--data-dir", normalDir, "--embedded-sync", "normal"], SERVER);
      try {
        await ingest(normal, "bench-normal-warmup", false, WARMUP);
        const figures = await ingest(normal, "bench-normal", false);
        figures.verified = await verify(normal, figures.containers, figures.seqs);
        console.log(`  ${fmt(figures.linesPerSecond)} lines/s, p99 ${fmt(figures.latencyMs.p99, 1)} ms`);
        variants["json, sync normal"] = strip(figures);
      } finally {
        await normal.stop();
      }
    }
    console.log("in-process: the service's ingest path without HTTP");
    const inProcessRate = await ingestInProcess(
      store === "embedded"
        ? async () => new EmbeddedStore({ dataDir: join(dataDir, "inprocess") })
        : () =>
            CassandraStore.connect(
              cassandraOptionsOf(
                parseConfig(
                  ["--cassandra-keyspace", `${keyspace}_inprocess`, "--cassandra-port", String(CASSANDRA.port), CASSANDRA.host],
                  {},
                ).config,
              ),
            ),
    );
    console.log(`  ${fmt(inProcessRate)} lines/s`);
    const q10 = queries["10k lines"]!;
    q10.directP50Ms = direct.p50;
    q10.ratioToDirect = q10.p50Ms / direct.p50;
    const ceilingRate = writeCeiling.lines / writeCeiling.seconds;
    return {
      store,
      ingestJson: strip(json),
      ingestGzip: strip(gz),
      queries,
      ceiling: { writeLinesPerSecond: ceilingRate, writeConfig, serviceShareOfCeiling: json.linesPerSecond / ceilingRate },
      inProcess: { linesPerSecond: inProcessRate, shareOfCeiling: inProcessRate / ceilingRate },
      variants,
    };
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (store === "cassandra") await dropKeyspaces(keyspace);
  }
}

/** Runs each configuration, prints its rate, and returns the fastest with its description. */
async function fastestOf<C>(
  configs: readonly C[],
  run: (config: C) => Promise<{ lines: number; seconds: number }>,
  describe: (config: C) => string,
): Promise<[{ lines: number; seconds: number }, string]> {
  let best: [{ lines: number; seconds: number }, string] = [{ lines: 0, seconds: Infinity }, ""];
  for (const config of configs) {
    const r = await run(config);
    console.log(`  ${describe(config)}: ${fmt(r.lines / r.seconds)} lines/s`);
    if (r.lines / r.seconds > best[0].lines / best[0].seconds) best = [r, describe(config)];
  }
  return best;
}

function strip(f: IngestFigures & { containers?: unknown; seqs?: unknown }): IngestFigures {
  const { containers: _c, seqs: _s, ...rest } = f;
  return rest;
}

async function dropKeyspaces(prefix: string): Promise<void> {
  const cassandra = (await import("cassandra-driver")).default;
  const c = new cassandra.Client({
    contactPoints: [CASSANDRA.host],
    localDataCenter: "datacenter1",
    protocolOptions: { port: CASSANDRA.port, maxVersion: 4 },
  });
  await c.connect();
  const rs = await c.execute("SELECT keyspace_name FROM system_schema.keyspaces");
  for (const row of rs.rows)
    if ((row.keyspace_name as string).startsWith(prefix)) await c.execute(`DROP KEYSPACE IF EXISTS ${row.keyspace_name}`);
  await c.shutdown();
}

function report(all: StoreFigures[]): string {
  const ingestRows = all.flatMap((f) =>
    (["json", "gzip"] as const)
      .map((kind) => {
        const i = kind === "json" ? f.ingestJson : f.ingestGzip;
        return [
          `${f.store} ${kind}`,
          fmt(i.linesPerSecond),
          fmt(i.mbPerSecond, 1),
          fmt(i.latencyMs.p50, 1),
          fmt(i.latencyMs.p99, 1),
          fmt(i.peakRssMb),
          kind === "json" ? fmt(f.ceiling.writeLinesPerSecond) : "",
          kind === "json"
            ? `${fmt(f.ceiling.serviceShareOfCeiling * 100)}%`
            : `${fmt((i.linesPerSecond / f.ceiling.writeLinesPerSecond) * 100)}%`,
          i.verified && i.failedRequests === 0 ? "yes" : "NO",
        ];
      })
      .concat(
        Object.entries(f.variants).map(([label, i]) => [
          `${f.store} ${label}`,
          fmt(i.linesPerSecond),
          fmt(i.mbPerSecond, 1),
          fmt(i.latencyMs.p50, 1),
          fmt(i.latencyMs.p99, 1),
          fmt(i.peakRssMb),
          "",
          `${fmt((i.linesPerSecond / f.ceiling.writeLinesPerSecond) * 100)}%`,
          i.verified && i.failedRequests === 0 ? "yes" : "NO",
        ]),
      )
      .concat([
        [
          `${f.store} in-process`,
          fmt(f.inProcess.linesPerSecond),
          "",
          "",
          "",
          "",
          "",
          `${fmt(f.inProcess.shareOfCeiling * 100)}%`,
          "",
        ],
      ]),
  );
  const queryRows = all.flatMap((f) =>
    Object.entries(f.queries).map(([name, q]) => [
      `${f.store} ${name}`,
      fmt(q.rows),
      fmt(q.p50Ms, 1),
      fmt(q.p99Ms, 1),
      fmt(q.rowsPerSecond),
      q.directP50Ms === undefined ? "" : fmt(q.directP50Ms, 1),
      q.ratioToDirect === undefined ? "" : `${fmt(q.ratioToDirect, 2)}x`,
    ]),
  );
  return [
    table(
      ["ingest", "lines/s", "MB/s", "p50 ms", "p99 ms", "peak RSS MB", "ceiling lines/s", "of ceiling", "all read back"],
      ingestRows,
    ),
    "",
    table(["query", "rows", "p50 ms", "p99 ms", "rows/s", "direct p50 ms", "vs direct"], queryRows),
    "",
    ...all.map((f) => `${f.store} ceiling: ${f.ceiling.writeConfig}`),
    "in-process: the service's decode + normalise + store path in the bench process, no HTTP, no load generator",
  ].join("\n");
}

const stores: ("embedded" | "cassandra")[] = [];
if (opts.store === "embedded" || opts.store === "all") stores.push("embedded");
if (opts.store === "cassandra" || opts.store === "all") {
  if (await cassandraAnswers(CASSANDRA.host, CASSANDRA.port)) stores.push("cassandra");
  else console.log(`No Cassandra answers at ${opts.cassandra}: the Cassandra store is skipped (bun run cassandra:start).`);
}
const started = performance.now();
if (SERVER === "binary") {
  // Measure what ships: the single executable, built from this tree.
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("bun run build failed");
}
const figures: StoreFigures[] = [];
for (const s of stores) figures.push(await benchStore(s));
const text = report(figures);
console.log(`\n${text}\n`);
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
const file = join(ROOT, "bench/results", `${RUN_ID}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      runId: RUN_ID,
      options: {
        duration: DURATION,
        concurrency: CONCURRENCY,
        shape: SHAPE,
        queryRuns: QUERY_RUNS,
        warmup: WARMUP,
        server: SERVER,
      },
      machine: { cpus: navigator.hardwareConcurrency, bun: Bun.version },
      figures,
      table: text,
    },
    null,
    2,
  ),
);
console.log(`figures written to ${file} (${fmt((performance.now() - started) / 1000)} s)`);
const lost = figures.some(
  (f) => !f.ingestJson.verified || !f.ingestGzip.verified || Object.values(f.variants).some((v) => !v.verified),
);
if (lost) {
  console.error("A benchmark lost data: it has failed.");
  process.exit(1);
}
