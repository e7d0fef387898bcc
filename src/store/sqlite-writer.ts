// The embedded store's writer thread. It owns the only write connection: batches that arrive
// while one is being written are committed together (group commit), and parsing on the main
// thread overlaps with writing here, so ingest uses two cores instead of one.
//
// A group that fails is retried batch by batch, so that one batch's trouble never costs the
// others; a batch that fails on its own for good (a row SQLite refuses) is written row by row,
// and only the rows refused are reported. Failures that may pass (disk full, I/O, locks) fail the
// batch as a whole: it is rolled back and the client retries it.
import type { Database, SQLiteError, Statement } from "bun:sqlite";
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
/** Rows per multi-row INSERT: fewer statement steps and calls into SQLite (about 20% faster). */
const ROWS_PER_INSERT = 50;
const COLUMNS = 8;

let db: Database | undefined;
let statements: Statement[] = [];
let insertLine: Statement;
let insertLines: Statement;
let selectSeq: Statement;
let selectContainer: Statement;
let insertContainer: Statement;
let selectSource: Statement;
let insertSource: Statement;
let selectContainerList: Statement;
let selectFirstKept: Statement;
let deleteLinesBefore: Statement;
let upsertStream: Statement;
let upsertCount: Statement;
let deleteCountsBefore: Statement;
let deleteCounts: Statement;
let deleteStreamsBefore: Statement;
let trimStreamsAt: Statement;
let deleteEmptyContainer: Statement;
const containerIds = new Map<string, number>();
const sourceIds = new Map<string, number>();
let pending: { id: number; batch: PackedBatch }[] = [];
let scheduled = false;

function reply(message: WriterReply): void {
  self.postMessage(message);
}

function open(path: string, sync: "full" | "normal"): void {
  db = openDatabase(path, { sync });
  migrate(db);
  const prepare = (sql: string) => {
    const s = db!.prepare(sql);
    statements.push(s);
    return s;
  };
  const insert = "INSERT OR IGNORE INTO lines (container_id, ts, id, stream, log, source_id, seq, metadata) VALUES ";
  const row = `(${Array(COLUMNS).fill("?").join(", ")})`;
  insertLine = prepare(insert + row);
  insertLines = prepare(insert + Array(ROWS_PER_INSERT).fill(row).join(", "));
  selectSeq = prepare("SELECT seq, rowid FROM lines WHERE container_id = ? AND ts = ? AND id = ?");
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
  // At most ?3 rows at a time, through the (container_id, ts) index.
  deleteLinesBefore = prepare(
    "DELETE FROM lines WHERE rowid IN (SELECT rowid FROM lines WHERE container_id = ?1 AND ts < ?2 LIMIT ?3)",
  );
  deleteStreamsBefore = prepare("DELETE FROM streams WHERE container_id = ?1 AND last_ts < ?2");
  trimStreamsAt = prepare("UPDATE streams SET first_ts = ?2 WHERE container_id = ?1 AND first_ts < ?2");
  deleteEmptyContainer = prepare(
    `DELETE FROM containers WHERE id = ?1
       AND NOT EXISTS (SELECT 1 FROM streams WHERE container_id = ?1)
       AND NOT EXISTS (SELECT 1 FROM lines WHERE container_id = ?1)`,
  );
}

