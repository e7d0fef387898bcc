// Loki's push API (github.com/grafana/loki, pkg/loghttp/push) → LogEntry values. A body is JSON
// (Content-Type application/json, optionally gzip, deflate, zstd or snappy by Content-Encoding) or
// Loki's protobuf PushRequest (any other Content-Type, as Loki decides), snappy block-compressed.
// Streams' labels become a Kubernetes identity (kubernetesIdentity), entries' structured metadata
// the line's metadata (metadataIdentity). As on /write, every stream and entry is judged on its
// own: a bad one is rejected with a reason and never costs its neighbours. Knows nothing of
// Elysia or of stores; routes/loki-push.ts renders the result.
import { IngestError } from "../ingest/decode.ts";
import type { Lease } from "../ingest/budget.ts";
import { readDecompressed, retentionOf, type IngestBatch, type IngestOptions } from "../ingest/ingest.ts";
import { formatRetention, type RetentionPolicy } from "../store/retention.ts";
import { DEFAULT_TENANT, type LogEntry } from "../store/store.ts";
import { MAX_TIME_NS, NS_PER_SECOND, nowNs } from "../time.ts";
import { decodePushRequest } from "./push.proto.ts";

// ---------------------------------------------------------------------------------------------
// The mapping: Loki labels → the Kubernetes identity of a LogEntry.
// ---------------------------------------------------------------------------------------------

/** Label names that carry the namespace, pod and container, first match wins. */
export const NAMESPACE_LABELS = ["namespace", "namespace_name", "k8s_namespace_name"] as const;
export const POD_LABELS = ["pod", "pod_name", "k8s_pod_name"] as const;
export const CONTAINER_LABELS = ["container", "container_name", "k8s_container_name"] as const;
/** Label names that carry the node. */
export const HOST_LABELS = ["node_name", "host", "hostname", "k8s_node_name"] as const;
/** Structured metadata names that carry the pod's uid and the container's id. */
export const POD_UID_METADATA = ["pod_uid", "k8s_pod_uid", "pod_id"] as const;
export const CONTAINER_ID_METADATA = ["container_id", "k8s_container_id", "docker_id"] as const;

/** Where a Loki stream's lines are kept: LogEntry's identity fields. */
export interface StreamIdentity {
  namespace: string;
  pod: string;
  container: string;
  host: string;
  /** "stdout" or "stderr" from a `stream` label; "" without one. */
  stream: string;
  /** The labels kept with the lines (the pod's labels, for a Kubernetes stream). */
  labels: Record<string, string>;
}

