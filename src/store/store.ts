// The LogStore interface and the types every layer shares. Decoding produces LogEntry values,
// stores persist and return them, routes only translate HTTP to these types and back.

/** One log line of one container, normalised from whatever wire format carried it. */
export interface LogEntry {
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
}

/** A query for one container's lines in a closed time interval. */
export interface Query {
  namespace: string;
  pod: string;
  container: string;
  /** Inclusive bounds, epoch nanoseconds. */
  startNs: bigint;
  endNs: bigint;
}

/** A stored line as a query returns it. */
export interface LogRow {
  timeNs: bigint;
  log: string;
  stream: string;
}

export interface StoreHealth {
  healthy: boolean;
  detail: string;
}

export interface LogStore {
  /** A short name for logs and metrics ("embedded", "cassandra"). */
  readonly kind: string;
  /**
   * Stores a batch. Resolves once every line is durable at the store's guarantee. Writing the
   * same batch again (a client retry) adds nothing. Rejects with StoreUnavailableError or
   * StoreBusyError when the store cannot take the batch now.
   */
  write(entries: LogEntry[]): Promise<void>;
  /** Rows in ascending time order; equal times keep the order in which they arrived. */
  query(query: Query): AsyncIterable<LogRow[]>;
  health(): Promise<StoreHealth>;
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

/**
 * Identity of each entry within its batch, used as the deduplication key beside
 * (container, timeNs): a 64-bit hash of stream, line and the occurrence index among identical
 * lines of the same container at the same nanosecond in this batch. A byte-identical resend
 * therefore maps every line to the same key (idempotent), while two identical lines at the same
 * nanosecond within one batch stay two lines.
 */
export function lineIds(entries: readonly LogEntry[]): bigint[] {
  const ids = new Array<bigint>(entries.length);
  // Occurrence only matters where a nanosecond repeats within the batch, which is rare. A batch
  // in strictly rising time order (the usual case) has none; otherwise count timestamps first.
  if (strictlyRising(entries)) {
    for (let i = 0; i < entries.length; i++) ids[i] = lineId(entries[i]!.stream, entries[i]!.log, 0);
    return ids;
  }
  const perTime = new Map<bigint, number>();
  for (const e of entries) perTime.set(e.timeNs, (perTime.get(e.timeNs) ?? 0) + 1);
  let seen: Map<string, number> | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    let occurrence = 0;
    if (perTime.get(e.timeNs)! > 1) {
      seen ??= new Map();
      const key = `${e.namespace}\u0000${e.pod}\u0000${e.container}\u0000${e.timeNs}\u0000${e.stream}\u0000${e.log}`;
      occurrence = seen.get(key) ?? 0;
      seen.set(key, occurrence + 1);
    }
    ids[i] = lineId(e.stream, e.log, occurrence);
  }
  return ids;
}

/** The signed 64-bit identity of one line (see lineIds); stable across releases: it is stored. */
export function lineId(stream: string, log: string, occurrence: number): bigint {
  const seed = Bun.hash.wyhash(`${occurrence}\u0000${stream}`, 0x6b696c73n);
  return BigInt.asIntN(64, Bun.hash.wyhash(log, seed));
}

/** True when every entry is later than the one before: no two lines of the batch share a time. */
export function strictlyRising(entries: readonly LogEntry[]): boolean {
  for (let i = 1; i < entries.length; i++) if (entries[i]!.timeNs <= entries[i - 1]!.timeNs) return false;
  return true;
}

/** Whether two lines come from the same source: pod id, container id, host and labels. */
export function sameSource(a: LogEntry, b: LogEntry): boolean {
  if (a.podId !== b.podId || a.dockerId !== b.dockerId || a.host !== b.host) return false;
  if (a.labels === b.labels) return true;
  let count = 0;
  for (const key in a.labels) {
    if (a.labels[key] !== b.labels[key]) return false;
    count++;
  }
  for (const _ in b.labels) count--;
  return count === 0;
}

/** Whether two lines belong to the same container and come from the same source. */
export function sameContainerAndSource(a: LogEntry, b: LogEntry): boolean {
  return a.container === b.container && a.pod === b.pod && a.namespace === b.namespace && sameSource(a, b);
}

/** The source's metadata as one string: a cache key, and what a store hashes into a source id. */
export function sourceKey(e: LogEntry): string {
  return `${e.podId}\u0000${e.dockerId}\u0000${e.host}\u0000${JSON.stringify(e.labels)}`;
}
