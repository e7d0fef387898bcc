// The embedded store: one bun:sqlite database file in --data-dir, the default so that the
// service runs anywhere with no setup.
//
// Layout (sqlite-schema.ts): `containers` and `sources` hold the repeated metadata once; `chunks`
// holds the lines, compressed, a chunk per container and 5-minute window per batch (chunk.ts),
// merged in the background into large ones. Each line is stored once: the writer leaves out the
// lines of a batch that a stored chunk holds (same container, time and line identity from
// lineIds()), so a resent batch adds nothing. Lines with equal ts come back in (seq, id) order,
// seq from sequenceNumbers(): the same order as every other store.
//
// Writes go to a writer thread (sqlite-writer.ts) that owns the write connection; queries read
// through a connection of their own on this thread (WAL lets readers and the writer overlap).
import type { Database, Statement } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { log } from "../log.ts";
import { nowNs } from "../time.ts";
import { decodeChunk, windowOf } from "./chunk.ts";
import { ChunkGone, readChunks, type ChunkRef } from "./chunk-merge.ts";
import { lineIds, parseStringMap, sameContainerAndSource, sequenceNumbers } from "./lines.ts";
import { listingStartNs, remainingRange, streamsWithinRetention, withinRetention } from "./reading.ts";
import { RetentionPolicy, type RetentionRule } from "./retention.ts";
import {
  databasePath,
  migrate,
  NS_PER_DAY,
  OPENED,
  openDatabase,
  SELECT_CHUNK_DATA,
  SELECT_CONTAINER,
  SELECT_STREAMS,
  selectChunksSql,
  selectCountsSql,
  type EmbeddedSync,
  type PackedBatch,
  type WriterReply,
  type WriterRequest,
  type WriterSettings,
} from "./sqlite-schema.ts";
import {
  DEFAULT_PAGE_BYTES,
  StoreBusyError,
  StoreUnavailableError,
  type Direction,
  type LogEntry,
  type LogStore,
  type MinuteCount,
  type OrderedRow,
  type StoreHealth,
  type StoreObserver,
  type StreamInfo,
  type StreamRead,
  type StreamRef,
  type WriteResult,
} from "./store.ts";

export interface EmbeddedStoreOptions {
  /** Directory of the database file; ":memory:" uses a temporary directory removed on close (tests). */
  dataDir: string;
  /** Lines older than this many seconds are deleted periodically; 0 keeps them. */
  retentionSeconds?: number;
  /** Per-namespace overrides of retentionSeconds. */
  retentionRules?: readonly RetentionRule[];
  /** The retention of every namespace; when given, retentionSeconds and retentionRules are not read. */
  retention?: RetentionPolicy;
  /** A query's page holds about this many bytes of text. */
  pageBytes?: number;
  /** Lines that may wait for the writer; beyond it writes are refused as busy. */
  writeBufferSize?: number;
  /** Durability of a commit (see openDatabase); default full. */
  sync?: EmbeddedSync;
  /**
   * A window's small chunks are merged once it had no write for this long (ms; default 1000);
   * negative: never (tests that look at chunks as written).
   */
  compactAfterMs?: number;
  observer?: StoreObserver;
}

/** Count rows per page of counts(). */
const COUNT_PAGE_ROWS = 10_000;

interface Waiter {
  resolve: (reply: WriterReply) => void;
  reject: (error: Error) => void;
}

export class EmbeddedStore implements LogStore {
  readonly kind = "embedded";
  readonly countsDeduplicated = true;
  private readonly db: Database;
  private readonly selectChunks: Record<Direction, Statement>;
  private readonly selectChunkData: Statement;
  private readonly selectStreams: Statement;
  private readonly selectContainer: Statement;
  private readonly selectCounts: [Statement, Statement];
  private readonly healthCheck: Statement;
  private readonly pageBytes: number;
  private readonly writeBufferSize: number;
  private readonly dataDir: string;
  private readonly temporary: boolean;
  private readonly writer: Worker;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  /** Lines handed to the writer and not yet answered. */
  private queued = 0;
  /** Why the writer thread cannot be used, once it cannot. */
  private broken: string | undefined;
  /** The retention of each namespace: what sweeps delete, where reads start. */
  private readonly retention: RetentionPolicy;
  /** The sweep under way, if one is. */
  private sweeping: Promise<number> | undefined;
  private retentionTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private readonly settings = Promise.withResolvers<WriterSettings>();