/** Kubernetes names are at most 253 characters (as /write requires). */
const MAX_NAME_LENGTH = 253;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Maps a stream's labels (already checked by checkLabels) onto the identity a LogEntry carries.
 *
 * - A **Kubernetes stream** names all three of namespace, pod and container, each by the first of
 *   its label names that is present (NAMESPACE_LABELS, POD_LABELS, CONTAINER_LABELS: Alloy's and
 *   Promtail's `namespace`/`pod`/`container`, Fluent Bit's `namespace_name`/`pod_name`/
 *   `container_name`, OpenTelemetry's `k8s_namespace_name`/`k8s_pod_name`/`k8s_container_name`).
 *   The host is the first of HOST_LABELS present (`node_name`, `host`, `hostname`,
 *   `k8s_node_name`); the stream is a `stream` label of `stdout` or `stderr`. The labels used
 *   for these (and any other of those names holding the same value) are taken out; the rest
 *   (the pod's labels, `job`, ...) are the line's labels. Kubernetes names of more than 253
 *   characters, or with control characters, refuse the stream, as on /write.
 * - **Any other stream** (one or two of the three, or none) is kept whole under namespace "",
 *   pod "" and container = its canonical label set (canonicalLabels: `{a="b",c="d"}`, names
 *   sorted); its labels are all of its labels, host and stream read as above but not taken out.
 *   No line is refused for lacking Kubernetes labels.
 */
export function kubernetesIdentity(labels: Record<string, string>): StreamIdentity | LabelProblem {
  const namespace = first(labels, NAMESPACE_LABELS);
  const pod = first(labels, POD_LABELS);
  const container = first(labels, CONTAINER_LABELS);
  const host = first(labels, HOST_LABELS);
  const streamLabel = labels.stream;
  const stream = streamLabel === "stdout" || streamLabel === "stderr" ? streamLabel : "";
  if (namespace === undefined || pod === undefined || container === undefined) {
    return { namespace: "", pod: "", container: canonicalLabels(labels), host: host?.value ?? "", stream, labels };
  }
  for (const part of [namespace, pod, container]) {
    if (part.value.length > MAX_NAME_LENGTH) {
      return new LabelProblem(`label ${part.name} is longer than ${MAX_NAME_LENGTH} characters (a Kubernetes name)`);
    }
    if (CONTROL.test(part.value)) return new LabelProblem(`label ${part.name} holds a control character`);
  }
  const used = new Set<string>();
  for (const [names, found] of [
    [NAMESPACE_LABELS, namespace],
    [POD_LABELS, pod],
    [CONTAINER_LABELS, container],
    [HOST_LABELS, host],
  ] as const) {
    if (found === undefined) continue;
    for (const name of names) if (labels[name] === found.value) used.add(name);
  }
  if (stream !== "") used.add("stream");
  const rest: Record<string, string> = {};
  for (const name in labels) if (!used.has(name)) put(rest, name, labels[name]!);
  return {
    namespace: namespace.value,
    pod: pod.value,
    container: container.value,
    host: host?.value ?? "",
    stream,
    labels: rest,
  };
}

/** What an entry's structured metadata becomes: the pod uid, the container id, and the rest. */
export interface EntryMetadata {
  podId: string;
  dockerId: string;
  /** Absent when nothing is left. */
  metadata?: Record<string, string>;
}

/**
 * Splits an entry's structured metadata: the first of POD_UID_METADATA (`pod_uid`, `k8s_pod_uid`,
 * `pod_id`) is the pod id, the first of CONTAINER_ID_METADATA (`container_id`,
 * `k8s_container_id`, `docker_id`) the container id, both as /write keeps them; the rest is the
 * line's metadata. A name used for an id is taken out only when it holds the value used.
 */
export function metadataIdentity(metadata: Record<string, string> | undefined): EntryMetadata {
  if (metadata === undefined) return { podId: "", dockerId: "" };
  const pod = first(metadata, POD_UID_METADATA);
  const docker = first(metadata, CONTAINER_ID_METADATA);
  if (pod === undefined && docker === undefined) {
    return { podId: "", dockerId: "", metadata: isEmpty(metadata) ? undefined : metadata };
  }
  const rest: Record<string, string> = {};
  for (const name in metadata) {
    const value = metadata[name]!;
    const taken =
      (pod !== undefined && value === pod.value && (POD_UID_METADATA as readonly string[]).includes(name)) ||
      (docker !== undefined && value === docker.value && (CONTAINER_ID_METADATA as readonly string[]).includes(name));
    if (!taken) put(rest, name, value);
  }
  return { podId: pod?.value ?? "", dockerId: docker?.value ?? "", metadata: isEmpty(rest) ? undefined : rest };
}

function first(labels: Record<string, string>, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = labels[name];
    if (value !== undefined && value !== "") return { name, value };
  }
  return undefined;
}

/** Sets a key as an own property: a label named "__proto__" is just a label. */
function put(o: Record<string, string>, name: string, value: string): void {
  Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true });
}

function isEmpty(o: Record<string, string>): boolean {
  for (const _ in o) return false;
  return true;
}

/**
 * A label set as one string, the same for the same labels in any order: `{a="b",c="d"}`, names
 * sorted, values quoted as Prometheus quotes them (`\\`, `\"`, `\n`, other control characters
 * escaped, so the result never holds one).
 */
export function canonicalLabels(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  let out = "{";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ",";
    out += `${names[i]}="${escapeValue(labels[names[i]!]!)}"`;
  }
  return `${out}}`;
}

const ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  '"': '\\"',
  "\u0007": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
};

