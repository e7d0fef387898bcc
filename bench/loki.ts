// `bun bench/loki.ts`: Loki's push and query API, each figure beside its baseline in the same run,
// on one store (a fresh data dir, or a fresh keyspace of the Cassandra node):
//
//   bun bench/loki.ts [--store embedded|cassandra] [--lines 1000000] [--push-batches 100]
//                     [--batch 1000] [--concurrency 4] [--rounds 3] [--runs 20]
//                     [--cassandra 127.0.0.1:9042] [--server binary|source]
//
//   push     the same 200-byte lines, `batch` lines a request, `concurrency` clients, through
//            POST /write (Fluent Bit json and msgpack, the baselines) and POST /loki/api/v1/push
//            (JSON, and snappy protobuf built with @bufbuild/protobuf and src/loki/push.proto.ts):
//            `push-batches` batches per mode and round, each mode-round into containers of its own
//            (no resends); modes take turns over `rounds` rounds, in a rotating order, on one
//            server; the table shows each mode's median round (lines/s, p50/p99 per batch).
//   queries  `lines` lines pushed once (snappy protobuf) into a second, fresh server: 10 namespaces
//            of 10 pods of one container, spread evenly over the last hour, one line in 1,000
//            holding a needle. Then, interleaved over `runs` rounds (the slow ones in every 4th):
//            query_range backward limit 1000 (Grafana's Explore) of one container and of a
//            namespace; `sum by (namespace) (count_over_time({namespace=~".+"}[1m]))` over the
//            hour at step 60s, answered from the per-minute counts (target under 50 ms), beside
//            the same aggregation forced through the lines by a line filter that keeps every line;
//            Grafana's logs-volume query of a namespace; a `|= "needle"` filter over every line.
//            Every answer is checked (line counts, series, totals) before it is timed.
//
// The server runs as the Containerfile runs it (lib.ts). Figures are printed as a table and
// written to bench/results/loki-<timestamp>.json. Benchmarks never run in the test suite.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pack } from "msgpackr";
import SnappyJS from "snappyjs";
import { cassandraAnswers } from "../scripts/cassandra.ts";
import { snappyUncompress } from "../src/ingest/snappy.ts";
import { decodePushRequest, encodePushRequest } from "../src/loki/push.proto.ts";
import { fmt, MB, memoryOf, ROOT, startServer, summarize, table, type Server } from "./lib.ts";

const { values: opts } = parseArgs({
  options: {
    store: { type: "string", default: "embedded" },
    lines: { type: "string", default: "1000000" },
    "push-batches": { type: "string", default: "100" },
    batch: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    runs: { type: "string", default: "20" },
    cassandra: { type: "string", default: process.env.CASSANDRA_HOSTS?.split(",")[0] ?? "127.0.0.1:9042" },
    server: { type: "string", default: "binary" },
  },
});
const STORE = opts.store === "cassandra" ? "cassandra" : "embedded";
if (opts.store !== "embedded" && opts.store !== "cassandra") throw new Error(`--store: embedded or cassandra, got ${opts.store}`);
const BATCH = Number(opts.batch);
const CONTAINERS = 100;
/** Lines of each container in the query data set: --lines spread over 100 containers. */
const PER_CONTAINER = Math.max(1, Math.round(Number(opts.lines) / CONTAINERS));
const LINES = PER_CONTAINER * CONTAINERS;
const PUSH_BATCHES = Number(opts["push-batches"]);
const CONCURRENCY = Number(opts.concurrency);
const ROUNDS = Number(opts.rounds);
const RUNS = Number(opts.runs);
/** Slow queries (through every line) run in every SLOW_EVERY-th round. */
const SLOW_EVERY = 4;
const SERVER = opts.server === "source" ? "source" : "binary";
const [cHost, cPort] = opts.cassandra!.split(":");
const CASSANDRA = { host: cHost!, port: Number(cPort ?? 9042) };
const RUN_ID = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "_");

