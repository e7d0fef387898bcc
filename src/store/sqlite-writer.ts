// The embedded store's writer thread. It owns the only write connection: batches that arrive
// while one is being written are committed together (group commit), and parsing on the main
// thread overlaps with writing here, so ingest uses two cores instead of one.
//
// Lines are kept in chunks (chunk.ts): a batch becomes one chunk per container and window, less
// the lines a chunk of the window already holds (a resend: looked up only where a stored chunk
// overlaps the batch in time), so the store holds every line once and counts it once. In the
// background (when a window has had no write for a moment, or holds many small chunks) the
// small chunks of a window are merged into large ones in one transaction (compaction).
//
// A group that fails is retried batch by batch, so that one batch's trouble never costs the
// others; a batch that fails on its own for good (a chunk SQLite refuses) is written chunk by
// chunk, and only the lines of chunks refused are reported. Failures that may pass (disk full,
// I/O, locks) fail the batch as a whole: it is rolled back and the client retries it.
import type { Database, SQLiteError, Statement } from "bun:sqlite";
import {
  compareLines,
  COMPACT_LEVEL,
  cutChunks,
  decodeChunk,
  encodeChunk,
  idOf,
  linesOf,
  lowerBound,
  MAX_CHUNK_LINES,
  MAX_CHUNK_TEXT_BYTES,
  mergeLines,
  windowOf,
  type ChunkLine,
  type ChunkSource,
  type DecodedChunk,
} from "./chunk.ts";
import { MinuteTally, utf8Length } from "./counts.ts";
import { compositeKey } from "./lines.ts";
import { RetentionPolicy, type RetentionRule } from "./retention.ts";
import {
  migrate,
  NS_PER_DAY,
  OPENED,
  openDatabase,
  SELECT_CONTAINER,
  UPSERT_COUNT,
  UPSERT_STREAM,
  type PackedBatch,
  type WriterReply,
  type WriterRequest,
} from "./sqlite-schema.ts";

declare const self: Worker;

const CACHE_LIMIT = 50_000;

let db: Database | undefined;
let statements: Statement[] = [];
let insertChunk: Statement;
let selectOverlapping: Statement;
let selectChunkData: Statement;
let selectContainer: Statement;
let insertContainer: Statement;
let selectSource: Statement;
let insertSource: Statement;
let selectContainerList: Statement;
let selectFirstKept: Statement;
let deleteChunksBefore: Statement;
let upsertStream: Statement;
let upsertCount: Statement;
let deleteCountsBefore: Statement;
let deleteCounts: Statement;
let deleteStreamsBefore: Statement;
let trimStreamsAt: Statement;
let deleteEmptyContainer: Statement;
let selectSmallChunks: Statement;
let deleteChunk: Statement;
let selectCompactable: Statement;
const containerIds = new Map<string, number>();
const sourceIds = new Map<string, number>();
let pending: { id: number; batch: PackedBatch }[] = [];
let scheduled = false;

function reply(message: WriterReply): void {
  self.postMessage(message);
}

