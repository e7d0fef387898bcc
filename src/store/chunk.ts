// Chunks: the lines of one stream (container) in one time window, stored as one compressed value
// instead of a row per line. Both stores write them (one per container and window of a batch),
// merge the small ones of a window in the background (compaction), and read them through the
// same merge (chunk-merge.ts).
//
// A chunk's lines are sorted by (time, seq, id) and unique by (time, id). Its body, before zstd:
//
//   u8 version (1) · varint n
//   varint k · k strings          the stream names (stdout, stderr, ...) the lines use
//   varint k · k strings          the detected levels
//   varint k · k × 4 strings      the sources: pod id, container id, host, labels (JSON)
//   u8 flags                      1: some line has structured metadata
//   n varint text length (UTF-8 bytes) · the texts, one after another
//   i64 first time · (n-1) varint time deltas (ns, never negative: sorted)
//   n varint seq                  the order of lines of equal time (lines.ts)
//   varint e · e × (varint gap · i64 id)    the line identities (lines.ts) that are not
//                                 lineId(stream, text, 0): almost every line's is, and is derived
//                                 again when read; gap: lines since the previous such line
//                                 (version 1: n × i64 id, every line's)
//   n varint stream · n varint level · n varint source     (each only when k > 1)
//   n strings metadata (JSON; length + 1, 0: none)          (only with flag 1)
//
// The texts come first: a filtered read finds which lines hold its texts before it decodes the
// other columns, and a chunk with no such line costs its decompression and a search, nothing more.
//
// Identities are derived rather than stored because 8 random bytes per line do not compress: on
// real-world logs (Loghub's samples) they were a third of a chunk.
//
// Columns apart, so that zstd sees like next to like (times, lengths, texts). A string is a
// varint byte length and its UTF-8 bytes. The identity of a chunk derives from its content (the
// times and ids of its lines): a resent batch writes the same chunk under the same key.
import { isAscii } from "node:buffer";
import { compositeKey, lineId, parseStringMap } from "./lines.ts";
import type { OrderedRow } from "./store.ts";

/** The version chunks are written in; version 1 (identities stored) is still read. */
const VERSION = 2;
/**
 * zstd levels of chunks written by ingest and by compaction. Level 3 made realistic chunks no
 * smaller than level 1 (69.0 against 68.8 bytes per line over 300,000 corpus lines) at twice the
 * CPU, so both use 1.
 */
export const INGEST_LEVEL = 1;
export const COMPACT_LEVEL = 1;

/** The window of time a chunk lies in: a chunk never spans two. Stores key chunks by it. */
export const WINDOW_SECONDS = 300;
export const WINDOW_NS = BigInt(WINDOW_SECONDS) * 1_000_000_000n;

/**
 * A chunk holds at most this much text (a large batch becomes several chunks) and, as compaction
 * cuts them, this many lines. Larger chunks compress hardly better (1 MiB: 1.6% fewer bytes than
 * 256 KiB on realistic logs), but a read that needs a few lines decodes a whole chunk.
 */
export const MAX_CHUNK_TEXT_BYTES = 256 * 1024;
export const MAX_CHUNK_LINES = 4096;

/** The window a time lies in, by its start (epoch ns, a multiple of WINDOW_NS). */
export function windowOf(timeNs: bigint): bigint {
  const r = timeNs % WINDOW_NS;
  return r < 0n ? timeNs - r - WINDOW_NS : timeNs - r;
}

export interface ChunkSource {
  podId: string;
  dockerId: string;
  host: string;
  /** JSON of the pod's labels, as the stores keep it. */
  labels: string;
}

/** One line as it goes into a chunk. */
export interface ChunkLine {
  timeNs: bigint;
  seq: number;
  id: bigint;
  stream: string;
  level: string;
  source: ChunkSource;
  /** Structured metadata as JSON; null: none. */
  metadata: string | null;
  log: string;
}