function escapeValue(value: string): string {
  return value.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

// ---------------------------------------------------------------------------------------------
// Labels: Loki's rules, and Prometheus' text form (protobuf streams carry their labels as text).
// ---------------------------------------------------------------------------------------------

/** Why a stream's labels are refused (a class: a label may well be named "problem"). */
export class LabelProblem {
  constructor(readonly problem: string) {}
}

/** Loki's defaults (limits_config): max_label_name_length, max_label_value_length. */
export const MAX_LABEL_NAME_LENGTH = 1024;
export const MAX_LABEL_VALUE_LENGTH = 2048;
/** A stream's canonical label set may be a container name: kept well inside a store's key. */
export const MAX_LABEL_SET_LENGTH = 16_384;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Checks a stream's labels as Loki does: names as Prometheus' (`[a-zA-Z_][a-zA-Z0-9_]*`) within
 * 1024 characters, values within 2048, at least one label; labels with an empty value are dropped
 * (in Prometheus an empty label is no label). The whole set, written canonically, is at most
 * 16 KiB. Returns the labels to keep.
 */
export function checkLabels(labels: Record<string, string>): Record<string, string> | LabelProblem {
  let kept: Record<string, string> | undefined;
  let count = 0;
  let size = 2;
  for (const name in labels) {
    const value = labels[name]!;
    if (!LABEL_NAME.test(name)) return new LabelProblem(`label name ${JSON.stringify(name)} is not valid`);
    if (name.length > MAX_LABEL_NAME_LENGTH) {
      return new LabelProblem(`label name ${name.slice(0, 64)}... is longer than ${MAX_LABEL_NAME_LENGTH} characters`);
    }
    if (value.length > MAX_LABEL_VALUE_LENGTH) {
      return new LabelProblem(`the value of label ${name} is longer than ${MAX_LABEL_VALUE_LENGTH} characters`);
    }
    if (value === "") {
      kept ??= { ...labels };
      delete kept[name];
      continue;
    }
    count++;
    size += name.length + value.length + 4;
  }
  if (count === 0) return new LabelProblem("a stream needs at least one label with a value");
  if (size > MAX_LABEL_SET_LENGTH)
    return new LabelProblem(`the stream's labels are longer than ${MAX_LABEL_SET_LENGTH} characters`);
  return kept ?? labels;
}

/**
 * Parses a label set in Prometheus' text form, as Loki's protobuf streams carry it:
 * `{app="web", namespace="default"}`. Values are quoted with `"` (Go escapes: `\"`, `\\`, `\n`,
 * `\t`, `\xHH`, `\uHHHH`, ...), `'` or backquotes; names may be quoted too. Throws LabelSyntaxError.
 */
export function parseLabelSet(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = skipSpace(text, 0);
  if (text[i] !== "{") throw new LabelSyntaxError(`expected "{" at ${i}`);
  i = skipSpace(text, i + 1);
  while (text[i] !== "}") {
    if (i >= text.length) throw new LabelSyntaxError('expected "}" at the end');
    let name: string;
    if (text[i] === '"' || text[i] === "'" || text[i] === "`") {
      [name, i] = readQuoted(text, i);
    } else {
      const start = i;
      while (i < text.length && /[a-zA-Z0-9_]/.test(text[i]!)) i++;
      if (i === start) throw new LabelSyntaxError(`expected a label name at ${start}`);
      name = text.slice(start, i);
    }
    i = skipSpace(text, i);
    if (text[i] !== "=" || text[i + 1] === "~") throw new LabelSyntaxError(`expected "=" after label ${name}`);
    i = skipSpace(text, i + 1);
    if (text[i] !== '"' && text[i] !== "'" && text[i] !== "`") {
      throw new LabelSyntaxError(`expected a quoted value for label ${name}`);
    }
    let value: string;
    [value, i] = readQuoted(text, i);
    if (Object.hasOwn(labels, name)) throw new LabelSyntaxError(`label ${name} appears twice`);
    put(labels, name, value);
    i = skipSpace(text, i);
    if (text[i] === ",") i = skipSpace(text, i + 1);
    else if (text[i] !== "}") throw new LabelSyntaxError(`expected "," or "}" at ${i}`);
  }
  if (skipSpace(text, i + 1) !== text.length) throw new LabelSyntaxError(`unexpected text after "}" at ${i + 1}`);
  return labels;
}

export class LabelSyntaxError extends Error {
  override readonly name = "LabelSyntaxError";
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  return i;
}

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92, "'": 39, '"': 34 };

