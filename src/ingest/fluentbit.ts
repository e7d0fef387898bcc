// The third step of ingest: records shaped by Fluent Bit's Kubernetes filter → LogEntry values.
// Each record is judged on its own; a bad one is rejected with a reason and never costs its
// neighbours.
import { DEFAULT_TENANT, type LogEntry } from "../store/store.ts";
import { formatRetention, type RetentionPolicy } from "../store/retention.ts";
import { MAX_TIME_NS, NS_PER_SECOND, nowNs, parseRfc3339 } from "../time.ts";
import type { DecodedRecords } from "./formats.ts";
import { EventTime, UnknownExtension } from "./formats.ts";

export interface NormaliseOptions {
  /** Whose lines these are (DEFAULT_TENANT without tenancy). */
  tenant?: string;
  /** The record key of Fluent Bit's event time (its json_date_key); "" when there is none. */
  dateKey: string;
  /** Longest line in UTF-8 bytes. */
  maxLineSize: number;
  /** Lines older than this (epoch ns) are rejected: they would be deleted at once. */
  oldestNs?: bigint;
  /**
   * The retention of each namespace: a line older than its namespace's is rejected (it would be
   * deleted at once, and is never read). Judged at nowNs (default: now).
   */
  retention?: RetentionPolicy;
  nowNs?: bigint;
}

/** Reasons are metric label values: a fixed, small set. */
export type RejectReason =
  | "not_an_object"
  | "unreadable"
  | "missing_namespace"
  | "missing_pod"
  | "missing_container"
  | "missing_log"
  | "invalid_field"
  | "missing_timestamp"
  | "invalid_timestamp"
  | "timestamp_out_of_range"
  | "older_than_retention"
  | "line_too_long"
  | "store_rejected";

export interface Rejection {
  /** Position of the record in the body (-1 for an unreadable part). */
  index: number;
  reason: RejectReason;
  detail: string;
}

export interface NormalisedBatch {
  entries: LogEntry[];
  rejections: Rejection[];
}

const MAX_NAME_LENGTH = 253;
const CONTROL = /[\u0000-\u001f\u007f]/;

class Rejected {
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
  ) {}
}

export function normalise(decoded: DecodedRecords, options: NormaliseOptions): NormalisedBatch {
  const entries: LogEntry[] = [];
  const rejections: Rejection[] = [];
  for (const detail of decoded.unreadable) rejections.push({ index: -1, reason: "unreadable", detail });
  const { records, eventTimes } = decoded;
  const judged = judgedAt(options);
  for (let i = 0; i < records.length; i++) {
    let result: LogEntry | Rejected;
    try {
      result = toLogEntry(records[i], eventTimes?.[i], judged);
    } catch (error) {
      // A record that defeats normalisation (a label nested past the stack's depth, ...) is
      // one bad record, not a bad batch.
      result = new Rejected("invalid_field", `record cannot be read: ${(error as Error).message}`);
    }
    if (result instanceof Rejected) rejections.push({ index: i, reason: result.reason, detail: result.detail });
    else entries.push(result);
  }
  return { entries, rejections };
}

/**
 * One time for the batch: every record is judged against the same cutoffs. One retention for all
 * namespaces is one cutoff (oldestNs); rules are looked up per record.
 */
function judgedAt(options: NormaliseOptions): NormaliseOptions {
  const retention = options.retention;
  if (retention === undefined) return options;
  if (!retention.expires) return { ...options, retention: undefined };
  const now = options.nowNs ?? nowNs();
  if (retention.uniform) {
    const cutoff = retention.cutoffNs(options.tenant ?? DEFAULT_TENANT, "", now);
    const oldestNs = options.oldestNs !== undefined && options.oldestNs > cutoff ? options.oldestNs : cutoff;
    return { ...options, retention: undefined, oldestNs };
  }
  return { ...options, nowNs: now };
}

