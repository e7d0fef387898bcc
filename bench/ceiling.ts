// The raw ceiling of each store on this machine: the same chunks written and read straight through
// bun:sqlite and cassandra-driver, with no HTTP, JSON or service code in the way.
import { Database } from "bun:sqlite";
import cassandra from "cassandra-driver";
import { join } from "node:path";
import { logLine, lineTimeNs, makeContainers, type Container } from "../scripts/insert.ts";
import {
  compareLines,
  cutChunks,
  decodeChunk,
  encodeChunk,
  textOf,
  windowOf,
  WINDOW_NS,
  type ChunkLine,
  type DecodedChunk,
  type EncodedChunk,
} from "../src/store/chunk.ts";
import { schemaStatements } from "../src/store/cassandra.ts";
import { lineIds, sequenceNumbers } from "../src/store/lines.ts";
import { migrate, openDatabase, type EmbeddedSync } from "../src/store/sqlite-schema.ts";
import type { LogEntry, StreamRef } from "../src/store/store.ts";

/** One container's window. */
type Query = StreamRef & { startNs: bigint; endNs: bigint };
import { summarize } from "./lib.ts";

export interface WorkloadShape {
  containers: number;
  pods: number;
  namespaces: number;
  batch: number;
}

/** The rows the service would have stored: `batch` lines per container in turn, as the load generator sends them. */
export function* rowBatches(
  prefix: string,
  shape: WorkloadShape,
  totalLines: number,
  startMs: number,
): Generator<{ container: Container; entries: LogEntry[] }> {
  const containers = makeContainers(prefix, shape.containers, shape.pods, shape.namespaces);
  const seqs = containers.map(() => 0);
  let done = 0;
  for (let i = 0; done < totalLines; i = (i + 1) % containers.length) {
    const c = containers[i]!;
    const count = Math.min(shape.batch, totalLines - done);
    const entries: LogEntry[] = [];
    for (let k = 0; k < count; k++) {
      const seq = seqs[i]! + k;
      entries.push({
        tenant: "",
        namespace: c.namespace,
        pod: c.pod,
        container: c.container,
        timeNs: lineTimeNs(startMs, seq),
        log: logLine(seq, i),
        stream: "stdout",
        podId: c.podId,
        dockerId: c.dockerId,
        host: c.host,
        labels: c.labels,
      });
    }
    seqs[i]! += count;
    done += count;
    yield { container: c, entries };
  }
}

/**
 * bun:sqlite with the store's schema and pragmas (and its durability, `sync`): each batch's lines
 * as chunks (one per container and window, as the service writes them, encoded before the clock
 * starts), `rowsPerTransaction` lines per transaction. Only the inserts are timed.
 * (`rowsPerStatement` is kept for the callers: a chunk is one row whatever its lines.)
 */
export function sqliteWriteCeiling(
  dir: string,
  shape: WorkloadShape,
  totalLines: number,
  startMs: number,
  rowsPerStatement: number,
  rowsPerTransaction: number,
  sync: EmbeddedSync = "full",
): { lines: number; seconds: number } {
  void rowsPerStatement;
  const db = openDatabase(join(dir, `ceiling-${rowsPerStatement}-${rowsPerTransaction}-${sync}.sqlite`), { sync });
  migrate(db);
  const insert = db.prepare(
    "INSERT INTO chunks (container_id, win, first_ts, last_ts, lines, text_bytes, chunk_key, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const containerIds = new Map<string, number>();
  let seconds = 0;
  let lines = 0;
  let pending: { cid: number; chunks: EncodedChunk[] }[] = [];
  let pendingRows = 0;
  const flush = () => {
    const t0 = performance.now();
    db.transaction(() => {
      for (const { cid, chunks } of pending)
        for (const c of chunks) insert.run(cid, windowOf(c.firstNs), c.firstNs, c.lastNs, c.lines, c.textBytes, c.key, c.data);
    })();
    seconds += (performance.now() - t0) / 1000;
    pending = [];
    pendingRows = 0;
  };
  for (const { container, entries } of rowBatches("ceiling", shape, totalLines, startMs)) {
    const key = `${container.namespace}/${container.pod}/${container.container}`;
    let cid = containerIds.get(key);
    if (cid === undefined) {
      db.run("INSERT INTO containers (namespace, pod, container) VALUES (?, ?, ?)", [
        container.namespace,
        container.pod,
        container.container,
      ]);
      cid = Number((db.query("SELECT last_insert_rowid() AS id").get() as { id: number }).id);
      containerIds.set(key, cid);
    }
    pending.push({ cid, chunks: chunksOf(entries) });
    pendingRows += entries.length;
    lines += entries.length;
    if (pendingRows >= rowsPerTransaction) flush();
  }
  if (pending.length > 0) flush();
  db.close();
  return { lines, seconds };
}

/** A batch of one container as the service's chunks. */
function chunksOf(entries: LogEntry[]): EncodedChunk[] {
  const ids = lineIds(entries);
  const seqs = sequenceNumbers(entries);
  const e0 = entries[0]!;
  const source = { podId: e0.podId, dockerId: e0.dockerId, host: e0.host, labels: JSON.stringify(e0.labels) };
  const lines: ChunkLine[] = entries.map((e, i) => ({
    timeNs: e.timeNs,
    seq: seqs[i]!,
    id: ids[i]!,
    stream: e.stream,
    level: "",
    source,
    metadata: null,
    log: e.log,
  }));
  lines.sort(compareLines);
  return cutChunks(lines).map((part) => encodeChunk(part));
}

/** bun:sqlite read of one container's window from the server's database file: its chunks, decoded, the lines in range counted. */
export function sqliteReadCeiling(dataDir: string, q: Query, runs: number) {
  const { namespace, pod, container, startNs, endNs } = q;
  const db = new Database(join(dataDir, "logs.sqlite"), { readonly: true });
  const cid = (
    db.query("SELECT id FROM containers WHERE namespace = ? AND pod = ? AND container = ?").get(namespace, pod, container) as {
      id: number;
    }
  ).id;
  const select = db
    .query(
      "SELECT data FROM chunks WHERE container_id = ? AND win >= ? AND win <= ? AND last_ts >= ? AND first_ts <= ? ORDER BY win, first_ts",
    )
    .safeIntegers(true);
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    rows = 0;
    for (const [data] of select.values(cid, windowOf(startNs), windowOf(endNs), startNs, endNs) as [Uint8Array][])
      rows += inRange(decodeChunk(data), startNs, endNs);
    times.push(performance.now() - t0);
  }
  db.close();
  return { rows, ...summarize(times) };
}

