// Follow (live tail): new lines of a selector, in time order, within about a second of their
// write. The store is read again and again: lines written through another server process (on
// the same Cassandra cluster) are seen as well as this process's own; a write here only wakes the
// followers early. Each read looks back a few seconds for lines that reached the store late, and
// what was delivered is remembered so that nothing is sent twice. A slow reader gets a bounded
// buffer: beyond it new lines are dropped for it, counted and reported, and neither ingest nor
// other followers wait for it.
import { containerKey } from "../store/lines.ts";
import type { LogStore, OrderedRow, Position } from "../store/store.ts";
import { MAX_TIME_NS, nowNs } from "../time.ts";
import { resolveStreams, type ResultRow } from "./engine.ts";
import { lineFilter, requiredTexts, type LineFilter } from "./filters.ts";
import { linePredicate, type Matcher } from "./selector.ts";

export interface FollowOptions {
  /** How often the store is read when nothing wakes the follower. */
  pollMs?: number;
  /** How far back each read looks for lines that reached the store late. */
  lookbackNs?: bigint;
  /** Lines held for a slow reader; beyond, new lines are dropped for it (and counted). */
  bufferLines?: number;
}

export type FollowEvent = { type: "rows"; rows: ResultRow[] } | { type: "dropped"; count: number };

/**
 * The followers of a process: wakes them when it has stored lines, and ends them all when it
 * shuts down (an open follow would otherwise keep a graceful shutdown waiting forever).
 */
export class WriteNotifier {
  private readonly listeners = new Map<() => void, () => void>();
  private ended = false;

  /** `wake` on every write, `end` once at shutdown (at once if it is under way). */
  subscribe(wake: () => void, end: () => void): () => void {
    if (this.ended) {
      end();
      return () => {};
    }
    this.listeners.set(wake, end);
    return () => this.listeners.delete(wake);
  }

  notify(): void {
    for (const wake of this.listeners.keys()) wake();
  }

  /** Ends every follow; later ones end as they start. */
  end(): void {
    this.ended = true;
    for (const end of [...this.listeners.values()]) end();
    this.listeners.clear();
  }
}

const DEFAULTS = { pollMs: 500, lookbackNs: 3_000_000_000n, bufferLines: 10_000 };
/** How far past this clock a line's time may be and its stream still be found. */
const AHEAD_NS = 86_400_000_000_000n;

/**
 * Where a follow starts after the first lines of a tail were sent (oldest first; at most `limit`
 * of the range from startNs): at the oldest line sent when the limit cut them, else at the range's
 * start. With those lines marked delivered, the follow then also sends a line stamped before the
 * request that reached the store after they were read (Fluent Bit's lines arrive seconds after
 * their time), never one already sent.
 */
export function followFloor(sent: readonly OrderedRow[], limit: number, startNs: bigint): bigint {
  return sent.length >= limit && sent.length > 0 ? sent[0]!.timeNs - 1n : startNs - 1n;
}

/**
 * Follows the lines of `selector` and `filters` later than `afterNs` (epoch ns). Iterate it for
 * events; `close()` (or ending the iteration) stops it.
 */