  constructor(private readonly options: EmbeddedStoreOptions) {
    this.temporary = options.dataDir === ":memory:";
    this.dataDir = this.temporary ? mkdtempSync(join(tmpdir(), "logserver-embedded-")) : options.dataDir;
    mkdirSync(this.dataDir, { recursive: true });
    const path = databasePath(this.dataDir);
    // Schema first, on this thread: the store is usable (or fails) before the constructor returns.
    this.db = openDatabase(path, { sync: options.sync });
    // A database from before chunks has its lines moved into chunks first (once).
    let moved = 0;
    migrate(this.db, (lines) => {
      if (moved === 0 || lines - moved >= 1_000_000) log.info("embedded store: moving lines into chunks", { lines });
      moved = lines;
    });
    if (moved > 0) log.info("embedded store: every line is in chunks now", { lines: moved });
    this.pageBytes = options.pageBytes ?? DEFAULT_PAGE_BYTES;
    this.writeBufferSize = options.writeBufferSize ?? 100_000;
    this.selectStreams = this.db.prepare(SELECT_STREAMS).safeIntegers(true);
    this.selectContainer = this.db.prepare(SELECT_CONTAINER);
    this.selectChunks = {
      forward: this.db.prepare(selectChunksSql("forward")).safeIntegers(true),
      backward: this.db.prepare(selectChunksSql("backward")).safeIntegers(true),
    };
    this.selectChunkData = this.db.prepare(SELECT_CHUNK_DATA);
    this.selectCounts = [
      this.db.prepare(selectCountsSql(true)).safeIntegers(true),
      this.db.prepare(selectCountsSql(false)).safeIntegers(true),
    ];
    this.healthCheck = this.db.prepare("SELECT count(*) FROM containers");

    this.writer = new Worker(new URL("./sqlite-writer.ts", import.meta.url));
    this.writer.onmessage = (event: MessageEvent<WriterReply>) => this.settle(event.data);
    this.writer.onerror = (event) => this.fail(`embedded store writer crashed: ${event.message}`);
    // A writer that stops while the store is open would leave writes waiting forever.
    this.writer.addEventListener("close", () => {
      if (!this.closed) this.fail("embedded store writer thread stopped");
    });
    this.settings.promise.catch(() => {}); // a writer that never opens fails writes and health instead
    this.writer.postMessage({
      type: "open",
      path,
      sync: options.sync ?? "full",
      compactAfterMs: options.compactAfterMs ?? 1000,
    } satisfies WriterRequest);
    this.retention = options.retention ?? new RetentionPolicy(options.retentionSeconds ?? 0, options.retentionRules ?? []);
    // Reads never wait for a sweep: they start at each namespace's cutoff whatever is still stored.
    // Sweeps come a tenth of the shortest retention apart (a minute to an hour).
    const shortest = this.retention.distinctSeconds()[0];
    if (shortest !== undefined) {
      const every = Math.min(3600, Math.max(60, shortest / 10)) * 1000;
      this.retentionTimer = setInterval(() => void this.sweep(), every);
      this.retentionTimer.unref?.();
      void this.sweep();
    }
  }

