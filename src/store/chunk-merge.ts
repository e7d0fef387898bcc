// The read path of chunks, the same on every store: the chunks of one stream that overlap a range
// come in order (forward: by first time; backward: by last time, newest first), are decoded only
// when the merge reaches them, and their lines go out in (time, seq, id) order (or its exact
// reverse), unique by (time, id) (chunks of resends cut differently overlap; the lower seq
// stays), after the cursor, within the range, and holding every `contains` text.
//
// Where one chunk alone covers a stretch of time (the usual case once a window is compacted, and
// for batches sent in time order) its lines go out as they are, without comparing them to other
// chunks; a filter runs over the chunk's whole text at once (linesContaining) and only the lines
// that hold the texts become rows.
import { linesContaining, lowerBound, rowOf, type DecodedChunk } from "./chunk.ts";
import { isAfter, remainingRange } from "./reading.ts";
import { ROW_OVERHEAD_BYTES, StoreUnavailableError, type OrderedRow, type StreamRead } from "./store.ts";

/** A chunk as a listing names it: its time bounds, and how to get its lines. */
export interface ChunkRef {
  firstNs: bigint;
  lastNs: bigint;
  load(): DecodedChunk | Promise<DecodedChunk>;
}

/** Rows of the first page without a limit hint; pages double up to MAX_PAGE_ROWS. */
const FIRST_PAGE_ROWS = 256;
const MAX_PAGE_ROWS = 10_000;

/** A chunk being read: the lines still to go, in the direction. */
class Cursor {
  /** Lines selected (in range, holding the texts), ascending; undefined: every line in [lo, hi). */
  private readonly selected: Uint32Array | undefined;
  /** Next position (into selected, or a line index), and the end (exclusive) in the direction. */
  private at: number;
  private readonly stop: number;

  constructor(
    readonly chunk: DecodedChunk,
    lo: number,
    hi: number,
    hits: Uint32Array | undefined,
    readonly forward: boolean,
  ) {
    if (hits !== undefined) {
      this.selected = lo === 0 && hi === chunk.n ? hits : hits.filter((i) => i >= lo && i < hi);
      const n = this.selected.length;
      this.at = forward ? 0 : n - 1;
      this.stop = forward ? n : -1;
    } else {
      this.selected = undefined;
      this.at = forward ? lo : hi - 1;
      this.stop = forward ? hi : lo - 1;
    }
  }

  done(): boolean {
    return this.at === this.stop;
  }

  /** The line at the head. */
  line(): number {
    return this.selected === undefined ? this.at : this.selected[this.at]!;
  }

  time(): bigint {
    return this.chunk.ts[this.line()]!;
  }

  advance(): void {
    this.at += this.forward ? 1 : -1;
  }
}

/**
 * A chunk listed by a read and no longer stored when the read loads it: compaction merged it into
 * chunks it wrote before deleting it. The read lists again from the last row it gave (readChunks).
 */
export class ChunkGone extends Error {
  override readonly name = "ChunkGone";
}

/** Times a read lists its chunks again (ChunkGone) before it gives up as unavailable. */
const MAX_READ_RESTARTS = 8;

/**
 * A stream's rows from its chunks, as mergeChunks gives them from the chunks `list` names for a
 * range; when a chunk listed is gone (ChunkGone), listed again for what is left after the last
 * row given. `store` names the store in the error of a read that kept meeting gone chunks.
 */
export async function* readChunks(
  list: (range: StreamRead) => AsyncIterable<ChunkRef> | Iterable<ChunkRef>,
  range: StreamRead,
  pageBytes: number,
  store: string,
): AsyncGenerator<OrderedRow[]> {
  let current = range;
  for (let restarts = 0; ; restarts++) {
    try {
      for await (const page of mergeChunks(list(current), current, pageBytes)) {
        if (page.length === 0) continue;
        current = { ...current, after: page.at(-1)! };
        yield page;
      }
      return;
    } catch (error) {
      if (!(error instanceof ChunkGone)) throw error;
      if (restarts >= MAX_READ_RESTARTS) {
        throw new StoreUnavailableError(`${store} read: chunks kept moving under it: ${error.message}`, 1, { cause: error });
      }
    }
  }
}

/**
 * A stream's rows from its chunks, in pages. `refs` lists the chunks that may overlap the range,
 * forward by first time ascending, backward by last time descending.
 */
