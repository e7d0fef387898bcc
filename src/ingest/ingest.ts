// POST /write in one call: read (bounded), decompress (bounded), decode by format, normalise.
// Knows nothing of Elysia or of stores; routes/write.ts renders the result.
import { retentionCutoffNs } from "../time.ts";
import { decompress, readBody, type BodyLimits } from "./decode.ts";
import { decodeRecords, type Format } from "./formats.ts";
import { normalise, type NormalisedBatch } from "./fluentbit.ts";

export interface IngestOptions extends BodyLimits {
  dateKey: string;
  maxLineSize: number;
  /** 0 keeps lines forever; otherwise older lines are rejected (they would expire at once). */
  retentionSeconds: number;
}

export interface DecodedWrite extends NormalisedBatch {
  format: Format;
  wireBytes: number;
  decodedBytes: number;
}

export async function decodeWriteRequest(request: Request, options: IngestOptions): Promise<DecodedWrite> {
  const wire = await readBody(request, options);
  const body = decompress(wire, request.headers.get("content-encoding"), options);
  const decoded = decodeRecords(body, request.headers.get("content-type"));
  const oldestNs = options.retentionSeconds > 0 ? retentionCutoffNs(options.retentionSeconds) : undefined;
  const batch = normalise(decoded, { dateKey: options.dateKey, maxLineSize: options.maxLineSize, oldestNs });
  return { ...batch, format: decoded.format, wireBytes: wire.byteLength, decodedBytes: body.byteLength };
}