function toLogEntry(record: unknown, eventTime: unknown, options: NormaliseOptions): LogEntry | Rejected {
  if (
    typeof record !== "object" ||
    record === null ||
    Array.isArray(record) ||
    record instanceof Uint8Array ||
    record instanceof UnknownExtension
  ) {
    return new Rejected("not_an_object", "record is not an object");
  }
  const r = record as Record<string, unknown>;
  const k = r.kubernetes;
  if (typeof k !== "object" || k === null || Array.isArray(k)) {
    return new Rejected("missing_namespace", "record has no kubernetes metadata (kubernetes.namespace_name)");
  }
  const kube = k as Record<string, unknown>;
  const namespace = kube.namespace_name;
  if (typeof namespace !== "string" || namespace === "") {
    return new Rejected("missing_namespace", "record has no kubernetes.namespace_name");
  }
  const pod = kube.pod_name;
  if (typeof pod !== "string" || pod === "") return new Rejected("missing_pod", "record has no kubernetes.pod_name");
  const container = kube.container_name;
  if (typeof container !== "string" || container === "") {
    return new Rejected("missing_container", "record has no kubernetes.container_name");
  }

  // Kubernetes names are at most 253 characters; far longer ones would only burden the store's keys.
  for (const [field, value] of [
    ["namespace_name", namespace],
    ["pod_name", pod],
    ["container_name", container],
  ] as const) {
    if (value.length > MAX_NAME_LENGTH) {
      return new Rejected("invalid_field", `kubernetes.${field} is longer than ${MAX_NAME_LENGTH} characters`);
    }
    // Kubernetes names never hold control characters; stores use one to keep tenants apart.
    if (CONTROL.test(value)) return new Rejected("invalid_field", `kubernetes.${field} holds a control character`);
  }

  // CRI parsers name the line `message`; the Docker runtime and the Kubernetes filter `log`.
  let line = r.log !== undefined ? r.log : r.message;
  if (line === undefined || line === null) return new Rejected("missing_log", "record has no log field");
  if (line instanceof Uint8Array) line = new TextDecoder().decode(line);
  if (typeof line !== "string") return new Rejected("invalid_field", `log is a ${typeOf(line)}, not a string`);
  if (
    line.length > options.maxLineSize ||
    (line.length * 3 > options.maxLineSize && Buffer.byteLength(line) > options.maxLineSize)
  ) {
    return new Rejected(
      "line_too_long",
      `log line of ${Buffer.byteLength(line)} bytes exceeds --max-line-size ${options.maxLineSize}`,
    );
  }

  const timeNs = timestampOf(r, eventTime, options.dateKey);
  if (timeNs instanceof Rejected) return timeNs;
  if (timeNs < 0n || timeNs > MAX_TIME_NS) {
    return new Rejected(
      "timestamp_out_of_range",
      "timestamp outside 1970-01-01T00:00:00Z..2262-04-11T23:47:16.854775807Z (signed 64-bit nanoseconds)",
    );
  }
  if (options.oldestNs !== undefined && timeNs < options.oldestNs) {
    return new Rejected("older_than_retention", "timestamp is older than the retention period");
  }
  const tenant = options.tenant ?? DEFAULT_TENANT;
  if (options.retention !== undefined && options.nowNs !== undefined) {
    const cutoff = options.retention.cutoffNs(tenant, namespace, options.nowNs);
    if (timeNs < cutoff) {
      const kept = formatRetention(options.retention.secondsFor(tenant, namespace));
      return new Rejected("older_than_retention", `timestamp is older than the retention period of its namespace (${kept})`);
    }
  }

  const stream = r.stream;
  return {
    tenant,
    namespace,
    pod,
    container,
    timeNs,
    log: line,
    stream: typeof stream === "string" ? stream : "",
    podId: optionalString(kube.pod_id),
    dockerId: optionalString(kube.docker_id),
    host: optionalString(kube.host),
    labels: stringMap(kube.labels),
  };
}

/**
 * The timestamp rule: Fluent Bit's event time (the msgpack EventTime, or the record's date key)
 * is authoritative; the record's `time` (RFC 3339 with nanoseconds, from the container runtime)
 * refines it to the nanosecond when the two agree within the event time's precision; with no
 * event time, `time` is used.
 */
