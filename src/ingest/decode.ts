// The first step of ingest: bytes off the wire, bounded, then Content-Encoding undone, bounded
// again. Every failure is an IngestError carrying the HTTP status and a message that names the
// problem, so the route only has to render it.
import * as zlib from "node:zlib";
import { SnappyError, SnappyTooLargeError, snappyUncompress } from "./snappy.ts";

export class IngestError extends Error {
  override readonly name = "IngestError";
  constructor(
    readonly status: 400 | 408 | 413 | 415,
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

export interface BodyLimits {
  /** Bytes on the wire. */
  maxBodySize: number;
  /** Bytes after decompression. */
  maxDecompressedSize: number;
  /** A body that takes longer than this to arrive is answered 408. */
  readTimeoutMs?: number;
}

const EMPTY = new Uint8Array(0);

/** Reads a request body, refusing (413) past the limit without buffering the excess. */
export async function readBody(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limits.maxBodySize) {
    throw tooLarge(`request body of ${declared} bytes`, limits.maxBodySize, "--max-body-size");
  }
  const body = request.body;
  if (body === null) return EMPTY;
  if (declared !== null) {
    // A declared length within the cap: the runtime reads the body in one go, which is much
    // cheaper than a stream of chunks. HTTP framing keeps the body to that length.
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const bytes = await Promise.race([
        request.arrayBuffer(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(slowBody(limits)), limits.readTimeoutMs ?? 60_000);
        }),
      ]);
      return new Uint8Array(bytes);
    } catch (error) {
      if (error instanceof IngestError) throw error;
      throw new IngestError(400, "failed to read request body", (error as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(slowBody(limits)), limits.readTimeoutMs ?? 60_000);
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      total += value.byteLength;
      if (total > limits.maxBodySize) {
        throw tooLarge("request body", limits.maxBodySize, "--max-body-size");
      }
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    if (error instanceof IngestError) throw error;
    throw new IngestError(400, "failed to read request body", (error as Error).message);
  } finally {
    clearTimeout(timer);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Undoes Content-Encoding (gzip, deflate, zstd, raw snappy, br; several comma-separated codings
 * are undone in reverse order). Output is capped at limits.maxDecompressedSize: past it, 413.
 */
export function decompress(body: Uint8Array, contentEncoding: string | null, limits: BodyLimits): Uint8Array {
  if (contentEncoding === null || contentEncoding === "") return body;
  const codings = contentEncoding
    .toLowerCase()
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "" && c !== "identity" && c !== "none");
  let data = body;
  for (let i = codings.length - 1; i >= 0; i--) data = decodeOne(data, codings[i]!, limits.maxDecompressedSize);
  return data;
}

function decodeOne(data: Uint8Array, coding: string, max: number): Uint8Array {
  if (data.byteLength === 0) return data;
  try {
    switch (coding) {
      case "gzip":
      case "x-gzip":
        return zlib.gunzipSync(data, { maxOutputLength: max });
      case "deflate":
        // RFC 9110 says zlib-wrapped; some clients send raw deflate. The zlib header tells.
        return (data[0]! & 0x0f) === 8 && ((data[0]! << 8) | data[1]!) % 31 === 0
          ? zlib.inflateSync(data, { maxOutputLength: max })
          : zlib.inflateRawSync(data, { maxOutputLength: max });
      case "zstd": {
        // zstdDecompressSync returns what it has for a frame cut short (even nothing) and
        // ignores bytes after the last frame, so the frames are checked whole first.
        checkZstdFrames(data);
        return zlib.zstdDecompressSync(data, { maxOutputLength: max });
      }
      case "snappy":
        return snappyUncompress(data, max);
      case "br":
        return zlib.brotliDecompressSync(data, { maxOutputLength: max });
    }
  } catch (error) {
    if (error instanceof SnappyTooLargeError || (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw tooLarge(`${coding} body, decompressed,`, max, "--max-decompressed-size");
    }
    const detail = error instanceof SnappyError ? error.message : `${(error as Error).message}`;
    throw new IngestError(400, `body is not valid ${coding} data`, detail);
  }
  throw new IngestError(
    415,
    `unsupported Content-Encoding: ${coding}`,
    `supported encodings: gzip, zstd, snappy (raw block format), deflate, br, identity`,
  );
}

const DICTIONARY_ID_BYTES = [0, 1, 2, 4];

/**
 * Walks the frames of a zstd body by their headers and block headers, without decompressing
 * (github.com/facebook/zstd/blob/dev/doc/zstd_compression_format.md): every frame must end with
 * its last block (and checksum, when it has one) inside the body, and nothing but frames may
 * follow. (A complete frame whose blocks do not add up to its declared content size is refused
 * by the decompressor itself.) Returns the sum of the frames' declared content sizes, or
 * undefined when a frame declares none.
 */
export function checkZstdFrames(b: Uint8Array): number | undefined {
  const n = b.length;
  const u32 = (at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
  let p = 0;
  let declared: number | undefined = 0;
  while (p < n) {
    if (p + 4 > n) throw new Error(`${n - p} bytes after the last frame`);
    const magic = u32(p);
    if (magic >>> 4 === 0x184d2a5) {
      // A skippable frame: magic, 4-byte size, user data.
      if (p + 8 > n) throw new Error("skippable frame cut short");
      p += 8 + u32(p + 4);
      if (p > n) throw new Error("skippable frame cut short");
      continue;
    }
    if (magic !== 0xfd2fb528) throw new Error(`no zstd frame at byte ${p}`);
    p += 4;
    if (p >= n) throw new Error("frame header cut short");
    const descriptor = b[p++]!;
    if (descriptor & 0x08) throw new Error("frame header has its reserved bit set");
    const sizeFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    // Window descriptor (unless single segment), dictionary id, frame content size.
    const sizeAt = p + (singleSegment ? 0 : 1) + DICTIONARY_ID_BYTES[descriptor & 3]!;
    const sizeBytes = sizeFlag === 0 ? singleSegment : 1 << sizeFlag;
    p = sizeAt + sizeBytes;
    if (p > n) throw new Error("frame header cut short");
    if (sizeBytes === 0) declared = undefined;
    else if (declared !== undefined) {
      let size = 0;
      for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + b[sizeAt + i]!;
      declared += sizeBytes === 2 ? size + 256 : size;
    }
    for (;;) {
      if (p + 3 > n) throw new Error("frame cut short before its last block");
      const header = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
      const type = (header >> 1) & 3;
      if (type === 3) throw new Error("block of the reserved type");
      p += 3 + (type === 1 ? 1 : header >>> 3); // an RLE block holds one byte
      if (p > n) throw new Error("frame cut short inside a block");
      if (header & 1) break;
    }
    if (descriptor & 0x04) {
      p += 4;
      if (p > n) throw new Error("frame cut short inside its checksum");
    }
  }
  return declared;
}

function slowBody(limits: BodyLimits): IngestError {
  return new IngestError(
    408,
    "request body too slow",
    `the body did not arrive within ${(limits.readTimeoutMs ?? 60_000) / 1000} s`,
  );
}

function tooLarge(what: string, limit: number, option: string): IngestError {
  return new IngestError(413, "request body too large", `${what} exceeds the limit of ${limit} bytes (${option})`);
}
