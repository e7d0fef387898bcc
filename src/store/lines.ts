// What every store derives from a batch of lines the same way: each line's identity (the
// deduplication key beside container and time), its order among lines of the same nanosecond,
// and unambiguous keys for caches and maps. Stores share these so that they store, deduplicate
// and order alike.
import type { LogEntry } from "./store.ts";

/**
 * A key made of several strings that no two different lists share: each part is prefixed by
 * its length, so ("a\u0000b", "c") and ("a", "b\u0000c") stay apart (names may hold any
 * character, NUL included).
 */
export function compositeKey(...parts: string[]): string {
  let key = "";
  for (const p of parts) key += `${p.length}:${p}`;
  return key;
}

/** The container of an entry (and its tenant) as a map key. */
export function containerKey(e: Pick<LogEntry, "tenant" | "namespace" | "pod" | "container">): string {
  return compositeKey(e.tenant, e.namespace, e.pod, e.container);
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
      const key = compositeKey(e.tenant, e.namespace, e.pod, e.container, String(e.timeNs), e.stream, e.log);
      occurrence = seen.get(key) ?? 0;
      seen.set(key, occurrence + 1);
    }
    ids[i] = lineId(e.stream, e.log, occurrence);
  }
  return ids;
}

/**
 * The signed 64-bit identity of one line (see lineIds); stable across releases: it is stored, and
 * chunks derive it again from stream and text. The text may be given as its UTF-8 bytes: Bun
 * hashes a string as its UTF-8 bytes, so both give the same identity.
 */
export function lineId(stream: string, log: string | Uint8Array, occurrence: number): bigint {
  let seed = occurrence === 0 ? firstSeeds.get(stream) : undefined;
  if (seed === undefined) {
    seed = Bun.hash.wyhash(`${occurrence}\u0000${stream}`, 0x6b696c73n);
    if (occurrence === 0 && firstSeeds.size < 64) firstSeeds.set(stream, seed);
  }
  return BigInt.asIntN(64, Bun.hash.wyhash(log, seed));
}

/** The seed of occurrence 0 (almost every line) per stream name: the same value, hashed once. */
const firstSeeds = new Map<string, bigint>();

/** True when every entry is later than the one before: no two lines of the batch share a time. */
export function strictlyRising(entries: readonly LogEntry[]): boolean {
  for (let i = 1; i < entries.length; i++) if (entries[i]!.timeNs <= entries[i - 1]!.timeNs) return false;
  return true;
}

/** Lines at one nanosecond beyond this index within their batch share the last sequence number. */
const RUN_SLOTS = 2 ** 24;

/**
 * The order of lines that share a nanosecond, as a number stored beside each line (`seq`):
 * lines of one container at one time come back ordered by (seq, id).
 *
 * It is derived from the batch's content only, never from the clock, so that a resent batch
 * writes the same value again: the order cannot change with a retry, and every store computes
 * the same order. For a line at time T it is
 *   (lines of its container in the batch later than T) × 2^24 + (its index among the batch's
 *   lines of its container at T).
 * Within a batch, equal times keep the batch's order. Across batches it gives arrival order for
 * streams sent in time order: a batch that ends at T (0 lines later than T) came before one that
 * starts at T (and goes on past it).
 */
export function sequenceNumbers(entries: readonly LogEntry[]): number[] {
  const n = entries.length;
  const seq = new Array<number>(n);
  // Runs of consecutive entries of one container (the usual batch is a single run).
  const groups = new Map<string, number[]>();
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && sameContainer(entries[i]!, entries[start]!)) continue;
    const key = containerKey(entries[start]!);
    let members = groups.get(key);
    if (members === undefined) groups.set(key, (members = []));
    for (let k = start; k < i; k++) members.push(k);
    start = i;
  }
  for (const members of groups.values()) {
    let ordered = members;
    for (let k = 1; k < members.length; k++) {
      if (entries[members[k]!]!.timeNs < entries[members[k - 1]!]!.timeNs) {
        // Out of time order: sort (stable, so equal times keep the batch's order).
        ordered = [...members].sort((a, b) => cmpBig(entries[a]!.timeNs, entries[b]!.timeNs) || a - b);
        break;
      }
    }
    const m = ordered.length;
    for (let a = 0; a < m;) {
      // The run of equal times [a, b).
      const t = entries[ordered[a]!]!.timeNs;
      let b = a + 1;
      while (b < m && entries[ordered[b]!]!.timeNs === t) b++;
      for (let j = a; j < b; j++) seq[ordered[j]!] = (m - b) * RUN_SLOTS + Math.min(j - a, RUN_SLOTS - 1);
      a = b;
    }
  }
  return seq;
}

export function sameContainer(a: LogEntry, b: LogEntry): boolean {
  return a.container === b.container && a.pod === b.pod && a.namespace === b.namespace && a.tenant === b.tenant;
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
  return sameContainer(a, b) && sameSource(a, b);
}

/** The source's metadata as one string: a cache key, and what a store hashes into a source id. */
export function sourceKey(e: LogEntry): string {
  return compositeKey(e.podId, e.dockerId, e.host, JSON.stringify(e.labels));
}

/** A map of strings as the stores keep it (labels, structured metadata: JSON), keys kept as data ("__proto__" included). */
export function parseStringMap(text: string): Record<string, string> {
  const parsed = JSON.parse(text) as unknown;
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
}
