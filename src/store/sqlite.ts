// The embedded store: one bun:sqlite database file in --data-dir, the default so that the
// service runs anywhere with no setup.
//
// Layout (sqlite-schema.ts): `containers` and `sources` hold the repeated metadata once; `lines`
// holds one row per log line keyed by (container_id, ts, id) where id is the line identity from
// lineIds(), so a resent batch is ignored row by row (INSERT OR IGNORE). Rows with equal ts come
// back in rowid order, which is the order in which they arrived.
//
// Writes go to a writer thread (sqlite-writer.ts) that owns the write connection; queries read
// through a connection of their own on this thread (WAL lets readers and the writer overlap).
import type { Database, Statement } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { log } from "../log.ts";
import { retentionCutoffNs } from "../time.ts";
import { databasePath, openDatabase, SCHEMA, type PackedBatch, type WriterReply, type WriterRequest } from "./sqlite-schema.ts";
import {
  lineIds,
  sameContainerAndSource,
  StoreUnavailableError,
  type LogEntry,
  type LogRow,
  type LogStore,
  type Query,
  type StoreHealth,
} from "./store.ts";

export { SCHEMA };

export interface EmbeddedStoreOptions {
  /** Directory of the database file; ":memory:" uses a temporary directory removed on close (tests). */
  dataDir: string;
  /** Lines older than this many seconds are deleted periodically; 0 keeps them. */
  retentionSeconds?: number;
  /** Rows per page when a query streams its result. */
  pageSize?: number;
}

interface Waiter {
  resolve: (reply: WriterReply) => void;
  reject: (error: Error) => void;
}

export class EmbeddedStore implements LogStore {
  readonly kind = "embedded";
  private readonly db: Database;
  private readonly selectPage: Statement;
  private readonly selectContainer: Statement;
  private readonly pageSize: number;
  private readonly dataDir: string;
  private readonly temporary: boolean;
  private readonly writer: Worker;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  /** Why the writer thread cannot be used, once it cannot. */
  private broken: string | undefined;
  /** Resolves once the writer has opened the database (and made the first retention sweep). */
  private readonly ready: Promise<void>;
  private retentionTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(private readonly options: EmbeddedStoreOptions) {
    this.temporary = options.dataDir === ":memory:";
    this.dataDir = this.temporary ? mkdtempSync(join(tmpdir(), "logserver-embedded-")) : options.dataDir;
    mkdirSync(this.dataDir, { recursive: true });
    const path = databasePath(this.dataDir);
    // Schema first, on this thread: the store is usable (or fails) before the constructor returns.
    this.db = openDatabase(path);
    this.db.exec(SCHEMA);
    this.pageSize = options.pageSize ?? 5000;
    this.selectPage = this.db
      .prepare(
        `SELECT rowid, ts, stream, log FROM lines
         WHERE container_id = ?1 AND ts >= ?2 AND ts <= ?3 AND (ts > ?2 OR rowid > ?4)
         ORDER BY ts, rowid LIMIT ?5`,
      )
      .safeIntegers(true);
    this.selectContainer = this.db.prepare("SELECT id FROM containers WHERE namespace = ? AND pod = ? AND container = ?");

    this.writer = new Worker(new URL("./sqlite-writer.ts", import.meta.url));
    this.writer.onmessage = (event: MessageEvent<WriterReply>) => this.settle(event.data);
    this.writer.onerror = (event) => this.fail(`embedded store writer crashed: ${event.message}`);
    // A writer that stops while the store is open would leave writes waiting forever.
    this.writer.addEventListener("close", () => {
      if (!this.closed) this.fail("embedded store writer thread stopped");
    });
    this.writer.postMessage({ type: "open", path } satisfies WriterRequest);
    const retention = options.retentionSeconds ?? 0;
    if (retention > 0) {
      const every = Math.min(3600, Math.max(60, retention / 10)) * 1000;
      this.retentionTimer = setInterval(() => void this.deleteExpired().catch(() => {}), every);
      this.retentionTimer.unref?.();
      this.ready = this.deleteExpired().then(() => undefined);
    } else {
      this.ready = Promise.resolve();
    }
    this.ready.catch(() => {});
  }

