// `bun bench/disk.ts`: bytes on disk per line, ingest rate and server CPU per line, on realistic
// Kubernetes logs (bench/corpus.ts) and on random text of the same lengths, on each store:
//
//   [VICTORIALOGS_BIN=path] bun bench/disk.ts [--lines 2000000] [--corpus realistic|random|files|all]
//                     [--files DIR] [--files-rate 10]
//                     [--store embedded|cassandra|victorialogs|all] [--concurrency 4] [--batch 1000]
//                     [--flush 10] [--seed 1] [--server binary|source] [--cassandra 127.0.0.1:9042]
//                     [--settle 300] [--keep]
//
// files: real log files instead of generated lines: every *.log file under DIR (for example the
// 2,000-line samples of 16 systems of Loghub, github.com/logpai/loghub) is one container, its
// lines in file order, `files-rate` lines per second of log time each; --lines caps the total.
// `--corpus all` includes it when --files is given.
//
// With VICTORIALOGS_BIN (a victoria-logs binary, built from its source), VictoriaLogs gets the same
// records too, as JSON lines on its /insert/jsonline API, side by side in the same run.
//
// For each corpus the request bodies are built once, before any clock starts, into a temporary
// file (Fluent Bit json bodies of one container each, cut at `batch` lines and at every `flush`
// seconds of log time, as bench/corpus.ts describes), and read back from it during the runs.
// For each store and corpus, a fresh server (the compiled executable by default) on a fresh data
// dir or a fresh keyspace of the Cassandra node (only when one answers):
//
//   ingest   `concurrency` clients POST the bodies to /write as fast as the server takes them (a
//            batch not answered 200 is sent again, byte-identical); lines/s over the whole run,
//            and the server's CPU (utime + stime of /proc/<pid>/stat, every thread) per 100,000
//            lines. For Cassandra, also the node's own CPU over the same interval (the node is
//            shared: anything else it serves meanwhile is counted too).
//   disk     after compaction. Embedded: the server is stopped (it merges what is left of its
//            windows' small chunks, checkpoints the WAL into the data file and truncates it),
//            then every file of the data dir is measured, no VACUUM; dbstat gives the share of
//            each table and index.
//            Cassandra: the server is left running until its background compaction is done (the
//            count of log_chunks rows the same over two polls 3 s apart), then stopped. JMX is off on the project's node (scripts/cassandra.ts), so there is no
//            `nodetool flush`; instead the keyspace's tables are altered to
//            memtable_flush_period_in_ms = 2000, which makes the node flush their memtables, and
//            the bench waits until the SSTables settle: no flush pending or running
//            (system_views.thread_pools), no compaction of the keyspace (system_views.sstable_tasks),
//            no transaction log in its folders and the same bytes over 3 polls 2 s apart (at most
//            `settle` s). Then every file of the keyspace's folders in .cassandra/run/data/ is
//            measured: the live SSTables (Data, Index, Filter, Statistics, ...) as compacted by
//            then; the commit log (shared, recycled) is not counted.
//   raw      the UTF-8 bytes of the lines' text (the `log` field), without metadata.
//
// Figures are printed as one table and written to bench/results/disk-<timestamp>.json.
// Benchmarks never run in the test suite.
import { Database } from "bun:sqlite";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cassandraAnswers, paths as cassandraPaths, runningPid } from "../scripts/cassandra.ts";
import { Corpus, fluentBitBody, fluentBitRecord, type CorpusKind } from "./corpus.ts";
import { cpuSeconds, fmt, MB, memoryOf, ROOT, startServer, table, type Server } from "./lib.ts";

