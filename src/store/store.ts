// The LogStore interface and the types every layer shares. Decoding produces LogEntry values,
// stores persist and return them, routes only translate HTTP to these types and back.

/** The tenant of every line while tenancy is off: no tenant id (which must not be empty) meets it. */
export const DEFAULT_TENANT = "";

/** One log line of one container, normalised from whatever wire format carried it. */
export interface LogEntry {
  /** Whose line it is: part of every key, so that no read crosses tenants. */
  tenant: string;
  namespace: string;
  pod: string;
  container: string;
  /** Epoch nanoseconds (UTC). */
  timeNs: bigint;
  log: string;
  /** "stdout" or "stderr" as the runtime reported it; "" when absent. */
  stream: string;
  podId: string;
  dockerId: string;
  host: string;
  labels: Record<string, string>;
  /**
   * Per-line key-value pairs that are not labels (Loki's structured metadata: trace ids, ...),
   * kept with the line and returned with it; absent: none.
   */
  metadata?: Record<string, string>;
  /**
   * The line's severity as detected at ingest (Loki 3's detected_level: "error", "warn", "info",
   * ..., "unknown"); the per-minute counts are kept by it. Absent: not detected ("").
   */
  level?: string;
}

/** One container of one tenant: the stream of lines a store keeps and reads in order. */
export interface StreamRef {
  tenant: string;
  namespace: string;
  pod: string;
  container: string;
}

/** A stream as the store's index knows it, for a time range. */
export interface StreamInfo extends StreamRef {
  /** The pod's labels and node, from the stream's latest line in the range. */
  labels: Record<string, string>;
  host: string;
  /** First and last line times seen in the range (epoch ns). */
  firstNs: bigint;
  lastNs: bigint;
}

export type Direction = "forward" | "backward";

/** A row's place in its stream: time, then seq, then id (see lines.ts). */
export interface Position {
  timeNs: bigint;
  seq: number;
  id: bigint;
}

/** A stored line as a read returns it. */
export interface LogRow {
  timeNs: bigint;
  log: string;
  stream: string;
}

/** A row with its place in the stream. */
export interface OrderedRow extends LogRow, Position {
  /** The line's pod id and container id: set when the read asked for them (StreamRead.withSource). */
  podId?: string;
  dockerId?: string;
  /**
   * The line's structured metadata (LogEntry.metadata): set when the read asked for the source
   * and the line has some; absent otherwise.
   */
  metadata?: Record<string, string>;
}

/** What to read of one stream. */
export interface StreamRead {
  /** Inclusive bounds, epoch nanoseconds. */
  startNs: bigint;
  endNs: bigint;
  direction: Direction;
  /** Continue after this row (not included), in the direction. */
  after?: Position;
  /**
   * Texts every line must contain (case-sensitive). A store may skip other lines with them; the
   * reader filters again, so a store that cannot is still right.
   */
  contains?: string[];
  /** Rows the reader expects to need (a limit): a store reads little ahead of it. */
  limitHint?: number;
  /**
   * Fill each row's podId, dockerId and metadata (what Loki shows as structured metadata). Off,
   * the read costs what it did without them.
   */
  withSource?: boolean;
}

/**
 * The lines and bytes (UTF-8 of the text) of one stream in one minute, for one stdout/stderr
 * value and one detected level, as counted at write time.
 */
export interface MinuteCount {
  /**
   * The minute, by its start m (epoch ns, a multiple of 60 s): the lines with m < time <= m + 60 s
   * (right-closed, as Loki's range windows; see minuteOf in counts.ts).
   */
  minuteNs: bigint;
  /** "stdout", "stderr" or "" (LogEntry.stream). */
  stream: string;
  /** The detected level, "" when none was (LogEntry.level). */
  level: string;
  lines: number;
  bytes: number;
}

/** Nanoseconds of a minute: the width of a count. */
export const NS_PER_MINUTE = 60_000_000_000n;

export interface StoreHealth {
  healthy: boolean;
  detail: string;
}

/** What became of a batch's lines. */
export interface WriteResult {
  /**
   * Lines that collapsed onto a line another batch had stored with the same container, time,
   * stream and text (a presumed resend, cut differently). A byte-identical resend of a batch is
   * not counted here: its lines are accepted again. Stores that write blindly (Cassandra) cannot
   * tell and report 0 (LogStore.countsDeduplicated is false).
   */
  deduplicated: number;
  /** Entries the store refused for good (a retry could never store them), by index into the batch. */
  rejected: StoreRejection[];
}

export interface StoreRejection {
  index: number;
  detail: string;
}

/** Failures a store handles itself (it logs them and goes on) are reported here, for metrics. */
export interface StoreObserver {
  error(operation: StoreOperation, error: unknown): void;
}

export type StoreOperation = "write" | "query" | "retention" | "compaction" | "health" | "close";

/** Rows per page are chosen so that a page holds about this many bytes of text. */
export const DEFAULT_PAGE_BYTES = 1024 * 1024;

/** What a row is taken to cost beside its text, for page sizing. */
export const ROW_OVERHEAD_BYTES = 64;

export interface LogStore {
  /** A short name for logs and metrics ("embedded", "cassandra"). */
  readonly kind: string;
  /** Whether write() counts lines that collapse onto lines another batch stored (WriteResult.deduplicated). */
  readonly countsDeduplicated: boolean;
  /**
   * Stores a batch. Resolves once every line is durable at the store's guarantee. Writing the
   * same batch again (a client retry) adds nothing. Rejects with StoreUnavailableError or
   * StoreBusyError when the store cannot take the batch now; entries it can never take are
   * listed in the result, and the others are stored.
   */
  write(entries: LogEntry[]): Promise<WriteResult>;
  /**
   * The tenant's streams that hold lines in [startNs, endNs], from the store's index (never a
   * scan of the lines), with their labels and first and last times in the range.
   */
  streams(tenant: string, startNs: bigint, endNs: bigint): Promise<StreamInfo[]>;
  /**
   * One stream's rows in the range, in the direction, in pages of about DEFAULT_PAGE_BYTES of
   * text: by time, then seq, then id (see sequenceNumbers in lines.ts), the same on every store.
   * Backward is the exact reverse of forward. A read that stops early costs what it read.
   */
  read(stream: StreamRef, range: StreamRead): AsyncIterable<OrderedRow[]>;
  /**
   * Per-minute line and byte counts of one stream for the minutes whose start lies in
   * [startNs, endNs] (clamped to the namespace's retention as reads are: minutes that start
   * before the cutoff are left out), from the counts kept at write time, never by reading
   * lines. In pages, by minute, then stream, then level; one entry per (minute, stream, level).
   * A resent batch never changes them (see the README for Cassandra's one exception).
   */
  counts(stream: StreamRef, startNs: bigint, endNs: bigint): AsyncIterable<MinuteCount[]>;
  health(): Promise<StoreHealth>;
  /**
   * Merges the small chunks of the windows written since their last compaction now, rather than
   * in the background when they fall quiet (tests, benchmarks). Reads give the same lines before
   * and after.
   */
  compactNow?(): Promise<void>;
  /** Finishes in-flight writes and releases the store. */
  close(): Promise<void>;
}

/** The store cannot serve now (down, unreachable, disk full); the client should retry later. */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The store is saturated (write queue full); the client should retry shortly. */
export class StoreBusyError extends Error {
  override readonly name = "StoreBusyError";
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}
