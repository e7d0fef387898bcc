// The embedded store's database: file, pragmas and schema, shared by the store (reads) and its
// writer thread (writes).
import { Database } from "bun:sqlite";
import { join } from "node:path";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS containers (
  id INTEGER PRIMARY KEY,
  namespace TEXT NOT NULL,
  pod TEXT NOT NULL,
  container TEXT NOT NULL,
  UNIQUE (namespace, pod, container)
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
  source_id INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS lines_by_time ON lines (container_id, ts, id);
`;

export function databasePath(dataDir: string): string {
  return join(dataDir, "logs.sqlite");
}

/** Opens the database with the store's pragmas; `readonly` for the query side. */
export function openDatabase(path: string, readonly = false): Database {
  const db = new Database(path, readonly ? { readonly: true, strict: true } : { create: true, strict: true });
  if (!readonly) {
    db.run("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode survives a crash of this process; only power loss can take the last
    // commits. FULL would fsync on every batch.
    db.run("PRAGMA synchronous = NORMAL");
  }
  db.run("PRAGMA busy_timeout = 5000");
  db.run("PRAGMA temp_store = MEMORY");
  db.run("PRAGMA cache_size = -16000");
  return db;
}

/** A batch as it travels to the writer thread: columns, so that passing it costs next to nothing. */
export interface PackedBatch {
  n: number;
  ts: BigInt64Array;
  ids: BigInt64Array;
  /** Every line's text, concatenated; line i ends at ends[i] (UTF-16 units). */
  logs: string;
  ends: Uint32Array;
  /** Per line, an index into streamTable. */
  streams: Uint32Array;
  streamTable: string[];
  /** Runs of lines with the same container and source: run r starts at line runStarts[r]. */
  runStarts: Uint32Array;
  runs: { namespace: string; pod: string; container: string; podId: string; dockerId: string; host: string; labels: string }[];
}

export type WriterRequest =
  | { type: "open"; path: string }
  | { type: "write"; id: number; batch: PackedBatch }
  | { type: "expire"; id: number; beforeNs: bigint }
  | { type: "close"; id: number };

export type WriterReply = { id: number; error?: string; deleted?: number };
