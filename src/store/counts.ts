// Per-minute counts, as every store keeps them at write time: a batch's lines are tallied in
// memory into one row per (container, minute, stream, level) before anything is written, so that
// a batch costs a few count rows, not one per line. Readers (volume, histograms) read those rows
// and never the lines.
import { NS_PER_MINUTE, type MinuteCount } from "./store.ts";

/**
 * The minute a time is counted in, by the minute's start m: a count keyed m holds the lines with
 * m < time <= m + 60 s. Right-closed, as Loki's range windows (t - range, t] are, so that a
 * count_over_time over whole minutes sums whole counts, also for a line exactly on a minute.
 */
export function minuteOf(timeNs: bigint): bigint {
  const t = timeNs - 1n;
  const r = t % NS_PER_MINUTE;
  return r < 0n ? t - r - NS_PER_MINUTE : t - r;
}

/** Bytes of a text in UTF-8: what the counts count. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** One count row of a batch: its group (a container), minute, stream and level, and the tally. */
export interface TallyRow {
  group: string;
  minuteNs: bigint;
  stream: string;
  level: string;
  lines: number;
  bytes: number;
  /** The identity (lines.ts) and time of the first and last line counted, in batch order (0: none). */
  firstId: bigint;
  firstNs: bigint;
  lastId: bigint;
  lastNs: bigint;
}

interface MinuteRows {
  group: string;
  minuteNs: bigint;
  rows: Map<number | string, TallyRow>;
}

/**
 * Tallies lines by (group, minute, stream, level). Consecutive lines of one group and minute
 * (the usual batch) cost a bigint comparison and a small map look-up each.
 */
export class MinuteTally {
  readonly rows: TallyRow[] = [];
  private readonly minutes = new Map<string, MinuteRows>();
  private current: MinuteRows | undefined;
  private end = 0n;

  /**
   * Counts one line. `kind` identifies (stream, level) within the batch: a number the caller
   * derives from its own tables, or a string (see kindOf).
   */
  add(group: string, timeNs: bigint, kind: number | string, stream: string, level: string, bytes: number): TallyRow {
    let m = this.current;
    if (m === undefined || m.group !== group || timeNs <= m.minuteNs || timeNs > this.end) {
      const minuteNs = minuteOf(timeNs);
      const key = `${group.length}:${group}${minuteNs}`;
      m = this.minutes.get(key);
      if (m === undefined) this.minutes.set(key, (m = { group, minuteNs, rows: new Map() }));
      this.current = m;
      this.end = minuteNs + NS_PER_MINUTE;
    }
    let row = m.rows.get(kind);
    if (row === undefined) {
      row = { group, minuteNs: m.minuteNs, stream, level, lines: 0, bytes: 0, firstId: 0n, firstNs: 0n, lastId: 0n, lastNs: 0n };
      m.rows.set(kind, row);
      this.rows.push(row);
    }
    row.lines++;
    row.bytes += bytes;
    return row;
  }
}

/** (stream, level) as one key, unambiguous. */
export function kindOf(stream: string, level: string): string {
  return `${stream.length}:${stream}${level}`;
}

/**
 * Count rows in order of (minute, stream, level), summing rows of the same key that come one
 * after another (Cassandra keeps one row per batch). Fed page by page; the last key is held until
 * a later key (or the end) shows it complete.
 */
export class CountMerger {
  private pending: MinuteCount | undefined;

  push(rows: Iterable<MinuteCount>, last: boolean): MinuteCount[] {
    const out: MinuteCount[] = [];
    for (const r of rows) {
      const p = this.pending;
      if (p !== undefined && p.minuteNs === r.minuteNs && p.stream === r.stream && p.level === r.level) {
        p.lines += r.lines;
        p.bytes += r.bytes;
        continue;
      }
      if (p !== undefined) out.push(p);
      this.pending = { ...r };
    }
    if (last && this.pending !== undefined) {
      out.push(this.pending);
      this.pending = undefined;
    }
    return out;
  }
}

/**
 * A key of what a count row counts, from the content of its lines: the identity and time of its
 * first and last line (in batch order) and its lines and bytes. A byte-identical resend gives the
 * same key; two batches give the same key only when they hold the same first and last line of the
 * minute, stream and level, with as many lines and bytes between them: the same lines, resent
 * (Fluent Bit never resends other lines between the same two). Tracking it costs two stores per
 * line.
 */
export function contentKey(row: TallyRow): bigint {
  const text = `${row.firstId}:${row.firstNs}:${row.lastId}:${row.lastNs}:${row.lines}:${row.bytes}`;
  return BigInt.asIntN(64, Bun.hash.wyhash(text, 0x636f756e74n));
}
