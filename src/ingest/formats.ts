// The second step of ingest: a decompressed body → records, by Fluent Bit `Format`:
//   json        a JSON array of records (the default)
//   json_lines  one JSON object per line (application/x-ndjson)
//   json_stream JSON objects back to back, sent as application/json
//   msgpack     the raw chunk: [[EventTime, {metadata}], record] entries, or the older
//               [time, record] form (application/msgpack)
// The Content-Type decides; where it is missing or generic the first byte does. A body that
// cannot be decoded at all is an IngestError (400); a part that cannot be decoded costs only
// itself and is reported as an unreadable record.
import { addExtension, C1, Unpackr } from "msgpackr";
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

/**
 * A msgpack extension value of a type we do not read: every type but 0 (EventTime) and -1 (the
 * msgpack timestamp, which msgpackr reads as a Date). Records holding one are judged as usual:
 * as the event time it is an invalid timestamp, as the log line an invalid field, and where
 * text is kept (labels, pod_id, host, ...) it is kept as `<msgpack ext type N, M bytes>`.
 */
export class UnknownExtension {
  constructor(
    /** The signed extension type, -128..127. */
    readonly type: number,
    readonly byteLength: number,
  ) {}
  toString(): string {
    return `<msgpack ext type ${this.type}, ${this.byteLength} bytes>`;
  }
  /** Nested in a label's value, it is printed as the same text. */
  toJSON(): string {
    return this.toString();
  }
}

// msgpackr throws on an extension type it does not know, which cost the entry and every entry
// after it, and reads its own private types (66 bigint, 98, 101 Error, 105/112 structured-clone
// references, 115 Set, 116 typed arrays, 120 RegExp) in ways a hostile body can abuse (some read
// the next value as part of the extension). None of them is Fluent Bit's: each becomes an
// UnknownExtension. msgpackr indexes its table by the type byte read unsigned, so the negative
// types -128..-2 are registered as 128..254 (a registration under -2 would never match).
for (let byte = 1; byte <= 254; byte++) {
  const type = byte > 127 ? byte - 256 : byte;
  addExtension({ type: byte, unpack: (data: Uint8Array) => new UnknownExtension(type, data.byteLength) });
}

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
    let end = format === "json_lines" ? endOfLine(text, pos) : endOfValue(text, pos);
    try {
      const value = JSON.parse(text.slice(pos, end));
      if (Array.isArray(value)) for (const v of value) records.push(v);
      else records.push(value);
    } catch (error) {
      // In a stream, text that is no value (a broken literal, a stray bracket) runs as one
      // unreadable part up to where the next object or array, or the next line, starts.
      if (format === "json_stream" && c !== 0x7b && c !== 0x5b && c !== 0x22) end = endOfJunk(text, end);
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
 * arrays, after its closing quote for strings, and for numbers and literals (true, false, null)
 * where the next whitespace, bracket, quote, comma or colon starts. A raw newline inside a string
 * is invalid JSON, so the value is cut there and scanning resumes on the next line.
 */
function endOfValue(text: string, start: number): number {
  const open = text.charCodeAt(start);
  const n = text.length;
  if (open === 0x22) {
    for (let i = start + 1; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x5c) i++;
      else if (c === 0x22 || c === 0x0a) return i + 1;
    }
    return n;
  }
  if (open !== 0x7b && open !== 0x5b) {
    let i = start + 1;
    while (i < n && !isDelimiter(text.charCodeAt(i))) i++;
    return i;
  }
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

/** Whitespace and the characters that end a number or literal: { } [ ] " , : */
function isDelimiter(c: number): boolean {
  return (
    c === 0x20 ||
    c === 0x0a ||
    c === 0x0d ||
    c === 0x09 ||
    c === 0x7b ||
    c === 0x7d ||
    c === 0x5b ||
    c === 0x5d ||
    c === 0x22 ||
    c === 0x2c ||
    c === 0x3a
  );
}

/** Where unreadable text that began before `from` stops: at the next '{', '[' or line. */
function endOfJunk(text: string, from: number): number {
  const n = text.length;
  for (let i = from; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b || c === 0x0a) return i;
  }
  return n;
}