const { values: opts } = parseArgs({
  options: {
    lines: { type: "string", default: "2000000" },
    corpus: { type: "string", default: "all" },
    store: { type: "string", default: "all" },
    concurrency: { type: "string", default: "4" },
    batch: { type: "string", default: "1000" },
    flush: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    server: { type: "string", default: "binary" },
    cassandra: { type: "string", default: process.env.CASSANDRA_HOSTS?.split(",")[0] ?? "127.0.0.1:9042" },
    settle: { type: "string", default: "300" },
    keep: { type: "boolean", default: false },
    files: { type: "string" },
    "files-rate": { type: "string", default: "10" },
  },
});
const LINES = Number(opts.lines);
const CONCURRENCY = Number(opts.concurrency);
const BATCH = Number(opts.batch);
const FLUSH = Number(opts.flush);
const SEED = Number(opts.seed);
const SETTLE_S = Number(opts.settle);
const SERVER = opts.server === "source" ? "source" : "binary";
const [cHost, cPort] = opts.cassandra!.split(":");
const CASSANDRA = { host: cHost!, port: Number(cPort ?? 9042) };
const RUN_ID = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "_");
const CORPORA: CorpusKind[] =
  opts.corpus === "all"
    ? ["realistic", "random", ...(opts.files ? (["files"] as const) : [])]
    : opts.corpus === "realistic" || opts.corpus === "random" || opts.corpus === "files"
      ? [opts.corpus]
      : [];
if (CORPORA.length === 0) throw new Error(`--corpus: realistic, random, files or all, not ${opts.corpus}`);
/** --files: the *.log files under the folder, in path order. */
const FILES = opts.files ? logFilesUnder(opts.files) : [];
if (CORPORA.includes("files") && FILES.length === 0) throw new Error(`--corpus files needs --files DIR holding *.log files`);

function logFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...logFilesUnder(path));
    else if (e.isFile() && e.name.endsWith(".log")) out.push(path);
  }
  return out;
}
if (!["embedded", "cassandra", "victorialogs", "all"].includes(opts.store!))
  throw new Error(`--store: embedded, cassandra, victorialogs or all, not ${opts.store}`);
/** A VictoriaLogs binary to run beside the stores on the same bodies (VICTORIALOGS_BIN), if given. */
const VICTORIALOGS_BIN = process.env.VICTORIALOGS_BIN || undefined;
if (opts.store === "victorialogs" && VICTORIALOGS_BIN === undefined)
  throw new Error("--store victorialogs needs VICTORIALOGS_BIN");

// ---------------------------------------------------------------------------------------------
// The bodies, built before the clock starts.

interface Bodies {
  kind: CorpusKind;
  file: string;
  /** The same records as JSON lines (VictoriaLogs' /insert/jsonline), when VICTORIALOGS_BIN is set. */
  ndjson?: { file: string; offsets: number[]; lengths: number[] };
  /** Byte offset and length of each body in the file, and its lines. */
  offsets: number[];
  lengths: number[];
  lines: number[];
  totalLines: number;
  /** UTF-8 bytes of the lines' text. */
  rawBytes: number;
  bodyBytes: number;
  /** Log time covered, seconds. */
  logSeconds: number;
}

function buildBodies(kind: CorpusKind, dir: string): Bodies {
  const t0 = performance.now();
  const corpus = new Corpus({ kind, seed: SEED, files: FILES, filesRate: Number(opts["files-rate"]) });
  const file = join(dir, `${kind}.bodies`);
  const fd = openSync(file, "w");
  const b: Bodies = { kind, file, offsets: [], lengths: [], lines: [], totalLines: 0, rawBytes: 0, bodyBytes: 0, logSeconds: 0 };
  const nd = VICTORIALOGS_BIN
    ? { file: join(dir, `${kind}.ndjson`), offsets: [] as number[], lengths: [] as number[] }
    : undefined;
  const ndFd = nd ? openSync(nd.file, "w") : undefined;
  let ndBytes = 0;
  let last = 0n;
  const encoder = new TextEncoder();
  for (const batch of corpus.batches(LINES, BATCH, FLUSH)) {
    const body = encoder.encode(fluentBitBody(batch.container, batch.lines));
    writeSync(fd, body);
    if (nd && ndFd !== undefined) {
      const lines = encoder.encode(batch.lines.map((l) => fluentBitRecord(batch.container, l)).join("\n") + "\n");
      writeSync(ndFd, lines);
      nd.offsets.push(ndBytes);
      nd.lengths.push(lines.byteLength);
      ndBytes += lines.byteLength;
    }
    b.offsets.push(b.bodyBytes);
    b.lengths.push(body.byteLength);
    b.lines.push(batch.lines.length);
    b.bodyBytes += body.byteLength;
    b.totalLines += batch.lines.length;
    for (const l of batch.lines) {
      b.rawBytes += Buffer.byteLength(l.log);
      if (l.timeNs > last) last = l.timeNs;
    }
  }
  closeSync(fd);
  if (ndFd !== undefined) closeSync(ndFd);
  b.ndjson = nd;
  b.logSeconds = Number(last - BigInt(corpus.startMs) * 1_000_000n) / 1e9;
  console.log(
    `${kind}: ${fmt(b.totalLines)} lines in ${fmt(b.offsets.length)} bodies (${fmt(b.totalLines / b.offsets.length, 1)} lines each), ` +
      `${fmt(b.rawBytes / b.totalLines, 1)} raw bytes per line, ${fmt(b.bodyBytes / MB)} MB of bodies, ` +
      `${fmt(b.logSeconds / 60, 1)} min of log time (built in ${fmt((performance.now() - t0) / 1000, 1)} s)`,
  );
  return b;
}