const MINUTE_MS = 60_000;
const HOUR_NS = 3_600_000_000_000n;
/** The data set's hour: (START, END], END a whole minute at most a minute ago. */
const END_MS = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
const START_MS = END_MS - 3_600_000;
const START_NS = BigInt(START_MS) * 1_000_000n;
const END_NS = BigInt(END_MS) * 1_000_000n;

const NEEDLE = "needle-7f3a";
/** One line in this many holds the needle (each container holds its share). */
const NEEDLE_EVERY = 1000;
const LINE_LENGTH = 200;
const PAD = " .".repeat(LINE_LENGTH);

// ---------------------------------------------------------------------------------------------
// The lines: container c (0..99: namespace c/10, pod c%10), line k. Every format carries the same
// text at the same nanosecond; only the envelope differs.

interface Container {
  namespace: string;
  pod: string;
  container: string;
  host: string;
  podId: string;
  dockerId: string;
  labels: { app: string; tier: string };
}

const hex = (n: number, len: number) => ((n * 2654435761) >>> 0).toString(16).padStart(8, "0").repeat(8).slice(0, len);

function containerOf(prefix: string, c: number): Container {
  const ns = Math.floor(c / 10);
  const p = c % 10;
  return {
    namespace: `${prefix}-ns${ns}`,
    pod: `web-${p}-7d9c8b-${hex(c + 1, 5)}`,
    container: "app",
    host: `worker${c % 4}`,
    podId: `${hex(c + 11, 8)}-4e9d-11e8-8b6b-${hex(c + 13, 12)}`,
    dockerId: hex(c + 17, 64),
    labels: { app: `web-${p}`, tier: p % 2 ? "backend" : "frontend" },
  };
}

function hasNeedle(c: number, k: number): boolean {
  return (k * 7919 + c * 104_729) % NEEDLE_EVERY === 0;
}

function lineOf(c: number, k: number): string {
  const r = (k * 31 + c * 7) % 100;
  const level = r === 0 ? "error" : r < 5 ? "warn" : "info";
  const needle = hasNeedle(c, k) ? ` ${NEEDLE}` : "";
  const text = `level=${level} worker=${c % 16} msg="GET /api/v1/orders/${(k * 7919 + c) % 100_000}" status=${r === 0 ? 500 : 200} request_id=${hex(k * 131 + c, 16)} took=${k % 997}ms${needle}`;
  return text + PAD.slice(0, LINE_LENGTH - text.length);
}

/** Line k of a container of `perContainer` lines: evenly over (START, END), a ns apart per container. */
function timeOf(c: number, k: number, perContainer: number): bigint {
  return START_NS + ((2n * BigInt(k) + 1n) * HOUR_NS) / (2n * BigInt(perContainer)) + BigInt(c);
}

type Mode = "write-json" | "write-msgpack" | "loki-json" | "loki-protobuf";

const MODE_NAMES: Record<Mode, string> = {
  "write-json": "POST /write, Fluent Bit json (baseline)",
  "write-msgpack": "POST /write, Fluent Bit msgpack (baseline)",
  "loki-json": "POST /loki/api/v1/push, JSON",
  "loki-protobuf": "POST /loki/api/v1/push, protobuf (snappy)",
};
const MODES: Mode[] = ["write-json", "write-msgpack", "loki-json", "loki-protobuf"];

interface Body {
  path: string;
  body: Uint8Array;
  headers: Record<string, string>;
  lines: number;
}

const utf8 = new TextEncoder();

function kubernetesOf(ct: Container) {
  return {
    pod_name: ct.pod,
    namespace_name: ct.namespace,
    pod_id: ct.podId,
    labels: ct.labels,
    host: ct.host,
    container_name: ct.container,
    docker_id: ct.dockerId,
  };
}

function lokiLabels(ct: Container): Record<string, string> {
  return {
    namespace: ct.namespace,
    pod: ct.pod,
    container: ct.container,
    node_name: ct.host,
    stream: "stdout",
    app: ct.labels.app,
    tier: ct.labels.tier,
  };
}

