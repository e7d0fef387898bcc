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
      case "zstd":
        return zlib.zstdDecompressSync(data, { maxOutputLength: max });
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