/** A quoted string at `at` (its opening quote): its value and the index after its closing quote. */
function readQuoted(text: string, at: number): [string, number] {
  const quote = text[at]!;
  const end = text.indexOf(quote, at + 1);
  if (quote === "`") {
    if (end === -1) throw new LabelSyntaxError(`unterminated string at ${at}`);
    return [text.slice(at + 1, end), end + 1];
  }
  // The usual case: no escape before the closing quote.
  const backslash = text.indexOf("\\", at + 1);
  if (end !== -1 && (backslash === -1 || backslash > end)) return [text.slice(at + 1, end), end + 1];
  // Escapes: \x and octal ones are bytes, so the value is built as UTF-8 and decoded at the end.
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  let i = at + 1;
  for (;;) {
    if (i >= text.length) throw new LabelSyntaxError(`unterminated string at ${at}`);
    const c = text[i]!;
    if (c === quote) break;
    if (c !== "\\") {
      const cp = text.codePointAt(i)!;
      const width = cp > 0xffff ? 2 : 1;
      if (cp < 0x80) bytes.push(cp);
      else bytes.push(...encoder.encode(text.slice(i, i + width)));
      i += width;
      continue;
    }
    const e = text[i + 1];
    if (e === undefined) throw new LabelSyntaxError(`unterminated string at ${at}`);
    if (e in SIMPLE_ESCAPES) {
      bytes.push(SIMPLE_ESCAPES[e]!);
      i += 2;
    } else if (e === "x" || e === "u" || e === "U") {
      const digits = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = text.slice(i + 2, i + 2 + digits);
      if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) throw new LabelSyntaxError(`bad \\${e} escape at ${i}`);
      const n = parseInt(hex, 16);
      if (e === "x") bytes.push(n);
      else {
        if (n > 0x10ffff || (n >= 0xd800 && n < 0xe000)) throw new LabelSyntaxError(`bad \\${e} escape at ${i}`);
        bytes.push(...encoder.encode(String.fromCodePoint(n)));
      }
      i += 2 + digits;
    } else if (e >= "0" && e <= "7") {
      const oct = text.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) throw new LabelSyntaxError(`bad octal escape at ${i}`);
      bytes.push(parseInt(oct, 8));
      i += 4;
    } else {
      throw new LabelSyntaxError(`unknown escape \\${e} at ${i}`);
    }
  }
  return [new TextDecoder().decode(new Uint8Array(bytes)), i + 1];
}

// ---------------------------------------------------------------------------------------------
// Bodies: JSON and protobuf → streams of entries, each judged on its own.
// ---------------------------------------------------------------------------------------------

/** Reasons are metric label values (those of /write, and invalid_labels). */
export type PushRejectReason =
  | "invalid_labels"
  | "invalid_field"
  | "missing_timestamp"
  | "invalid_timestamp"
  | "timestamp_out_of_range"
  | "older_than_retention"
  | "line_too_long";

interface Problem {
  reason: PushRejectReason;
  detail: string;
}

/** One entry as read from a body, or why it cannot be read. */
type PushEntry = { timeNs: bigint; line: string; metadata?: Record<string, string> } | Problem;

/** One stream as read from a body, before it is judged. */
interface PushStream {
  /** The labels, or why they cannot be read. */
  labels: Record<string, string> | LabelProblem;
  /** The labels as sent, for messages. */
  shown: string;
  /** Its entries; one Problem stands for values that cannot be read at all. */
  entries: PushEntry[];
}

export type LokiFormat = "loki_json" | "loki_protobuf";

/**
 * Reads a push request (bounded, inside the lease) and judges its entries: the tenant's
 * LogEntry values and the rejections. Only a body that cannot be read at all is an error (400
 * naming the problem; 413 over the caps).
 */
export async function decodeLokiPush(
  request: Request,
  options: IngestOptions,
  tenant: string,
  lease?: Lease,
): Promise<IngestBatch & { format: LokiFormat }> {
  const type = mediaType(request.headers.get("content-type"));
  const json = type === "application/json";
  const given = request.headers.get("content-encoding");
  const { wire, body } = await readDecompressed(request, options, lease, json ? given : protobufEncoding(given)).catch(
    (error: unknown) => {
      if (!json && error instanceof IngestError && error.status === 400 && /snappy/.test(error.message)) {
        throw new IngestError(
          400,
          "body is not snappy-compressed protobuf",
          `${error.detail}; with Content-Type ${type || "(none)"} the body is taken for Loki's protobuf PushRequest ` +
            "in snappy's block format (send JSON as application/json)",
        );
      }
      throw error;
    },
  );
  if (wire.byteLength === 0) throw new IngestError(400, "request body is empty", 'a push request holds at least {"streams":[]}');
  const streams = json ? readJson(body) : readProtobuf(body);
  const retention = retentionOf(options);
  const batch = judge(streams, {
    tenant,
    maxLineSize: options.maxLineSize,
    retention: retention.expires ? retention : undefined,
    nowNs: nowNs(),
  });
  return {
    ...batch,
    format: json ? "loki_json" : "loki_protobuf",
    wireBytes: wire.byteLength,
    decodedBytes: body.byteLength,
  };
}