/** Lines k0..k0+count-1 of container c (prefix) as one request body of the mode. */
function bodyOf(mode: Mode, prefix: string, c: number, k0: number, count: number, perContainer: number): Body {
  const ct = containerOf(prefix, c);
  switch (mode) {
    case "write-json": {
      const kubernetes = JSON.stringify(kubernetesOf(ct));
      const records: string[] = [];
      for (let k = k0; k < k0 + count; k++) {
        const ns = timeOf(c, k, perContainer);
        // Fluent Bit's double date: epoch seconds to the microsecond.
        const date = `${ns / 1_000_000_000n}.${String((ns % 1_000_000_000n) / 1000n).padStart(6, "0")}`;
        records.push(`{"date":${date},"log":${JSON.stringify(lineOf(c, k))},"stream":"stdout","kubernetes":${kubernetes}}`);
      }
      return {
        path: "/write",
        body: utf8.encode(`[${records.join(",")}]`),
        headers: { "content-type": "application/json" },
        lines: count,
      };
    }
    case "write-msgpack": {
      // Fluent Bit's chunk: [[EventTime, {}], record] back to back, nanosecond event times.
      const kubernetes = kubernetesOf(ct);
      const parts: Uint8Array[] = [];
      let size = 0;
      for (let k = k0; k < k0 + count; k++) {
        const ns = timeOf(c, k, perContainer);
        const head = new Uint8Array(13);
        head.set([0x92, 0x92, 0xd7, 0x00]);
        const v = new DataView(head.buffer);
        v.setUint32(4, Number(ns / 1_000_000_000n));
        v.setUint32(8, Number(ns % 1_000_000_000n));
        head[12] = 0x80;
        const record = pack({ log: lineOf(c, k), stream: "stdout", kubernetes });
        parts.push(head, record);
        size += head.byteLength + record.byteLength;
      }
      const body = new Uint8Array(size);
      let o = 0;
      for (const p of parts) {
        body.set(p, o);
        o += p.byteLength;
      }
      return { path: "/write", body, headers: { "content-type": "application/msgpack" }, lines: count };
    }
    case "loki-json": {
      // As Fluent Bit's loki output with Structured_Metadata or Alloy: labels, [ns, line, metadata].
      const values: [string, string, Record<string, string>][] = [];
      for (let k = k0; k < k0 + count; k++) {
        values.push([String(timeOf(c, k, perContainer)), lineOf(c, k), { pod_uid: ct.podId, container_id: ct.dockerId }]);
      }
      const body = utf8.encode(JSON.stringify({ streams: [{ stream: lokiLabels(ct), values }] }));
      return { path: "/loki/api/v1/push", body, headers: { "content-type": "application/json" }, lines: count };
    }
    case "loki-protobuf": {
      const labels = lokiLabels(ct);
      const text = `{${Object.keys(labels)
        .sort()
        .map((k) => `${k}=${JSON.stringify(labels[k as keyof typeof labels])}`)
        .join(", ")}}`;
      const structuredMetadata = [
        { name: "pod_uid", value: ct.podId },
        { name: "container_id", value: ct.dockerId },
      ];
      const entries = [];
      for (let k = k0; k < k0 + count; k++) {
        const ns = timeOf(c, k, perContainer);
        entries.push({
          timestamp: { seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) },
          line: lineOf(c, k),
          structuredMetadata,
        });
      }
      const body = SnappyJS.compress(encodePushRequest({ streams: [{ labels: text, entries }] }));
      return { path: "/loki/api/v1/push", body, headers: { "content-type": "application/x-protobuf" }, lines: count };
    }
  }
}

/** Sends a body; a 429/503 is sent again byte-identical after its Retry-After, as clients do. */
async function post(server: Server, b: Body): Promise<{ ms: number; retries: number }> {
  const t0 = performance.now();
  for (let retries = 0; ; retries++) {
    const res = await fetch(`${server.url}${b.path}`, { method: "POST", body: b.body, headers: b.headers });
    const text = await res.text();
    if (res.status === 200 || res.status === 204) {
      if (res.status === 200 && (JSON.parse(text) as { accepted: number }).accepted !== b.lines) {
        throw new Error(`${b.path}: accepted ${text}, sent ${b.lines}`);
      }
      return { ms: performance.now() - t0, retries };
    }
    if ((res.status !== 429 && res.status !== 503) || retries >= 20) {
      throw new Error(`${b.path} (${b.headers["content-type"]}): ${res.status} ${text.slice(0, 300)}`);
    }
    await Bun.sleep(Math.min(2000, Number(res.headers.get("retry-after") ?? "0.2") * 1000));
  }
}

