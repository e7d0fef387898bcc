// Load generator and ingest client (replaces the original's scripts/insert.py): sends N
// Fluent Bit-shaped lines at R lines/s to a kube-insight-logserver, the way Fluent Bit's http
// output would (one container per request, Format json/json_lines/msgpack, optional gzip).
//
//   bun scripts/insert.ts --url http://localhost:8080 --lines 100000 --rate 5000
//   bun scripts/insert.ts --lines 10 --namespace demo --pod web-1 --container nginx   # a few lines
//
// bench/run.ts uses the same generator.
import { pack } from "msgpackr";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

export interface Container {
  namespace: string;
  pod: string;
  container: string;
  podId: string;
  dockerId: string;
  host: string;
  labels: Record<string, string>;
}

/** `count` containers spread over pods and namespaces (the bench: 50 in 10 pods in 3 namespaces). */
export function makeContainers(prefix: string, count: number, pods: number, namespaces: number): Container[] {
  const out: Container[] = [];
  for (let i = 0; i < count; i++) {
    const p = i % pods;
    const ns = p % namespaces;
    const hex = (n: number, len: number) => ((n * 2654435761) >>> 0).toString(16).padStart(8, "0").repeat(8).slice(0, len);
    out.push({
      namespace: `${prefix}-ns${ns}`,
      pod: `${prefix}-app${p}-7d9c8b-${hex(p + 1, 5)}`,
      container: `c${Math.floor(i / pods)}`,
      podId: `${hex(p + 11, 8)}-4e9d-11e8-8b6b-${hex(p + 13, 12)}`,
      dockerId: hex(i + 17, 64),
      host: `worker${p % 4}`,
      labels: { app: `app${p}`, "pod-template-hash": "7d9c8b", tier: p % 2 ? "backend" : "frontend" },
    });
  }
  return out;
}

let isoSecond = Number.NaN;
let isoPrefix = "";
/** "YYYY-MM-DDTHH:MM:SS" of an epoch millisecond, cached per second (lines come in order). */
function secondPrefix(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 19);
  }
  return isoPrefix;
}

const LINE_BASE_MS = 1_777_809_897_000;
const LINE_LENGTH = 200;
const hex16 = (seq: number, containerIndex: number) => {
  const h = ((seq * 2654435761 + containerIndex * 40503) >>> 0).toString(16).padStart(8, "0");
  return h + h;
};
const linePrefix = (containerIndex: number) =>
  ` INFO [worker-${String(containerIndex % 16).padStart(2, "0")}] GET /api/v1/orders request_id=`;
const LINE_PAD = " .".repeat(LINE_LENGTH);

/**
 * A log line of 200 bytes, different for every (container, sequence number); every variable
 * part has a fixed width so that bodies can be built by patching a template (JsonBatchFactory).
 */
export function logLine(seq: number, containerIndex: number): string {
  const ms = LINE_BASE_MS + seq;
  const line = `${secondPrefix(ms)}.${String(ms % 1000).padStart(3, "0")}Z${linePrefix(containerIndex)}${hex16(seq, containerIndex)} seq=${String(seq).padStart(10, "0")} took=${String(seq % 997).padStart(3, "0")}ms`;
  return line + LINE_PAD.slice(0, LINE_LENGTH - line.length);
}

/** Sub-millisecond part (ns) of line `seq`: lines are 1 ms apart, each at its own nanosecond. */
function subMsNs(seq: number): number {
  return (seq * 7919) % 1_000_000;
}

/** Epoch nanoseconds of a container's line `seq`. */
export function lineTimeNs(startMs: number, seq: number): bigint {
  return BigInt(startMs + seq) * 1_000_000n + BigInt(subMsNs(seq));
}

/** RFC 3339 with nanoseconds of line `seq`, without bigint arithmetic. */
function lineTime(startMs: number, seq: number): string {
  const ms = startMs + seq;
  return `${secondPrefix(ms)}.${String(ms % 1000).padStart(3, "0")}${String(subMsNs(seq)).padStart(6, "0")}Z`;
}

const ascii = new TextEncoder();
const prefixBytes = new Map<number, Uint8Array>();
/** The bytes of secondPrefix(ms), cached per second. */
function secondPrefixBytes(ms: number): Uint8Array {
  const second = Math.floor(ms / 1000);
  let b = prefixBytes.get(second);
  if (b === undefined) {
    if (prefixBytes.size > 10_000) prefixBytes.clear();
    b = ascii.encode(secondPrefix(ms));
    prefixBytes.set(second, b);
  }
  return b;
}

const HEX = ascii.encode("0123456789abcdef");

function writeDigits(buf: Uint8Array, offset: number, value: number, width: number): void {
  for (let i = offset + width - 1; i >= offset; i--) {
    const q = (value - (value % 10)) / 10;
    buf[i] = 48 + value - q * 10;
    value = q;
  }
}