function mediaType(header: string | null): string {
  return (header ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Protobuf bodies are snappy-compressed without saying so. A sender that says so anyway
 * (Content-Encoding: snappy) means the same compression, not a second one, as Loki takes it.
 */
function protobufEncoding(given: string | null): string {
  const codings = (given ?? "")
    .toLowerCase()
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "" && c !== "identity" && c !== "none");
  if (codings.includes("snappy")) return codings.join(", ");
  return ["snappy", ...codings].join(", ");
}

const JSON_SHAPE = '{"streams":[{"stream":{"label":"value"},"values":[["<epoch ns>","<line>"]]}]}';

/** A JSON push: {"streams":[{"stream":{labels},"values":[["<ns>","line",{metadata}?]]}]}. */
export function readJson(body: Uint8Array): PushStream[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new IngestError(400, "body is not valid JSON", (error as Error).message);
  }
  if (!isObject(parsed)) throw new IngestError(400, "body is not a Loki push request", `expected ${JSON_SHAPE}`);
  const streams = parsed.streams;
  if (!Array.isArray(streams)) {
    throw new IngestError(400, "body is not a Loki push request", `"streams" is ${describe(streams)}; expected ${JSON_SHAPE}`);
  }
  return streams.map(jsonStream);
}

function jsonStream(s: unknown): PushStream {
  if (!isObject(s)) {
    return {
      labels: new LabelProblem("stream is not an object"),
      shown: "?",
      entries: [bad("invalid_field", "stream is not an object")],
    };
  }
  const raw = s.stream;
  let labels: Record<string, string> | LabelProblem;
  let shown: string;
  if (!isObject(raw)) {
    labels = new LabelProblem(`"stream" (the labels) is ${describe(raw)}, not an object`);
    shown = "?";
  } else {
    labels = raw as Record<string, string>;
    for (const name in raw) {
      if (typeof raw[name] !== "string") {
        labels = new LabelProblem(`label ${JSON.stringify(name)} is ${describe(raw[name])}, not a string`);
        break;
      }
    }
    shown = shownLabels(raw);
  }
  const values = s.values;
  if (!Array.isArray(values)) {
    return { labels, shown, entries: [bad("invalid_field", `"values" is ${describe(values)}, not an array`)] };
  }
  return { labels, shown, entries: values.map(jsonEntry) };
}

function jsonEntry(v: unknown): PushEntry {
  if (!Array.isArray(v) || v.length < 2 || v.length > 3) {
    return bad("invalid_field", 'an entry is ["<epoch ns>", "<line>"] or ["<epoch ns>", "<line>", {metadata}]');
  }
  const [ts, line, metadata] = v as [unknown, unknown, unknown];
  if (typeof ts !== "string") return bad("invalid_timestamp", `timestamp is ${describe(ts)}, not a string of epoch nanoseconds`);
  if (!/^\d{1,19}$/.test(ts))
    return bad("invalid_timestamp", `timestamp ${JSON.stringify(ts.slice(0, 40))} is not epoch nanoseconds`);
  if (typeof line !== "string") return bad("invalid_field", `line is ${describe(line)}, not a string`);
  if (metadata === undefined || metadata === null) return { timeNs: BigInt(ts), line };
  if (!isObject(metadata)) return bad("invalid_field", `structured metadata is ${describe(metadata)}, not an object`);
  const out: Record<string, string> = {};
  for (const name in metadata) {
    const value = metadata[name];
    if (typeof value === "string") put(out, name, value);
    else if (typeof value === "number" || typeof value === "boolean") put(out, name, String(value));
    else return bad("invalid_field", `structured metadata ${JSON.stringify(name)} is ${describe(value)}, not a string`);
  }
  return { timeNs: BigInt(ts), line, metadata: out };
}

