// The second step of ingest: a decompressed body → records, by Fluent Bit `Format`:
//   json        a JSON array of records (the default)
//   json_lines  one JSON object per line (application/x-ndjson)
//   json_stream JSON objects back to back, sent as application/json
//   msgpack     the raw chunk: [[EventTime, {metadata}], record] entries, or the older
//               [time, record] form (application/msgpack)
// The Content-Type decides; where it is missing or generic the first byte does. A body that
// cannot be decoded at all is an IngestError (400); a part that cannot be decoded costs only
// itself and is reported as an unreadable record.
import { addExtension, Unpackr } from "msgpackr";
import { IngestError } from "./decode.ts";

/** Fluent Bit's EventTime (msgpack extension type 0): seconds and nanoseconds. */
export class EventTime {
  constructor(
    readonly seconds: number,
    readonly nanoseconds: number,
  ) {}
}

// Decoding only: msgpackr refuses a pack function for type 0 (it reads 0 as "no type").
addExtension({
  type: 0,
  unpack: (b: Uint8Array) => {
    // Fluent Bit's EventTime is always 8 bytes; msgpackr itself writes `undefined` as a 1-byte
    // type 0 extension. Anything else of type 0 is read as "no value" rather than failing the body.
    if (b.byteLength !== 8) return undefined;
    const v = new DataView(b.buffer, b.byteOffset, 8);
    return new EventTime(v.getUint32(0), v.getUint32(4));
  },
});

const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false, int64AsType: "bigint" });

export type Format = "json" | "json_lines" | "json_stream" | "msgpack";

export interface DecodedRecords {
  format: Format;
  records: unknown[];
  /** Per record: the event time from the msgpack envelope, when the format carries one. */
  eventTimes?: unknown[];
  /** Parts of the body that could not be decoded (a bad line, a trailing fragment). */
  unreadable: string[];
}

const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: false });

export function detectFormat(contentType: string | null, body: Uint8Array): Format {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (
    type === "application/x-ndjson" ||
    type === "application/jsonlines" ||
    type === "application/x-jsonlines" ||
    type === "application/json-lines" ||
    type === "application/jsonl"
  )
    return "json_lines";
  if (type === "application/msgpack" || type === "application/x-msgpack" || type === "application/vnd.msgpack") return "msgpack";
  const first = firstSignificantByte(body);
  if (first === 0x5b /* [ */) return "json";
  if (first === 0x7b /* { */) return "json_stream";
  if (type.endsWith("json") || type.startsWith("text/")) return "json";
  // msgpack arrays start with fixarray (0x90-0x9f) or array16/32 (0xdc, 0xdd).
  if (first !== -1 && ((first & 0xf0) === 0x90 || first === 0xdc || first === 0xdd)) return "msgpack";
  return "json";
}

export function decodeRecords(body: Uint8Array, contentType: string | null): DecodedRecords {
  const format = detectFormat(contentType, body);
  switch (format) {
    case "json":
      return decodeJsonArray(body);
    case "json_lines":
    case "json_stream":
      return { format, ...decodeJsonSequence(body, format) };
    case "msgpack":
      return decodeMsgpack(body);
  }
}

function firstSignificantByte(body: Uint8Array): number {
  let i = 0;
  // Skip whitespace and a UTF-8 byte order mark.
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) i = 3;
  for (; i < body.length; i++) {
    const b = body[i]!;
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return b;
  }
  return -1;
}

function decodeJsonArray(body: Uint8Array): DecodedRecords {
  const text = utf8.decode(body);
  if (text.trim() === "") return { format: "json", records: [], unreadable: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new IngestError(400, "failed to parse request", `body is not valid JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(parsed)) return { format: "json", records: parsed, unreadable: [] };
  if (typeof parsed === "object" && parsed !== null) return { format: "json", records: [parsed], unreadable: [] };
  throw new IngestError(400, "failed to parse request", "body is JSON but neither an array of records nor a record");
}

/**
 * json_lines: one value per line. json_stream: values back to back, found by a scanner that
 * respects strings and escapes. Either way one broken value costs only itself.
 */
function decodeJsonSequence(body: Uint8Array, format: "json_lines" | "json_stream"): Omit<DecodedRecords, "format"> {
  const text = utf8.decode(body);
  const records: unknown[] = [];
  const unreadable: string[] = [];
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    const c = text.charCodeAt(pos);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xfeff) {
      pos++;
      continue;
    }
    const end = format === "json_lines" ? endOfLine(text, pos) : endOfValue(text, pos);
    try {
      const value = JSON.parse(text.slice(pos, end));
      if (Array.isArray(value)) for (const v of value) records.push(v);
      else records.push(value);
    } catch (error) {
      unreadable.push(`value at character ${pos} is not valid JSON: ${(error as Error).message}`);
    }
    pos = end;
  }
  if (records.length === 0 && unreadable.length > 0) {
    throw new IngestError(400, "failed to parse request", unreadable[0]!);
  }
  return { records, unreadable };
}

function endOfLine(text: string, start: number): number {
  const nl = text.indexOf("\n", start);
  return nl === -1 ? text.length : nl + 1;
}

/**
 * Where the JSON value starting at `start` ends: after its closing bracket for objects and
 * arrays, otherwise at the end of the line. A raw newline inside a string is invalid JSON, so
 * the value is cut there and scanning resumes on the next line.
 */
function endOfValue(text: string, start: number): number {
  const open = text.charCodeAt(start);
  if (open !== 0x7b && open !== 0x5b) return endOfLine(text, start);
  const n = text.length;
  let depth = 0;
  let inString = false;
  for (let i = start; i < n; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      else if (c === 0x0a) return i + 1;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i + 1;
  }
  return n;
}

function decodeMsgpack(body: Uint8Array): DecodedRecords {
  const records: unknown[] = [];
  const eventTimes: unknown[] = [];
  const unreadable: string[] = [];
  let decodedUpTo = 0;
  try {
    unpackr.unpackMultiple(body, (value: unknown, _start?: number, end?: number) => {
      if (end !== undefined) decodedUpTo = end;
      if (Array.isArray(value) && value.length === 2) {
        const [head, record] = value;
        // [[EventTime, {metadata}], record] (Fluent Bit 2.1+) or [time, record] (older).
        eventTimes.push(Array.isArray(head) ? head[0] : head);
        records.push(record);
      } else {
        eventTimes.push(undefined);
        records.push(value);
      }
      return true;
    });
  } catch (error) {
    const detail = `msgpack body cannot be decoded from byte ${decodedUpTo} of ${body.byteLength}: ${(error as Error).message}`;
    if (records.length === 0) throw new IngestError(400, "failed to parse request", detail);
    unreadable.push(detail);
  }
  return { format: "msgpack", records, eventTimes, unreadable };
}
