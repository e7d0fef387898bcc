// Helpers for the ingest suites: hand-built msgpack envelopes, requests and read-back over HTTP.
import { pack } from "msgpackr";

/** Fluent Bit's EventTime: msgpack fixext8 (0xd7) of type 0, uint32 seconds and nanoseconds, big-endian. */
export function eventTime(seconds: number, nanoseconds: number): Uint8Array {
  const b = new Uint8Array(10);
  b[0] = 0xd7;
  b[1] = 0x00;
  const v = new DataView(b.buffer);
  v.setUint32(2, seconds);
  v.setUint32(6, nanoseconds);
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** [[EventTime, metadata], record]: the Fluent Bit 2.1+ chunk entry. */
export function msgpackEntry(seconds: number, nanoseconds: number, record: object, metadata: object = {}): Uint8Array {
  return concat(new Uint8Array([0x92, 0x92]), eventTime(seconds, nanoseconds), pack(metadata), pack(record));
}

/** [time, record]: the older entry, time an integer, a float or an EventTime. */
export function msgpackLegacyEntry(time: number | Uint8Array, record: object): Uint8Array {
  return concat(new Uint8Array([0x92]), time instanceof Uint8Array ? time : pack(time), pack(record));
}

export interface Row {
  time: string;
  log: string;
  stream: string;
}

export async function write(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = { "content-type": "application/json" },
) {
  const res = await fetch(`${url}/write`, { method: "POST", headers, body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`POST /write answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, json };
}

export async function readBack(
  url: string,
  namespace: string,
  over: { pod?: string; container?: string; start?: string; end?: string } = {},
): Promise<Row[]> {
  const q = new URLSearchParams({
    namespace,
    pod_name: over.pod ?? "web-1",
    container_name: over.container ?? "nginx",
    start_time: over.start ?? "1970-01-01T00:00:00Z",
    end_time: over.end ?? "2100-01-01T00:00:00Z",
  });
  const res = await fetch(`${url}/query?${q}`);
  if (res.status !== 200) throw new Error(`GET /query answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { log_rows: Row[] }).log_rows;
}

/**
 * A msgpack extension value of `type` (-128..127) with `length` payload bytes: fixext when the
 * length allows it, ext 8 otherwise.
 */
export function msgpackExt(type: number, length: number): Uint8Array {
  const fixext: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  const head = fixext[length] !== undefined ? [fixext[length]!, type & 0xff] : [0xc7, length, type & 0xff];
  if (length > 255) throw new Error("msgpackExt: up to 255 bytes");
  return concat(
    new Uint8Array(head),
    Uint8Array.from({ length }, (_, i) => (i * 37 + 1) & 0xff),
  );
}

/** pack(value) with the string `placeholder` (where it appears as a value) replaced by raw msgpack bytes. */
export function packWith(value: unknown, placeholder: string, bytes: Uint8Array): Uint8Array {
  const packed = pack(value);
  const needle = pack(placeholder);
  const at = Buffer.from(packed).indexOf(Buffer.from(needle));
  if (at === -1) throw new Error(`packWith: ${placeholder} not found`);
  return concat(packed.subarray(0, at), bytes, packed.subarray(at + needle.length));
}