// ---------------------------------------------------------------------------------------------
// CPU and ingest

interface IngestFigures {
  lines: number;
  seconds: number;
  linesPerSecond: number;
  serverCpuSeconds: number;
  serverCpuPer100k: number;
  cassandraCpuSeconds?: number;
  cassandraCpuPer100k?: number;
  resentBatches: number;
  peakRssMb: number;
}

/** How a body goes to a server: its request, and the lines the answer says were taken. */
interface Sender {
  file: string;
  offsets: number[];
  lengths: number[];
  request: (body: Uint8Array) => Request;
  accepted: (status: number, text: string, i: number) => number | undefined;
}

/** POST /write of the Fluent Bit json bodies: the answer counts what it took. */
function writeSender(server: Server, bodies: Bodies): Sender {
  return {
    file: bodies.file,
    offsets: bodies.offsets,
    lengths: bodies.lengths,
    request: (body) =>
      new Request(`${server.url}/write`, { method: "POST", body, headers: { "content-type": "application/json" } }),
    accepted: (status, text, i) => {
      if (status !== 200) return undefined;
      const answer = JSON.parse(text) as { accepted: number; rejected: number };
      if (answer.rejected > 0) throw new Error(`batch ${i}: ${answer.rejected} lines rejected: ${text.slice(0, 300)}`);
      return answer.accepted;
    },
  };
}

/**
 * VictoriaLogs' JSON lines API with the same records: the log text as the message, the RFC 3339
 * time, the container as the stream (namespace, pod, container), everything else as fields.
 */
function victoriaSender(server: Server, bodies: Bodies): Sender {
  const nd = bodies.ndjson!;
  const params = new URLSearchParams({
    _msg_field: "log",
    _time_field: "time",
    _stream_fields: "kubernetes.namespace_name,kubernetes.pod_name,kubernetes.container_name",
  });
  return {
    file: nd.file,
    offsets: nd.offsets,
    lengths: nd.lengths,
    request: (body) => new Request(`${server.url}/insert/jsonline?${params}`, { method: "POST", body }),
    accepted: (status, _text, i) => (status === 200 || status === 204 ? bodies.lines[i]! : undefined),
  };
}

