// The raw ceiling of each store on this machine: the same rows written and read straight through
// bun:sqlite and cassandra-driver, with no HTTP, JSON or service code in the way.
import { Database } from "bun:sqlite";
import cassandra from "cassandra-driver";
import { join } from "node:path";
import { logLine, lineTimeNs, makeContainers, type Container } from "../scripts/insert.ts";
import { BUCKET_SECONDS, schemaStatements } from "../src/store/cassandra.ts";
import { lineIds, sequenceNumbers, sourceKey } from "../src/store/lines.ts";
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
 * bun:sqlite with the store's schema and pragmas (and its durability, `sync`): prepared INSERTs
 * of `rowsPerStatement` rows, `rowsPerTransaction` rows per transaction. Only the inserts are timed.
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
  const db = openDatabase(join(dir, `ceiling-${rowsPerStatement}-${rowsPerTransaction}-${sync}.sqlite`), { sync });
  migrate(db);
  const columns = "INSERT OR IGNORE INTO lines (container_id, ts, id, stream, log, source_id, seq) VALUES ";
  const one = db.prepare(`${columns}(?, ?, ?, ?, ?, ?, ?)`);
  const many = db.prepare(columns + Array(rowsPerStatement).fill("(?, ?, ?, ?, ?, ?, ?)").join(", "));
  const containerIds = new Map<string, number>();
  let seconds = 0;
  let lines = 0;
  let pending: { cid: number; entries: LogEntry[]; ids: bigint[]; seqs: number[] }[] = [];
  let pendingRows = 0;
  const flush = () => {
    const t0 = performance.now();
    db.transaction(() => {
      for (const { cid, entries, ids, seqs } of pending) {
        let i = 0;
        for (; i + rowsPerStatement <= entries.length && rowsPerStatement > 1; i += rowsPerStatement) {
          const params: (number | bigint | string)[] = [];
          for (let k = i; k < i + rowsPerStatement; k++)
            params.push(cid, entries[k]!.timeNs, ids[k]!, entries[k]!.stream, entries[k]!.log, 1, seqs[k]!);
          many.run(...params);
        }
        for (; i < entries.length; i++)
          one.run(cid, entries[i]!.timeNs, ids[i]!, entries[i]!.stream, entries[i]!.log, 1, seqs[i]!);
      }
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
    pending.push({ cid, entries, ids: lineIds(entries), seqs: sequenceNumbers(entries) });
    pendingRows += entries.length;
    lines += entries.length;
    if (pendingRows >= rowsPerTransaction) flush();
  }
  if (pending.length > 0) flush();
  db.close();
  return { lines, seconds };
}

/** bun:sqlite read of one container's window, the store's own query, from the server's database file. */
export function sqliteReadCeiling(dataDir: string, q: Query, runs: number) {
  const { namespace, pod, container, startNs, endNs } = q;
  const db = new Database(join(dataDir, "logs.sqlite"), { readonly: true });
  const cid = (
    db.query("SELECT id FROM containers WHERE namespace = ? AND pod = ? AND container = ?").get(namespace, pod, container) as {
      id: number;
    }
  ).id;
  const select = db
    .query("SELECT ts, seq, id, stream, log FROM lines WHERE container_id = ? AND ts >= ? AND ts <= ? ORDER BY ts, seq, id")
    .safeIntegers(true);
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    rows = select.values(cid, startNs, endNs).length;
    times.push(performance.now() - t0);
  }
  db.close();
  return { rows, ...summarize(times) };
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

const BUCKET_NS = BigInt(BUCKET_SECONDS) * 1_000_000_000n;

/**
 * cassandra-driver: prepared INSERTs in unlogged single-partition batches of `rowsPerBatch`,
 * `concurrency` batches in flight, into a keyspace of its own with the store's schema.
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
    "INSERT INTO log_lines (namespace, pod_name, container_name, bucket, ts, id, seq, stream, log, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  // Build every batch first: the ceiling measures the store, not our row building. Values
  // shared by a partition's rows are encoded once, as the store does.
  const batches: { query: string; params: unknown[] }[][] = [];
  const int64 = (v: bigint) => {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(v);
    return b;
  };
  const stdout = Buffer.from("stdout");
  let lines = 0;
  for (const { entries } of rowBatches(`ceiling-${keyspace}`, shape, totalLines, startMs)) {
    const ids = lineIds(entries);
    const source = int64(BigInt.asIntN(64, Bun.hash.wyhash(sourceKey(entries[0]!))));
    const seqs = sequenceNumbers(entries);
    const byPartition = new Map<string, { key: Buffer[]; rows: { query: string; params: unknown[] }[] }>();
    entries.forEach((e, i) => {
      const bucket = ((e.timeNs / BUCKET_NS) * BUCKET_NS) / 1_000_000n;
      const key = `${e.namespace}/${e.pod}/${e.container}/${bucket}`;
      let p = byPartition.get(key);
      if (!p)
        byPartition.set(
          key,
          (p = { key: [Buffer.from(e.namespace), Buffer.from(e.pod), Buffer.from(e.container), int64(bucket)], rows: [] }),
        );
      p.rows.push({ query: insert, params: [...p.key, e.timeNs, ids[i], int64(BigInt(seqs[i]!)), stdout, e.log, source] });
    });
    for (const p of byPartition.values())
      for (let i = 0; i < p.rows.length; i += rowsPerBatch) batches.push(p.rows.slice(i, i + rowsPerBatch));
    lines += entries.length;
  }
  // Warm the prepared statement and the connections.
  await c.batch(batches[0]!, { prepare: true, logged: false });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches.length) {
        const b = batches[next++]!;
        await c.batch(b, { prepare: true, logged: false, isIdempotent: true });
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await c.shutdown();
  return { lines, seconds };
}

/** cassandra-driver read of one container's window: its partitions in parallel, all pages. */
export async function cassandraReadCeiling(target: CassandraTarget, keyspace: string, q: Query, runs: number) {
  const { namespace, pod, container, startNs, endNs } = q;
  const c = client(target, keyspace);
  await c.connect();
  const select =
    "SELECT ts, id, seq, stream, log FROM log_lines WHERE namespace = ? AND pod_name = ? AND container_name = ? AND bucket = ? AND ts >= ? AND ts <= ?";
  const buckets: bigint[] = [];
  for (let b = (startNs / BUCKET_NS) * BUCKET_NS; b <= endNs; b += BUCKET_NS) buckets.push(b / 1_000_000n);
  const readAll = async () => {
    const parts = await Promise.all(
      buckets.map(async (bucket) => {
        const rows: cassandra.types.Row[] = [];
        let pageState: string | undefined;
        do {
          const rs = await c.execute(select, [namespace, pod, container, bucket, startNs, endNs], {
            prepare: true,
            fetchSize: 5000,
            pageState,
          });
          rows.push(...rs.rows);
          pageState = rs.pageState ?? undefined;
        } while (pageState);
        return rows;
      }),
    );
    return parts.reduce((n, p) => n + p.length, 0);
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