/** A protobuf push: logproto.PushRequest, already decompressed. */
export function readProtobuf(body: Uint8Array): PushStream[] {
  let request;
  try {
    request = decodePushRequest(body);
  } catch (error) {
    throw new IngestError(400, "body is not a protobuf PushRequest", (error as Error).message);
  }
  return request.streams.map((s) => {
    let labels: Record<string, string> | LabelProblem;
    try {
      labels = parseLabelSet(s.labels);
    } catch (error) {
      labels = new LabelProblem(`labels ${JSON.stringify(s.labels.slice(0, 200))} cannot be read: ${(error as Error).message}`);
    }
    const entries = s.entries.map((e): PushEntry => {
      const ts = e.timestamp;
      if (ts === undefined) return bad("missing_timestamp", "entry has no timestamp");
      if (ts.nanos < 0 || ts.nanos >= 1_000_000_000) return bad("invalid_timestamp", `timestamp nanos ${ts.nanos} out of range`);
      const timeNs = ts.seconds * NS_PER_SECOND + BigInt(ts.nanos);
      if (e.structuredMetadata.length === 0) return { timeNs, line: e.line };
      const metadata: Record<string, string> = {};
      for (const pair of e.structuredMetadata) {
        put(metadata, pair.name, pair.value);
      }
      return { timeNs, line: e.line, metadata };
    });
    return { labels, shown: s.labels.length > 120 ? `${s.labels.slice(0, 117)}...` : s.labels, entries };
  });
}

interface JudgeOptions {
  tenant: string;
  /** Longest line in UTF-8 bytes. */
  maxLineSize: number;
  /** Lines older than their namespace's retention are refused (they would be deleted at once). */
  retention?: RetentionPolicy;
  nowNs: bigint;
}

/**
 * Streams → LogEntry values and rejections. Every entry is one record, numbered across the
 * request in order (a stream's `values` that cannot be read at all count as one), so that the
 * write answer can name what was refused.
 */
export function judge(streams: PushStream[], options: JudgeOptions) {
  const entries: LogEntry[] = [];
  const rejections: { index: number; reason: PushRejectReason; detail: string }[] = [];
  const tenant = options.tenant ?? DEFAULT_TENANT;
  let index = 0;
  for (const s of streams) {
    let identity: StreamIdentity | LabelProblem;
    if (s.labels instanceof LabelProblem) identity = s.labels;
    else {
      const checked = checkLabels(s.labels);
      identity = checked instanceof LabelProblem ? checked : kubernetesIdentity(checked);
    }
    if (identity instanceof LabelProblem) {
      const detail = `stream ${s.shown}: ${identity.problem}`;
      for (let i = 0; i < s.entries.length; i++) rejections.push({ index: index++, reason: "invalid_labels", detail });
      continue;
    }
    const cutoff = options.retention?.cutoffNs(tenant, identity.namespace, options.nowNs);
    for (let i = 0; i < s.entries.length; i++, index++) {
      const e = s.entries[i]!;
      const at = () => `stream ${s.shown}, entry ${i}`;
      if ("reason" in e) {
        rejections.push({ index, reason: e.reason, detail: `${at()}: ${e.detail}` });
        continue;
      }
      const line = e.line;
      if (
        line.length > options.maxLineSize ||
        (line.length * 3 > options.maxLineSize && Buffer.byteLength(line) > options.maxLineSize)
      ) {
        const detail = `${at()}: log line of ${Buffer.byteLength(line)} bytes exceeds --max-line-size ${options.maxLineSize}`;
        rejections.push({ index, reason: "line_too_long", detail });
        continue;
      }
      if (e.timeNs < 0n || e.timeNs > MAX_TIME_NS) {
        const detail = `${at()}: timestamp outside 1970-01-01T00:00:00Z..2262-04-11T23:47:16.854775807Z`;
        rejections.push({ index, reason: "timestamp_out_of_range", detail });
        continue;
      }
      if (cutoff !== undefined && e.timeNs < cutoff) {
        const kept = formatRetention(options.retention!.secondsFor(tenant, identity.namespace));
        const detail = `${at()}: timestamp is older than the retention period of its namespace (${kept})`;
        rejections.push({ index, reason: "older_than_retention", detail });
        continue;
      }
      const { podId, dockerId, metadata } = metadataIdentity(e.metadata);
      const entry: LogEntry = {
        tenant,
        namespace: identity.namespace,
        pod: identity.pod,
        container: identity.container,
        timeNs: e.timeNs,
        log: line,
        stream: identity.stream,
        podId,
        dockerId,
        host: identity.host,
        labels: identity.labels,
      };
      if (metadata !== undefined) entry.metadata = metadata;
      // entry.level (detected_level) is set by ingestBatch, for every write route alike.
      entries.push(entry);
    }
  }
  return { entries, rejections };
}

function bad(reason: PushRejectReason, detail: string): Problem {
  return { reason, detail };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function shownLabels(raw: Record<string, unknown>): string {
  const text = canonicalLabels(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)])));
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
