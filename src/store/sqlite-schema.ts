// The embedded store's database: file, pragmas, schema and the statements both sides use, shared
// by the store (reads) and its writer thread (writes).
import { Database } from "bun:sqlite";
import { join } from "node:path";
import type { RetentionRule } from "./retention.ts";

export type EmbeddedSync = "full" | "normal";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS containers (
  id INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL DEFAULT '',
  namespace TEXT NOT NULL,
  pod TEXT NOT NULL,
  container TEXT NOT NULL,
  UNIQUE (tenant, namespace, pod, container)
);
CREATE TABLE IF NOT EXISTS sources (
  id INTEGER PRIMARY KEY,
  pod_id TEXT NOT NULL,
  docker_id TEXT NOT NULL,
  host TEXT NOT NULL,
  labels TEXT NOT NULL,
  UNIQUE (pod_id, docker_id, host, labels)
);
CREATE TABLE IF NOT EXISTS lines (
  container_id INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  id INTEGER NOT NULL,
  stream TEXT NOT NULL,
  log TEXT NOT NULL,
  source_id INTEGER NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  metadata TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS lines_by_time ON lines (container_id, ts, id);
CREATE TABLE IF NOT EXISTS streams (
  container_id INTEGER NOT NULL,
  day INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  source_id INTEGER NOT NULL,
  PRIMARY KEY (container_id, day)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS streams_by_day ON streams (day);
CREATE TABLE IF NOT EXISTS counts (
  container_id INTEGER NOT NULL,
  minute INTEGER NOT NULL,
  stream TEXT NOT NULL,
  level TEXT NOT NULL,
  lines INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (container_id, minute, stream, level)
) WITHOUT ROWID;
`;

export const NS_PER_DAY = 86_400_000_000_000n;
const NS_PER_MINUTE = 60_000_000_000n;

/**
 * One page of a container's lines after a cursor (?2 ts, ?4 seq, ?5 id) up to a bound (?3), in
 * the direction: (ts, seq, id) ascending or descending. The index gives time order; SQLite sorts
 * only the rows of equal time. `contains`: that many `instr(log, ?) > 0` terms (?7...).
 */
export function selectPageSql(direction: "forward" | "backward", contains: number, withSource = false): string {
  const [cmp, range, order] =
    direction === "forward" ? [">", "ts >= ?2 AND ts <= ?3", "ASC"] : ["<", "ts <= ?2 AND ts >= ?3", "DESC"];
  const filters = Array.from({ length: contains }, (_, i) => ` AND instr(log, ?${7 + i}) > 0`).join("");
  return `SELECT ts, seq, id, stream, log${withSource ? ", source_id, metadata" : ""} FROM lines
  WHERE container_id = ?1 AND ${range} AND (ts ${cmp} ?2 OR seq ${cmp} ?4 OR (seq = ?4 AND id ${cmp} ?5))${filters}
  ORDER BY ts ${order}, seq ${order}, id ${order} LIMIT ?6`;
}

/** The forward page without filters: what /query reads most. */
export const SELECT_PAGE = selectPageSql("forward", 0);

/**
 * A tenant's (?5) streams with lines in a range (?3 start, ?4 end), from the per-day index (?1,
 * ?2 the days): first and last times, and the source (labels, host) of the latest line.
 */
export const SELECT_STREAMS = `SELECT c.namespace, c.pod, c.container, x.first_ts, x.last_ts, src.labels, src.host
  FROM (SELECT container_id, min(first_ts) AS first_ts, max(last_ts) AS last_ts, source_id FROM streams
        WHERE day BETWEEN ?1 AND ?2 AND last_ts >= ?3 AND first_ts <= ?4 GROUP BY container_id) x
  JOIN containers c ON c.id = x.container_id JOIN sources src ON src.id = x.source_id
  WHERE c.tenant = ?5`;

/** Keeps a stream's first and last times of a day, and the source of its latest line. */
export const UPSERT_STREAM = `INSERT INTO streams (container_id, day, first_ts, last_ts, source_id) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (container_id, day) DO UPDATE SET
    first_ts = min(first_ts, excluded.first_ts),
    source_id = CASE WHEN excluded.last_ts >= last_ts THEN excluded.source_id ELSE source_id END,
    last_ts = max(last_ts, excluded.last_ts)`;

/**
 * Adds a batch's tally to a count row (container, minute (its start, epoch ns), stream, level):
 * the writer counts only the lines it really inserted, in the same transaction.
 */
export const UPSERT_COUNT = `INSERT INTO counts (container_id, minute, stream, level, lines, bytes) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (container_id, minute, stream, level) DO UPDATE SET
    lines = lines + excluded.lines, bytes = bytes + excluded.bytes`;

/**
 * One page of a container's (?1) count rows up to a bound (?5), in key order (the primary key's):
 * from a minute on (?2; first: true), or after a cursor (?2 minute, ?3 stream, ?4 level).
 */
export function selectCountsSql(first: boolean): string {
  const after = first ? "" : " AND (minute > ?2 OR stream > ?3 OR (stream = ?3 AND level > ?4))";
  return `SELECT minute, stream, level, lines, bytes FROM counts
  WHERE container_id = ?1 AND minute >= ?2 AND minute <= ?5${after}
  ORDER BY minute, stream, level LIMIT ?6`;
}

export const SELECT_CONTAINER = "SELECT id FROM containers WHERE tenant = ? AND namespace = ? AND pod = ? AND container = ?";

export function databasePath(dataDir: string): string {
  return join(dataDir, "logs.sqlite");
}

/**
 * Opens the database with the store's pragmas. The writer's connection sets the durability:
 * in WAL mode `full` syncs the log at every commit (an acknowledged batch survives power loss),
 * `normal` only at checkpoints (it survives a crash of the process; power loss can take the last
 * commits).
 */
export function openDatabase(path: string, options: { readonly?: boolean; sync?: EmbeddedSync } = {}): Database {
  const db = new Database(path, options.readonly ? { readonly: true, strict: true } : { create: true, strict: true });
  if (!options.readonly) {
    db.run("PRAGMA journal_mode = WAL");
    db.run(`PRAGMA synchronous = ${options.sync === "normal" ? "NORMAL" : "FULL"}`);
  }
  db.run("PRAGMA busy_timeout = 5000");
  db.run("PRAGMA temp_store = MEMORY");
  db.run("PRAGMA cache_size = -16000");
  return db;
}

/** Creates what is missing, and adds what older databases lack. */
export function migrate(db: Database): void {
  const hadTable = (name: string) => db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== null;
  const hadLines = hadTable("lines");
  const hadStreams = hadTable("streams");
  const hadCounts = hadTable("counts");
  addTenants(db);
  // Columns first: CREATE TABLE IF NOT EXISTS leaves an older lines table as it is.
  if (hadLines) {
    const columns = db.query("SELECT name FROM pragma_table_info('lines')").values() as [string][];
    if (!columns.some(([name]) => name === "seq")) db.run("ALTER TABLE lines ADD COLUMN seq INTEGER NOT NULL DEFAULT 0");
    // Nullable without a default: no row is rewritten, and a line without metadata costs nothing.
    if (!columns.some(([name]) => name === "metadata")) db.run("ALTER TABLE lines ADD COLUMN metadata TEXT");
  }
  db.exec(SCHEMA);
  // A database from before the stream index: build it from the lines, once.
  if (!hadStreams) {
    db.run(
      `INSERT OR IGNORE INTO streams (container_id, day, first_ts, last_ts, source_id)
       SELECT container_id, ts / ${NS_PER_DAY}, min(ts), max(ts), source_id FROM lines GROUP BY container_id, ts / ${NS_PER_DAY}`,
    );
  }
  // A database from before the counts: count its lines once (their level was not kept: ""), in
  // right-closed minutes as minuteOf (counts.ts).
  if (hadLines && !hadCounts) {
    db.run(
      `INSERT OR IGNORE INTO counts (container_id, minute, stream, level, lines, bytes)
       SELECT container_id, (ts - 1) - ((ts - 1) % ${NS_PER_MINUTE}) - (CASE WHEN (ts - 1) % ${NS_PER_MINUTE} < 0 THEN ${NS_PER_MINUTE} ELSE 0 END) AS m,
              stream, '', count(*), sum(length(CAST(log AS BLOB)))
       FROM lines GROUP BY container_id, m, stream`,
    );
  }
}

/**
 * A database from before tenants: its containers table gains the tenant (empty: the one tenant
 * of a server without tenancy) in its columns and in its unique key. SQLite cannot change a
 * table's constraints, so the table is rebuilt; ids are kept, so the lines still point at theirs.
 */
function addTenants(db: Database): void {
  const table = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'containers'").get();
  if (table === null) return;
  const columns = db.query("SELECT name FROM pragma_table_info('containers')").values() as [string][];
  if (columns.some(([name]) => name === "tenant")) return;
  db.transaction(() => {
    db.run(`CREATE TABLE containers_with_tenants (
      id INTEGER PRIMARY KEY, tenant TEXT NOT NULL DEFAULT '', namespace TEXT NOT NULL, pod TEXT NOT NULL,
      container TEXT NOT NULL, UNIQUE (tenant, namespace, pod, container))`);
    db.run(
      "INSERT INTO containers_with_tenants (id, namespace, pod, container) SELECT id, namespace, pod, container FROM containers",
    );
    db.run("DROP TABLE containers");
    db.run("ALTER TABLE containers_with_tenants RENAME TO containers");
  })();
}

/** A batch as it travels to the writer thread: columns, so that passing it costs next to nothing. */
export interface PackedBatch {
  n: number;
  ts: BigInt64Array;
  ids: BigInt64Array;
  /** Order among lines of the same time (sequenceNumbers). */
  seqs: Float64Array;
  /** Every line's text, concatenated; line i ends at ends[i] (UTF-16 units). */
  logs: string;
  ends: Uint32Array;
  /** Per line, an index into streamTable. */
  streams: Uint32Array;
  streamTable: string[];
  /** Per line, an index into levelTable (the detected level; "" when none). */
  levels: Uint32Array;
  levelTable: string[];
  /** Per line, its structured metadata as JSON (null: none); absent when no line has any. */
  metadata?: (string | null)[];
  /** Runs of lines with the same container and source: run r starts at line runStarts[r]. */
  runStarts: Uint32Array;
  runs: {
    tenant: string;
    namespace: string;
    pod: string;
    container: string;
    podId: string;
    dockerId: string;
    host: string;
    labels: string;
  }[];
}

export type WriterRequest =
  | { type: "open"; path: string; sync: EmbeddedSync }
  | { type: "write"; id: number; batch: PackedBatch }
  /**
   * Deletes what is past retention: each container's lines older than its namespace's cutoff
   * (the policy's, at nowNs), then the stream index rows and containers left without lines.
   */
  | { type: "expire"; id: number; defaultSeconds: number; rules: RetentionRule[]; nowNs: bigint }
  | { type: "close"; id: number };

/** The id of the writer's reply to "open" (0 is a failure of the thread itself). */
export const OPENED = -1;

export interface WriterSettings {
  /** PRAGMA synchronous of the write connection: "full", "normal" (or the number SQLite gave). */
  synchronous: string;
  journal: string;
}

export interface WriterReply {
  id: number;
  settings?: WriterSettings;
  /** The batch (or request) failed as a whole and nothing of it is stored: a retry is safe. */
  error?: string;
  /** Lines a sweep deleted, and containers (with their stream index rows) it removed. */
  deleted?: number;
  removed?: number;
  /** Lines that met a line another batch had stored under the same key. */
  deduplicated?: number;
  /** Lines refused for good, by index in the batch; the others are stored. */
  rejected?: { index: number; detail: string }[];
}