function timestampOf(r: Record<string, unknown>, eventTime: unknown, dateKey: string): bigint | Rejected {
  let event: Instant | undefined;
  const raw = eventTime !== undefined ? eventTime : dateKey !== "" ? r[dateKey] : undefined;
  if (raw !== undefined && raw !== null) {
    event = instantOf(raw);
    if (event === undefined) {
      const what = eventTime !== undefined ? "event time" : dateKey;
      return new Rejected("invalid_timestamp", `${what} is not a timestamp${raw instanceof UnknownExtension ? `: ${raw}` : ""}`);
    }
  }
  const t = r.time;
  let runtimeNs: bigint | undefined;
  if (typeof t === "string") runtimeNs = parseRfc3339(t);
  if (event === undefined) {
    if (runtimeNs !== undefined) return runtimeNs;
    if (t === undefined || t === null)
      return new Rejected("missing_timestamp", `record has neither ${dateKey || "an event time"} nor time`);
    return new Rejected("invalid_timestamp", "time is not an RFC 3339 timestamp");
  }
  if (runtimeNs !== undefined) {
    const diff = runtimeNs - event.ns;
    if (diff < event.precisionNs && diff > -event.precisionNs) return runtimeNs;
  }
  return event.ns;
}

interface Instant {
  ns: bigint;
  /** How finely the value was given: times closer than this agree. */
  precisionNs: bigint;
}

const US = 1000n;

function instantOf(value: unknown): Instant | undefined {
  if (value instanceof EventTime) {
    return { ns: BigInt(value.seconds) * NS_PER_SECOND + BigInt(value.nanoseconds), precisionNs: 1n };
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) return undefined;
    if (Number.isInteger(value)) return epochInteger(value);
    // A double: epoch seconds to the microsecond (json_date_format double), or epoch
    // milliseconds with a fraction. Rounding recovers the decimal digits Fluent Bit printed.
    if (value < 1e11) return { ns: BigInt(Math.round(value * 1e6)) * US, precisionNs: US };
    if (value < 1e14) return { ns: BigInt(Math.round(value * 1e3)) * US, precisionNs: US };
    return undefined;
  }
  if (typeof value === "bigint") return value < 0n ? undefined : epochInteger(value);
  if (typeof value === "string") {
    const s = value.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return s.includes(".") ? decimalSeconds(s) : epochInteger(BigInt(s));
    // iso8601 ("2026-05-03T12:04:57.094408Z") or java_sql_timestamp ("2026-05-03 12:04:57.094408").
    const ns = parseRfc3339(s, { allowNoZone: true });
    if (ns === undefined) return undefined;
    const fraction = /[.,](\d+)/.exec(s)?.[1]?.length ?? 0;
    return { ns, precisionNs: 10n ** BigInt(Math.max(0, 9 - Math.min(fraction, 9))) };
  }
  return undefined;
}

/** Integer epochs: seconds, milliseconds, microseconds or nanoseconds, told by magnitude. */
function epochInteger(value: number | bigint): Instant {
  const v = BigInt(value);
  if (v < 100_000_000_000n) return { ns: v * NS_PER_SECOND, precisionNs: NS_PER_SECOND };
  if (v < 100_000_000_000_000n) return { ns: v * 1_000_000n, precisionNs: 1_000_000n };
  if (v < 100_000_000_000_000_000n) return { ns: v * US, precisionNs: US };
  return { ns: v, precisionNs: 1n };
}

/** "1777809897.095091" as text: exact digits, no float rounding. */
function decimalSeconds(s: string): Instant | undefined {
  const [whole, fraction = ""] = s.split(".");
  if (whole!.length > 11) return undefined;
  const digits = fraction.slice(0, 9);
  const ns = BigInt(whole!) * NS_PER_SECOND + BigInt(digits.padEnd(9, "0"));
  return { ns, precisionNs: 10n ** BigInt(9 - digits.length) };
}

function optionalString(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined || v === null) return "";
  if (v instanceof UnknownExtension) return v.toString();
  return typeof v === "object" ? JSON.stringify(v, bigintToString) : String(v);
}

/** Labels with non-string values (numbers, booleans, nested maps) are kept as their text. */
function stringMap(v: unknown): Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
  // The usual case, string values only: the decoded object is used as it is.
  let plain = true;
  for (const key in v as Record<string, unknown>) {
    if (typeof (v as Record<string, unknown>)[key] !== "string") {
      plain = false;
      break;
    }
  }
  if (plain) return v as Record<string, string>;
  const out: Record<string, string> = {};
  for (const key in v as Record<string, unknown>) {
    const value = (v as Record<string, unknown>)[key];
    if (value === undefined || value === null) continue;
    // A label named "__proto__" is just a label, not the object's prototype.
    Object.defineProperty(out, key, { value: optionalString(value), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function bigintToString(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function typeOf(v: unknown): string {
  if (v instanceof UnknownExtension) return `msgpack ext type ${v.type}`;
  return Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
}