/** Sends the bodies over `concurrency` clients; per-batch latencies and seconds. */
async function sendAll(server: Server, next: () => Body | undefined) {
  const latencies: number[] = [];
  let retries = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let b = next(); b !== undefined; b = next()) {
        const r = await post(server, b);
        latencies.push(r.ms);
        retries += r.retries;
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies, retries };
}

function storeArgs(name: string, dataDir: string): string[] {
  return STORE === "embedded"
    ? ["--store", "embedded", "--data-dir", dataDir]
    : ["--store", "cassandra", "--cassandra-keyspace", name, "--cassandra-port", String(CASSANDRA.port), CASSANDRA.host];
}

// ---------------------------------------------------------------------------------------------
// Push throughput.

interface PushRound {
  linesPerSecond: number;
  p50: number;
  p99: number;
  wireBytesPerLine: number;
  retries: number;
}

async function benchPush(): Promise<Map<Mode, PushRound[]>> {
  const dataDir = mkdtempSync(join(tmpdir(), "logserver-bench-loki-push-"));
  const server = await startServer(storeArgs(`bench_loki_push_${RUN_ID}`, dataDir), SERVER);
  const results = new Map<Mode, PushRound[]>(MODES.map((m) => [m, []]));
  // The lines of one mode-round: batch b holds lines of container b % 10.
  const perContainer = Math.max(1, Math.ceil(PUSH_BATCHES / 10)) * BATCH;
  const bodies = (mode: Mode, prefix: string, batches: number) =>
    Array.from({ length: batches }, (_, b) => bodyOf(mode, prefix, b % 10, Math.floor(b / 10) * BATCH, BATCH, perContainer));
  try {
    console.log(`push: warm-up, 10 batches per mode (not measured)`);
    for (const mode of MODES) {
      const pool = bodies(mode, `warm-${mode}`, 10);
      await sendAll(server, () => pool.shift());
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < MODES.length; i++) {
        const mode = MODES[(i + round) % MODES.length]!;
        // Built before the clock starts, one mode-round at a time.
        const pool = bodies(mode, `push-r${round}-${mode}`, PUSH_BATCHES);
        const wire = pool.reduce((n, b) => n + b.body.byteLength, 0);
        let next = 0;
        const r = await sendAll(server, () => pool[next++]);
        const s = summarize(r.latencies);
        const figures = {
          linesPerSecond: (PUSH_BATCHES * BATCH) / r.seconds,
          p50: s.p50,
          p99: s.p99,
          wireBytesPerLine: wire / (PUSH_BATCHES * BATCH),
          retries: r.retries,
        };
        results.get(mode)!.push(figures);
        console.log(
          `  round ${round + 1} ${MODE_NAMES[mode]}: ${fmt(figures.linesPerSecond)} lines/s, p50 ${fmt(s.p50, 1)} ms, p99 ${fmt(s.p99, 1)} ms`,
        );
      }
    }
    console.log(`  server RSS ${fmt(memoryOf(server.pid).rss / MB)} MB, peak ${fmt(memoryOf(server.pid).peak / MB)} MB`);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Queries.

async function load(server: Server): Promise<{ seconds: number }> {
  // Batch k0 of every container, then the next: the hour arrives roughly in time order, as it
  // would from live senders; bodies built as the clients ask for them (memory stays bounded).
  const perBatch = Math.min(BATCH, PER_CONTAINER);
  const batchesPerContainer = Math.ceil(PER_CONTAINER / perBatch);
  let i = 0;
  const total = batchesPerContainer * CONTAINERS;
  const r = await sendAll(server, () => {
    if (i >= total) return undefined;
    const b = i++;
    const c = b % CONTAINERS;
    const k0 = Math.floor(b / CONTAINERS) * perBatch;
    return bodyOf("loki-protobuf", "lk", c, k0, Math.min(perBatch, PER_CONTAINER - k0), PER_CONTAINER);
  });
  return { seconds: r.seconds };
}

interface QuerySpec {
  name: string;
  query: string;
  params: Record<string, string>;
  /** Through every line: fewer runs. */
  slow: boolean;
  /** Checks an answer; returns what it holds (shown in the table). */
  check: (data: LokiData) => string;
}

interface LokiData {
  resultType: string;
  result: { stream?: Record<string, string>; metric?: Record<string, string>; values: [unknown, unknown][] }[];
  stats?: { summary?: { totalLinesProcessed?: number } };
}

interface QueryFigures {
  name: string;
  query: string;
  answer: string;
  linesRead?: number;
  times: number[];
}

async function queryOnce(server: Server, spec: QuerySpec): Promise<{ ms: number; data: LokiData }> {
  const url = `${server.url}/loki/api/v1/query_range?${new URLSearchParams({ query: spec.query, ...spec.params })}`;
  const t0 = performance.now();
  // Grafana's Explore sends this flag with its queries.
  const res = await fetch(url, { headers: { "x-loki-response-encoding-flags": "categorize-labels" } });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`query_range ${spec.query}: ${res.status} ${text.slice(0, 500)} (${fmt(ms, 1)} ms)`);
  const body = JSON.parse(text) as { status: string; data: LokiData };
  return { ms, data: body.data };
}