  async write(entries: LogEntry[]): Promise<WriteResult> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    if (this.broken) throw new StoreUnavailableError(this.broken);
    if (entries.length === 0) return { deduplicated: 0, rejected: [] };
    // Bounded queue: refuse rather than pile up (a batch larger than the whole buffer still
    // goes through alone, or it could never be stored).
    if (this.queued > 0 && this.queued + entries.length > this.writeBufferSize) {
      throw new StoreBusyError(
        `write queue full (${this.queued} lines waiting, --embedded-write-buffer-size ${this.writeBufferSize})`,
      );
    }
    this.queued += entries.length;
    let reply: WriterReply;
    try {
      reply = await this.request({ type: "write", id: 0, batch: pack(entries) });
    } finally {
      this.queued -= entries.length;
    }
    if (reply.error !== undefined) {
      // The transaction rolled back: a retry is safe and the right advice, whether the disk is
      // full, read-only or the file is locked.
      throw new StoreUnavailableError(`embedded store write failed: ${reply.error}`, 5);
    }
    return { deduplicated: reply.deduplicated ?? 0, rejected: reply.rejected ?? [] };
  }

  async streams(tenant: string, from: bigint, endNs: bigint): Promise<StreamInfo[]> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    const now = nowNs();
    // Nothing past retention is listed, whether or not a sweep has deleted it yet.
    const startNs = listingStartNs(this.retention, tenant, from, now);
    if (endNs < startNs) return [];
    const rows = this.selectStreams.values(startNs / NS_PER_DAY, endNs / NS_PER_DAY, startNs, endNs, tenant) as [
      string,
      string,
      string,
      bigint,
      bigint,
      string,
      string,
    ][];
    const streams = rows.map(([namespace, pod, container, firstNs, lastNs, labels, host]) => ({
      tenant,
      namespace,
      pod,
      container,
      firstNs,
      lastNs,
      labels: parseStringMap(labels),
      host,
    }));
    return streamsWithinRetention(streams, this.retention, now, endNs);
  }

  async *read(stream: StreamRef, asked: StreamRead): AsyncIterable<OrderedRow[]> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    // Nothing past the namespace's retention is read, whether or not a sweep has deleted it yet.
    const range = withinRetention(asked, this.retention.cutoffNs(stream.tenant, stream.namespace, nowNs()));
    const { startNs, endNs } = remainingRange(range);
    if (endNs < startNs) return;
    const row = this.selectContainer.get(stream.tenant, stream.namespace, stream.pod, stream.container) as { id: number } | null;
    if (row === null) return;
    const list = (current: StreamRead) => {
      const left = remainingRange(current);
      return this.chunksOf(row.id, left.startNs, left.endNs, current.direction);
    };
    yield* readChunks(list, range, this.pageBytes, "embedded store");
  }

  /**
   * A container's chunks that may hold lines of [startNs, endNs], in the order mergeChunks takes:
   * forward by first time; backward by last time, newest first (a window's chunks are listed
   * whole, then sorted: a window holds few once compacted). Listed lazily, window by window.
   */
  private *chunksOf(cid: number, startNs: bigint, endNs: bigint, direction: Direction): Generator<ChunkRef> {
    const ref = (r: ListedChunk): ChunkRef => ({
      firstNs: r.first_ts,
      lastNs: r.last_ts,
      load: () => {
        const found = this.selectChunkData.get(r.id) as { data: Uint8Array } | null;
        // Gone since it was listed: compaction merged it (into chunks it wrote in the same
        // transaction, which a new listing finds), or a sweep deleted it.
        if (found === null) throw new ChunkGone(`chunk ${r.id} is gone`);
        return decodeChunk(found.data);
      },
    });
    // In pages of whole windows, each page one statement read whole. Whole windows: compaction
    // merges the chunks of one window into chunks that sort where the first of them did, then
    // deletes them (one transaction); a page that ended inside a window could list some of its
    // chunks, and the next page, after compaction, neither the rest (deleted) nor the merged
    // chunks (sorted before the page's end): their lines would be missed without a word. A window
    // listed in one statement is listed before or after a compaction, whole: either the merged
    // chunks, or every input (those gone when loaded restart the read: ChunkGone). Each page is
    // read whole, too: the statement is shared by every read of this connection, and a lazy
    // cursor would be invalidated by the next read's use of it.
    const forward = direction === "forward";
    const select = this.selectChunks[direction];
    // The windows still to list: [from, to], taken from the front (forward) or the back.
    let from = windowOf(startNs);
    let to = windowOf(endNs);
    for (;;) {
      let page = select.all(cid, from, to, startNs, endNs, LISTING_PAGE) as ListedChunk[];
      const more = page.length === LISTING_PAGE;
      let last: bigint | undefined;
      if (more) {
        last = page.at(-1)!.win;
        if (page[0]!.win === last) {
          // One window fills the page: that window, whole.
          page = select.all(cid, last, last, startNs, endNs, -1) as ListedChunk[];
        } else {
          // The last window may go on past the page: the next page starts with it.
          while (page.at(-1)!.win === last) page.pop();
        }
      }
      for (let a = 0; a < page.length;) {
        let z = a + 1;
        while (z < page.length && page[z]!.win === page[a]!.win) z++;
        const window = page.slice(a, z);
        // Backward: by last time, newest first (a window holds few chunks once compacted).
        if (!forward) window.sort((x, y) => (x.last_ts > y.last_ts ? -1 : x.last_ts < y.last_ts ? 1 : 0));
        yield* window.map(ref);
        a = z;
      }
      if (last === undefined) break;
      // Past the windows listed (a window listed whole is done; one cut off is listed again).
      const next = page.at(-1)!.win;
      if (forward) from = next === last ? last + 1n : last;
      else to = next === last ? last - 1n : last;
    }
  }

  /** Merges the small chunks of every window written since its last compaction, now (tests, bench). */
  async compactNow(): Promise<void> {
    const reply = await this.request({ type: "compact", id: 0 });
    if (reply.error) throw new Error(`embedded store: compaction failed: ${reply.error}`);
  }

  async *counts(stream: StreamRef, startNs: bigint, endNs: bigint): AsyncIterable<MinuteCount[]> {
    if (this.closed) throw new StoreUnavailableError("embedded store is closed");
    // Minutes that start before the namespace's cutoff are left out, as reads leave out its lines.
    const cutoff = this.retention.cutoffNs(stream.tenant, stream.namespace, nowNs());
    const from = cutoff > startNs ? cutoff : startNs;
    if (endNs < from) return;
    const row = this.selectContainer.get(stream.tenant, stream.namespace, stream.pod, stream.container) as { id: number } | null;
    if (row === null) return;
    // The cursor: the last key returned (none at first: from the range's start on).
    let minute = from;
    let streamName = "";
    let level = "";
    for (let page = 0; ; page++) {
      const rows: MinuteCount[] = [];
      for (const r of this.selectCounts[page === 0 ? 0 : 1]!.iterate(
        row.id,
        minute,
        streamName,
        level,
        endNs,
        COUNT_PAGE_ROWS,
      ) as IterableIterator<{
        minute: bigint;
        stream: string;
        level: string;
        lines: bigint;
        bytes: bigint;
      }>) {
        rows.push({ minuteNs: r.minute, stream: r.stream, level: r.level, lines: Number(r.lines), bytes: Number(r.bytes) });
      }
      if (rows.length === 0) return;
      ({ minuteNs: minute, stream: streamName, level } = rows.at(-1)!);
      yield rows;
      if (rows.length < COUNT_PAGE_ROWS) return;
    }
  }

  /** The write connection's durability settings, once the writer has opened the database. */
  writerSettings(): Promise<WriterSettings> {
    return this.settings.promise;
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { healthy: false, detail: "embedded store is closed" };
    if (this.broken) return { healthy: false, detail: this.broken };
    try {
      this.healthCheck.get();
      return { healthy: true, detail: "" };
    } catch (error) {
      this.options.observer?.error("health", error);
      return { healthy: false, detail: `embedded store: ${(error as Error).message}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    try {
      // The writer answers in order: once "close" is answered, every write before it is done,
      // and the writer has checkpointed the log into the data file.
      if (!this.broken) {
        const reply = await this.request({ type: "close", id: 0 });
        if (reply.error) throw new Error(`embedded store: closing the writer failed: ${reply.error}`);
      }
    } finally {
      this.writer.terminate();
      // Statements left open keep the database from closing cleanly.
      this.selectChunks.forward.finalize();
      this.selectChunks.backward.finalize();
      this.selectChunkData.finalize();
      this.selectStreams.finalize();
      this.selectContainer.finalize();
      for (const statement of this.selectCounts) statement.finalize();
      this.healthCheck.finalize();
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
    if (reply.id === OPENED) {
      this.settings.resolve(reply.settings!);
      return;
    }
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
    this.settings.reject(new StoreUnavailableError(reason));
  }

  /**
   * Retention: the writer deletes, per container, the lines older than its namespace's cutoff
   * through the (container_id, ts) index, and the stream index rows and containers left without
   * lines, in slices that let writes in between (see sqlite-writer.ts). Runs periodically; called
   * while a sweep is under way, it answers with that one. Resolves with the lines deleted. A sweep
   * that fails is logged and counted (resolving with 0), and the next one tries again; it never
   * stops queries.
   */
  sweep(): Promise<number> {
    if (this.sweeping) return this.sweeping;
    if (this.closed || !this.retention.expires) return Promise.resolve(0);
    const run = (async () => {
      try {
        const reply = await this.request({
          type: "expire",
          id: 0,
          defaultSeconds: this.retention.defaultSeconds,
          rules: [...this.retention.rules],
          nowNs: nowNs(),
        });
        if (reply.error) throw new Error(reply.error);
        if (reply.deleted || reply.removed) {
          log.info("retention: deleted expired lines", { deleted: reply.deleted, containersRemoved: reply.removed });
        }
        return reply.deleted ?? 0;
      } catch (error) {
        log.error("retention: deleting expired lines failed", { error });
        this.options.observer?.error("retention", error);
        return 0;
      } finally {
        this.sweeping = undefined;
      }
    })();
    this.sweeping = run;
    return run;
  }
}

/** Chunks listed per statement (see chunksOf). */
const LISTING_PAGE = 256;

interface ListedChunk {
  id: bigint;
  win: bigint;
  first_ts: bigint;
  last_ts: bigint;
}

const STREAMS = ["stdout", "stderr", ""];

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** Entries → columns for the writer thread (see PackedBatch). */
function pack(entries: LogEntry[]): PackedBatch {
  const n = entries.length;
  const ids = lineIds(entries);
  const seqs = Float64Array.from(sequenceNumbers(entries));
  const ts = new BigInt64Array(n);
  const idColumn = new BigInt64Array(n);
  const ends = new Uint32Array(n);
  const streams = new Uint32Array(n);
  const streamTable = [...STREAMS];
  const levels = new Uint32Array(n);
  const levelTable = [""];
  let metadata: (string | null)[] | undefined;
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
    const level = e.level;
    if (level !== undefined && level !== "") {
      let l = levelTable.indexOf(level);
      if (l === -1) l = levelTable.push(level) - 1;
      levels[i] = l;
    }
    if (e.metadata !== undefined && hasKeys(e.metadata)) {
      metadata ??= new Array<string | null>(n).fill(null);
      metadata[i] = JSON.stringify(e.metadata);
    }
    if (previous === undefined || !sameContainerAndSource(previous, e)) {
      runStarts.push(i);
      runs.push({
        tenant: e.tenant,
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
  return {
    n,
    ts,
    ids: idColumn,
    seqs,
    logs: logs.join(""),
    ends,
    streams,
    streamTable,
    levels,
    levelTable,
    metadata,
    runStarts: Uint32Array.from(runStarts),
    runs,
  };
}