  async write(entries: LogEntry[]): Promise<void> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    if (this.broken) throw new StoreUnavailableError(this.broken);
    if (entries.length === 0) return;
    const reply = await this.request({ type: "write", id: 0, batch: pack(entries) });
    if (reply.error !== undefined) {
      // The transaction rolled back: a retry is safe and the right advice, whether the disk is
      // full, read-only or the file is locked.
      throw new StoreUnavailableError(`embedded store write failed: ${reply.error}`, 5);
    }
  }

  async *query(query: Query): AsyncIterable<LogRow[]> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    await this.ready;
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
    if (this.broken) return { healthy: false, detail: this.broken };
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
      // The writer answers in order: once "close" is answered, every write before it is done.
      if (!this.broken) await this.request({ type: "close", id: 0 });
    } finally {
      this.writer.terminate();
      this.db.close();
      if (this.temporary) rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  private request(message: WriterRequest & { id: number }): Promise<WriterReply> {
    if (this.broken) return Promise.reject(new StoreUnavailableError(this.broken));
    const id = this.nextId++;
    return new Promise<WriterReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.writer.postMessage({ ...message, id });
    });
  }

  private settle(reply: WriterReply): void {
    if (reply.id === 0) {
      this.fail(`embedded store: ${reply.error}`);
      return;
    }
    const w = this.waiting.get(reply.id);
    if (w === undefined) return;
    this.waiting.delete(reply.id);
    w.resolve(reply);
  }

  /** The writer is gone: every waiting and future write is refused as unavailable. */
  private fail(reason: string): void {
    if (this.broken) return;
    this.broken = reason;
    log.error("embedded store unusable", { reason });
    for (const w of this.waiting.values()) w.reject(new StoreUnavailableError(reason));
    this.waiting.clear();
  }

  /** Retention: the writer deletes per container through the (container_id, ts) index. */
  private async deleteExpired(): Promise<void> {
    const retention = this.options.retentionSeconds ?? 0;
    const beforeNs = retentionCutoffNs(retention);
    const reply = await this.request({ type: "expire", id: 0, beforeNs });
    if (reply.error) log.warn("retention: deleting expired lines failed", { error: reply.error });
    else if (reply.deleted) log.info("retention: deleted expired lines", { deleted: reply.deleted });
  }
}

const STREAMS = ["stdout", "stderr", ""];

/** Entries → columns for the writer thread (see PackedBatch). */
function pack(entries: LogEntry[]): PackedBatch {
  const n = entries.length;
  const ids = lineIds(entries);
  const ts = new BigInt64Array(n);
  const idColumn = new BigInt64Array(n);
  const ends = new Uint32Array(n);
  const streams = new Uint32Array(n);
  const streamTable = [...STREAMS];
  const runStarts: number[] = [];
  const runs: PackedBatch["runs"] = [];
  const logs: string[] = new Array(n);
  let offset = 0;
  let previous: LogEntry | undefined;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    ts[i] = e.timeNs;
    idColumn[i] = ids[i]!;
    logs[i] = e.log;
    offset += e.log.length;
    ends[i] = offset;
    let s = e.stream === "stdout" ? 0 : e.stream === "stderr" ? 1 : streamTable.indexOf(e.stream);
    if (s === -1) s = streamTable.push(e.stream) - 1;
    streams[i] = s;
    if (previous === undefined || !sameContainerAndSource(previous, e)) {
      runStarts.push(i);
      runs.push({
        namespace: e.namespace,
        pod: e.pod,
        container: e.container,
        podId: e.podId,
        dockerId: e.dockerId,
        host: e.host,
        labels: JSON.stringify(e.labels),
      });
    }
    previous = e;
  }
  return { n, ts, ids: idColumn, logs: logs.join(""), ends, streams, streamTable, runStarts: Uint32Array.from(runStarts), runs };
}