export class Follower implements AsyncIterable<FollowEvent> {
  private readonly options: Required<FollowOptions>;
  private readonly keep: ((row: OrderedRow) => boolean) | undefined;
  private readonly contains: string[];
  private readonly queue: ResultRow[][] = [];
  private queued = 0;
  private dropped = 0;
  /** Last delivered row per stream (containerKey). */
  private readonly positions = new Map<string, Position>();
  /** Rows delivered that a read may meet again, by stream, time, seq and id: their stream and time. */
  private readonly delivered = new Map<string, { stream: string; timeNs: bigint }>();
  private waiting: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private again = false;
  private closed = false;
  private failure: unknown;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: LogStore,
    private readonly tenant: string,
    private readonly selector: Matcher[],
    filters: LineFilter[],
    private readonly afterNs: bigint,
    notifier?: WriteNotifier,
    options: FollowOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    const stream = linePredicate(selector);
    const line = lineFilter(filters);
    this.keep =
      stream === undefined && line === undefined
        ? undefined
        : (row) => (stream === undefined || stream(row.stream)) && (line === undefined || line(row.log));
    this.contains = requiredTexts(filters);
    this.schedule(0);
    this.unsubscribe = notifier?.subscribe(
      () => this.wake(),
      () => this.close(),
    );
  }

  /** Rows already sent (the initial lines of a tail): never sent again. */
  markDelivered(rows: ResultRow[]): void {
    for (const row of rows) this.remember(containerKey(row.source), row);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    this.waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FollowEvent> {
    try {
      for (;;) {
        if (this.failure !== undefined) throw this.failure;
        if (this.dropped > 0 && this.queue.length === 0) {
          const count = this.dropped;
          this.dropped = 0;
          yield { type: "dropped", count };
          continue;
        }
        const rows = this.queue.shift();
        if (rows !== undefined) {
          this.queued -= rows.length;
          yield { type: "rows", rows };
          continue;
        }
        if (this.closed) return;
        await new Promise<void>((resolve) => (this.waiting = resolve));
        this.waiting = undefined;
      }
    } finally {
      this.close();
    }
  }

  private wake(): void {
    if (this.running) this.again = true;
    else this.schedule(20);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  /** One read of every matching stream, from its last delivered row less the look-back. */
  private async tick(): Promise<void> {
    if (this.closed || this.running) return;
    this.running = true;
    try {
      const now = nowNs();
      const lookback = this.options.lookbackNs;
      const floor = this.afterNs + 1n;
      const since = now - lookback > floor ? now - lookback : floor;
      // Streams with lines since then, also stamped a little ahead of this clock.
      const streams = await resolveStreams(this.store, this.tenant, this.selector, since, now + AHEAD_NS);
      const found: ResultRow[] = [];
      const reads = streams.map(async ({ s, key }, index) => {
        const position = this.positions.get(key);
        let start = position === undefined ? since : position.timeNs - lookback;
        if (start < floor) start = floor;
        for await (const page of this.store.read(s, {
          startNs: start,
          endNs: MAX_TIME_NS,
          direction: "forward",
          contains: this.contains,
        })) {
          for (const row of page) {
            if (this.delivered.has(deliveredKey(key, row))) continue;
            if (this.keep !== undefined && !this.keep(row)) continue;
            const r = row as ResultRow & { rank: number };
            r.source = s;
            r.rank = index;
            found.push(r);
          }
        }
      });
      await Promise.all(reads);
      if (found.length > 0) {
        found.sort(mergeOrder);
        for (const row of found) this.remember(containerKey(row.source), row);
        this.enqueue(found);
      }
      this.forget();
    } catch (error) {
      // A store that fails ends the follow: the reader sees the error.
      this.failure = error;
      this.waiting?.();
      this.running = false;
      return;
    }
    this.running = false;
    if (this.again) {
      this.again = false;
      this.schedule(0);
    } else {
      this.schedule(this.options.pollMs);
    }
  }

  private enqueue(rows: ResultRow[]): void {
    const room = this.options.bufferLines - this.queued;
    if (room <= 0) {
      this.dropped += rows.length;
    } else {
      const kept = rows.length <= room ? rows : rows.slice(0, room);
      this.dropped += rows.length - kept.length;
      this.queue.push(kept);
      this.queued += kept.length;
    }
    this.waiting?.();
  }

  private remember(key: string, row: OrderedRow): void {
    this.delivered.set(deliveredKey(key, row), { stream: key, timeNs: row.timeNs });
    const position = this.positions.get(key);
    if (position === undefined || row.timeNs > position.timeNs) this.positions.set(key, row);
  }

  /**
   * Forgets delivered rows no read will meet again: a stream is read from its position less the
   * look-back (and never before the floor), so older rows of it are safe to forget. (Forgetting
   * by the clock instead would send a quiet stream's last lines again once they aged.)
   */
  private forget(): void {
    const lookback = this.options.lookbackNs;
    const floor = this.afterNs + 1n;
    for (const [key, { stream, timeNs }] of this.delivered) {
      const position = this.positions.get(stream);
      const readFrom = position === undefined ? floor : position.timeNs - lookback;
      if (timeNs < readFrom || timeNs < floor) this.delivered.delete(key);
    }
  }
}

function deliveredKey(stream: string, row: OrderedRow): string {
  return `${stream}|${row.timeNs}|${row.seq}|${row.id}`;
}

function mergeOrder(a: ResultRow & { rank?: number }, b: ResultRow & { rank?: number }): number {
  if (a.timeNs !== b.timeNs) return a.timeNs < b.timeNs ? -1 : 1;
  if (a.rank !== b.rank) return (a.rank ?? 0) - (b.rank ?? 0);
  if (a.seq !== b.seq) return a.seq - b.seq;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