const linesIn = (d: LokiData) => d.result.reduce((n, s) => n + s.values.length, 0);
const sampleSum = (d: LokiData) => d.result.reduce((n, s) => n + s.values.reduce((m, [, v]) => m + Number(v), 0), 0);

function expect(ok: boolean, what: string): void {
  if (!ok) throw new Error(`wrong answer: ${what}`);
}

function querySpecs(): QuerySpec[] {
  const one = containerOf("lk", 37);
  const ns = containerOf("lk", 30).namespace;
  // Explore's log query: the hour in ns, backward, limit 1000 (its maxLines).
  const logs = { start: String(START_NS), end: String(END_NS), direction: "backward", limit: "1000" };
  // A metric query over whole minutes at step 60s, so that the counts may answer it.
  const metric = { start: String(START_MS / 1000), end: String(END_MS / 1000), step: "60" };
  const wantLogs = Math.min(1000, PER_CONTAINER);
  let needles = 0;
  for (let c = 0; c < CONTAINERS; c++) for (let k = 0; k < PER_CONTAINER; k++) if (hasNeedle(c, k)) needles++;
  const byNamespace = (d: LokiData, what: string) => {
    expect(d.resultType === "matrix", `${what}: resultType ${d.resultType}`);
    expect(d.result.length === 10, `${what}: ${d.result.length} series, expected 10 namespaces`);
    expect(sampleSum(d) === LINES, `${what}: counts sum to ${sampleSum(d)}, expected ${LINES}`);
    return `${d.result.length} series, ${fmt(sampleSum(d))} lines`;
  };
  return [
    {
      name: "query_range backward limit 1000, one container",
      query: `{namespace="${one.namespace}", pod="${one.pod}", container="app"}`,
      params: logs,
      slow: false,
      check: (d) => {
        expect(linesIn(d) === wantLogs, `one container: ${linesIn(d)} lines, expected ${wantLogs}`);
        return `${fmt(linesIn(d))} lines`;
      },
    },
    {
      name: "query_range backward limit 1000, namespace (10 containers)",
      query: `{namespace="${ns}"}`,
      params: logs,
      slow: false,
      check: (d) => {
        expect(linesIn(d) === 1000, `namespace: ${linesIn(d)} lines, expected 1000`);
        return `${fmt(linesIn(d))} lines, ${d.result.length} streams`;
      },
    },
    {
      name: "count_over_time by namespace, 1h step 60s (counts)",
      query: `sum by (namespace) (count_over_time({namespace=~".+"}[1m]))`,
      params: metric,
      slow: false,
      check: (d) => byNamespace(d, "counts"),
    },
    {
      name: "  the same through the lines (baseline)",
      query: `sum by (namespace) (count_over_time({namespace=~".+"} != "no-such-text" [1m]))`,
      params: metric,
      slow: true,
      check: (d) => byNamespace(d, "through the lines"),
    },
    {
      name: "Grafana logs volume of a namespace (counts)",
      query: `sum by (level, detected_level) (count_over_time({namespace="${ns}"} | drop __error__ [1m]))`,
      params: metric,
      slow: false,
      check: (d) => {
        expect(sampleSum(d) === LINES / 10, `volume: counts sum to ${sampleSum(d)}, expected ${LINES / 10}`);
        return `${d.result.length} series, ${fmt(sampleSum(d))} lines`;
      },
    },
    {
      name: `|= "${NEEDLE}" over all lines, backward limit 1000`,
      query: `{namespace=~".+"} |= "${NEEDLE}"`,
      params: logs,
      slow: true,
      check: (d) => {
        const want = Math.min(1000, needles);
        expect(linesIn(d) === want, `needle: ${linesIn(d)} lines, expected ${want} (of ${needles} holding it)`);
        for (const s of d.result)
          for (const [, line] of s.values) expect(String(line).includes(NEEDLE), "needle: a line without the needle");
        return `${fmt(linesIn(d))} lines of ${fmt(needles)}`;
      },
    },
  ];
}