function decodeMsgpack(body: Uint8Array): DecodedRecords {
  const records: unknown[] = [];
  const eventTimes: unknown[] = [];
  const unreadable: string[] = [];
  let start = 0;
  let c1Run = -1;
  const onEntry = (value: unknown, from?: number, to?: number) => {
    if (value === C1) {
      // msgpackr reads 0xc1, the byte msgpack never uses, as a value: it is no entry, and a
      // run of them is one unreadable part.
      const at = start + from!;
      if (at !== c1Run) unreadable.push(`byte ${at} is 0xc1, which msgpack never uses`);
      c1Run = start + to!;
      return true;
    }
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
  };
  for (;;) {
    try {
      unpackr.unpackMultiple(start === 0 ? body : body.subarray(start), onEntry);
      break;
    } catch (error) {
      // An entry msgpackr cannot read costs only itself when the format still says where it
      // ends (msgpackr's own extensions, such as its record definitions in fixext 1 and 2 of
      // type 114, are not in the table above); a body cut short or malformed past that point
      // costs the rest.
      const at = start + ((error as { lastPosition?: number }).lastPosition ?? 0);
      const end = endOfMsgpackValue(body, at);
      if (end === -1) {
        unreadable.push(`msgpack body cannot be decoded from byte ${at} of ${body.byteLength}: ${(error as Error).message}`);
        break;
      }
      unreadable.push(`msgpack entry at bytes ${at}..${end} cannot be decoded: ${(error as Error).message}`);
      if (end >= body.byteLength) break;
      start = end;
    }
  }
  if (records.length === 0 && unreadable.length > 0) throw new IngestError(400, "failed to parse request", unreadable[0]!);
  return { format: "msgpack", records, eventTimes, unreadable };
}

/**
 * Where the msgpack value starting at `start` ends, by the format alone (no values are built and
 * there is no recursion, so any depth is fine); -1 when the bytes run out first or hold the
 * unused 0xc1.
 */
export function endOfMsgpackValue(b: Uint8Array, start: number): number {
  const n = b.length;
  const u8 = (at: number) => (at < n ? b[at]! : -1);
  const u16 = (at: number) => (at + 1 < n ? (b[at]! << 8) | b[at + 1]! : -1);
  const u32 = (at: number) => (at + 3 < n ? b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) : -1);
  let p = start;
  let pending = 1;
  while (pending > 0) {
    if (p >= n) return -1;
    const t = b[p]!;
    pending--;
    if (t < 0x80 || t >= 0xe0) {
      p += 1; // positive and negative fixint
      continue;
    }
    if (t < 0xa0) {
      pending += t < 0x90 ? (t & 0x0f) * 2 : t & 0x0f; // fixmap, fixarray
      p += 1;
      continue;
    }
    if (t < 0xc0) {
      p += 1 + (t & 0x1f); // fixstr
      continue;
    }
    // Header bytes, then a payload of `length` bytes or `count` more values.
    let header: number;
    let length = 0;
    let count = 0;
    switch (t) {
      case 0xc1:
        return -1;
      case 0xc4: // bin 8, 16, 32
      case 0xd9: // str 8, 16, 32
        header = 2;
        length = u8(p + 1);
        break;
      case 0xc5:
      case 0xda:
        header = 3;
        length = u16(p + 1);
        break;
      case 0xc6:
      case 0xdb:
        header = 5;
        length = u32(p + 1);
        break;
      case 0xc7: // ext 8, 16, 32: length, type, data
        header = 3;
        length = u8(p + 1);
        break;
      case 0xc8:
        header = 4;
        length = u16(p + 1);
        break;
      case 0xc9:
        header = 6;
        length = u32(p + 1);
        break;
      case 0xdc: // array 16, 32
        header = 3;
        count = u16(p + 1);
        break;
      case 0xdd:
        header = 5;
        count = u32(p + 1);
        break;
      case 0xde: // map 16, 32
        header = 3;
        count = u16(p + 1) * 2;
        break;
      case 0xdf:
        header = 5;
        count = u32(p + 1) * 2;
        break;
      default:
        // nil, false, true, float 32/64, uint and int 8..64, fixext 1..16 (type and data).
        header = FIXED_SIZE[t - 0xc0]!;
    }
    if (length < 0 || count < 0) return -1;
    pending += count;
    p += header + length;
  }
  return p <= n ? p : -1;
}

/** Sizes of the fixed-size msgpack types 0xc0..0xd8, by type byte - 0xc0 (0: not fixed). */
const FIXED_SIZE = [1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9, 3, 4, 6, 10, 18];