/** A chunk as read back: columns, so that filters run without a row object per line. */
export interface DecodedChunk {
  n: number;
  ts: BigInt64Array;
  seq: Float64Array;
  /** Every line's identity (derived on first use: idOf finds one line's for less). */
  ids: BigInt64Array;
  /** Line i's identity without deriving the others' (see idOf); `log`: its text, when at hand. */
  idAt?(i: number, log?: string): bigint;
  streams: string[];
  levels: string[];
  sources: ChunkSource[];
  /** Per line an index into streams, levels, sources (undefined: all 0). */
  streamOf?: Uint32Array;
  levelOf?: Uint32Array;
  sourceOf?: Uint32Array;
  metadata?: (string | null)[];
  /** Every line's text in UTF-8; line i is text[starts[i], starts[i + 1]). */
  text: Buffer;
  starts: Uint32Array;
  /** Every byte of the text is ASCII: a line is its latin1 slice. */
  ascii: boolean;
}

export function compareLines(a: ChunkLine, b: ChunkLine): number {
  return a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Line i's identity: derived for that line alone where the chunk derives them (from `log`, its
 * text, when the caller has made it: hashing a string is faster than hashing the chunk's bytes).
 */
export function idOf(c: DecodedChunk, i: number, log?: string): bigint {
  return c.idAt ? c.idAt(i, log) : c.ids[i]!;
}

/** A line of a decoded chunk. */
export function textOf(c: DecodedChunk, i: number): string {
  const text = c.text as SlicingBuffer;
  return c.ascii ? text.latin1Slice(c.starts[i]!, c.starts[i + 1]!) : text.utf8Slice(c.starts[i]!, c.starts[i + 1]!);
}

/** Node's Buffer slicers (Bun has them too), faster than toString(encoding, ...); not in @types/node. */
interface SlicingBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** A decoded chunk's line i as a row (with pod id, container id and metadata when asked). */
export function rowOf(c: DecodedChunk, i: number, withSource: boolean): OrderedRow {
  const log = textOf(c, i);
  const row: OrderedRow = {
    timeNs: c.ts[i]!,
    seq: c.seq[i]!,
    id: idOf(c, i, log),
    stream: c.streams[c.streamOf ? c.streamOf[i]! : 0]!,
    log,
  };
  if (withSource) {
    const s = c.sources[c.sourceOf ? c.sourceOf[i]! : 0]!;
    row.podId = s.podId;
    row.dockerId = s.dockerId;
    const m = c.metadata?.[i];
    if (m != null) row.metadata = parseStringMap(m);
  }
  return row;
}

/** The first line of a chunk's times whose time is >= t (the length: none). */
export function lowerBound(ts: BigInt64Array, t: bigint): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Every line of a decoded chunk as ChunkLines (compaction, migration, tests). */
export function linesOf(c: DecodedChunk): ChunkLine[] {
  return Array.from({ length: c.n }, (_, i) => lineOf(c, i));
}

/** A decoded chunk's line i as a ChunkLine (compaction, migration). */
export function lineOf(c: DecodedChunk, i: number): ChunkLine {
  return {
    timeNs: c.ts[i]!,
    seq: c.seq[i]!,
    id: idOf(c, i),
    stream: c.streams[c.streamOf ? c.streamOf[i]! : 0]!,
    level: c.levels[c.levelOf ? c.levelOf[i]! : 0]!,
    source: c.sources[c.sourceOf ? c.sourceOf[i]! : 0]!,
    metadata: c.metadata?.[i] ?? null,
    log: textOf(c, i),
  };
}

/** A chunk's key beside its stream and window: a 64-bit hash of its lines' times and ids. */
export function chunkKey(lines: readonly ChunkLine[]): bigint {
  const buf = new BigInt64Array(lines.length * 2);
  for (let i = 0; i < lines.length; i++) {
    buf[2 * i] = lines[i]!.timeNs;
    buf[2 * i + 1] = lines[i]!.id;
  }
  return BigInt.asIntN(64, Bun.hash.wyhash(new Uint8Array(buf.buffer), 0x63686b31n));
}

/** What a store keeps beside a chunk's data. */
export interface EncodedChunk {
  key: bigint;
  firstNs: bigint;
  lastNs: bigint;
  lines: number;
  /** UTF-8 bytes of the texts. */
  textBytes: number;
  data: Uint8Array;
}

/**
 * Lines (sorted by compareLines, unique by (time, id)) → a compressed chunk. `version` 1 (every
 * identity stored) is there for the tests of reading older chunks.
 */
export function encodeChunk(lines: readonly ChunkLine[], level = INGEST_LEVEL, version = VERSION): EncodedChunk {
  const n = lines.length;
  if (n === 0) throw new Error("a chunk holds at least one line");
  const w = new Writer(256 + n * 24);
  w.byte(version);
  w.varint(n);
  const streams = new Table<string>((s) => s);
  const levels = new Table<string>((s) => s);
  const sources = new Table<ChunkSource>((s) => compositeKey(s.podId, s.dockerId, s.host, s.labels));
  const streamOf = new Uint32Array(n);
  const levelOf = new Uint32Array(n);
  const sourceOf = new Uint32Array(n);
  let metadata = false;
  const texts = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const l = lines[i]!;
    streamOf[i] = streams.index(l.stream);
    levelOf[i] = levels.index(l.level);
    sourceOf[i] = sources.index(l.source);
    if (l.metadata !== null) metadata = true;
    texts[i] = l.log;
  }
  w.varint(streams.values.length);
  for (const s of streams.values) w.string(s);
  w.varint(levels.values.length);
  for (const s of levels.values) w.string(s);
  w.varint(sources.values.length);
  for (const s of sources.values) {
    w.string(s.podId);
    w.string(s.dockerId);
    w.string(s.host);
    w.string(s.labels);
  }
  w.byte(metadata ? 1 : 0);
  const all = texts.join("");
  const text = Buffer.from(all, "utf8");
  if (text.length === all.length) for (let i = 0; i < n; i++) w.varint(texts[i]!.length);
  else for (let i = 0; i < n; i++) w.varint(Buffer.byteLength(texts[i]!, "utf8"));
  w.bytes(text);
  let previous = lines[0]!.timeNs;
  w.int64(previous);
  for (let i = 1; i < n; i++) {
    const t = lines[i]!.timeNs;
    w.varintBig(t - previous);
    previous = t;
  }
  for (let i = 0; i < n; i++) w.varint(lines[i]!.seq);
  if (version === 1) for (let i = 0; i < n; i++) w.int64(lines[i]!.id);
  else {
    const stored: number[] = [];
    for (let i = 0; i < n; i++) if (lineId(lines[i]!.stream, texts[i]!, 0) !== lines[i]!.id) stored.push(i);
    w.varint(stored.length);
    let previous = -1;
    for (const i of stored) {
      w.varint(i - previous - 1);
      w.int64(lines[i]!.id);
      previous = i;
    }
  }
  if (streams.values.length > 1) for (let i = 0; i < n; i++) w.varint(streamOf[i]!);
  if (levels.values.length > 1) for (let i = 0; i < n; i++) w.varint(levelOf[i]!);
  if (sources.values.length > 1) for (let i = 0; i < n; i++) w.varint(sourceOf[i]!);
  if (metadata) {
    for (let i = 0; i < n; i++) {
      const m = lines[i]!.metadata;
      if (m === null) w.varint(0);
      else {
        const bytes = Buffer.from(m, "utf8");
        w.varint(bytes.length + 1);
        w.bytes(bytes);
      }
    }
  }
  const data = Bun.zstdCompressSync(w.done(), { level });
  return {
    key: chunkKey(lines),
    firstNs: lines[0]!.timeNs,
    lastNs: lines[n - 1]!.timeNs,
    lines: n,
    textBytes: text.length,
    data,
  };
}