async function ingest(
  server: Server,
  bodies: Bodies,
  cassandraPid?: number,
  sender = writeSender(server, bodies),
): Promise<IngestFigures> {
  const fd = openSync(sender.file, "r");
  let next = 0;
  let accepted = 0;
  let resent = 0;
  let peak = memoryOf(server.pid).rss;
  const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(server.pid).rss)), 200);
  const cpu0 = cpuSeconds(server.pid);
  const cass0 = cassandraPid ? cpuSeconds(cassandraPid) : 0;
  const t0 = performance.now();
  let progress = t0;
  try {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bodies.offsets.length) {
          const i = next++;
          const body = new Uint8Array(sender.lengths[i]!);
          readSync(fd, body, 0, body.byteLength, sender.offsets[i]!);
          for (let attempt = 0; ; attempt++) {
            const res = await fetch(sender.request(body));
            const text = await res.text();
            const taken = sender.accepted(res.status, text, i);
            if (taken !== undefined) {
              accepted += taken;
              break;
            }
            // As Fluent Bit: a batch that is not accepted is sent again, byte-identical.
            if (attempt >= 20) throw new Error(`batch ${i}: ${res.status} ${text.slice(0, 300)}`);
            resent++;
            console.error(`  ${res.status}: ${text.slice(0, 200)} (sending again)`);
            await Bun.sleep(500);
          }
          if (performance.now() - progress > 10_000) {
            progress = performance.now();
            console.log(`  ${fmt(accepted)} lines (${fmt(accepted / ((progress - t0) / 1000))} lines/s)`);
          }
        }
      }),
    );
  } finally {
    clearInterval(sampler);
    closeSync(fd);
  }
  const seconds = (performance.now() - t0) / 1000;
  const serverCpu = cpuSeconds(server.pid) - cpu0;
  const cassCpu = cassandraPid ? cpuSeconds(cassandraPid) - cass0 : undefined;
  peak = Math.max(peak, memoryOf(server.pid).rss);
  if (accepted !== bodies.totalLines) throw new Error(`the server accepted ${accepted} lines of ${bodies.totalLines}`);
  return {
    lines: accepted,
    seconds,
    linesPerSecond: accepted / seconds,
    serverCpuSeconds: serverCpu,
    serverCpuPer100k: (serverCpu / accepted) * 100_000,
    ...(cassCpu === undefined ? {} : { cassandraCpuSeconds: cassCpu, cassandraCpuPer100k: (cassCpu / accepted) * 100_000 }),
    resentBatches: resent,
    peakRssMb: peak / MB,
  };
}

// ---------------------------------------------------------------------------------------------
// Disk

interface DiskFigures {
  bytes: number;
  /** What the bytes are made of: name → bytes. */
  parts: Record<string, number>;
  method: string;
  /** Lines counted in the store (embedded), or undefined. */
  storedLines?: number;
  settleSeconds?: number;
  /** Live SSTables (Cassandra). */
  sstables?: number;
  /** Embedded: the share of each b-tree's pages that holds cell payload (the rest: headers, pointers, free space). */
  fill?: Record<string, number>;
  /** Cassandra: the compression of log_chunks (system_schema.tables). */
  compression?: Record<string, string>;
}

function filesOf(dir: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesOf(p));
    else if (e.isFile()) {
      try {
        out.push({ path: p, size: statSync(p).size });
      } catch {
        // removed meanwhile (a compaction's input)
      }
    }
  }
  return out;
}

function embeddedDisk(dataDir: string): DiskFigures {
  const files = filesOf(dataDir);
  const parts: Record<string, number> = {};
  for (const f of files) parts[`file ${f.path.slice(dataDir.length + 1)}`] = f.size;
  const bytes = files.reduce((s, f) => s + f.size, 0);
  // Measured first, then opened: dbstat (pages of each table and index) and the line count.
  const db = new Database(join(dataDir, "logs.sqlite"), { readonly: true });
  try {
    const fill: Record<string, number> = {};
    for (const row of db
      .query("SELECT name, SUM(pgsize) AS size, SUM(payload) AS payload FROM dbstat GROUP BY name ORDER BY size DESC")
      .all() as { name: string; size: number; payload: number }[]) {
      parts[`btree ${row.name}`] = row.size;
      if (row.size > 0) fill[row.name] = row.payload / row.size;
    }
    const pageSize = (db.query("PRAGMA page_size").get() as { page_size: number }).page_size;
    const free = (db.query("PRAGMA freelist_count").get() as { freelist_count: number }).freelist_count;
    parts["free pages"] = free * pageSize;
    const storedLines = (db.query("SELECT COALESCE(SUM(lines), 0) AS n FROM chunks").get() as { n: number }).n;
    return {
      bytes,
      parts,
      fill,
      storedLines,
      method: "every file of the data dir after the server's shutdown (WAL checkpointed and truncated), no VACUUM",
    };
  } finally {
    db.close();
  }
}

async function cassandraClient() {
  const cassandra = (await import("cassandra-driver")).default;
  const client = new cassandra.Client({
    contactPoints: [CASSANDRA.host],
    localDataCenter: "datacenter1",
    protocolOptions: { port: CASSANDRA.port, maxVersion: 4 },
    socketOptions: { readTimeout: 60_000 },
  });
  await client.connect();
  return client;
}

