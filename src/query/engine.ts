// The read path, once, for every store (see ../shared/DESIGN.md, "The read path"): a LogQuery's
// selector is resolved to streams through the store's index, each stream is read in order, and
// the streams are merged by time (k-way), filtered and cut at the limit. Stores only list streams
// and read one stream's range in either direction.
import { containerKey } from "../store/lines.ts";
import type { Direction, LogStore, OrderedRow, StreamInfo, StreamRef } from "../store/store.ts";
import { encodeCursor, queryFingerprint, resumeAt, tenantFingerprint, type Cursor } from "./cursor.ts";
import { canonicalFilters, lineFilter, requiredTexts, type LineFilter } from "./filters.ts";
import { canonicalSelector, LINE_LABEL, linePredicate, streamPredicate, type Matcher } from "./selector.ts";

/** One query of the read path, whatever API it came from. */
export interface LogQuery {
  /** Whose lines: a query never reads another tenant's. */
  tenant: string;
  /** Label matchers; streams must match all of them. */
  selector: Matcher[];
  /** Inclusive bounds, epoch nanoseconds. */
  startNs: bigint;
  endNs: bigint;
  direction: Direction;
  /** At most this many rows; undefined: all of them. */
  limit?: number;
  filters: LineFilter[];
  /** Continue after the row a previous answer stopped at. */
  cursor?: Cursor;
  /** Rows carry their pod id, container id and structured metadata (see StreamRead.withSource). */
  withSource?: boolean;
}

/** A row of an answer, with the stream it came from. */
export interface ResultRow extends OrderedRow {
  source: StreamInfo;
}

/** The fingerprint of a query for its cursors: selector, filters and direction. */
export function fingerprint(q: Pick<LogQuery, "selector" | "filters" | "direction">): string {
  return queryFingerprint([canonicalSelector(q.selector), canonicalFilters(q.filters), q.direction]);
}

/**
 * The streams a selector picks in a range, in merge order (by containerKey). A selector that names
 * one container exactly (namespace, pod and container, nothing else about the stream) needs no
 * look-up: that container is read, and holds nothing if it never logged.
 */