/**
 * A chunk's data → its columns. Throws on data that is not a chunk of a known version. The texts
 * are decoded at once; the other columns when first used (see LazyChunk).
 */
export function decodeChunk(data: Uint8Array): DecodedChunk {
  const r = new Reader(Bun.zstdDecompressSync(data));
  const version = r.byte();
  if (version !== VERSION && version !== 1) throw new Error(`unknown chunk version ${version}`);
  const n = r.varint();
  const streams = Array.from({ length: r.varint() }, () => r.string());
  const levels = Array.from({ length: r.varint() }, () => r.string());
  const sources = Array.from({ length: r.varint() }, () => ({
    podId: r.string(),
    dockerId: r.string(),
    host: r.string(),
    labels: r.string(),
  }));
  const flags = r.byte();
  const starts = new Uint32Array(n + 1);
  let at = 0;
  for (let i = 0; i < n; i++) {
    at += r.varint();
    starts[i + 1] = at;
  }
  const text = r.rest(at);
  // node:buffer's isAscii is native: about 0.01 ms per MiB, a JavaScript loop over 64-bit words 3.
  return new LazyChunk(version, n, streams, levels, sources, flags, text, starts, isAscii(text), r);
}

/** A decoded chunk whose columns other than the texts are decoded on first use. */
class LazyChunk implements DecodedChunk {
  private columns: Columns | undefined;
  /** Version 2: the identities derived so far (all of them once `ids` was asked). */
  private derived: BigInt64Array | undefined;
  private derivedAll = false;
  constructor(
    private readonly version: number,
    readonly n: number,
    readonly streams: string[],
    readonly levels: string[],
    readonly sources: ChunkSource[],
    private readonly flags: number,
    readonly text: Buffer,
    readonly starts: Uint32Array,
    readonly ascii: boolean,
    private readonly reader: Reader,
  ) {}
  private get all(): Columns {
    return (this.columns ??= readColumns(
      this.reader,
      this.version,
      this.n,
      this.streams.length,
      this.levels.length,
      this.sources.length,
      this.flags,
    ));
  }
  get ts(): BigInt64Array {
    return this.all.ts;
  }
  get seq(): Float64Array {
    return this.all.seq;
  }
  get ids(): BigInt64Array {
    const stored = this.all.ids;
    if (stored !== undefined) return stored;
    if (!this.derivedAll) {
      for (let i = 0; i < this.n; i++) this.idAt(i);
      this.derivedAll = true;
    }
    return this.derived!;
  }
  idAt(i: number, log?: string): bigint {
    const all = this.all;
    if (all.ids !== undefined) return all.ids[i]!;
    const derived = (this.derived ??= new BigInt64Array(this.n));
    // 0 is also a possible identity: derived again then, rarely (1 in 2^64).
    let id = derived[i]!;
    if (id !== 0n) return id;
    id =
      all.storedIds?.get(i) ??
      lineId(
        this.streams[all.streamOf ? all.streamOf[i]! : 0]!,
        log ?? this.text.subarray(this.starts[i]!, this.starts[i + 1]!),
        0,
      );
    derived[i] = id;
    return id;
  }
  get streamOf(): Uint32Array | undefined {
    return this.all.streamOf;
  }
  get levelOf(): Uint32Array | undefined {
    return this.all.levelOf;
  }
  get sourceOf(): Uint32Array | undefined {
    return this.all.sourceOf;
  }
  get metadata(): (string | null)[] | undefined {
    return this.all.metadata;
  }
}

