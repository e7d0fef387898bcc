// The chunk table of the Cassandra store: how a window's chunks are listed and fetched for a read
// (the merge itself is chunk-merge.ts), how a chunk is kept under the request limit, how a read
// merges the rows of the tables from before chunks with those of chunks, and the compaction that
// merges the small chunks a window receives (one per request) into few large ones.
//
//   log_chunks  PRIMARY KEY ((namespace, pod_name, container_name, window), first_ts, chunk)
//               window: start of the chunk's 5-minute window (chunk.ts, WINDOW_NS), epoch ns, as
//               every time of this table; first_ts, last_ts: its first and last line times;
//               chunk: its content-derived key (chunkKey: the times and ids of its lines), so that
//               a resent batch, or two replicas compacting the same chunks, write the same row;
//               lines, text_bytes: its size; born: when its lines were first stored (µs, see
//               below); data: encodeChunk's bytes.
//   log_windows PRIMARY KEY ((namespace, pod_name, container_name, day), window)
//               which windows of a day hold chunks (log_days lists the days).
//
// Compaction, and why it is safe with several replicas, concurrent reads and crashes:
//   - it lists a window's chunks (with their write times), merges runs of small or overlapping
//     chunks in time order (compactionGroups), streaming: only the chunks that overlap the point
//     reached are decoded at once, and full outputs are written as they are cut;
//   - outputs are written (at the store's consistency) and seen by a listing before any input is
//     deleted: a crash leaves inputs and outputs both, which reads deduplicate (by time and id)
//     and the next compaction merges;
//   - an input is deleted with its own write time (USING TIMESTAMP): only the version listed
//     goes, never a row another replica wrote again under the same key since (its output, or a
//     resend); an input whose key is also an output is never deleted;
//   - two replicas merging the same chunks produce the same outputs (same keys, same bytes);
//     merging different sets, they produce overlapping outputs, which reads deduplicate and a
//     later compaction merges.
//   A read that lists a chunk that is then compacted away finds it gone when it fetches it, and
//   reads again from the last row it gave (ChunkGone): the outputs were written before.
//
// Which copy of a line stays, where chunks overlap: the first stored. Writes are blind, so a
// resend cut differently stores its lines again, with the order numbers (seq) of its own batch;
// the copy of the chunk born first (`born`: the time of the write that made it; of a compaction
// output, the earliest of its lines' copies) wins, on reads as in compaction, so that a resend
// never moves a line that was stored before (as in the embedded store, which never stores it
// again). Copies born at the same microsecond fall to mergeChunks' rule (the lower seq). A
// byte-identical resend writes its chunk again with a later born: only lines it shares with a
// chunk stored between the first write and the resend (a resend cut differently) can then move.
import type cassandra from "cassandra-driver";
import { ChunkGone, type ChunkRef } from "./chunk-merge.ts";
import {
  COMPACT_LEVEL,
  cutChunks,
  decodeChunk,
  encodeChunk,
  idOf,
  lineOf,
  MAX_CHUNK_LINES,
  MAX_CHUNK_TEXT_BYTES,
  mergeLines,
  type ChunkLine,
  type DecodedChunk,
  type EncodedChunk,
} from "./chunk.ts";
import { compositeKey } from "./lines.ts";
import { isAfter } from "./reading.ts";
import { ROW_OVERHEAD_BYTES, type Direction, type OrderedRow, type Position } from "./store.ts";

/** The queries the chunk table needs, run by the store (consistency, semaphores, error mapping). */
export interface ChunkDb {
  read(query: string, params: unknown[], options: { fetchSize?: number; pageState?: string }): Promise<cassandra.types.ResultSet>;
  write(query: string, params: unknown[]): Promise<unknown>;
  /** An unlogged batch of statements of one partition. */
  batch(statements: { query: string; params: unknown[] }[]): Promise<unknown>;
}

/** A chunk as a listing names it. */
export interface ListedChunk {
  firstNs: bigint;
  lastNs: bigint;
  key: bigint;
  lines: number;
  textBytes: number;
  /** When its lines were first stored (µs): of two copies of a line, the one born first stays. */
  born: bigint;
  /** The row's write time (µs), when listed for compaction. */
  writtenAt?: bigint;
}

/** A chunk's place in its partition, as a map key. */
function chunkRowId(c: { firstNs: bigint; key: bigint }): string {
  return `${c.firstNs}/${c.key}`;
}

/** Chunks fetched at once at most (one statement per count is prepared). */
const MAX_FETCH_CHUNKS = 16;
/** Text a fetch of several chunks holds at most (the first chunk is fetched whatever its size). */
const FETCH_TEXT_BYTES = 4 * 1024 * 1024;
/** Deletes per unlogged batch (Cassandra warns above 5 KiB of batch, refuses above 50 KiB). */
const DELETE_BATCH = 40;
/** Rows of mergeOrdered's first page without a limit hint; pages double up to MAX_PAGE_ROWS. */
const FIRST_PAGE_ROWS = 256;
const MAX_PAGE_ROWS = 10_000;
/** Rows per page of a listing: a window holds one chunk per request until it is compacted. */
const LISTING_FETCH = 5000;