export async function resolveStreams(store: LogStore, tenant: string, selector: Matcher[], startNs: bigint, endNs: bigint) {
  const pinned = pinnedStream(tenant, selector);
  if (pinned !== undefined) {
    return [{ s: { ...pinned, labels: {}, host: "", firstNs: startNs, lastNs: endNs }, key: containerKey(pinned) }];
  }
  const matches = streamPredicate(selector);
  const streams = (await store.streams(tenant, startNs, endNs)).filter(matches);
  return streams.map((s) => ({ s, key: containerKey(s) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The one container a selector names with `=` on namespace, pod and container and nothing else. */
function pinnedStream(tenant: string, selector: Matcher[]): StreamRef | undefined {
  const value = (name: string) => {
    const ms = selector.filter((m) => m.name === name);
    return ms.length === 1 && ms[0]!.op === "=" ? ms[0]!.value : undefined;
  };
  const namespace = value("namespace");
  const pod = value("pod");
  const container = value("container");
  if (namespace === undefined || pod === undefined || container === undefined) return undefined;
  if (selector.some((m) => !["namespace", "pod", "container", LINE_LABEL].includes(m.name))) return undefined;
  return { tenant, namespace, pod, container };
}

/** The outcome of a query once its rows are read: a cursor when the limit cut it short. */
export interface QueryEnd {
  nextCursor?: string;
}

/**
 * Runs a query: pages of rows in the query's order. The generator's return value tells whether
 * the limit cut the answer (then nextCursor continues it). Reads only what the answer needs: a
 * backward query with a limit reads the newest partitions first and stops.
 */
export async function* runQuery(store: LogStore, q: LogQuery): AsyncGenerator<ResultRow[], QueryEnd> {
  const streams = await resolveStreams(store, q.tenant, q.selector, q.startNs, q.endNs);
  if (streams.length === 0 || (q.limit !== undefined && q.limit <= 0)) return {};
  const keep = combine(linePredicate(q.selector), lineFilter(q.filters));
  const contains = requiredTexts(q.filters);
  const sources = streams.map(({ s, key }, index) => ({
    info: s,
    key,
    index,
    pages: store
      .read(s, {
        startNs: q.startNs,
        endNs: q.endNs,
        direction: q.direction,
        after: q.cursor === undefined ? undefined : resumeAt(q.cursor, s, q.direction),
        contains,
        limitHint: shareOf(q.limit, streams.length),
        withSource: q.withSource,
      })
      [Symbol.asyncIterator](),
  }));
  const query = fingerprint(q);
  const tenant = tenantFingerprint(q.tenant);
  let remaining = q.limit ?? Number.POSITIVE_INFINITY;
  let last: ResultRow | undefined;
  const merged = sources.length === 1 ? single(sources[0]!) : merge(sources, q.direction);
  try {
    for await (const page of merged) {
      const out: ResultRow[] = [];
      for (const row of page) {
        if (keep !== undefined && !keep(row)) continue;
        out.push(row);
        if (--remaining === 0) break;
      }
      if (out.length > 0) {
        last = out[out.length - 1];
        yield out;
      }
      if (remaining === 0) {
        // The limit is reached: a cursor continues after the last row.
        const cursor: Cursor = {
          tenant,
          query,
          timeNs: last!.timeNs,
          stream: containerKey(last!.source),
          seq: last!.seq,
          id: last!.id,
        };
        return { nextCursor: encodeCursor(cursor) };
      }
    }
  } finally {
    await Promise.all(sources.map((s) => s.pages.return?.()));
  }
  return {};
}

/**
 * Rows a stream is expected to give to a limited merge: its share, with room for unevenness (a
 * hint only: a stream that has more to give is read further).
 */
function shareOf(limit: number | undefined, streams: number): number | undefined {
  if (limit === undefined) return undefined;
  return streams <= 1 ? limit : Math.ceil((limit / streams) * 1.25) + 16;
}

function combine(
  stream: ((stream: string) => boolean) | undefined,
  line: ((line: string) => boolean) | undefined,
): ((row: OrderedRow) => boolean) | undefined {
  if (stream === undefined && line === undefined) return undefined;
  if (stream === undefined) return (row) => line!(row.log);
  if (line === undefined) return (row) => stream(row.stream);
  return (row) => stream(row.stream) && line(row.log);
}

interface Source {
  info: StreamInfo;
  key: string;
  /** Rank in merge order (by key). */
  index: number;
  pages: AsyncIterator<OrderedRow[]>;
}

/** One stream: its pages as they come, each row told its source. */
async function* single(source: Source): AsyncGenerator<ResultRow[]> {
  for (;;) {
    const next = await source.pages.next();
    if (next.done) return;
    const page = next.value as ResultRow[];
    for (const row of page) row.source = source.info;
    yield page;
  }
}

/** Rows of a merged page: no more than this many before a page is handed on. */
const MERGED_PAGE_ROWS = 1000;

/**
 * k-way merge: a binary heap of the streams by their current row, in the direction: time, then
 * the stream's rank, then seq and id. Stable for equal times, the same order on every run.
 */
async function* merge(sources: Source[], direction: Direction): AsyncGenerator<ResultRow[]> {
  interface Head {
    source: Source;
    page: OrderedRow[];
    at: number;
  }
  const sign = direction === "forward" ? 1 : -1;
  const before = (a: Head, b: Head): boolean => {
    const x = a.page[a.at]!;
    const y = b.page[b.at]!;
    if (x.timeNs !== y.timeNs) return (x.timeNs < y.timeNs ? -1 : 1) * sign < 0;
    if (a.source.index !== b.source.index) return (a.source.index - b.source.index) * sign < 0;
    if (x.seq !== y.seq) return (x.seq - y.seq) * sign < 0;
    return (x.id < y.id ? -1 : 1) * sign < 0;
  };
  const heap: Head[] = [];
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) return;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  const nextPage = async (source: Source): Promise<OrderedRow[] | undefined> => {
    for (;;) {
      const next = await source.pages.next();
      if (next.done) return undefined;
      if (next.value.length > 0) return next.value;
    }
  };
  // The first page of every stream, read in parallel.
  const firsts = await Promise.all(sources.map(nextPage));
  firsts.forEach((page, i) => {
    if (page !== undefined) {
      heap.push({ source: sources[i]!, page, at: 0 });
      up(heap.length - 1);
    }
  });
  let out: ResultRow[] = [];
  while (heap.length > 0) {
    const head = heap[0]!;
    const row = head.page[head.at]! as ResultRow;
    row.source = head.source.info;
    out.push(row);
    if (++head.at === head.page.length) {
      const page = await nextPage(head.source);
      if (page === undefined) {
        const tail = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = tail;
          down(0);
        }
      } else {
        head.page = page;
        head.at = 0;
        down(0);
      }
    } else {
      down(0);
    }
    if (out.length >= MERGED_PAGE_ROWS) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
}