interface Columns {
  ts: BigInt64Array;
  seq: Float64Array;
  /** Version 1: every identity. */
  ids?: BigInt64Array;
  /** Version 2: the identities stored, by line (the others are derived). */
  storedIds?: Map<number, bigint>;
  streamOf?: Uint32Array;
  levelOf?: Uint32Array;
  sourceOf?: Uint32Array;
  metadata?: (string | null)[];
}

function readColumns(
  r: Reader,
  version: number,
  n: number,
  streams: number,
  levels: number,
  sources: number,
  flags: number,
): Columns {
  const ts = new BigInt64Array(n);
  if (n > 0) {
    let t = r.int64();
    ts[0] = t;
    for (let i = 1; i < n; i++) {
      const d = r.varint();
      t += d < 2 ** 53 ? BigInt(d) : r.exactBig(d);
      ts[i] = t;
    }
  }
  const seq = new Float64Array(n);
  for (let i = 0; i < n; i++) seq[i] = r.varint();
  let ids: BigInt64Array | undefined;
  let storedIds: Map<number, bigint> | undefined;
  if (version === 1) ids = r.int64s(n);
  else {
    storedIds = new Map();
    let i = -1;
    for (let e = r.varint(); e > 0; e--) {
      i += r.varint() + 1;
      if (i >= n) throw new Error("chunk identity of a line past its end");
      storedIds.set(i, r.int64());
    }
  }
  const column = (k: number) => {
    if (k <= 1) return undefined;
    const c = new Uint32Array(n);
    for (let i = 0; i < n; i++) c[i] = r.varint();
    return c;
  };
  const streamOf = column(streams);
  const levelOf = column(levels);
  const sourceOf = column(sources);
  let metadata: (string | null)[] | undefined;
  if (flags & 1) {
    metadata = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const len = r.varint();
      metadata[i] = len === 0 ? null : r.utf8(len - 1);
    }
  }
  return { ts, seq, ids, storedIds, streamOf, levelOf, sourceOf, metadata };
}

