// The embedded store's database: file, pragmas, schema and the statements both sides use, shared
// by the store (reads) and its writer thread (writes).
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { COMPACT_LEVEL, cutChunks, encodeChunk, windowOf, type ChunkLine, type ChunkSource } from "./chunk.ts";
import { compositeKey } from "./lines.ts";
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
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY,
  container_id INTEGER NOT NULL,
  win INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  lines INTEGER NOT NULL,
  text_bytes INTEGER NOT NULL,
  chunk_key INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_window ON chunks (container_id, win, first_ts);
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
 * A page of the chunks of a container (?1) in windows ?2 to ?3 that may hold lines of a range (?4
 * start, ?5 end): forward by window and first time; backward by window, newest first (the reader
 * orders a window's chunks by last time). At most ?6 rows (-1: all). The reader pages by window
 * (see chunksOf): a window is always listed by one statement.
 */
export function selectChunksSql(direction: "forward" | "backward"): string {
  const order = direction === "forward" ? "ASC" : "DESC";
  return `SELECT id, win, first_ts, last_ts FROM chunks
  WHERE container_id = ?1 AND win >= ?2 AND win <= ?3 AND last_ts >= ?4 AND first_ts <= ?5
  ORDER BY win ${order}, first_ts ${order}, id ${order} LIMIT ?6`;
}

export const SELECT_CHUNK_DATA = "SELECT data FROM chunks WHERE id = ?";

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
    // Compaction frees the pages of the chunks it merges: with incremental auto-vacuum the writer
    // gives them back to the file system (it takes effect on a new database only; an older one
    // reuses its free pages for new chunks).
    db.run("PRAGMA auto_vacuum = INCREMENTAL");
    db.run("PRAGMA journal_mode = WAL");
    db.run(`PRAGMA synchronous = ${options.sync === "normal" ? "NORMAL" : "FULL"}`);
  }
  db.run("PRAGMA busy_timeout = 5000");
  db.run("PRAGMA temp_store = MEMORY");
  db.run("PRAGMA cache_size = -16000");
  return db;
}

/**
 * Creates what is missing, and adds what older databases lack; moves the lines of a database from
 * before chunks into chunks (migrateLines), telling `progress` how many so far.
 */
export function migrate(db: Database, progress?: (lines: number) => void): void {
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
  if (hadLines && !hadStreams) {
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
  migrateLines(db, progress);
}

/** Lines converted per transaction: bounds the memory and the time a migration holds the writer. */
const MIGRATE_LINES = 50_000;

/**
 * A database from before chunks keeps its lines in a table of one row per line: they are moved
 * into chunks when the store opens, a container at a time, in transactions of at most
 * MIGRATE_LINES lines that write the chunks and delete the rows they hold (a crash leaves every
 * line either still a row or in a chunk; the next open goes on). The table is dropped once empty.
 * The counts and the stream index stay as they are (they do not depend on how lines are kept).
 * Returns the lines moved.
 */
export function migrateLines(db: Database, log?: (lines: number) => void): number {
  const has = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lines'").get() !== null;
  if (!has) return 0;
  const containers = db.query("SELECT DISTINCT container_id FROM lines").values() as [number][];
  const offsetTs = db.query("SELECT ts FROM lines WHERE container_id = ? ORDER BY ts LIMIT 1 OFFSET ?").safeIntegers(true);
  const select = (upTo: "<" | "<=" | "all") =>
    db
      .query(
        `SELECT l.ts, l.seq, l.id, l.stream, l.log, l.metadata, s.pod_id, s.docker_id, s.host, s.labels
         FROM lines l JOIN sources s ON s.id = l.source_id
         WHERE l.container_id = ?1${upTo === "all" ? "" : ` AND l.ts ${upTo} ?2`} ORDER BY l.ts, l.seq, l.id`,
      )
      .safeIntegers(true);
  const selectBefore = select("<");
  const selectUpTo = select("<=");
  const selectAll = select("all");
  const deleteBefore = db.query("DELETE FROM lines WHERE container_id = ?1 AND ts < ?2");
  const deleteUpTo = db.query("DELETE FROM lines WHERE container_id = ?1 AND ts <= ?2");
  const deleteAll = db.query("DELETE FROM lines WHERE container_id = ?1");
  const insert = db.query(
    "INSERT INTO chunks (container_id, win, first_ts, last_ts, lines, text_bytes, chunk_key, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  let moved = 0;
  const sources = new Map<string, ChunkSource>();
  for (const [cid] of containers) {
    for (;;) {
      const moveSlice = db.transaction(() => {
        // The slice: the lines before the time of the MIGRATE_LINES-th (all of them when fewer;
        // those at that time too when every line of the slice shares it).
        const bound = (offsetTs.get(cid, MIGRATE_LINES) as { ts: bigint } | null)?.ts;
        let rows = (bound === undefined ? selectAll.all(cid) : selectBefore.all(cid, bound)) as LegacyRow[];
        let remove = () => (bound === undefined ? deleteAll.run(cid) : deleteBefore.run(cid, bound));
        if (rows.length === 0 && bound !== undefined) {
          rows = selectUpTo.all(cid, bound) as LegacyRow[];
          remove = () => deleteUpTo.run(cid, bound);
        }
        if (rows.length === 0) return 0;
        const lines = rows.map((r): ChunkLine => {
          const key = compositeKey(r.pod_id, r.docker_id, r.host, r.labels);
          let source = sources.get(key);
          if (source === undefined) {
            source = { podId: r.pod_id, dockerId: r.docker_id, host: r.host, labels: r.labels };
            if (sources.size > 10_000) sources.clear();
            sources.set(key, source);
          }
          // Their level was not kept (as the counts migrated from them).
          return {
            timeNs: r.ts,
            seq: Number(r.seq),
            id: r.id,
            stream: r.stream,
            level: "",
            source,
            metadata: r.metadata,
            log: r.log,
          };
        });
        for (const part of cutChunks(lines)) {
          const c = encodeChunk(part, COMPACT_LEVEL);
          insert.run(cid, windowOf(c.firstNs), c.firstNs, c.lastNs, c.lines, c.textBytes, c.key, c.data);
        }
        remove();
        return rows.length;
      });
      const n = moveSlice();
      if (n === 0) break;
      moved += n;
      log?.(moved);
    }
  }
  db.run("DROP TABLE lines");
  return moved;
}

interface LegacyRow {
  ts: bigint;
  seq: bigint;
  id: bigint;
  stream: string;
  log: string;
  metadata: string | null;
  pod_id: string;
  docker_id: string;
  host: string;
  labels: string;
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
  /** compactAfterMs: a window is compacted once it had no write for that long; negative: never. */
  | { type: "open"; path: string; sync: EmbeddedSync; compactAfterMs: number }
  /** Compacts every window written since its last compaction, now. */
  | { type: "compact"; id: number }
  | { type: "write"; id: number; batch: PackedBatch }
  /**
   * Deletes what is past retention: each container's chunks whose lines are all older than its namespace's cutoff
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