/** Lines of a decoded chunk within [startNs, endNs], each made a row as a read would. */
function inRange(c: DecodedChunk, startNs: bigint, endNs: bigint): number {
  let n = 0;
  for (let i = 0; i < c.n; i++) {
    const t = c.ts[i]!;
    if (t >= startNs && t <= endNs && textOf(c, i) !== undefined) n++;
  }
  return n;
}

export interface CassandraTarget {
  host: string;
  port: number;
}

function client(target: CassandraTarget, keyspace?: string) {
  return new cassandra.Client({
    contactPoints: [target.host],
    localDataCenter: "datacenter1",
    keyspace,
    protocolOptions: { port: target.port, maxVersion: 4 },
    encoding: { useBigIntAsLong: true, useUndefinedAsUnset: true },
    queryOptions: { consistency: cassandra.types.consistencies.localQuorum, prepare: true },
    pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 2 } },
  });
}

/**
 * cassandra-driver: each batch's lines as chunks (one per container and window, encoded before the
 * clock starts), one prepared INSERT each, `concurrency` in flight, into a keyspace of its own
 * with the store's schema. (`rowsPerBatch` is kept for the callers: a chunk is one row.)
 */
export async function cassandraWriteCeiling(
  target: CassandraTarget,
  keyspace: string,
  shape: WorkloadShape,
  totalLines: number,
  startMs: number,
  concurrency: number,
  rowsPerBatch: number,
): Promise<{ lines: number; seconds: number }> {
  void rowsPerBatch;
  const setup = client(target);
  await setup.connect();
  for (const cql of schemaStatements({
    keyspace,
    replicationStrategy: "SimpleStrategy",
    replicationFactors: { cluster: 1 },
    retentionSeconds: 0,
  })) {
    await setup.execute(cql);
  }
  await setup.shutdown();
  const c = client(target, keyspace);
  await c.connect();
  const insert =
    "INSERT INTO log_chunks (namespace, pod_name, container_name, window, first_ts, chunk, last_ts, lines, text_bytes, born, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  // Build every chunk first: the ceiling measures the store, not our chunk building.
  const rows: unknown[][] = [];
  let lines = 0;
  const born = BigInt(Date.now()) * 1000n;
  for (const { entries } of rowBatches(`ceiling-${keyspace}`, shape, totalLines, startMs)) {
    const e = entries[0]!;
    for (const k of chunksOf(entries))
      rows.push([
        e.namespace,
        e.pod,
        e.container,
        windowOf(k.firstNs),
        k.firstNs,
        k.key,
        k.lastNs,
        k.lines,
        k.textBytes,
        born,
        k.data,
      ]);
    lines += entries.length;
  }
  // Warm the prepared statement and the connections.
  await c.execute(insert, rows[0]!, { prepare: true });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < rows.length) await c.execute(insert, rows[next++]!, { prepare: true, isIdempotent: true });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await c.shutdown();
  return { lines, seconds };
}

/** cassandra-driver read of one container's window: the chunks of its windows in parallel, decoded, the lines in range counted. */
export async function cassandraReadCeiling(target: CassandraTarget, keyspace: string, q: Query, runs: number) {
  const { namespace, pod, container, startNs, endNs } = q;
  const c = client(target, keyspace);
  await c.connect();
  const select =
    "SELECT data FROM log_chunks WHERE namespace = ? AND pod_name = ? AND container_name = ? AND window = ? AND first_ts <= ?";
  const windows: bigint[] = [];
  for (let w = windowOf(startNs); w <= endNs; w += WINDOW_NS) windows.push(w);
  const readAll = async () => {
    const parts = await Promise.all(
      windows.map(async (window) => {
        let rows = 0;
        let pageState: string | undefined;
        do {
          const rs = await c.execute(select, [namespace, pod, container, window, endNs], {
            prepare: true,
            fetchSize: 16,
            pageState,
          });
          for (const r of rs.rows) rows += inRange(decodeChunk(r.data as Uint8Array), startNs, endNs);
          pageState = rs.pageState ?? undefined;
        } while (pageState);
        return rows;
      }),
    );
    return parts.reduce((n, p) => n + p, 0);
  };
  await readAll(); // warm-up
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    rows = await readAll();
    times.push(performance.now() - t0);
  }
  await c.shutdown();
  return { rows, ...summarize(times) };
}