/**
 * Which lines of a chunk hold every text of `contains` (case-sensitive), found in the chunk's
 * whole text at once (no string per line): the line indexes, ascending.
 */
export function linesContaining(c: DecodedChunk, contains: readonly string[]): Uint32Array {
  let candidates: Uint32Array | undefined;
  for (const needle of contains) {
    const pattern = Buffer.from(needle, "utf8");
    const hits: number[] = [];
    if (pattern.length === 0) continue;
    let from = 0;
    let line = 0;
    for (;;) {
      const at = c.text.indexOf(pattern, from);
      if (at < 0) break;
      // The line the match starts in (lines are visited in order: move forward).
      while (c.starts[line + 1]! <= at) line++;
      if (at + pattern.length <= c.starts[line + 1]!) {
        hits.push(line);
        from = c.starts[line + 1]!; // the next line: one hit per line is enough
        line++;
      } else from = at + 1; // the match crossed into the next line: not a match of this line
      if (line >= c.n) break;
    }
    if (candidates === undefined) candidates = Uint32Array.from(hits);
    else {
      const keep = new Set(hits);
      candidates = candidates.filter((i) => keep.has(i));
    }
    if (candidates.length === 0) return candidates;
  }
  if (candidates === undefined) {
    const all = new Uint32Array(c.n);
    for (let i = 0; i < c.n; i++) all[i] = i;
    return all;
  }
  return candidates;
}

/**
 * Lines (sorted by compareLines) cut into chunks of at most maxTextBytes of text and maxLines
 * lines, each within one window. A cut falls between lines of different times where it can, so
 * that chunks of one write (or one compaction) do not overlap in time.
 */
export function cutChunks(
  lines: readonly ChunkLine[],
  maxTextBytes = MAX_CHUNK_TEXT_BYTES,
  maxLines = MAX_CHUNK_LINES,
): ChunkLine[][] {
  const out: ChunkLine[][] = [];
  let start = 0;
  let bytes = 0;
  let window = lines.length > 0 ? windowOf(lines[0]!.timeNs) : 0n;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const w = windowOf(l.timeNs);
    const full = bytes >= maxTextBytes || i - start >= maxLines;
    if (i > start && (w !== window || (full && l.timeNs !== lines[i - 1]!.timeNs) || bytes >= 4 * maxTextBytes)) {
      out.push(lines.slice(start, i));
      start = i;
      bytes = 0;
    }
    window = w;
    bytes += l.log.length;
  }
  if (start < lines.length) out.push(start === 0 ? [...lines] : lines.slice(start));
  return out;
}

/**
 * Lines of several chunks (or a batch and the chunks it overlaps) as one sorted list, unique by
 * (time, id): of lines met twice (a resend cut differently), the one first in order (lower seq)
 * is kept.
 */