/** Waits until the keyspace's chunk rows (a count of log_chunks) stop changing: compaction is done. */
async function compacted(keyspace: string): Promise<void> {
  const client = await cassandraClient();
  const t0 = performance.now();
  try {
    let last = -1;
    let same = 0;
    while (same < 2 && performance.now() - t0 < SETTLE_S * 1000) {
      await Bun.sleep(3000);
      const rs = await client.execute(`SELECT COUNT(*) AS n FROM ${keyspace}.log_chunks`, [], { readTimeout: 120_000 });
      const n = Number(rs.rows[0]!.n);
      same = n === last ? same + 1 : 0;
      last = n;
    }
    console.log(`  compaction: ${fmt(last)} chunk rows after ${fmt((performance.now() - t0) / 1000)} s`);
  } finally {
    await client.shutdown();
  }
}

/** Flushes the keyspace's memtables (flush period), waits for the SSTables to settle, measures. */
async function cassandraDisk(keyspace: string): Promise<DiskFigures> {
  const dir = join(cassandraPaths.run, "data", keyspace);
  const client = await cassandraClient();
  const t0 = performance.now();
  try {
    const tables = (
      await client.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [keyspace], { prepare: true })
    ).rows.map((r) => r.table_name as string);
    for (const t of tables) await client.execute(`ALTER TABLE ${keyspace}.${t} WITH memtable_flush_period_in_ms = 2000`);
    let lastBytes = -1;
    let stable = 0;
    const deadline = performance.now() + SETTLE_S * 1000;
    for (;;) {
      await Bun.sleep(2000);
      const files = filesOf(dir);
      const bytes = files.reduce((s, f) => s + f.size, 0);
      const txn = files.some((f) => /_txn_.*\.log$/.test(f.path));
      const flushing = (
        await client.execute(
          "SELECT active_tasks, pending_tasks FROM system_views.thread_pools WHERE name = 'MemtableFlushWriter'",
        )
      ).rows.some((r) => Number(r.active_tasks) + Number(r.pending_tasks) > 0);
      const compacting = (await client.execute("SELECT keyspace_name FROM system_views.sstable_tasks")).rows.some(
        (r) => r.keyspace_name === keyspace,
      );
      stable = !txn && !flushing && !compacting && bytes === lastBytes ? stable + 1 : 0;
      lastBytes = bytes;
      if (stable >= 3) break;
      if (performance.now() > deadline) {
        console.log(`  (not settled after ${SETTLE_S} s: measured as it is)`);
        break;
      }
    }
    const settleSeconds = (performance.now() - t0) / 1000;
    const files = filesOf(dir);
    const parts: Record<string, number> = {};
    for (const f of files) {
      const rel = f.path.slice(dir.length + 1);
      const table = rel.split("/")[0]!.replace(/-[0-9a-f]{32}$/, "");
      const component = /-([A-Za-z]+)\.(db|txt|crc32)$/.exec(rel)?.[1] ?? "other";
      parts[`table ${table}`] = (parts[`table ${table}`] ?? 0) + f.size;
      parts[`component ${component}`] = (parts[`component ${component}`] ?? 0) + f.size;
    }
    const compression = (
      await client.execute(
        "SELECT compression FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'log_chunks'",
        [keyspace],
        {
          prepare: true,
        },
      )
    ).rows[0]?.compression as Record<string, string> | undefined;
    return {
      compression,
      sstables: new Set(files.map((f) => /^(.*-(?:big|bti))-/.exec(f.path)?.[1]).filter(Boolean)).size,
      bytes: files.reduce((s, f) => s + f.size, 0),
      parts,
      settleSeconds,
      method:
        "SSTable files of the keyspace after memtable_flush_period_in_ms = 2000 and the tables settled (no flush, compaction or txn log; same size over 3 polls)",
    };
  } finally {
    await client.shutdown();
  }
}

async function dropKeyspace(keyspace: string): Promise<void> {
  const client = await cassandraClient();
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown();
  }
}

// ---------------------------------------------------------------------------------------------

