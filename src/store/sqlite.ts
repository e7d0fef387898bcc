// The embedded store: one bun:sqlite database file in --data-dir, the default so that the
// service runs anywhere with no setup.
//
// Layout: `containers` and `sources` hold the repeated metadata once; `lines` holds one row per
// log line keyed by (container_id, ts, id) where id is the line identity from lineIds(), so a
// resent batch is ignored row by row (INSERT OR IGNORE). Rows with equal ts come back in rowid
// order, which is the order in which they arrived.
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { log } from "../log.ts";
import { NS_PER_SECOND } from "../time.ts";
import {
  lineIds,
  StoreUnavailableError,
  type LogEntry,
  type LogRow,
  type LogStore,
  type Query,
  type StoreHealth,
} from "./store.ts";

export interface EmbeddedStoreOptions {
  /** Directory of the database file; ":memory:" keeps everything in memory (tests). */
  dataDir: string;
  /** Lines older than this many seconds are deleted periodically; 0 keeps them. */
  retentionSeconds?: number;
  /** Rows per page when a query streams its result. */
  pageSize?: number;
}

const SCHEMA = `
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

/** Metadata caches are bounded; past this many keys they start over. */
const CACHE_LIMIT = 50_000;

export class EmbeddedStore implements LogStore {
  readonly kind = "embedded";
  private readonly db: Database;
  private readonly insertLine: Statement;
  private readonly selectPage: Statement;
  private readonly selectContainer: Statement;
  private readonly insertContainer: Statement;
  private readonly insertSource: Statement;
  private readonly selectSource: Statement;
  private readonly containerIds = new Map<string, number>();
  private readonly sourceIds = new Map<string, number>();
  private readonly pageSize: number;
  private retentionTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(private readonly options: EmbeddedStoreOptions) {
    let path = ":memory:";
    if (options.dataDir !== ":memory:") {
      mkdirSync(options.dataDir, { recursive: true });
      path = join(options.dataDir, "logs.sqlite");
    }
    this.db = new Database(path, { create: true, strict: true });
    this.db.run("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode survives a crash of this process; only power loss can take the last
    // commits. FULL would fsync on every batch.
    this.db.run("PRAGMA synchronous = NORMAL");
    this.db.run("PRAGMA busy_timeout = 5000");
    this.db.run("PRAGMA temp_store = MEMORY");
    this.db.run("PRAGMA cache_size = -16000");
    this.db.exec(SCHEMA);
    this.pageSize = options.pageSize ?? 5000;
    this.insertLine = this.db.prepare(
      "INSERT OR IGNORE INTO lines (container_id, ts, id, stream, log, source_id) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.selectPage = this.db
      .prepare(
        `SELECT rowid, ts, stream, log FROM lines
         WHERE container_id = ?1 AND ts >= ?2 AND ts <= ?3 AND (ts > ?2 OR rowid > ?4)
         ORDER BY ts, rowid LIMIT ?5`,
      )
      .safeIntegers(true);
    this.selectContainer = this.db.prepare("SELECT id FROM containers WHERE namespace = ? AND pod = ? AND container = ?");
    this.insertContainer = this.db.prepare(
      "INSERT INTO containers (namespace, pod, container) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    );
    this.selectSource = this.db.prepare("SELECT id FROM sources WHERE pod_id = ? AND docker_id = ? AND host = ? AND labels = ?");
    this.insertSource = this.db.prepare(
      "INSERT INTO sources (pod_id, docker_id, host, labels) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    );
    const retention = options.retentionSeconds ?? 0;
    if (retention > 0) {
      const every = Math.min(3600, Math.max(60, retention / 10)) * 1000;
      this.retentionTimer = setInterval(() => this.deleteExpired(), every);
      this.retentionTimer.unref?.();
      this.deleteExpired();
    }
  }

  async write(entries: LogEntry[]): Promise<void> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    if (entries.length === 0) return;
    const ids = lineIds(entries);
    try {
      this.db.transaction(() => {
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]!;
          this.insertLine.run(this.containerId(e), e.timeNs, ids[i]!, e.stream, e.log, this.sourceId(e));
        }
      })();
    } catch (error) {
      // The write did not happen (the transaction rolled back): a retry is safe and the right
      // advice, whether the disk is full, read-only or the file is locked.
      this.containerIds.clear();
      this.sourceIds.clear();
      throw new StoreUnavailableError(`embedded store write failed: ${(error as Error).message}`, 5, {
        cause: error,
      });
    }
  }

  async *query(query: Query): AsyncIterable<LogRow[]> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    const row = this.selectContainer.get(query.namespace, query.pod, query.container) as { id: number } | null;
    if (row === null) return;
    let lastTs = query.startNs;
    let lastRowid = -1n;
    for (;;) {
      const page = this.selectPage.values(row.id, lastTs, query.endNs, lastRowid, this.pageSize) as [
        bigint,
        bigint,
        string,
        string,
      ][];
      if (page.length === 0) return;
      const rows = new Array<LogRow>(page.length);
      for (let i = 0; i < page.length; i++) {
        const r = page[i]!;
        rows[i] = { timeNs: r[1], stream: r[2], log: r[3] };
      }
      const last = page[page.length - 1]!;
      lastRowid = last[0];
      lastTs = last[1];
      yield rows;
      if (page.length < this.pageSize) return;
    }
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { healthy: false, detail: "embedded store is closed" };
    try {
      this.db.query("SELECT count(*) FROM containers").get();
      return { healthy: true, detail: "" };
    } catch (error) {
      return { healthy: false, detail: `embedded store: ${(error as Error).message}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    try {
      this.db.run("PRAGMA optimize");
    } finally {
      this.db.close();
    }
  }

  private containerId(e: LogEntry): number {
    const key = `${e.namespace}\u0000${e.pod}\u0000${e.container}`;
    let id = this.containerIds.get(key);
    if (id === undefined) {
      this.insertContainer.run(e.namespace, e.pod, e.container);
      id = (this.selectContainer.get(e.namespace, e.pod, e.container) as { id: number }).id;
      if (this.containerIds.size >= CACHE_LIMIT) this.containerIds.clear();
      this.containerIds.set(key, id);
    }
    return id;
  }

  private sourceId(e: LogEntry): number {
    const labels = JSON.stringify(e.labels);
    const key = `${e.podId}\u0000${e.dockerId}\u0000${e.host}\u0000${labels}`;
    let id = this.sourceIds.get(key);
    if (id === undefined) {
      this.insertSource.run(e.podId, e.dockerId, e.host, labels);
      id = (this.selectSource.get(e.podId, e.dockerId, e.host, labels) as { id: number }).id;
      if (this.sourceIds.size >= CACHE_LIMIT) this.sourceIds.clear();
      this.sourceIds.set(key, id);
    }
    return id;
  }

  /** Retention: delete per container through the (container_id, ts) index, in small steps. */
  private deleteExpired(): void {
    if (this.closed) return;
    const retention = this.options.retentionSeconds ?? 0;
    const cutoff = BigInt(Date.now()) * 1_000_000n - BigInt(retention) * NS_PER_SECOND;
    try {
      const ids = this.db.query("SELECT id FROM containers").values() as [number][];
      const del = this.db.query("DELETE FROM lines WHERE container_id = ? AND ts < ?");
      let deleted = 0;
      for (const [id] of ids) deleted += del.run(id, cutoff).changes;
      if (deleted > 0) log.info("retention: deleted expired lines", { deleted });
    } catch (error) {
      log.warn("retention: deleting expired lines failed", { error });
    }
  }
}