export async function* mergeChunks(
  refs: AsyncIterable<ChunkRef> | Iterable<ChunkRef>,
  range: StreamRead,
  pageBytes: number,
): AsyncGenerator<OrderedRow[]> {
  const forward = range.direction === "forward";
  const { startNs, endNs } = remainingRange(range);
  if (endNs < startNs) return;
  const after = range.after;
  const contains = range.contains ?? [];
  const withSource = range.withSource === true;
  const iterator: AsyncIterator<ChunkRef> | Iterator<ChunkRef> =
    Symbol.asyncIterator in refs
      ? (refs as AsyncIterable<ChunkRef>)[Symbol.asyncIterator]()
      : (refs as Iterable<ChunkRef>)[Symbol.iterator]();
  let next: ChunkRef | undefined;
  let listed = false;
  const peek = async (): Promise<ChunkRef | undefined> => {
    while (next === undefined && !listed) {
      const r = await iterator.next();
      if (r.done) listed = true;
      else if (r.value.lastNs >= startNs && r.value.firstNs <= endNs) next = r.value;
    }
    return next;
  };
  const active: Cursor[] = [];
  /** Opens the next chunk listed: a cursor on its lines in range, after the read's cursor, holding the texts. */
  const open = async (): Promise<void> => {
    const ref = next!;
    next = undefined;
    const chunk = await ref.load();
    // A filtered read looks at the texts first: a chunk without a line holding them is left
    // before its other columns are decoded.
    let hits: Uint32Array | undefined;
    if (contains.length > 0) {
      hits = linesContaining(chunk, contains);
      if (hits.length === 0) return;
    }
    const lo = lowerBound(chunk.ts, startNs);
    const hi = lowerBound(chunk.ts, endNs + 1n);
    if (lo >= hi) return;
    const cursor = new Cursor(chunk, lo, hi, hits, forward);
    // Rows at times before the read's cursor (in the direction) were given already.
    if (after !== undefined) while (!cursor.done() && before(cursor.time(), after.timeNs)) cursor.advance();
    if (!cursor.done()) active.push(cursor);
  };
  /** Whether time a comes before time b in the direction. */
  const before = (a: bigint, b: bigint) => (forward ? a < b : a > b);

  let page: OrderedRow[] = [];
  let bytes = 0;
  let pageRows = Math.min(MAX_PAGE_ROWS, Math.max(16, range.limitHint ?? FIRST_PAGE_ROWS));
  const full = () => page.length >= pageRows || bytes >= pageBytes;
  const emit = (row: OrderedRow) => {
    if (after !== undefined && row.timeNs === after.timeNs && !isAfter(row, after, range.direction)) return;
    page.push(row);
    bytes += row.log.length + ROW_OVERHEAD_BYTES;
  };
  const take = (): OrderedRow[] => {
    const out = page;
    page = [];
    bytes = 0;
    pageRows = Math.min(MAX_PAGE_ROWS, pageRows * 2);
    return out;
  };

  try {
    for (;;) {
      if (active.length === 0) {
        if ((await peek()) === undefined) break;
        await open();
        continue;
      }
      // The head time: the earliest (forward) or latest (backward) of the active chunks.
      let head = active[0]!.time();
      for (let i = 1; i < active.length; i++) {
        const t = active[i]!.time();
        if (before(t, head)) head = t;
      }
      // Chunks that begin at or before it are opened first: their lines may come first.
      const n = await peek();
      if (n !== undefined && !before(head, forward ? n.firstNs : n.lastNs)) {
        await open();
        continue;
      }
      if (active.length === 1) {
        // One chunk alone up to the next one's start: its lines go out as they are.
        const c = active[0]!;
        const limit = n === undefined ? undefined : forward ? n.firstNs : n.lastNs;
        while (!c.done() && (limit === undefined || before(c.time(), limit))) {
          emit(rowOf(c.chunk, c.line(), withSource));
          c.advance();
          if (full()) yield take();
        }
        if (c.done()) active.pop();
        continue;
      }
      // Several chunks at the head time: the run of that time from all of them, in order, once each.
      const run: OrderedRow[] = [];
      for (let i = active.length - 1; i >= 0; i--) {
        const c = active[i]!;
        while (!c.done() && c.time() === head) {
          run.push(rowOf(c.chunk, c.line(), withSource));
          c.advance();
        }
        if (c.done()) active.splice(i, 1);
      }
      run.sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const seen = new Set<bigint>();
      const unique = run.filter((r) => !seen.has(r.id) && seen.add(r.id) !== undefined);
      if (!forward) unique.reverse();
      for (const r of unique) emit(r);
      if (full()) yield take();
    }
    if (page.length > 0) yield page;
  } finally {
    // The listing ends with the read, early or not (a store's listing may hold a cursor).
    await iterator.return?.();
  }
}