interface Result {
  store: StoreName;
  corpus: CorpusKind;
  lines: number;
  rawBytesPerLine: number;
  diskBytesPerLine: number;
  ratioToRaw: number;
  ingest: IngestFigures;
  disk: DiskFigures;
}

type StoreName = "embedded" | "cassandra" | "victorialogs";

/** VictoriaLogs on a data dir of its own, on a free port; stop() ends it (it flushes what it holds). */
async function startVictoriaLogs(dataDir: string): Promise<Server> {
  const port = 21000 + Math.floor(Math.random() * 20000);
  const proc = Bun.spawn(
    [VICTORIALOGS_BIN!, `-storageDataPath=${dataDir}`, `-httpListenAddr=127.0.0.1:${port}`, "-loggerLevel=ERROR"],
    {
      stdout: "ignore",
      stderr: "inherit",
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  return {
    url,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** Every file of a directory, after the process that wrote it stopped. */
function dirDisk(dataDir: string): DiskFigures {
  const files = filesOf(dataDir);
  const bytes = files.reduce((s, f) => s + f.size, 0);
  return { bytes, parts: { files: bytes }, method: "every file of the data dir after a forced flush and shutdown" };
}

async function run(store: StoreName, bodies: Bodies, work: string): Promise<Result> {
  const dataDir = join(work, `${store}-${bodies.kind}`);
  const keyspace = `disk_${RUN_ID}_${bodies.kind}`;
  const args =
    store === "embedded"
      ? ["--store", "embedded", "--data-dir", dataDir]
      : ["--store", "cassandra", "--cassandra-keyspace", keyspace, "--cassandra-port", String(CASSANDRA.port), CASSANDRA.host];
  console.log(`\n== ${store}, ${bodies.kind} corpus: ${fmt(bodies.totalLines)} lines ==`);
  const server = store === "victorialogs" ? await startVictoriaLogs(dataDir) : await startServer(args, SERVER);
  let stopped = false;
  try {
    // The project's node (scripts/cassandra.ts) when the bench talks to it: its CPU is read too.
    const cassandraPid =
      store === "cassandra" && CASSANDRA.host === "127.0.0.1" && CASSANDRA.port === 9042 ? runningPid() : undefined;
    const figures = await ingest(
      server,
      bodies,
      cassandraPid,
      store === "victorialogs" ? victoriaSender(server, bodies) : writeSender(server, bodies),
    );
    console.log(
      `  ingest: ${fmt(figures.linesPerSecond)} lines/s, server ${fmt(figures.serverCpuPer100k, 2)} CPU-s per 100k lines` +
        (figures.cassandraCpuPer100k === undefined ? "" : `, Cassandra ${fmt(figures.cassandraCpuPer100k, 2)}`) +
        `, peak RSS ${fmt(figures.peakRssMb)} MB`,
    );
    // The server merges the small chunks of each window in the background once the window is quiet
    // (embedded: 1 s, and what is left at shutdown; Cassandra: 5 s): the disk is measured after
    // it. For Cassandra, the server is left running until its keyspace's chunk rows stop
    // changing (polled every 3 s, twice the same; at most `settle` s).
    if (store === "cassandra") await compacted(keyspace);
    if (store === "victorialogs") await fetch(`${server.url}/internal/force_flush`);
    await server.stop();
    stopped = true;
    const disk =
      store === "embedded" ? embeddedDisk(dataDir) : store === "victorialogs" ? dirDisk(dataDir) : await cassandraDisk(keyspace);
    const result: Result = {
      store,
      corpus: bodies.kind,
      lines: figures.lines,
      rawBytesPerLine: bodies.rawBytes / bodies.totalLines,
      diskBytesPerLine: disk.bytes / figures.lines,
      ratioToRaw: disk.bytes / bodies.rawBytes,
      ingest: figures,
      disk,
    };
    if (disk.storedLines !== undefined && disk.storedLines !== figures.lines)
      throw new Error(`the store holds ${disk.storedLines} lines, ${figures.lines} were accepted`);
    console.log(
      `  disk: ${fmt(disk.bytes / MB, 1)} MB, ${fmt(result.diskBytesPerLine, 1)} bytes per line (${fmt(result.ratioToRaw, 2)}x raw)` +
        (disk.settleSeconds === undefined ? "" : `, settled after ${fmt(disk.settleSeconds)} s`),
    );
    for (const [k, v] of Object.entries(disk.parts).sort((a, b) => b[1] - a[1]))
      console.log(`    ${k.padEnd(48)} ${fmt(v / figures.lines, 1).padStart(8)} B/line`);
    if (disk.sstables !== undefined)
      console.log(`    live SSTables: ${disk.sstables}, log_chunks compression ${JSON.stringify(disk.compression)}`);
    for (const [name, share] of Object.entries(disk.fill ?? {}))
      if ((disk.parts[`btree ${name}`] ?? 0) > disk.bytes / 100)
        console.log(`    ${name}: ${fmt(share * 100)}% of its pages is payload`);
    return result;
  } finally {
    if (!stopped) await server.stop();
    if (!opts.keep) {
      rmSync(dataDir, { recursive: true, force: true });
      if (store === "cassandra") await dropKeyspace(keyspace).catch((e) => console.error(`drop ${keyspace}: ${e}`));
    }
  }
}

const stores: StoreName[] = [];
let cassandraNote = "";
if (opts.store === "embedded" || opts.store === "all") stores.push("embedded");
if (opts.store === "cassandra" || opts.store === "all") {
  if (await cassandraAnswers(CASSANDRA.host, CASSANDRA.port)) stores.push("cassandra");
  else {
    cassandraNote = `No Cassandra answers at ${opts.cassandra}: the Cassandra store was skipped.`;
    console.log(cassandraNote);
  }
}
if (VICTORIALOGS_BIN !== undefined && (opts.store === "victorialogs" || opts.store === "all")) stores.push("victorialogs");
const started = performance.now();
if (SERVER === "binary") {
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("bun run build failed");
}
const work = mkdtempSync(join(tmpdir(), "logserver-disk-"));
const results: Result[] = [];
try {
  for (const kind of CORPORA) {
    const bodies = buildBodies(kind, work);
    try {
      for (const s of stores) results.push(await run(s, bodies, work));
    } finally {
      rmSync(bodies.file, { force: true });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const text = [
  table(
    [
      "store",
      "corpus",
      "lines",
      "raw B/line",
      "disk B/line",
      "disk/raw",
      "ingest lines/s",
      "server CPU-s/100k",
      "Cassandra CPU-s/100k",
    ],
    results.map((r) => [
      r.store,
      r.corpus,
      fmt(r.lines),
      fmt(r.rawBytesPerLine, 1),
      fmt(r.diskBytesPerLine, 1),
      `${fmt(r.ratioToRaw, 2)}x`,
      fmt(r.ingest.linesPerSecond),
      fmt(r.ingest.serverCpuPer100k, 2),
      r.ingest.cassandraCpuPer100k === undefined ? "" : fmt(r.ingest.cassandraCpuPer100k, 2),
    ]),
  ),
  "",
  `bodies: Fluent Bit json, one container each, at most ${BATCH} lines, cut every ${FLUSH} s of log time; ${CONCURRENCY} clients; server: ${SERVER}`,
  "embedded disk: the data dir after shutdown (WAL checkpointed), no VACUUM; Cassandra disk: the keyspace's SSTables after a forced memtable flush (flush period) and settling",
  ...(VICTORIALOGS_BIN
    ? [
        `victorialogs: ${VICTORIALOGS_BIN}, the same records as JSON lines to /insert/jsonline (message: log, time: time, stream: namespace, pod, container); disk: its data dir after /internal/force_flush and shutdown`,
      ]
    : []),
  ...(cassandraNote ? [cassandraNote] : []),
].join("\n");
console.log(`\n${text}\n`);
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
const file = join(ROOT, "bench/results", `disk-${RUN_ID}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      runId: RUN_ID,
      options: {
        lines: LINES,
        corpora: CORPORA,
        concurrency: CONCURRENCY,
        batch: BATCH,
        flush: FLUSH,
        seed: SEED,
        server: SERVER,
      },
      machine: { cpus: navigator.hardwareConcurrency, bun: Bun.version },
      results,
      table: text,
    },
    null,
    2,
  ),
);
console.log(`figures written to ${file} (${fmt((performance.now() - started) / 1000)} s)`);