export class ChunkTable {
  readonly insert: string;
  readonly insertWithTtl: string;
  private readonly listing: string;
  private readonly listingWithTime: string;
  private readonly fetches: string[] = [];
  private readonly deleteVersion: string;

  constructor(
    private readonly db: ChunkDb,
    keyspace: string,
  ) {
    const ks = keyspace;
    const where = "namespace = ? AND pod_name = ? AND container_name = ? AND window = ?";
    const columns = "namespace, pod_name, container_name, window, first_ts, chunk, last_ts, lines, text_bytes, born, data";
    this.insert = `INSERT INTO ${ks}.log_chunks (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
    this.insertWithTtl = `${this.insert} USING TTL ?`;
    const listed = "first_ts, chunk, last_ts, lines, text_bytes, born";
    this.listing = `SELECT ${listed} FROM ${ks}.log_chunks WHERE ${where} AND first_ts <= ?`;
    this.listingWithTime = `SELECT ${listed}, WRITETIME(last_ts) AS written FROM ${ks}.log_chunks WHERE ${where}`;
    for (let n = 1; n <= MAX_FETCH_CHUNKS; n++) {
      const keys = Array.from({ length: n }, () => "(?, ?)").join(", ");
      this.fetches.push(`SELECT first_ts, chunk, data FROM ${ks}.log_chunks WHERE ${where} AND (first_ts, chunk) IN (${keys})`);
    }
    this.deleteVersion = `DELETE FROM ${ks}.log_chunks USING TIMESTAMP ? WHERE ${where} AND first_ts = ? AND chunk = ?`;
  }

  /**
   * The chunks of a window (names: stored namespace, pod, container) that begin at or before
   * endNs, in (first_ts, chunk) order; with their write times for compaction.
   */
  async list(names: readonly string[], window: bigint, endNs?: bigint, withWriteTime = false): Promise<ListedChunk[]> {
    const out: ListedChunk[] = [];
    const query = withWriteTime ? this.listingWithTime : this.listing;
    const params = withWriteTime ? [...names, window] : [...names, window, endNs ?? window + (1n << 62n)];
    let pageState: string | undefined;
    do {
      const rs = await this.db.read(query, params, { fetchSize: LISTING_FETCH, pageState });
      for (const r of rs.rows) {
        out.push({
          firstNs: r.first_ts as bigint,
          lastNs: r.last_ts as bigint,
          key: r.chunk as bigint,
          lines: r.lines as number,
          textBytes: r.text_bytes as number,
          born: r.born as bigint,
          writtenAt: withWriteTime ? (r.written as bigint) : undefined,
        });
      }
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return out;
  }

  /** The data of some chunks of a window (at most MAX_FETCH_CHUNKS), by chunkRowId; a chunk gone is absent. */
  async fetch(names: readonly string[], window: bigint, chunks: readonly ListedChunk[]): Promise<Map<string, Buffer>> {
    const params: unknown[] = [...names, window];
    for (const c of chunks) params.push(c.firstNs, c.key);
    const found = new Map<string, Buffer>();
    let pageState: string | undefined;
    do {
      const rs = await this.db.read(this.fetches[chunks.length - 1]!, params, { fetchSize: MAX_FETCH_CHUNKS, pageState });
      for (const r of rs.rows) found.set(chunkRowId({ firstNs: r.first_ts as bigint, key: r.chunk as bigint }), r.data as Buffer);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return found;
  }

  /** The parameters of an insert of a chunk (ttl: undefined for the table default). */
  insertParams(names: readonly unknown[], window: bigint, chunk: EncodedChunk, born: bigint, ttl: number | undefined): unknown[] {
    const params = [...names, window, chunk.firstNs, chunk.key, chunk.lastNs, chunk.lines, chunk.textBytes, born, chunk.data];
    if (ttl !== undefined) params.push(ttl);
    return params;
  }

  async write(names: readonly string[], window: bigint, chunk: EncodedChunk, born: bigint, ttl: number | undefined) {
    await this.db.write(ttl === undefined ? this.insert : this.insertWithTtl, this.insertParams(names, window, chunk, born, ttl));
  }

  /**
   * Deletes the versions of chunks listed (each at its listed write time: a row written again
   * since stays), in single-partition batches; stops between batches once `stop` says so.
   */
  async deleteListed(names: readonly string[], window: bigint, chunks: readonly ListedChunk[], stop: () => boolean) {
    for (let k = 0; k < chunks.length; k += DELETE_BATCH) {
      if (stop()) return;
      const statements = chunks.slice(k, k + DELETE_BATCH).map((c) => ({
        query: this.deleteVersion,
        params: [c.writtenAt!, ...names, window, c.firstNs, c.key],
      }));
      await this.db.batch(statements);
    }
  }
}

/**
 * How much a read fetches at once. A read under a limit (the last 100 lines) fetches one chunk,
 * then two, four, ...: it may need no more. A scan fetches up to FETCH_TEXT_BYTES of chunks at
 * once and the next fetch ahead, so that it is not one round trip per chunk.
 */
export class FetchPlan {
  private loaded = 0;
  private size: number;

  constructor(readonly limited: boolean) {
    this.size = limited ? 1 : MAX_FETCH_CHUNKS;
  }

  /** Chunks the next fetch may take; grows with each fetch. */
  nextFetchSize(): number {
    const n = this.size;
    this.size = Math.min(MAX_FETCH_CHUNKS, this.size * 2);
    return n;
  }

  /** Whether to fetch ahead of what the merge asked for: always for a scan, after two chunks under a limit. */
  ahead(): boolean {
    return !this.limited || this.loaded >= 2;
  }

  loadedOne(): void {
    this.loaded++;
  }
}

/**
 * The chunks of one window listing (in the order they are merged), fetched in groups a group
 * ahead, decoded, each without the lines that a chunk born before it holds too (see above).
 */
export class WindowChunks {
  /** Per chunk, the fetch of its group, once asked. */
  private readonly fetches: (Promise<Map<string, Buffer>> | undefined)[];
  /** Per chunk, its decoded lines (all of them) while something still needs them. */
  private readonly decoded: (Promise<DecodedChunk> | undefined)[];
  /** Per chunk, the chunks born before it that overlap it in time, and the loads that need it. */
  private readonly earlier: number[][];
  private readonly uses: number[];
  private next = 0;

  constructor(
    private readonly table: ChunkTable,
    private readonly names: readonly string[],
    private readonly window: bigint,
    private readonly chunks: readonly ListedChunk[],
    private readonly plan: FetchPlan,
    private readonly onData?: (i: number, data: Buffer) => void,
  ) {
    this.fetches = new Array(chunks.length);
    this.decoded = new Array(chunks.length);
    this.earlier = bornBefore(chunks);
    this.uses = chunks.map(() => 1);
    for (const list of this.earlier) for (const j of list) this.uses[j]!++;
  }

  /** Fetches the next group of chunks not yet asked for, if any. */
  /** Whether a fetch of this window was requested. */
  started(): boolean {
    return this.next > 0;
  }

  request(): void {
    const start = this.next;
    if (start >= this.chunks.length) return;
    const most = this.plan.nextFetchSize();
    let end = start + 1;
    let bytes = this.chunks[start]!.textBytes;
    while (end < this.chunks.length && end - start < most && bytes + this.chunks[end]!.textBytes <= FETCH_TEXT_BYTES) {
      bytes += this.chunks[end]!.textBytes;
      end++;
    }
    const fetch = this.table.fetch(this.names, this.window, this.chunks.slice(start, end));
    fetch.catch(() => {}); // observed by the load that needs it
    for (let i = start; i < end; i++) this.fetches[i] = fetch;
    this.next = end;
  }

  /** Chunk i's lines, all of them; throws ChunkGone when it is no longer stored. */
  private whole(i: number): Promise<DecodedChunk> {
    let d = this.decoded[i];
    if (d === undefined) {
      d = (async () => {
        while (this.fetches[i] === undefined) this.request();
        const found = await this.fetches[i]!;
        const id = chunkRowId(this.chunks[i]!);
        const data = found.get(id);
        if (data === undefined) throw new ChunkGone(`chunk ${id} of window ${this.window} is gone`);
        found.delete(id); // decoded once: let the bytes go
        this.onData?.(i, data);
        return decodeChunk(data);
      })();
      d.catch(() => {}); // observed by the loads that need it
      this.decoded[i] = d;
    }
    return d;
  }

  private release(i: number): void {
    if (--this.uses[i]! === 0) this.decoded[i] = undefined;
  }

  /** Chunk i (to be asked once, in order), without the lines of chunks born before it. */
  async load(i: number): Promise<DecodedChunk> {
    while (this.fetches[i] === undefined) this.request();
    if (this.plan.ahead() && this.next < this.chunks.length && this.fetches[this.next - 1] === this.fetches[i]) this.request();
    const chunk = await this.whole(i);
    this.release(i);
    const earlier = this.earlier[i]!;
    this.plan.loadedOne();
    if (earlier.length === 0) return chunk;
    const others = await Promise.all(earlier.map((j) => this.whole(j)));
    for (const j of earlier) this.release(j);
    return withoutLinesOf(chunk, others);
  }
}

/**
 * For each chunk, the chunks born strictly before it that overlap it in time (they may hold some
 * of its lines): none for chunks that overlap nothing, the usual case.
 */
function bornBefore(chunks: readonly ListedChunk[]): number[][] {
  const out = chunks.map((): number[] => []);
  if (chunks.length < 2) return out;
  const byFirst = chunks.map((_, i) => i).sort((a, b) => cmp(chunks[a]!.firstNs, chunks[b]!.firstNs));
  // The latest last time of byFirst[0..k]: scanning back from a chunk's end stops where it is
  // earlier than the chunk's first time (nothing before overlaps).
  const reach: bigint[] = [];
  for (const i of byFirst) reach.push(reach.length === 0 ? chunks[i]!.lastNs : max(reach.at(-1)!, chunks[i]!.lastNs));
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    // Chunks that begin at or before c's last time: a prefix of byFirst.
    let lo = 0;
    let hi = byFirst.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (chunks[byFirst[mid]!]!.firstNs <= c.lastNs) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo - 1; k >= 0 && reach[k]! >= c.firstNs; k--) {
      const j = byFirst[k]!;
      const o = chunks[j]!;
      if (j !== i && o.lastNs >= c.firstNs && o.born < c.born) out[i]!.push(j);
    }
  }
  return out;
}

/** A chunk without the lines (by time and id) that any of `others` holds. */
export function withoutLinesOf(c: DecodedChunk, others: readonly DecodedChunk[]): DecodedChunk {
  const keep: number[] = [];
  for (let i = 0; i < c.n; i++) {
    const t = c.ts[i]!;
    const id = idOf(c, i);
    if (!others.some((o) => holds(o, t, id))) keep.push(i);
  }
  return keep.length === c.n ? c : subset(c, keep);
}

/** Whether a chunk holds the line (time, id). */
function holds(c: DecodedChunk, t: bigint, id: bigint): boolean {
  let lo = 0;
  let hi = c.n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c.ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  for (let k = lo; k < c.n && c.ts[k] === t; k++) if (idOf(c, k) === id) return true;
  return false;
}

/** Some lines of a chunk (ascending indexes), as a chunk. */
function subset(c: DecodedChunk, keep: readonly number[]): DecodedChunk {
  const n = keep.length;
  const pick = <A extends BigInt64Array | Float64Array | Uint32Array>(a: A, make: (n: number) => A): A => {
    const out = make(n);
    for (let k = 0; k < n; k++) out[k] = a[keep[k]!]!;
    return out;
  };
  const starts = new Uint32Array(n + 1);
  const parts: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const i = keep[k]!;
    parts.push(c.text.subarray(c.starts[i]!, c.starts[i + 1]!));
    starts[k + 1] = starts[k]! + (c.starts[i + 1]! - c.starts[i]!);
  }
  return {
    n,
    ts: pick(c.ts, (k) => new BigInt64Array(k)),
    seq: pick(c.seq, (k) => new Float64Array(k)),
    ids: pick(c.ids, (k) => new BigInt64Array(k)),
    streams: c.streams,
    levels: c.levels,
    sources: c.sources,
    streamOf: c.streamOf && pick(c.streamOf, (k) => new Uint32Array(k)),
    levelOf: c.levelOf && pick(c.levelOf, (k) => new Uint32Array(k)),
    sourceOf: c.sourceOf && pick(c.sourceOf, (k) => new Uint32Array(k)),
    metadata: c.metadata && keep.map((i) => c.metadata![i] ?? null),
    text: Buffer.concat(parts),
    starts,
    ascii: c.ascii,
  };
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Window listings a read has in flight at most (a scan, or a limited read over sparse windows). */
const MAX_WINDOWS_AHEAD = 16;
/** A listed window with at most this much text is fetched before its turn (see chunkRefs). */
const EARLY_FETCH_TEXT_BYTES = 64 * 1024;

/**
 * The chunks a read merges, in the order mergeChunks takes (forward: first time ascending;
 * backward: last time descending), window by window as `windows` lists them. Windows are listed
 * ahead: a scan up to MAX_WINDOWS_AHEAD; a read under a limit as many as the lines it still needs
 * call for, going by the lines of the windows listed so far (one or two when the newest window
 * holds the last 100 lines; many when windows hold a line or two each). Once the fetch plan
 * fetches ahead, a window's first chunks are fetched as soon as its listing is in, so that sparse
 * windows are not one round trip after another.
 */
export async function* chunkRefs(
  table: ChunkTable,
  names: readonly string[],
  windows: AsyncGenerator<bigint>,
  startNs: bigint,
  endNs: bigint,
  forward: boolean,
  limitHint: number | undefined,
): AsyncGenerator<ChunkRef> {
  const plan = new FetchPlan(limitHint !== undefined);
  type Listed = { chunks: ListedChunk[]; fetcher: WindowChunks };
  const ahead: Promise<Listed>[] = [];
  let listed = false;
  let windowsSeen = 0;
  let linesSeen = 0;
  const depth = (): number => {
    if (limitHint === undefined) return MAX_WINDOWS_AHEAD;
    if (windowsSeen === 0) return 2;
    const perWindow = Math.max(linesSeen / windowsSeen, 1 / 64);
    return Math.max(2, Math.min(MAX_WINDOWS_AHEAD, Math.ceil((limitHint - linesSeen) / perWindow)));
  };
  try {
    for (;;) {
      while (!listed && ahead.length < depth()) {
        const next = await windows.next();
        if (next.done) listed = true;
        else {
          const window = next.value;
          const entry = table.list(names, window, endNs).then((all) => {
            const chunks = all.filter((c) => c.lastNs >= startNs);
            if (!forward) chunks.sort((a, b) => (a.lastNs > b.lastNs ? -1 : a.lastNs < b.lastNs ? 1 : 0));
            const fetcher = new WindowChunks(table, names, window, chunks, plan);
            // A small window (sparse logs) is fetched as soon as it is listed, once the plan
            // fetches ahead: its data is little, and waiting for its turn would cost a round trip
            // per window. A large one is fetched when its turn comes (bounded read-ahead).
            let text = 0;
            for (const c of chunks) text += c.textBytes;
            if (chunks.length > 0 && text <= EARLY_FETCH_TEXT_BYTES && plan.ahead()) fetcher.request();
            return { chunks, fetcher };
          });
          entry.catch(() => {}); // observed when its turn comes
          ahead.push(entry);
        }
      }
      const head = ahead.shift();
      if (head === undefined) return;
      const { chunks, fetcher } = await head;
      windowsSeen++;
      for (const c of chunks) linesSeen += c.lines;
      if (chunks.length === 0) continue;
      if (plan.ahead() && !fetcher.started()) fetcher.request();
      for (let i = 0; i < chunks.length; i++) {
        const c = chunks[i]!;
        yield { firstNs: c.firstNs, lastNs: c.lastNs, load: () => fetcher.load(i) };
      }
    }
  } finally {
    await windows.return(undefined);
  }
}

/** A chunk's lines, with what a write needs to know of each: its entry in the batch. */
export type IndexedLine = ChunkLine & { at: number };

/**
 * Lines (sorted, unique) as chunks whose data fits in one request of maxBytes: a chunk too large
 * is halved until it fits (deterministically, so that a resend writes the same chunks); a single
 * line that cannot fit is returned apart.
 */
export function encodeWithin<L extends ChunkLine>(
  lines: readonly L[],
  level: number,
  maxBytes: number,
): { chunks: { chunk: EncodedChunk; lines: readonly L[] }[]; tooLarge: { line: L; bytes: number }[] } {
  const out: { chunks: { chunk: EncodedChunk; lines: readonly L[] }[]; tooLarge: { line: L; bytes: number }[] } = {
    chunks: [],
    tooLarge: [],
  };
  const encode = (part: readonly L[]) => {
    const chunk = encodeChunk(part, level);
    if (chunk.data.length <= maxBytes) out.chunks.push({ chunk, lines: part });
    else if (part.length === 1) out.tooLarge.push({ line: part[0]!, bytes: chunk.data.length });
    else {
      const half = part.length >>> 1;
      encode(part.slice(0, half));
      encode(part.slice(half));
    }
  };
  encode(lines);
  return out;
}

/**
 * The rows of several ordered streams of pages (the tables from before chunks, and chunks) as one,
 * in the direction: each line once by (time, id), where two streams hold it the copy of the first
 * stream kept (list the one stored first first), rows not after `after` left out, in pages of
 * about pageBytes; under a limit, the first page holds about what the limit asks (as mergeChunks'
 * pages), so that a read that stops there reads little more.
 */
export async function* mergeOrdered(
  sources: AsyncIterable<OrderedRow[]>[],
  direction: Direction,
  after: Position | undefined,
  pageBytes: number,
  limitHint?: number,
): AsyncGenerator<OrderedRow[]> {
  const forward = direction === "forward";
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const buffers = iterators.map(() => ({ rows: [] as OrderedRow[], at: 0, done: false }));
  const head = async (k: number): Promise<OrderedRow | undefined> => {
    const b = buffers[k]!;
    while (b.at >= b.rows.length && !b.done) {
      const next = await iterators[k]!.next();
      if (next.done) b.done = true;
      else {
        b.rows = next.value;
        b.at = 0;
      }
    }
    return b.rows[b.at];
  };
  let page: OrderedRow[] = [];
  let bytes = 0;
  let pageRows = Math.min(MAX_PAGE_ROWS, Math.max(16, limitHint ?? FIRST_PAGE_ROWS));
  const emit = (r: OrderedRow) => {
    if (after !== undefined && r.timeNs === after.timeNs && !isAfter(r, after, direction)) return;
    page.push(r);
    bytes += r.log.length + ROW_OVERHEAD_BYTES;
  };
  try {
    for (;;) {
      const heads = await Promise.all(buffers.map((_, k) => head(k)));
      const live = heads.filter((h) => h !== undefined).length;
      if (live === 0) break;
      if (live === 1) {
        // One stream left: its rows go out as they are.
        const k = heads.findIndex((h) => h !== undefined);
        const b = buffers[k]!;
        for (; b.at < b.rows.length; b.at++) emit(b.rows[b.at]!);
      } else {
        let t: bigint | undefined;
        for (const h of heads) if (h !== undefined && (t === undefined || (forward ? h.timeNs < t : h.timeNs > t))) t = h.timeNs;
        // The run of that time from every stream (it may cross a page border), each line once:
        // the first stream's copy. Each stream's own run holds a line once.
        const run: OrderedRow[] = [];
        const seen = new Set<bigint>();
        for (let k = 0; k < buffers.length; k++) {
          for (let h = await head(k); h !== undefined && h.timeNs === t; h = await head(k)) {
            if (!seen.has(h.id)) {
              seen.add(h.id);
              run.push(h);
            }
            buffers[k]!.at++;
          }
        }
        if (run.length > 1) {
          run.sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          if (!forward) run.reverse();
        }
        for (const r of run) emit(r);
      }
      if (bytes >= pageBytes || page.length >= pageRows) {
        yield page;
        page = [];
        bytes = 0;
        pageRows = Math.min(MAX_PAGE_ROWS, pageRows * 2);
      }
    }
    if (page.length > 0) yield page;
  } finally {
    await Promise.all(iterators.map((it) => it.return?.()));
  }
}

/** A window's chunks that compaction merges: at least half full, they are left as they are. */
export function isSmall(c: ListedChunk): boolean {
  return c.textBytes < MAX_CHUNK_TEXT_BYTES / 2 && c.lines < MAX_CHUNK_LINES / 2;
}

/**
 * What a compaction of a window merges, from its listing in first-time order: runs of chunks
 * that are small or overlap another chunk, each run merged into its own outputs. A large chunk
 * that overlaps nothing stays, and parts runs: outputs never span it, so that they overlap
 * nothing either. A run of one chunk has nothing to merge.
 */
export function compactionGroups(listed: readonly ListedChunk[]): ListedChunk[][] {
  // Clusters of chunks that overlap (closed intervals), in time order.
  const clusters: ListedChunk[][] = [];
  let cluster: ListedChunk[] | undefined;
  let lastNs = 0n;
  for (const c of listed) {
    if (cluster !== undefined && c.firstNs <= lastNs) {
      cluster.push(c);
      if (c.lastNs > lastNs) lastNs = c.lastNs;
    } else {
      clusters.push((cluster = [c]));
      lastNs = c.lastNs;
    }
  }
  const groups: ListedChunk[][] = [];
  let group: ListedChunk[] = [];
  for (const c of clusters) {
    if (c.length > 1 || isSmall(c[0]!)) group.push(...c);
    else {
      if (group.length > 1) groups.push(group);
      group = [];
    }
  }
  if (group.length > 1) groups.push(group);
  return groups;
}

export interface CompactionSettings {
  /**
   * A window this process wrote to is compacted once no write reached it for this long (ms);
   * negative: only by compactNow and compactWindow.
   */
  afterMs: number;
  /** ... or as soon as this process wrote this many chunks to it since its last compaction. */
  chunks: number;
  /** The largest chunk data sent in one request. */
  maxBytes: number;
  /** An output chunk's TTL from its last line (undefined: the table default). */
  ttlOf(lastNs: bigint, seconds: number): number | undefined;
  /** A compaction that failed (logged and counted by the store); true when it may pass later. */
  onError(error: unknown, window: bigint): boolean;
}

export interface CompactionStats {
  /** Windows whose chunks were merged. */
  windows: number;
  /** Chunks deleted, merged into others. */
  inputs: number;
  /** Chunks written. */
  outputs: number;
}

/** A window this process wrote to since its last compaction. */
interface DirtyWindow {
  names: string[];
  window: bigint;
  /** The retention of its namespace (0: forever): the TTL of its outputs. */
  seconds: number;
  lastWriteMs: number;
  /** Writes to it (chunks), and those since its last compaction. */
  writes: number;
  recent: number;
  /** Spreads the compactions of replicas that wrote to the same window. */
  jitterMs: number;
  failures: number;
}

/** Text of the chunks being merged at once (overlapping at the point reached), at most. */
const MAX_PENDING_TEXT_BYTES = 32 * 1024 * 1024;
/** Outputs being written at once by a compaction. */
const COMPACTION_WRITES = 4;
/** A window whose compaction failed (or gave way) this many times in a row is left as it is. */
const MAX_FAILURES = 3;
/** How long close() waits for a compaction under way before it goes on without it. */
const CLOSE_WAIT_MS = 10_000;

const ZERO: CompactionStats = { windows: 0, inputs: 0, outputs: 0 };

/**
 * Merges the small chunks of the windows this process wrote to, in the background, one window at
 * a time: once a window had no write for `afterMs` (with some jitter), or once it received
 * `chunks` chunks from this process. Memory: the outputs are cut and written as the merge goes,
 * only the chunks that overlap the point reached are held decoded (at most MAX_PENDING_TEXT_BYTES
 * of text; a window that needs more is left as it is), and a fetch holds at most
 * FETCH_TEXT_BYTES.
 */
export class Compactor {
  private readonly dirty = new Map<string, DirtyWindow>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the timer is the one armed to look now; whether a look waits to run. */
  private timerSoon = false;
  private looking = false;
  /** The compaction under way (one at a time); chained. */
  private current: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly table: ChunkTable,
    private readonly settings: CompactionSettings,
  ) {}

  /** Notes a chunk written to a window (names: stored namespace, pod, container). */
  written(names: string[], window: bigint, seconds: number): void {
    if (this.closed) return;
    const key = compositeKey(...names, String(window));
    let d = this.dirty.get(key);
    if (d === undefined) {
      const jitterMs = Math.random() * Math.max(0, this.settings.afterMs) * 0.5;
      d = { names, window, seconds, lastWriteMs: 0, writes: 0, recent: 0, jitterMs, failures: 0 };
      this.dirty.set(key, d);
    }
    d.lastWriteMs = Date.now();
    d.writes++;
    d.recent++;
    this.arm(d.recent >= this.settings.chunks);
  }

  /**
   * Makes sure a look for due windows comes: within a tick (a quarter of afterMs, 50 ms to 1 s),
   * or now (soon). One look at a time waits to run: writes that arrive meanwhile add nothing.
   */
  private arm(soon = false): void {
    if (this.closed || this.settings.afterMs < 0) return;
    if (this.timer !== undefined) {
      if (!soon || this.timerSoon) return;
      clearTimeout(this.timer);
    }
    this.timerSoon = soon;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.looking) return; // the look waiting to run arms the next
        this.looking = true;
        void this.serial(() => {
          this.looking = false;
          return this.compactDue();
        }).finally(() => {
          if (this.dirty.size > 0) this.arm();
        });
      },
      soon ? 0 : Math.min(1000, Math.max(50, this.settings.afterMs / 4)),
    );
    this.timer.unref?.();
  }

  /** Runs a task after the one under way: one compaction at a time. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.current.then(task, task);
    this.current = run.catch(() => {});
    return run;
  }

  /** Compacts the windows that are due, oldest write first. */
  private async compactDue(): Promise<void> {
    const now = Date.now();
    const due = [...this.dirty]
      .filter(([, d]) => d.recent >= this.settings.chunks || now - d.lastWriteMs >= this.settings.afterMs + d.jitterMs)
      .sort(([, a], [, b]) => a.lastWriteMs - b.lastWriteMs);
    for (const [key, d] of due) {
      if (this.closed) return;
      await this.compactDirty(key, d).catch(() => {}); // reported by compactDirty
    }
  }

  /** Compacts a window written to; forgets it unless written again meanwhile, or to be tried again. */
  private async compactDirty(key: string, d: DirtyWindow): Promise<CompactionStats> {
    const writes = d.writes;
    const recent = d.recent;
    try {
      const result = await this.compact(d.names, d.window, d.seconds);
      if (result.abandoned) {
        // Another replica moved the chunks meanwhile, or the store is closing: later, a few
        // times at most.
        if (++d.failures >= MAX_FAILURES) this.dirty.delete(key);
        else d.lastWriteMs = Date.now();
        return ZERO;
      }
      d.failures = 0;
      if (d.writes === writes) this.dirty.delete(key);
      else d.recent -= recent;
      return result.stats;
    } catch (error) {
      // A failure that may pass (the cluster away) is tried again once the window is due again,
      // however often; one that will not, a few times.
      const transient = this.settings.onError(error, d.window);
      if (!transient && ++d.failures >= MAX_FAILURES) this.dirty.delete(key);
      else d.lastWriteMs = Date.now();
      throw error;
    }
  }

  /**
   * Windows this server may not have written (a crash, or a stop within afterMs of a write, left
   * them uncompacted): each is listed, and those that hold chunks to merge are handed to the
   * compaction as if just written. Listings run `concurrency` at a time. Resolves with the number
   * of windows handed over (the store closing stops the look).
   */
  async recover(windows: Iterable<{ names: string[]; window: bigint; seconds: number }>, concurrency = 8): Promise<number> {
    const queue = [...windows];
    let found = 0;
    const worker = async () => {
      for (let w = queue.pop(); w !== undefined && !this.closed; w = queue.pop()) {
        const listed = await this.table.list(w.names, w.window);
        if (compactionGroups(listed).length === 0) continue;
        found++;
        this.written(w.names, w.window, w.seconds);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return found;
  }

  /** Compacts every window written to since its last compaction, now (tests, bench). */
  compactNow(): Promise<CompactionStats> {
    return this.serial(async () => {
      const total = { ...ZERO };
      let failure: unknown;
      for (const [key, d] of [...this.dirty]) {
        if (this.closed) break;
        try {
          add(total, await this.compactDirty(key, d));
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure !== undefined) throw failure;
      return total;
    });
  }

  /** Compacts one window, whoever wrote to it (tests). */
  compactWindow(names: string[], window: bigint, seconds: number): Promise<CompactionStats> {
    return this.serial(async () => (await this.compact(names, window, seconds)).stats);
  }

  /** Stops: no compaction starts; one under way stops before its deletes, or is waited for a while. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    let timeout: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.current, new Promise((resolve) => (timeout = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timeout);
  }

  /**
   * One compaction of a window: merge its groups (writing outputs as they are cut), check that a
   * listing sees every output, then delete the inputs that are not outputs, each at its own
   * write time. Abandoned (nothing deleted) when an input is gone meanwhile or the store closes.
   */
  private async compact(
    names: string[],
    window: bigint,
    seconds: number,
  ): Promise<{ stats: CompactionStats; abandoned: boolean }> {
    const abandoned = { stats: ZERO, abandoned: true };
    if (this.closed) return abandoned;
    const listed = await this.table.list(names, window, undefined, true);
    const groups = compactionGroups(listed);
    if (groups.length === 0) return { stats: ZERO, abandoned: false };
    const outputs = new Set<string>();
    let written = 0;
    for (const group of groups) {
      if (this.closed) return abandoned;
      const merged = await this.merge(names, window, seconds, group, outputs);
      if (merged === undefined) return abandoned;
      written += merged;
    }
    // Outputs were written at the store's consistency: a listing at it sees them, or something
    // (another replica) moved them meanwhile, and this compaction deletes nothing.
    const present = new Set((await this.table.list(names, window)).map(chunkRowId));
    for (const id of outputs) if (!present.has(id)) return abandoned;
    if (this.closed) return abandoned;
    const inputs = groups.flat().filter((c) => !outputs.has(chunkRowId(c)));
    await this.table.deleteListed(names, window, inputs, () => this.closed);
    return { stats: { windows: 1, inputs: inputs.length, outputs: written }, abandoned: false };
  }

  /**
   * Merges one group's chunks (first-time order) into outputs, cut as cutChunks cuts the whole
   * (so that the outputs are a function of the lines alone) and written as they are cut. Of a
   * line in several inputs, the copy born first stays (WindowChunks); an output is born when its
   * earliest line was. Lines before the next input's first time are final: no input not yet read
   * holds any. Returns the outputs written (an output that is an input, bytes and birth, is not
   * written again), or undefined when an input is gone.
   */
  private async merge(
    names: string[],
    window: bigint,
    seconds: number,
    group: ListedChunk[],
    outputs: Set<string>,
  ): Promise<number | undefined> {
    const inputs = new Map<string, { born: bigint; hash?: bigint }>(group.map((c) => [chunkRowId(c), { born: c.born }]));
    const chunks = new WindowChunks(this.table, names, window, group, new FetchPlan(false), (i, data) => {
      inputs.get(chunkRowId(group[i]!))!.hash = Bun.hash.wyhash(data);
    });
    const writes = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let written = 0;
    const emit = async (lines: BornLine[]) => {
      const { chunks: encoded, tooLarge } = encodeWithin(lines, COMPACT_LEVEL, this.settings.maxBytes);
      if (tooLarge.length > 0) throw new Error(`a line of ${tooLarge[0]!.bytes} bytes compressed does not fit in a request`);
      for (const { chunk, lines: part } of encoded) {
        let born = part[0]!.born;
        for (const l of part) if (l.born < born) born = l.born;
        const id = chunkRowId(chunk);
        outputs.add(id);
        const input = inputs.get(id);
        if (input !== undefined && input.born === born && input.hash === Bun.hash.wyhash(chunk.data)) continue;
        while (writes.size >= COMPACTION_WRITES) await Promise.race(writes);
        if (failure !== undefined) throw failure.error;
        const write: Promise<void> = this.table
          .write(names, window, chunk, born, this.settings.ttlOf(chunk.lastNs, seconds))
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => writes.delete(write));
        writes.add(write);
        written++;
      }
    };

    let pending: { lines: BornLine[]; textBytes: number }[] = [];
    let buffer: BornLine[] = [];
    const cut = async (final: boolean) => {
      const pieces = cutChunks(buffer) as BornLine[][];
      buffer = final ? [] : (pieces.pop() ?? []);
      for (const piece of pieces) await emit(piece);
    };
    try {
      for (let k = 0; k <= group.length; k++) {
        const until = group[k]?.firstNs;
        const ready: BornLine[][] = [];
        const rest: typeof pending = [];
        for (const p of pending) {
          const n = until === undefined ? p.lines.length : firstAtOrAfter(p.lines, until);
          if (n > 0) ready.push(n === p.lines.length ? p.lines : p.lines.slice(0, n));
          if (n < p.lines.length) rest.push({ lines: n === 0 ? p.lines : p.lines.slice(n), textBytes: p.textBytes });
        }
        pending = rest;
        if (ready.length > 0) {
          // One chunk's lines are sorted and unique already.
          const lines = ready.length === 1 ? ready[0]! : (mergeLines(ready) as BornLine[]);
          buffer = buffer.length === 0 ? lines : buffer.concat(lines);
          await cut(false);
        }
        if (k === group.length) break;
        let chunk: DecodedChunk;
        try {
          chunk = await chunks.load(k);
        } catch (error) {
          if (error instanceof ChunkGone) return undefined;
          throw error;
        }
        const born = group[k]!.born;
        const lines = new Array<BornLine>(chunk.n);
        for (let i = 0; i < chunk.n; i++) lines[i] = Object.assign(lineOf(chunk, i), { born });
        pending.push({ lines, textBytes: chunk.text.length });
        if (pending.reduce((sum, p) => sum + p.textBytes, 0) > MAX_PENDING_TEXT_BYTES) {
          throw new Error(`chunks overlapping over more than ${MAX_PENDING_TEXT_BYTES} bytes of text: left as they are`);
        }
      }
      await cut(true);
    } finally {
      await Promise.all(writes);
    }
    if (failure !== undefined) throw failure.error;
    return written;
  }
}

/** A line being compacted, with the birth of its input's copy. */
type BornLine = ChunkLine & { born: bigint };

function add(total: CompactionStats, more: CompactionStats): void {
  total.windows += more.windows;
  total.inputs += more.inputs;
  total.outputs += more.outputs;
}

/** The first index of sorted lines whose time is at or after t (lines.length: none). */
function firstAtOrAfter(lines: readonly ChunkLine[], t: bigint): number {
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lines[mid]!.timeNs < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