/** Finalizes every statement, then checkpoints and closes: the data file alone holds every line. */
function close(): void {
  if (!db) return;
  try {
    for (const s of statements) s.finalize();
    statements = [];
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

/**
 * Inserts a batch, and adds the lines it really inserted (not those a resend met stored) to the
 * per-minute counts, in the same transaction. `oneByOne`: row by row, and a row SQLite refuses
 * for good is reported instead of failing the batch (a failed statement undoes only itself).
 */
function insert(b: PackedBatch, oneByOne: boolean): Outcome {
  const outcome: Outcome = { deduplicated: 0, rejected: [] };
  const params = new Array<string | number | bigint | null>(ROWS_PER_INSERT * COLUMNS);
  const tally = new MinuteTally();
  // Text of one byte per character (ASCII, the usual log) is as long in UTF-8 as in UTF-16.
  const oneByte = Buffer.byteLength(b.logs, "utf8") === b.logs.length;
  const levels = b.levelTable.length;
  const count = (group: string, row: number) => {
    const s = b.streams[row]!;
    const l = b.levels[row]!;
    const from = row === 0 ? 0 : b.ends[row - 1]!;
    const bytes = oneByte ? b.ends[row]! - from : utf8Length(b.logs.substring(from, b.ends[row]!));
    tally.add(group, b.ts[row]!, s * levels + l, b.streamTable[s]!, b.levelTable[l]!, bytes);
  };
  for (let r = 0; r < b.runs.length; r++) {
    const run = b.runs[r]!;
    const first = b.runStarts[r]!;
    const end = r + 1 < b.runs.length ? b.runStarts[r + 1]! : b.n;
    const cid = cachedId(containerIds, insertContainer, selectContainer, [run.tenant, run.namespace, run.pod, run.container]);
    const sid = cachedId(sourceIds, insertSource, selectSource, [run.podId, run.dockerId, run.host, run.labels]);
    const group = String(cid);
    indexStream(b, cid, sid, first, end);
    let start = first === 0 ? 0 : b.ends[first - 1]!;
    let i = first;
    if (!oneByOne) {
      for (; i + ROWS_PER_INSERT <= end; i += ROWS_PER_INSERT) {
        for (let k = 0, p = 0; k < ROWS_PER_INSERT; k++) {
          const row = i + k;
          const stop = b.ends[row]!;
          params[p++] = cid;
          params[p++] = b.ts[row]!;
          params[p++] = b.ids[row]!;
          params[p++] = b.streamTable[b.streams[row]!]!;
          params[p++] = b.logs.substring(start, stop);
          params[p++] = sid;
          params[p++] = b.seqs[row]!;
          params[p++] = b.metadata?.[row] ?? null;
          start = stop;
        }
        const { changes, lastInsertRowid } = insertLines.run(...params);
        if (changes === ROWS_PER_INSERT) {
          for (let row = i; row < i + ROWS_PER_INSERT; row++) count(group, row);
          continue;
        }
        // Some rows met stored ones. The rows this statement inserted took the rowids after every
        // row stored before it, one after another: (last - changes, last].
        const firstNew = changes > 0 ? Number(lastInsertRowid) - changes + 1 : Number.POSITIVE_INFINITY;
        for (let row = i; row < i + ROWS_PER_INSERT; row++) {
          const stored = selectSeq.get(cid, b.ts[row]!, b.ids[row]!) as { seq: number; rowid: number } | null;
          if (stored === null) continue;
          if (stored.rowid >= firstNew) count(group, row);
          else if (stored.seq !== b.seqs[row]) outcome.deduplicated++;
        }
      }
    }
    for (; i < end; i++) {
      const stop = b.ends[i]!;
      const text = b.logs.substring(start, stop);
      start = stop;
      let changes: number;
      try {
        ({ changes } = insertLine.run(
          cid,
          b.ts[i]!,
          b.ids[i]!,
          b.streamTable[b.streams[i]!]!,
          text,
          sid,
          b.seqs[i]!,
          b.metadata?.[i] ?? null,
        ));
      } catch (error) {
        if (!oneByOne || !isPermanent(error)) throw error;
        outcome.rejected.push({ index: i, detail: `the embedded store refused the line: ${(error as Error).message}` });
        continue;
      }
      if (changes === 1) count(group, i);
      else outcome.deduplicated += collapsed(b, cid, i, i + 1);
    }
  }
  for (const row of tally.rows) upsertCount.run(Number(row.group), row.minuteNs, row.stream, row.level, row.lines, row.bytes);
  return outcome;
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

/**
 * Of rows [from, to) of a batch, how many met a row stored under the same key by another batch
 * (a different order number): lines taken for a resend. A byte-identical resend has the same
 * order numbers and is not counted. Only reached when a statement inserted fewer rows than given.
 */
function collapsed(b: PackedBatch, cid: number, from: number, to: number): number {
  let count = 0;
  for (let row = from; row < to; row++) {
    const stored = selectSeq.get(cid, b.ts[row]!, b.ids[row]!) as { seq: number } | null;
    if (stored !== null && stored.seq !== b.seqs[row]) count++;
  }
  return count;
}

/** Writes one batch in its own transaction; row by row when it fails for good as a whole. */
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
  containerIds.clear();
  sourceIds.clear();
}

/**
 * Rows a sweep deletes in one transaction, and about the longest it holds the writer in one go
 * (checked between statements of at most SWEEP_STATEMENT_ROWS rows).
 */
const SWEEP_ROWS = 20_000;
const SWEEP_STATEMENT_ROWS = 2_000;
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
 * until SWEEP_ROWS lines are deleted or SWEEP_SLICE_MS have passed; then writes that came in the
 * meantime go first (setImmediate), and the next slice goes on where this one stopped. A
 * container's index goes with its lines: its stream rows wholly past the cutoff are deleted,
 * the others start at it, and a container left with none (so with no lines) is removed.
 */
function sweepSlice(): void {
  const s = sweep;
  if (s === undefined || db === undefined) return;
  // Writes that came in since the last slice go first.
  if (pending.length > 0) flush();
  const deadline = performance.now() + SWEEP_SLICE_MS;
  try {
    db.transaction(() => {
      let budget = SWEEP_ROWS;
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
        const take = Math.min(budget, SWEEP_STATEMENT_ROWS);
        const deleted = deleteLinesBefore.run(cid, cutoff, take).changes;
        s.deleted += deleted;
        budget -= deleted;
        if (deleted === take) continue; // it may hold more: this slice or the next goes on with it
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
        open(m.path, m.sync);
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
      case "close":
        flush();
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