/**
 * Format json (or json_lines) bodies of `count` lines of one container, built by copying a
 * template and patching each line's fixed-width fields: about ten times cheaper than building
 * the JSON, so that the load generator does not compete with the server it measures. The bytes
 * are exactly those makeBatch builds for the same lines.
 */
export class JsonBatchFactory {
  private readonly template: Uint8Array;
  private readonly recordLength: number;
  private readonly offsets: { date: number; logTime: number; hex: number; seq: number; took: number; time: number };

  constructor(
    c: Container,
    private readonly containerIndex: number,
    private readonly count: number,
    private readonly format: "json" | "json_lines",
  ) {
    const pieces: string[] = [];
    const marks: Record<string, number> = {};
    let length = 0;
    const put = (text: string, mark?: string) => {
      if (mark) marks[mark] = length;
      pieces.push(text);
      length += text.length;
    };
    put('{"date":');
    put("0000000000.000000", "date");
    put(',"log":"');
    put("0000-00-00T00:00:00.000Z", "logTime");
    put(linePrefix(containerIndex));
    put("0".repeat(16), "hex");
    put(" seq=");
    put("0".repeat(10), "seq");
    put(" took=");
    put("000", "took");
    put("ms");
    const lineSoFar = length - marks.logTime!;
    put(LINE_PAD.slice(0, LINE_LENGTH - lineSoFar));
    put('","stream":"stdout","time":"');
    put("0000-00-00T00:00:00.000000000Z", "time");
    put(`","kubernetes":${kubernetesJson(c)}}`);
    this.recordLength = length;
    this.offsets = marks as JsonBatchFactory["offsets"];
    const record = pieces.join("");
    const body = format === "json" ? `[${Array(count).fill(record).join(",")}]` : Array(count).fill(record).join("\n") + "\n";
    this.template = ascii.encode(body);
  }

  make(startMs: number, seq: number): Uint8Array {
    const out = this.template.slice();
    const o = this.offsets;
    for (let i = 0; i < this.count; i++) {
      const n = seq + i;
      const base = (this.format === "json" ? 1 : 0) + i * (this.recordLength + 1);
      const ms = startMs + n;
      const sub = subMsNs(n);
      // date: epoch seconds, six decimals
      writeDigits(out, base + o.date, Math.floor(ms / 1000), 10);
      writeDigits(out, base + o.date + 11, (ms % 1000) * 1000 + Math.floor(sub / 1000), 6);
      const lineMs = LINE_BASE_MS + n;
      out.set(secondPrefixBytes(lineMs), base + o.logTime);
      writeDigits(out, base + o.logTime + 20, lineMs % 1000, 3);
      let h = (n * 2654435761 + this.containerIndex * 40503) >>> 0;
      for (let k = 7; k >= 0; k--) {
        const digit = HEX[h & 15]!;
        out[base + o.hex + k] = digit;
        out[base + o.hex + 8 + k] = digit;
        h >>>= 4;
      }
      writeDigits(out, base + o.seq, n, 10);
      writeDigits(out, base + o.took, n % 997, 3);
      out.set(secondPrefixBytes(ms), base + o.time);
      writeDigits(out, base + o.time + 20, ms % 1000, 3);
      writeDigits(out, base + o.time + 23, sub, 6);
    }
    return out;
  }
}

/** The record's `kubernetes` map, as Fluent Bit's Kubernetes filter writes it. */
function kubernetesOf(c: Container): Record<string, unknown> {
  return {
    pod_name: c.pod,
    namespace_name: c.namespace,
    pod_id: c.podId,
    labels: c.labels,
    host: c.host,
    container_name: c.container,
    docker_id: c.dockerId,
  };
}

function kubernetesJson(c: Container): string {
  return JSON.stringify(kubernetesOf(c));
}

export type Format = "json" | "json_lines" | "msgpack";

export interface Batch {
  body: Uint8Array;
  headers: Record<string, string>;
  lines: number;
  logBytes: number;
  /** Body size before compression. */
  plainBytes: number;
}

