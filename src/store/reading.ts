// What every store's reads share: the order of rows in a direction, the cursor as a boundary,
// runs of equal times put in order, and pages sized in bytes of text.
import {
  ROW_OVERHEAD_BYTES,
  type Direction,
  type LogRow,
  type OrderedRow,
  type Position,
  type StreamInfo,
  type StreamRead,
} from "./store.ts";
import type { RetentionPolicy } from "./retention.ts";

/** The order of rows of one stream: time, then seq, then id. */
export function comparePositions(a: Position, b: Position): number {
  return a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Whether `row` comes after `cursor` in the direction. */
export function isAfter(row: Position, cursor: Position, direction: Direction): boolean {
  const c = comparePositions(row, cursor);
  return direction === "forward" ? c > 0 : c < 0;
}

/**
 * The time bounds left to read once a cursor is passed: the cursor's time stays in (rows of that
 * time beyond the cursor remain), everything before it in the direction goes.
 */
export function remainingRange(range: StreamRead): { startNs: bigint; endNs: bigint } {
  const { startNs, endNs, after, direction } = range;
  if (after === undefined) return { startNs, endNs };
  if (direction === "forward") return { startNs: after.timeNs > startNs ? after.timeNs : startNs, endNs };
  return { startNs, endNs: after.timeNs < endNs ? after.timeNs : endNs };
}

/**
 * Puts rows in order by runs of equal time, for stores that return equal times in another order
 * (Cassandra: by id). Rows are fed page by page; a run is held until a later time (or the end)
 * shows it complete, so that it is ordered whole even across a page border. Rows at or before
 * the cursor are dropped.
 */
export class RunOrderer {
  private run: OrderedRow[] = [];

  constructor(
    private readonly direction: Direction,
    private readonly after?: Position,
  ) {}

  /** Rows that are in their final order, from this page; `last`: no rows follow. */
  push(rows: OrderedRow[], last: boolean): OrderedRow[] {
    const out: OrderedRow[] = [];
    for (const row of rows) {
      if (this.run.length > 0 && row.timeNs !== this.run[0]!.timeNs) this.flush(out);
      this.run.push(row);
    }
    if (last) this.flush(out);
    return out;
  }

  private flush(out: OrderedRow[]): void {
    const run = this.run;
    this.run = [];
    if (run.length > 1) {
      run.sort(comparePositions);
      if (this.direction === "backward") run.reverse();
    }
    const after = this.after;
    for (const r of run) if (after === undefined || r.timeNs !== after.timeNs || isAfter(r, after, this.direction)) out.push(r);
  }
}

/** Rows in pages of about `pageBytes` of text. */
export function* cutPages<T extends LogRow>(rows: T[], pageBytes: number): Generator<T[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    bytes += rows[i]!.log.length + ROW_OVERHEAD_BYTES;
    if (bytes >= pageBytes) {
      yield start === 0 && i === rows.length - 1 ? rows : rows.slice(start, i + 1);
      start = i + 1;
      bytes = 0;
    }
  }
  if (start < rows.length) yield start === 0 ? rows : rows.slice(start);
}

/** Rows of the first page, before the size of a row is known (few: they may be huge). */
const FIRST_FETCH_ROWS = 8;
const MAX_FETCH_ROWS = 5000;

/**
 * Rows per fetch from the rows seen so far, so that a fetch holds about `pageBytes` of text
 * however long the lines are; under a limit, fetches take what is still needed of it, and once
 * that is read (the reader filters, or merges), twice as much each time.
 */
export class PageSizer {
  private rows = 0;
  private bytes = 0;
  private beyond = FIRST_FETCH_ROWS;

  constructor(
    private readonly pageBytes: number,
    private readonly limitHint?: number,
  ) {}

  observe(rows: number, bytes: number): void {
    this.rows += rows;
    this.bytes += bytes;
    if (this.limitHint !== undefined && this.rows >= this.limitHint) this.beyond = Math.min(MAX_FETCH_ROWS, this.beyond * 2);
  }

  /** The most rows the next fetch should ask for. */
  private cap(): number {
    if (this.limitHint === undefined) return MAX_FETCH_ROWS;
    const needed = this.limitHint - this.rows;
    return Math.min(MAX_FETCH_ROWS, needed > 0 ? Math.max(FIRST_FETCH_ROWS, needed) : this.beyond);
  }

  fetchSize(): number {
    if (this.rows === 0) return Math.min(this.cap(), FIRST_FETCH_ROWS);
    return Math.max(1, Math.min(this.cap(), Math.floor(this.pageBytes / (this.bytes / this.rows))));
  }

  /** Bytes a fetch of fetchSize() rows is expected to hold; undefined before any row is seen. */
  pageEstimate(): number | undefined {
    return this.rows === 0 ? undefined : Math.ceil((this.fetchSize() * this.bytes) / this.rows);
  }
}

/**
 * A read's range with its start raised to the stream's retention cutoff (0n: none), so that no
 * line past its namespace's retention is returned, whether or not the store has removed it yet.
 */
export function withinRetention(range: StreamRead, cutoffNs: bigint): StreamRead {
  return cutoffNs > range.startNs ? { ...range, startNs: cutoffNs } : range;
}

/**
 * The streams an index listed for a range ending at endNs, less what lies past each one's
 * retention: a stream that began before its cutoff starts at it, and one left with nothing in the
 * range (its last line past the cutoff, or the cutoff past the range) is dropped.
 */
export function streamsWithinRetention(
  streams: StreamInfo[],
  policy: RetentionPolicy,
  nowNs: bigint,
  endNs: bigint,
): StreamInfo[] {
  if (!policy.expires) return streams;
  const out: StreamInfo[] = [];
  for (const s of streams) {
    const cutoff = policy.cutoffNs(s.tenant, s.namespace, nowNs);
    if (s.firstNs >= cutoff) out.push(s);
    else if (s.lastNs >= cutoff && cutoff <= endNs) out.push({ ...s, firstNs: cutoff });
  }
  return out;
}

/**
 * Where a listing of a tenant's streams need start: nothing older than the tenant's longest
 * retention can be listed, so the index need not be read before it.
 */
export function listingStartNs(policy: RetentionPolicy, tenant: string, startNs: bigint, nowNs: bigint): bigint {
  const longest = policy.longestSecondsIn(tenant);
  if (longest === 0) return startNs;
  const oldest = nowNs - BigInt(longest) * 1_000_000_000n;
  return oldest > startNs ? oldest : startNs;
}