async function benchQueries(): Promise<{ loadSeconds: number; rssMb: number; figures: QueryFigures[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), "logserver-bench-loki-"));
  const keyspace = `bench_loki_${RUN_ID}`;
  const server = await startServer(storeArgs(keyspace, dataDir), SERVER);
  try {
    console.log(
      `queries: loading ${fmt(LINES)} lines (snappy protobuf pushes) over ${new Date(START_MS).toISOString()}..${new Date(END_MS).toISOString()}`,
    );
    const { seconds } = await load(server);
    console.log(`  loaded in ${fmt(seconds, 1)} s (${fmt(LINES / seconds)} lines/s)`);
    const specs = querySpecs();
    const figures: QueryFigures[] = [];
    // First answers: checked, not timed (they also warm the caches up).
    for (const spec of specs) {
      const { ms, data } = await queryOnce(server, spec);
      const answer = spec.check(data);
      const linesRead = data.resultType === "streams" ? data.stats?.summary?.totalLinesProcessed : undefined;
      figures.push({ name: spec.name, query: spec.query, answer, times: [], ...(linesRead === undefined ? {} : { linesRead }) });
      console.log(`  ${spec.name}: ${answer} (first answer ${fmt(ms, 1)} ms)`);
    }
    for (let run = 0; run < RUNS; run++) {
      for (const [i, spec] of specs.entries()) {
        if (spec.slow && run % SLOW_EVERY !== 0) continue;
        figures[i]!.times.push((await queryOnce(server, spec)).ms);
      }
    }
    return { loadSeconds: seconds, rssMb: memoryOf(server.pid).peak / MB, figures };
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function dropKeyspaces(): Promise<void> {
  const cassandra = (await import("cassandra-driver")).default;
  const c = new cassandra.Client({
    contactPoints: [CASSANDRA.host],
    localDataCenter: "datacenter1",
    protocolOptions: { port: CASSANDRA.port, maxVersion: 4 },
  });
  await c.connect();
  try {
    const rs = await c.execute("SELECT keyspace_name FROM system_schema.keyspaces");
    for (const row of rs.rows) {
      const name = row.keyspace_name as string;
      if (name === `bench_loki_${RUN_ID}` || name === `bench_loki_push_${RUN_ID}`)
        await c.execute(`DROP KEYSPACE IF EXISTS ${name}`);
    }
  } finally {
    await c.shutdown();
  }
}

// ---------------------------------------------------------------------------------------------

if (STORE === "cassandra" && !(await cassandraAnswers(CASSANDRA.host, CASSANDRA.port))) {
  console.log(`No Cassandra answers at ${opts.cassandra} (bun run cassandra:status, bun run cassandra:start).`);
  process.exit(1);
}
// The protobuf bodies decode back to what was built (snappy through the server's own codec).
{
  const b = bodyOf("loki-protobuf", "check", 0, 0, 3, 3);
  const decoded = decodePushRequest(snappyUncompress(b.body, 1 << 20));
  if (decoded.streams[0]?.entries.length !== 3 || decoded.streams[0].entries[1]!.line !== lineOf(0, 1)) {
    throw new Error("protobuf bodies do not decode back");
  }
}
const started = performance.now();
if (SERVER === "binary") {
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("bun run build failed");
}
console.log(`== ${STORE} store, ${SERVER} server ==`);
let push: Map<Mode, PushRound[]>;
let queries: Awaited<ReturnType<typeof benchQueries>>;
try {
  push = await benchPush();
  queries = await benchQueries();
} finally {
  if (STORE === "cassandra") await dropKeyspaces();
}

const pushRows = MODES.map((mode) => {
  const list = [...push.get(mode)!].sort((a, b) => a.linesPerSecond - b.linesPerSecond);
  const median = list[Math.floor(list.length / 2)]!;
  return [
    MODE_NAMES[mode],
    fmt(median.linesPerSecond),
    push
      .get(mode)!
      .map((r) => fmt(r.linesPerSecond))
      .join(" / "),
    fmt(median.p50, 1),
    fmt(median.p99, 1),
    fmt(median.wireBytesPerLine),
    fmt(list.reduce((n, r) => n + r.retries, 0)),
  ];
});
const counts = queries.figures[2]!;
const through = queries.figures[3]!;
const queryRows = queries.figures.map((f) => {
  const s = summarize(f.times);
  let note = "";
  if (f === counts) note = s.p50 < 50 ? "target < 50 ms: met" : "target < 50 ms: MISSED";
  if (f === through) note = `${fmt(s.p50 / summarize(counts.times).p50, 1)}x the counts`;
  if (f.query.includes("|=")) note = `${fmt(LINES / (s.p50 / 1000))} lines scanned/s`;
  return [f.name, f.answer, f.linesRead === undefined ? "" : fmt(f.linesRead), String(s.n), fmt(s.p50, 1), fmt(s.p99, 1), note];
});
const text = [
  `push, ${STORE} store: ${fmt(PUSH_BATCHES)} batches of ${fmt(BATCH)} lines of ${LINE_LENGTH} bytes per mode and round, ${CONCURRENCY} clients, ${ROUNDS} rounds (median round)`,
  table(["mode", "lines/s", "each round", "p50 ms", "p99 ms", "wire B/line", "retries"], pushRows),
  "",
  `queries, ${STORE} store: ${fmt(LINES)} lines over the last hour, 10 namespaces x 10 pods, loaded in ${fmt(queries.loadSeconds, 1)} s (${fmt(LINES / queries.loadSeconds)} lines/s); peak RSS ${fmt(queries.rssMb)} MB`,
  table(["query_range", "answer", "stats lines", "runs", "p50 ms", "p99 ms", ""], queryRows),
  "stats lines: totalLinesProcessed of a log query's stats (lines that reached the pipeline; a text filter the store applies itself is not counted)",
  "",
  ...queries.figures.map((f) => `${f.name.trim()}:\n    ${f.query}`),
].join("\n");
console.log(`\n${text}\n`);
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
const file = join(ROOT, "bench/results", `loki-${RUN_ID}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      runId: RUN_ID,
      options: {
        store: STORE,
        lines: LINES,
        pushBatches: PUSH_BATCHES,
        batch: BATCH,
        concurrency: CONCURRENCY,
        rounds: ROUNDS,
        runs: RUNS,
        server: SERVER,
      },
      machine: { cpus: navigator.hardwareConcurrency, bun: Bun.version },
      push: Object.fromEntries(push),
      queries: queries.figures.map((f) => ({ ...f, ...summarize(f.times) })),
      table: text,
    },
    null,
    2,
  ),
);
console.log(`figures written to ${file} (${fmt((performance.now() - started) / 1000)} s)`);