/** One request body: `count` lines of one container from `seq`, in a Fluent Bit format. */
export function makeBatch(
  c: Container,
  containerIndex: number,
  startMs: number,
  seq: number,
  count: number,
  format: Format,
  gzip: boolean,
): Batch {
  const kubernetes = kubernetesOf(c);
  let body: Uint8Array;
  let logBytes = 0;
  if (format === "msgpack") {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const ns = lineTimeNs(startMs, seq + i);
      const log = logLine(seq + i, containerIndex);
      logBytes += log.length;
      const et = new Uint8Array(10);
      et[0] = 0xd7;
      const v = new DataView(et.buffer);
      v.setUint32(2, Number(ns / 1_000_000_000n));
      v.setUint32(6, Number(ns % 1_000_000_000n));
      parts.push(
        new Uint8Array([0x92, 0x92]),
        et,
        new Uint8Array([0x80]),
        pack({ log, stream: "stdout", time: lineTime(startMs, seq + i), kubernetes }),
      );
    }
    body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      body.set(p, o);
      o += p.byteLength;
    }
  } else {
    const records: string[] = [];
    const meta = kubernetesJson(c);
    for (let i = 0; i < count; i++) {
      const n = seq + i;
      const log = logLine(n, containerIndex);
      logBytes += log.length;
      // Fluent Bit's double date: epoch seconds to the microsecond.
      const ms = startMs + n;
      const date = `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1000 + Math.floor(subMsNs(n) / 1000)).padStart(6, "0")}`;
      // The generated lines hold nothing JSON must escape.
      records.push(`{"date":${date},"log":"${log}","stream":"stdout","time":"${lineTime(startMs, n)}","kubernetes":${meta}}`);
    }
    body = new TextEncoder().encode(format === "json" ? `[${records.join(",")}]` : records.join("\n") + "\n");
  }
  const headers: Record<string, string> = {
    "content-type":
      format === "msgpack" ? "application/msgpack" : format === "json_lines" ? "application/x-ndjson" : "application/json",
    "user-agent": "kube-insight-logserver-insert",
  };
  const plainBytes = body.byteLength;
  if (gzip) {
    body = gzipSync(body, { level: 1 });
    headers["content-encoding"] = "gzip";
  }
  return { body, headers, lines: count, logBytes, plainBytes };
}

export interface SendResult {
  status: number;
  ms: number;
  body: string;
}

export async function send(url: string, batch: Batch, authorization?: string): Promise<SendResult> {
  const t0 = performance.now();
  const headers = authorization ? { ...batch.headers, authorization } : batch.headers;
  const res = await fetch(`${url.replace(/\/$/, "")}/write`, { method: "POST", body: batch.body, headers });
  const body = await res.text();
  return { status: res.status, ms: performance.now() - t0, body };
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://localhost:8080" },
      lines: { type: "string", short: "n", default: "1000" },
      rate: { type: "string", short: "r", default: "0" },
      batch: { type: "string", short: "b", default: "1000" },
      containers: { type: "string", default: "1" },
      namespace: { type: "string" },
      pod: { type: "string" },
      container: { type: "string" },
      format: { type: "string", default: "json" },
      gzip: { type: "boolean", default: false },
      concurrency: { type: "string", short: "c", default: "1" },
      start: { type: "string", help: "RFC 3339 time of the first line (default: now)" },
      user: { type: "string", help: "user:password for basic auth" },
      token: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`usage: bun scripts/insert.ts [--url URL] [--lines N] [--rate LINES_PER_S (0: as fast as possible)]
  [--batch LINES_PER_REQUEST] [--containers K] [--namespace NS --pod POD --container C]
  [--format json|json_lines|msgpack] [--gzip] [--concurrency REQUESTS] [--start RFC3339]
  [--user USER:PASSWORD | --token TOKEN]`);
    return;
  }
  const total = Number(values.lines);
  const rate = Number(values.rate);
  const batchSize = Number(values.batch);
  const format = values.format as Format;
  if (!["json", "json_lines", "msgpack"].includes(format)) throw new Error(`unknown --format ${format}`);
  let containers = makeContainers("insert", Number(values.containers), Math.max(1, Math.ceil(Number(values.containers) / 5)), 3);
  if (values.namespace || values.pod || values.container) {
    containers = containers.map((c, i) => ({
      ...c,
      namespace: values.namespace ?? c.namespace,
      pod: values.pod ?? c.pod,
      container: values.container ? (containers.length > 1 ? `${values.container}-${i}` : values.container) : c.container,
    }));
  }
  const startMs = values.start ? Date.parse(values.start) : Date.now();
  const authorization = values.user
    ? `Basic ${Buffer.from(values.user).toString("base64")}`
    : values.token
      ? `Bearer ${values.token}`
      : undefined;
  const seqs = containers.map(() => 0);
  let sent = 0;
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++ % containers.length;
      const count = Math.min(batchSize, total - sent);
      if (count <= 0) return;
      sent += count;
      const batch = makeBatch(containers[i]!, i, startMs, seqs[i]!, count, format, values.gzip!);
      seqs[i]! += count;
      if (rate > 0) {
        // Pace: the batch is due when the lines before it have been sent at `rate`.
        const due = t0 + ((sent - count) / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await Bun.sleep(wait);
      }
      const r = await send(values.url!, batch, authorization);
      if (r.status !== 200) {
        failures++;
        console.error(`HTTP ${r.status}: ${r.body.slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  const s = (performance.now() - t0) / 1000;
  console.log(`sent ${sent} lines in ${s.toFixed(2)} s (${Math.round(sent / s)} lines/s), ${failures} failed requests`);
  for (const [i, c] of containers.entries()) {
    if (seqs[i]! > 0)
      console.log(`  ${c.namespace}/${c.pod}/${c.container}: ${seqs[i]} lines from ${new Date(startMs).toISOString()}`);
  }
  if (failures > 0) process.exit(1);
}

if (import.meta.main) await main();