function open(path: string, sync: "full" | "normal", compactAfterMs: number): void {
  db = openDatabase(path, { sync });
  migrate(db);
  compactAfter = compactAfterMs;
  const prepare = (sql: string) => {
    const s = db!.prepare(sql);
    statements.push(s);
    return s;
  };
  insertChunk = prepare(
    "INSERT INTO chunks (container_id, win, first_ts, last_ts, lines, text_bytes, chunk_key, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  // The chunks of a window that overlap a time range: what a batch's lines may repeat.
  selectOverlapping = prepare("SELECT id FROM chunks WHERE container_id = ?1 AND win = ?2 AND first_ts <= ?4 AND last_ts >= ?3");
  selectChunkData = prepare("SELECT data FROM chunks WHERE id = ?");
  selectContainer = prepare(SELECT_CONTAINER);
  insertContainer = prepare(
    "INSERT INTO containers (tenant, namespace, pod, container) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
  );
  selectSource = prepare("SELECT id FROM sources WHERE pod_id = ? AND docker_id = ? AND host = ? AND labels = ?");
  insertSource = prepare("INSERT INTO sources (pod_id, docker_id, host, labels) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
  upsertStream = prepare(UPSERT_STREAM);
  upsertCount = prepare(UPSERT_COUNT);
  // A minute goes once it starts before the cutoff (reads leave it out from then on).
  deleteCountsBefore = prepare("DELETE FROM counts WHERE container_id = ?1 AND minute < ?2");
  deleteCounts = prepare("DELETE FROM counts WHERE container_id = ?1");
  selectContainerList = prepare("SELECT id, tenant, namespace, pod, container FROM containers");
  // The earliest line a container may hold: every line's time is within its day's stream row.
  selectFirstKept = prepare("SELECT min(first_ts) AS first FROM streams WHERE container_id = ?").safeIntegers(true);
  // At most ?4 chunks at a time whose every line is past the cutoff (?3), through the index: their
  // window starts before the cutoff's (?2).
  deleteChunksBefore = prepare(
    `DELETE FROM chunks WHERE id IN (SELECT id FROM chunks WHERE container_id = ?1 AND win <= ?2 AND last_ts < ?3 LIMIT ?4)
     RETURNING lines`,
  );
  deleteStreamsBefore = prepare("DELETE FROM streams WHERE container_id = ?1 AND last_ts < ?2");
  trimStreamsAt = prepare("UPDATE streams SET first_ts = ?2 WHERE container_id = ?1 AND first_ts < ?2");
  deleteEmptyContainer = prepare(
    `DELETE FROM containers WHERE id = ?1
       AND NOT EXISTS (SELECT 1 FROM streams WHERE container_id = ?1)
       AND NOT EXISTS (SELECT 1 FROM chunks WHERE container_id = ?1)`,
  );
  selectSmallChunks = prepare(
    `SELECT id, text_bytes FROM chunks WHERE container_id = ?1 AND win = ?2 AND lines < ?3 AND text_bytes < ?4
     ORDER BY first_ts`,
  );
  deleteChunk = prepare("DELETE FROM chunks WHERE id = ?");
  // Windows left with several small chunks (by a crash, or a close that came too soon).
  selectCompactable = prepare(
    `SELECT container_id, win FROM chunks WHERE lines < ?1 AND text_bytes < ?2 GROUP BY container_id, win HAVING count(*) > 1`,
  ).safeIntegers(true);
  for (const [cid, win] of selectCompactable.values(SMALL_LINES, SMALL_TEXT_BYTES) as [bigint, bigint][]) {
    markWindow(Number(cid), win, COMPACT_NOW, 0);
  }
}

/** The database's free pages (those compaction freed, not yet reused or given back). */
function freePages(): number {
  return (db!.query("PRAGMA freelist_count").get() as { freelist_count: number }).freelist_count;
}

/** Free pages given back at close, at most: 64 MiB of 4 KiB pages. */
const CLOSE_RELEASE_PAGES = 16_384;

/** Finalizes every statement, then checkpoints and closes: the data file alone holds every line. */
function close(): void {
  if (!db) return;
  try {
    for (const s of statements) s.finalize();
    statements = [];
    // The pages the last compactions freed (most of a window's small chunks) would be reused by
    // the next writes; a store at rest gives them back, at most CLOSE_RELEASE_PAGES of them so
    // that a shutdown stays short (incremental auto-vacuum only: a no-op on older databases).
    const free = freePages();
    if (free > 0) db.run(`PRAGMA incremental_vacuum(${Math.min(free, CLOSE_RELEASE_PAGES)})`);
    db.run("PRAGMA optimize");
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
    db = undefined;
  }
}

/** The id of a metadata row, from the cache or else inserted (if new) and selected. */
function cachedId(cache: Map<string, number>, insert: Statement, select: Statement, values: string[]): number {
  const key = compositeKey(...values);
  let id = cache.get(key);
  if (id === undefined) {
    insert.run(...values);
    id = (select.get(...values) as { id: number }).id;
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, id);
  }
  return id;
}

interface Outcome {
  deduplicated: number;
  rejected: { index: number; detail: string }[];
}

/** SQLite result codes of a row that can never be stored (the extended code's low byte). */
const PERMANENT_CODES = new Set([18 /* TOOBIG */, 19 /* CONSTRAINT */, 20 /* MISMATCH */, 25 /* RANGE */]);

function isPermanent(error: unknown): boolean {
  const errno = (error as SQLiteError)?.errno;
  return typeof errno === "number" && PERMANENT_CODES.has(errno & 0xff);
}

/** A line of a batch on its way into a chunk, with its index in the batch. */
interface BatchLine extends ChunkLine {
  index: number;
}

/**
 * Writes a batch as chunks (one per container and window, cut at MAX_CHUNK_TEXT_BYTES), less the
 * lines stored chunks hold already, and adds the lines it really stored to the per-minute counts,
 * in the same transaction. `oneByOne`: a chunk SQLite refuses for good is reported (its lines)
 * instead of failing the batch (a failed statement undoes only itself).
 */
function insert(b: PackedBatch, oneByOne: boolean): Outcome {
  const outcome: Outcome = { deduplicated: 0, rejected: [] };
  const tally = new MinuteTally();
  // Text of one byte per character (ASCII, the usual log) is as long in UTF-8 as in UTF-16.
  const oneByte = Buffer.byteLength(b.logs, "utf8") === b.logs.length;
  const levels = b.levelTable.length;
  const count = (group: string, row: number, bytes: number) => {
    const s = b.streams[row]!;
    const l = b.levels[row]!;
    tally.add(group, b.ts[row]!, s * levels + l, b.streamTable[s]!, b.levelTable[l]!, bytes);
  };
  const now = performance.now();
  // The lines of each container, whatever runs they came in: lines of several pods interleaved
  // in a batch (one file after another, or several tailed at once) make one chunk per container
  // and window, not one per run.
  const byContainer = new Map<number, { lines: BatchLine[]; sorted: boolean }>();
  for (let r = 0; r < b.runs.length; r++) {
    const run = b.runs[r]!;
    const first = b.runStarts[r]!;
    const end = r + 1 < b.runs.length ? b.runStarts[r + 1]! : b.n;
    const cid = cachedId(containerIds, insertContainer, selectContainer, [run.tenant, run.namespace, run.pod, run.container]);
    const sid = cachedId(sourceIds, insertSource, selectSource, [run.podId, run.dockerId, run.host, run.labels]);
    indexStream(b, cid, sid, first, end);
    const source: ChunkSource = { podId: run.podId, dockerId: run.dockerId, host: run.host, labels: run.labels };
    let container = byContainer.get(cid);
    if (container === undefined) byContainer.set(cid, (container = { lines: [], sorted: true }));
    const lines = container.lines;
    let start = first === 0 ? 0 : b.ends[first - 1]!;
    for (let i = first; i < end; i++) {
      const stop = b.ends[i]!;
      const l: BatchLine = {
        timeNs: b.ts[i]!,
        seq: b.seqs[i]!,
        id: b.ids[i]!,
        stream: b.streamTable[b.streams[i]!]!,
        level: b.levelTable[b.levels[i]!]!,
        source,
        metadata: b.metadata?.[i] ?? null,
        log: b.logs.substring(start, stop),
        index: i,
      };
      start = stop;
      if (container.sorted && lines.length > 0 && compareLines(lines.at(-1)!, l) > 0) container.sorted = false;
      lines.push(l);
    }
  }
  for (const [cid, { lines, sorted }] of byContainer) {
    const group = String(cid);
    if (!sorted) lines.sort(compareLines);
    // One window at a time (sorted lines: each window's lines follow one another).
    for (let a = 0; a < lines.length;) {
      const win = windowOf(lines[a]!.timeNs);
      let z = a + 1;
      while (z < lines.length && windowOf(lines[z]!.timeNs) === win) z++;
      const fresh = withoutStored(cid, win, lines.slice(a, z), outcome);
      a = z;
      if (fresh.length === 0) continue;
      let written = 0;
      for (const part of cutChunks(fresh) as BatchLine[][]) {
        const c = encodeChunk(part);
        try {
          insertChunk.run(cid, win, c.firstNs, c.lastNs, c.lines, c.textBytes, c.key, c.data);
        } catch (error) {
          if (!oneByOne || !isPermanent(error)) throw error;
          const detail = `the embedded store refused the line: ${(error as Error).message}`;
          for (const l of part) outcome.rejected.push({ index: l.index, detail });
          continue;
        }
        for (const l of part) count(group, l.index, oneByte ? l.log.length : utf8Length(l.log));
        written += c.textBytes;
      }
      markWindow(cid, win, now, written);
    }
  }
  outcome.rejected.sort((x, y) => x.index - y.index);
  for (const row of tally.rows) upsertCount.run(Number(row.group), row.minuteNs, row.stream, row.level, row.lines, row.bytes);
  return outcome;
}

/**
 * The lines (sorted, of one window) that no stored chunk of the window holds. Stored chunks are
 * looked at only where one overlaps the lines in time (a batch sent in time order overlaps the one
 * before it at most at the one time they share). A line met stored with another order number came
 * in a batch cut differently: counted as deduplicated (a byte-identical resend is not).
 */
function withoutStored(cid: number, win: bigint, lines: BatchLine[], outcome: Outcome): BatchLine[] {
  const from = lines[0]!.timeNs;
  const to = lines.at(-1)!.timeNs;
  const overlapping = selectOverlapping.values(cid, win, from, to) as [number][];
  if (overlapping.length === 0) return lines;
  const stored = overlapping.map(([id]) => storedChunk(id));
  return lines.filter((l) => {
    for (const c of stored) {
      const seq = seqOf(c, l.timeNs, l.id);
      if (seq === undefined) continue;
      if (seq !== l.seq) outcome.deduplicated++;
      return false;
    }
    return true;
  });
}

/**
 * Stored chunks decoded for the look-up of resent lines, by row id: a client that resends (or a
 * batch cut at the same time as the one before) meets the same chunk again. A few are kept;
 * compaction and sweeps, which change rows, clear them.
 */
const decoded = new Map<number, DecodedChunk>();
const DECODED_CHUNKS = 8;

function storedChunk(id: number): DecodedChunk {
  let c = decoded.get(id);
  if (c === undefined) {
    c = decodeChunk((selectChunkData.get(id) as { data: Uint8Array }).data);
    if (decoded.size >= DECODED_CHUNKS) decoded.delete(decoded.keys().next().value!);
    decoded.set(id, c);
  }
  return c;
}

/** The seq of the line (time, id) in a chunk, or undefined when the chunk does not hold it. */
function seqOf(c: DecodedChunk, timeNs: bigint, id: bigint): number | undefined {
  const ts = c.ts;
  for (let i = lowerBound(ts, timeNs); i < c.n && ts[i] === timeNs; i++) if (idOf(c, i) === id) return c.seq[i];
  return undefined;
}

/** The stream index: the first and last times of each day of rows [from, to) of one container. */
function indexStream(b: PackedBatch, cid: number, sid: number, from: number, to: number): void {
  let min = b.ts[from]!;
  let max = min;
  let day = min / NS_PER_DAY;
  let dayStart = day * NS_PER_DAY;
  let dayEnd = dayStart + NS_PER_DAY;
  for (let i = from + 1; i < to; i++) {
    const ts = b.ts[i]!;
    if (ts < dayStart || ts >= dayEnd) {
      upsertStream.run(cid, day, min, max, sid);
      min = max = ts;
      day = ts / NS_PER_DAY;
      dayStart = day * NS_PER_DAY;
      dayEnd = dayStart + NS_PER_DAY;
    } else if (ts < min) min = ts;
    else if (ts > max) max = ts;
  }
  upsertStream.run(cid, day, min, max, sid);
}

// Compaction. A window's chunks written by requests are small (a batch's worth); once the window
// has had no write for compactAfter ms, or was written a full chunk's worth of text (so that a
// window written without pause is merged into full chunks as it goes, each line compressed about
// twice, not again and again into one growing chunk), its small chunks are
// merged, a window at a time between writes, in one transaction that inserts the merged chunks
// and deletes the inputs (a crash leaves one or the other, never neither). A round takes at most
// COMPACT_TEXT_BYTES of text; a window with more goes on in the next round.

/** Chunks below these are small: compaction merges them. */
const SMALL_LINES = MAX_CHUNK_LINES / 2;
const SMALL_TEXT_BYTES = MAX_CHUNK_TEXT_BYTES / 2;
const COMPACT_TEXT_BYTES = 8 * MAX_CHUNK_TEXT_BYTES;
/** A window marked this way is compacted at the next round, whatever its last write. */
const COMPACT_NOW = Number.NEGATIVE_INFINITY;
/** How long a window whose compaction failed waits before it is tried again. */
const COMPACT_RETRY_MS = 5_000;

let compactAfter = 1000;
/** Windows written since their last compaction: the last write's time and the text written since. */
const dirty = new Map<string, { cid: number; win: bigint; at: number; text: number }>();
let compactTimer: ReturnType<typeof setTimeout> | undefined;

function markWindow(cid: number, win: bigint, at: number, text: number): void {
  const key = `${cid}:${win}`;
  const d = dirty.get(key);
  if (d === undefined) dirty.set(key, { cid, win, at, text });
  else {
    d.at = Math.max(d.at, at);
    d.text += text;
  }
  scheduleCompaction();
}

function scheduleCompaction(): void {
  if (compactTimer !== undefined || compactAfter < 0 || db === undefined) return;
  compactTimer = setTimeout(compactRound, Math.min(compactAfter, 1000));
}

/** Compacts the windows that are due (all of them: `all`), until a time budget is spent. */
function compactRound(all = false): void {
  compactTimer = undefined;
  if (db === undefined) return;
  if (pending.length > 0) flush();
  const deadline = performance.now() + (all ? Number.POSITIVE_INFINITY : 100);
  const now = performance.now();
  // Windows whose compaction failed in this round: put back for later, not tried again now.
  const failed = new Set<string>();
  for (const [key, d] of dirty) {
    if (performance.now() > deadline) break;
    if (failed.has(key)) continue;
    if (!all && now - d.at < compactAfter && d.text < MAX_CHUNK_TEXT_BYTES) continue;
    dirty.delete(key);
    try {
      if (compactWindow(d.cid, d.win)) dirty.set(key, { ...d, at: COMPACT_NOW, text: 0 });
    } catch (error) {
      // Nothing changed (the transaction rolled back): the window stays as it was, readable, and
      // is tried again a while later (a full disk may be given space back).
      console.error(
        `embedded store: compacting a window failed (tried again in ${COMPACT_RETRY_MS / 1000} s): ${(error as Error).message}`,
      );
      failed.add(key);
      dirty.set(key, { ...d, at: performance.now() + COMPACT_RETRY_MS, text: 0 });
    }
  }
  releaseFreePages();
  if (dirty.size > 0) scheduleCompaction();
}

/**
 * Gives the file system back the free pages once they are a quarter of the file (see openDatabase):
 * a small store too (the first compaction of a window frees about as much as it keeps).
 */
function releaseFreePages(): void {
  const free = freePages();
  if (free < 16) return;
  const pages = (db!.query("PRAGMA page_count").get() as { page_count: number }).page_count;
  if (free * 4 >= pages) db!.run("PRAGMA incremental_vacuum");
}

/** Merges the small chunks of one window (at most COMPACT_TEXT_BYTES of them); true: more remain. */
function compactWindow(cid: number, win: bigint): boolean {
  const rows = selectSmallChunks.values(cid, win, SMALL_LINES, SMALL_TEXT_BYTES) as [number, number][];
  if (rows.length < 2) return false;
  let text = 0;
  let take = 0;
  while (take < rows.length && (take < 2 || text + rows[take]![1] <= COMPACT_TEXT_BYTES)) text += rows[take++]![1];
  const inputs = rows.slice(0, take);
  // Only the chunks of this round are read (the window may hold many more small ones).
  const lists = inputs.map(([id]) => linesOf(decodeChunk((selectChunkData.get(id) as { data: Uint8Array }).data)));
  const merged = mergeLines(lists);
  decoded.clear();
  db!.transaction(() => {
    for (const part of cutChunks(merged)) {
      const c = encodeChunk(part, COMPACT_LEVEL);
      insertChunk.run(cid, win, c.firstNs, c.lastNs, c.lines, c.textBytes, c.key, c.data);
    }
    for (const [id] of inputs) deleteChunk.run(id);
  })();
  return take < rows.length;
}

/** Writes one batch in its own transaction; chunk by chunk when it fails for good as a whole. */
function writeAlone(id: number, batch: PackedBatch): void {
  try {
    reply({ id, ...db!.transaction(() => insert(batch, false))() });
    return;
  } catch (error) {
    forgetIds();
    if (!isPermanent(error)) {
      reply({ id, error: (error as Error).message });
      return;
    }
  }
  try {
    reply({ id, ...db!.transaction(() => insert(batch, true))() });
  } catch (error) {
    forgetIds();
    reply({ id, error: (error as Error).message });
  }
}

/** Rows inserted by a rolled-back transaction are gone: so are the ids cached for them. */
function forgetIds(): void {
  decoded.clear();
  containerIds.clear();
  sourceIds.clear();
}

/**
 * Chunks a sweep deletes in one transaction, and about the longest it holds the writer in one go
 * (checked between statements of at most SWEEP_STATEMENT_CHUNKS chunks). A chunk goes once its
 * last line is past the cutoff; one that straddles it stays until then (reads stop at the cutoff).
 */
const SWEEP_CHUNKS = 2_000;
const SWEEP_STATEMENT_CHUNKS = 200;
const SWEEP_SLICE_MS = 50;

interface Sweep {
  id: number;
  policy: RetentionPolicy;
  nowNs: bigint;
  containers: [number, string, string, string, string][];
  /** The next container to sweep. */
  at: number;
  deleted: number;
  removed: number;
}

let sweep: Sweep | undefined;

function startSweep(id: number, defaultSeconds: number, rules: RetentionRule[], nowNs: bigint): void {
  sweep = {
    id,
    policy: new RetentionPolicy(defaultSeconds, rules),
    nowNs,
    containers: selectContainerList.values() as Sweep["containers"],
    at: 0,
    deleted: 0,
    removed: 0,
  };
  sweepSlice();
}

/**
 * One slice of the sweep, in one transaction: containers in turn, each namespace's cutoff its own,
 * until SWEEP_CHUNKS chunks are deleted or SWEEP_SLICE_MS have passed; then writes that came in the
 * meantime go first (setImmediate), and the next slice goes on where this one stopped. A
 * container's index goes with its lines: its stream rows wholly past the cutoff are deleted,
 * the others start at it, and a container left with none (so with no lines) is removed.
 */
function sweepSlice(): void {
  decoded.clear();
  const s = sweep;
  if (s === undefined || db === undefined) return;
  // Writes that came in since the last slice go first.
  if (pending.length > 0) flush();
  const deadline = performance.now() + SWEEP_SLICE_MS;
  try {
    db.transaction(() => {
      let budget = SWEEP_CHUNKS;
      while (s.at < s.containers.length && budget > 0 && performance.now() < deadline) {
        const [cid, tenant, namespace, pod, container] = s.containers[s.at]!;
        const cutoff = s.policy.cutoffNs(tenant, namespace, s.nowNs);
        if (cutoff === 0n) {
          s.at++;
          continue;
        }
        const first = (selectFirstKept.get(cid) as { first: bigint | null }).first;
        if (first !== null && first >= cutoff) {
          s.at++;
          continue;
        }
        const take = Math.min(budget, SWEEP_STATEMENT_CHUNKS);
        const deleted = deleteChunksBefore.values(cid, windowOf(cutoff), cutoff, take) as [number][];
        for (const [lines] of deleted) s.deleted += lines;
        budget -= deleted.length;
        if (deleted.length === take) continue; // it may hold more: this slice or the next goes on with it
        deleteStreamsBefore.run(cid, cutoff);
        trimStreamsAt.run(cid, cutoff);
        deleteCountsBefore.run(cid, cutoff);
        if (deleteEmptyContainer.run(cid).changes > 0) {
          // Its id may be given to a new container: nothing of this one may stay behind.
          deleteCounts.run(cid);
          containerIds.delete(compositeKey(tenant, namespace, pod, container));
          s.removed++;
        }
        s.at++;
      }
    })();
  } catch (error) {
    sweep = undefined;
    reply({ id: s.id, error: (error as Error).message, deleted: s.deleted, removed: s.removed });
    return;
  }
  if (s.at < s.containers.length) {
    setImmediate(sweepSlice);
    return;
  }
  sweep = undefined;
  reply({ id: s.id, deleted: s.deleted, removed: s.removed });
}

/** Writes every batch that is waiting, in one transaction. */
function flush(): void {
  scheduled = false;
  const batches = pending;
  pending = [];
  if (batches.length === 0) return;
  let outcomes: Outcome[] | undefined;
  try {
    outcomes = db!.transaction(() => batches.map(({ batch }) => insert(batch, false)))();
  } catch {
    forgetIds();
  }
  if (outcomes) {
    for (let i = 0; i < batches.length; i++) reply({ id: batches[i]!.id, ...outcomes[i]! });
  } else {
    // Rolled back: nothing of the group is stored. Each batch again, alone, so that one that
    // cannot be written never fails the others.
    for (const { id, batch } of batches) writeAlone(id, batch);
  }
}

self.onmessage = (event: MessageEvent<WriterRequest>) => {
  const m = event.data;
  try {
    switch (m.type) {
      case "open": {
        open(m.path, m.sync, m.compactAfterMs);
        // What the write connection really runs with: the store reports it (and tests check it).
        const synchronous = (db!.query("PRAGMA synchronous").get() as { synchronous: number }).synchronous;
        const journal = (db!.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode;
        reply({
          id: OPENED,
          settings: { synchronous: synchronous === 2 ? "full" : synchronous === 1 ? "normal" : String(synchronous), journal },
        });
        return;
      }
      case "write":
        pending.push({ id: m.id, batch: m.batch });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
        return;
      case "expire":
        // The store starts a sweep only once the last one is answered.
        if (sweep !== undefined) {
          reply({ id: m.id, error: "a retention sweep is already running" });
          return;
        }
        flush();
        startSweep(m.id, m.defaultSeconds, m.rules, m.nowNs);
        return;
      case "compact":
        flush();
        compactRound(true);
        reply({ id: m.id });
        return;
      case "close":
        flush();
        // What is left to merge is merged now: a store closed after ingest holds few chunks.
        if (compactAfter >= 0) compactRound(true);
        if (compactTimer !== undefined) clearTimeout(compactTimer);
        compactTimer = undefined;
        if (sweep !== undefined) {
          // Cut short: the next start sweeps again.
          reply({ id: sweep.id, deleted: sweep.deleted, removed: sweep.removed });
          sweep = undefined;
        }
        close();
        reply({ id: m.id });
        return;
    }
  } catch (error) {
    if (m.type !== "open") reply({ id: m.id, error: (error as Error).message });
    else reply({ id: 0, error: `cannot open ${m.path}: ${(error as Error).message}` });
  }
};
