// POST /write in one call: read (bounded), decompress (bounded), decode by format, normalise,
// each step inside the request's share of the in-flight budget. Knows nothing of Elysia or of
// stores; routes/write.ts renders the result.
import { RetentionPolicy, type RetentionRule } from "../store/retention.ts";
import type { LogEntry } from "../store/store.ts";
import { nowNs } from "../time.ts";
import { ByteBudget, Lease } from "./budget.ts";
import { checkZstdFrames, decompress, IngestError, readBody, type BodyLimits } from "./decode.ts";
import { normalise, type NormalisedBatch } from "./fluentbit.ts";
import { decodeRecords, type Format } from "./formats.ts";

export interface IngestOptions extends BodyLimits {
  dateKey: string;
  maxLineSize: number;
  /**
   * The retention of each namespace: lines older than theirs are rejected (they would expire at
   * once). Without it, one is made from retentionSeconds (0 keeps lines forever) and retentionRules.
   */
  retention?: RetentionPolicy;
  retentionSeconds?: number;
  retentionRules?: readonly RetentionRule[];
}

/** Policies made from options without one, per options object (a route's, made once). */
const policies = new WeakMap<IngestOptions, RetentionPolicy>();

/** The retention lines are judged by: the options' policy, or one made from their settings. */
export function retentionOf(options: IngestOptions): RetentionPolicy {
  if (options.retention) return options.retention;
  let policy = policies.get(options);
  if (policy === undefined) {
    policy = new RetentionPolicy(options.retentionSeconds ?? 0, options.retentionRules ?? []);
    policies.set(options, policy);
  }
  return policy;
}

/**
 * A batch an ingest route decoded: its entries, the records it refused (by position in the body,
 * reasons being metric label values), and its sizes for the metrics.
 */
export interface IngestBatch {
  entries: LogEntry[];
  rejections: { index: number; reason: string; detail: string }[];
  /** The wire format (a metric label value). */
  format: string;
  wireBytes: number;
  decodedBytes: number;
}

export interface DecodedWrite extends NormalisedBatch {
  format: Format;
  wireBytes: number;
  decodedBytes: number;
}

/**
 * What a decompressed byte is taken to cost in memory until the batch is stored: the bytes
 * themselves, the text decoded from them, the records parsed from the text and the entries
 * normalised from the records.
 */
export const DECODED_COST = 4;

/** How long a request waits for room in the budget before it is answered 429. */
export const BUDGET_WAIT_MS = 2_000;

/** The in-flight budget of a server, shared by its ingest routes. */
export function ingestBudget(maxInflightBytes: number): ByteBudget {
  return new ByteBudget(maxInflightBytes);
}

/** Reads, decodes and normalises a POST /write request into the tenant's entries. */
export async function decodeWriteRequest(
  request: Request,
  options: IngestOptions,
  tenant: string,
  lease?: Lease,
): Promise<DecodedWrite> {
  const { wire, body } = await readDecompressed(request, options, lease);
  const decoded = decodeRecords(body, request.headers.get("content-type"));
  const retention = retentionOf(options);
  const batch = normalise(decoded, {
    tenant,
    dateKey: options.dateKey,
    maxLineSize: options.maxLineSize,
    retention: retention.expires ? retention : undefined,
    nowNs: nowNs(),
  });
  return { ...batch, format: decoded.format, wireBytes: wire.byteLength, decodedBytes: body.byteLength };
}

/**
 * The request body off the wire and decompressed, both bounded, each inside the lease. The
 * Content-Encoding header says how the body is encoded unless `encoding` is given (a protocol
 * whose bodies are compressed without saying so: Loki's snappy protobuf).
 */
export async function readDecompressed(
  request: Request,
  options: IngestOptions,
  lease?: Lease,
  encoding: string | null = request.headers.get("content-encoding"),
): Promise<{ wire: Uint8Array; body: Uint8Array }> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  // The body on the wire: its declared length, or the cap when it comes in chunks.
  const wireShare = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, options.maxBodySize) : options.maxBodySize;
  await lease?.grow(wireShare, "the request body");
  const wire = await readBody(request, options);
  lease?.shrink(wireShare - wire.byteLength);
  const body = await decompressWithin(wire, encoding, options, lease);
  return { wire, body };
}

/**
 * Decompresses after taking the budget's share for the decoded body, sized by what the body says
 * of itself (gzip's, zstd's and snappy's stated length) where it can, else by the cap. A body that
 * states less than it holds is decompressed again once the full share is taken.
 */
async function decompressWithin(wire: Uint8Array, encoding: string | null, options: IngestOptions, lease?: Lease) {
  const max = options.maxDecompressedSize;
  const hint = decodedSizeHint(wire, encoding, max);
  // An identity body is the wire body itself: its cost beside it is the decoding.
  const charged = hint * DECODED_COST - (hint === wire.byteLength && !isEncoded(encoding) ? hint : 0);
  await lease?.grow(charged, "the decoded body");
  let body: Uint8Array;
  try {
    body = decompress(wire, encoding, { ...options, maxDecompressedSize: hint });
  } catch (error) {
    if (!(error instanceof IngestError && error.status === 413 && hint < max)) throw error;
    await lease?.grow((max - hint) * DECODED_COST, "the decoded body");
    body = decompress(wire, encoding, options);
    lease?.shrink((max - body.byteLength) * DECODED_COST);
    return body;
  }
  lease?.shrink((hint - body.byteLength) * DECODED_COST);
  return body;
}

function isEncoded(encoding: string | null): boolean {
  return codings(encoding).length > 0;
}

function codings(encoding: string | null): string[] {
  if (encoding === null || encoding === "") return [];
  return encoding
    .toLowerCase()
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "" && c !== "identity" && c !== "none");
}

/**
 * The decompressed size a body states, capped at `max`: gzip's ISIZE trailer (the last member's
 * length modulo 4 GiB), zstd's frame content sizes, snappy's leading varint; the cap for other
 * encodings (deflate, br) and several. A hint only: a body may lie, and decompression stops at it.
 */
export function decodedSizeHint(wire: Uint8Array, encoding: string | null, max: number): number {
  const list = codings(encoding);
  if (list.length === 0) return Math.min(wire.byteLength, max);
  if (list.length > 1 || wire.byteLength === 0) return max;
  const n = wire.byteLength;
  switch (list[0]) {
    case "gzip":
    case "x-gzip": {
      if (n < 18) return max;
      const isize = (wire[n - 4]! | (wire[n - 3]! << 8) | (wire[n - 2]! << 16)) + wire[n - 1]! * 0x1000000;
      return Math.min(max, Math.max(1, isize));
    }
    case "zstd": {
      let declared: number | undefined;
      try {
        declared = checkZstdFrames(wire);
      } catch {
        return max; // refused when decompressed
      }
      return declared === undefined ? max : Math.min(max, Math.max(1, declared));
    }
    case "snappy": {
      let length = 0;
      for (let i = 0, shift = 0; i < 5 && i < n; i++, shift += 7) {
        length += (wire[i]! & 0x7f) * 2 ** shift;
        if (wire[i]! < 0x80) return Math.min(max, Math.max(1, length));
      }
      return max;
    }
  }
  return max;
}