export function mergeLines(lists: readonly (readonly ChunkLine[])[]): ChunkLine[] {
  // Lists that follow one another in time (chunks of batches sent in order) need no sort.
  const ordered = lists.filter((l) => l.length > 0).sort((a, b) => compareLines(a[0]!, b[0]!));
  let disjoint = true;
  for (let i = 1; i < ordered.length && disjoint; i++) disjoint = ordered[i - 1]!.at(-1)!.timeNs < ordered[i]![0]!.timeNs;
  if (disjoint) return ordered.flat();
  const all: ChunkLine[] = ordered.flat();
  all.sort(compareLines);
  const out: ChunkLine[] = [];
  let runTime: bigint | undefined;
  let runFirst = 0n;
  // Most times hold one line: the set is made only once a time holds a second.
  let runIds: Set<bigint> | undefined;
  for (const l of all) {
    if (l.timeNs !== runTime) {
      runTime = l.timeNs;
      runFirst = l.id;
      runIds = undefined;
      out.push(l);
      continue;
    }
    if (runIds === undefined) {
      if (l.id === runFirst) continue;
      runIds = new Set([runFirst]);
    } else if (runIds.has(l.id)) continue;
    runIds.add(l.id);
    out.push(l);
  }
  return out;
}

class Table<T> {
  readonly values: T[] = [];
  private readonly at = new Map<string, number>();
  private lastKey: string | undefined;
  private lastValue: T | undefined;
  private lastIndex = 0;
  constructor(private readonly keyOf: (v: T) => string) {}
  index(v: T): number {
    // Lines of a run share one value (the same object): no key to build.
    if (v === this.lastValue && this.lastKey !== undefined) return this.lastIndex;
    this.lastValue = v;
    const key = this.keyOf(v);
    if (key === this.lastKey) return this.lastIndex;
    let i = this.at.get(key);
    if (i === undefined) {
      i = this.values.push(v) - 1;
      this.at.set(key, i);
    }
    this.lastKey = key;
    this.lastIndex = i;
    return i;
  }
}

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  byte(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }
  /** A non-negative integer below 2^53. */
  varint(v: number): void {
    this.room(8);
    if (v < 0x80) {
      this.buf[this.at++] = v;
      return;
    }
    if (v < 0x10000000) {
      while (v >= 0x80) {
        this.buf[this.at++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.at++] = v;
      return;
    }
    while (v >= 0x80) {
      this.buf[this.at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.at++] = v;
  }
  varintBig(v: bigint): void {
    if (v < 0x20000000000000n) {
      this.varint(Number(v));
      return;
    }
    this.room(10);
    while (v >= 0x80n) {
      this.buf[this.at++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.at++] = Number(v);
  }
  int64(v: bigint): void {
    this.room(8);
    this.view.setBigInt64(this.at, v, true);
    this.at += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
  string(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.varint(b.length);
    this.bytes(b);
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

class Reader {
  private at = 0;
  private readonly view: DataView;
  private readonly buf: Buffer;
  constructor(bytes: Uint8Array) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new Error("chunk data ends early");
  }
  byte(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  /** Where the last varint() began. */
  private varintStart = 0;
  varint(): number {
    this.varintStart = this.at;
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 63) throw new Error("chunk varint too long");
    }
  }
  /** The varint just read by varint() (which gave `approx`, past 2^53), read again exactly. */
  exactBig(approx: number): bigint {
    void approx;
    this.at = this.varintStart;
    let big = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return big;
      shift += 7n;
    }
  }
  /** n little-endian int64s, copied once into an aligned array. */
  int64s(n: number): BigInt64Array {
    this.need(n * 8);
    const out = new BigInt64Array(n);
    new Uint8Array(out.buffer).set(this.buf.subarray(this.at, this.at + n * 8));
    this.at += n * 8;
    return out;
  }
  int64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.at, true);
    this.at += 8;
    return v;
  }
  utf8(n: number): string {
    this.need(n);
    const s = (this.buf as SlicingBuffer).utf8Slice(this.at, this.at + n);
    this.at += n;
    return s;
  }
  string(): string {
    return this.utf8(this.varint());
  }
  rest(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
}
