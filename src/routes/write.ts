// POST /write (ingest) and GET /write (health probe).
import { Elysia, t } from "elysia";
import { IngestError } from "../ingest/decode.ts";
import { decodeWriteRequest, type IngestOptions } from "../ingest/ingest.ts";
import { log } from "../log.ts";
import { GcPacer } from "../memory.ts";
import type { Metrics } from "../metrics.ts";
import { StoreBusyError, StoreUnavailableError, type LogStore } from "../store/store.ts";
import { errorResponse, ErrorBody, json, storeErrorResponse } from "./http.ts";

/** How many rejection reasons a response lists; the counts cover all of them. */
const MAX_LISTED_ERRORS = 10;

export const WriteResult = t.Object({
  accepted: t.Integer({ description: "Records stored." }),
  rejected: t.Integer({ description: "Records refused; the rest of the batch was stored." }),
  errors: t.Optional(
    t.Array(
      t.Object({
        index: t.Integer({ description: "Position of the record in the body (-1: an unreadable part)." }),
        reason: t.String(),
        detail: t.String(),
      }),
      { description: `The first ${MAX_LISTED_ERRORS} rejections.` },
    ),
  ),
});

const writeResponses = {
  200: WriteResult,
  400: ErrorBody,
  401: ErrorBody,
  408: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  503: ErrorBody,
};

export const HealthStatus = t.Object({
  healthy: t.Boolean(),
  detail: t.String({ description: "Why the store is not usable; empty when healthy." }),
});

const recordExample = {
  date: 1525349097.094408,
  kubernetes: {
    docker_id: "e8b89cc4e292827b2f521c4c7d7b8807cf72023565b9ac5f89f8186420325d74",
    labels: { name: "weave-net" },
    host: "master1",
    pod_name: "weave-net-5mfwh",
    container_name: "weave",
    pod_id: "f5225d5f-4e9d-11e8-8b6b-02425d6e035a",
    namespace_name: "kube-system",
  },
  log: "INFO: 2018/05/03 12:04:57.094154 Discovered remote MAC",
  stream: "stderr",
  time: "2018-05-03T12:04:57.094408152Z",
};

export interface WriteRouteOptions extends IngestOptions {
  guard?: (request: Request) => Response | undefined;
  guardHealth?: boolean;
}

export function writeRoutes(store: LogStore, metrics: Metrics, options: WriteRouteOptions) {
  const guard = options.guard;
  const gc = new GcPacer();
  const ingest = async (request: Request): Promise<Response> => {
    if (guard) {
      const denied = guard(request);
      if (denied) return denied;
    }
    let decoded;
    try {
      decoded = await decodeWriteRequest(request, options);
    } catch (error) {
      if (error instanceof IngestError) {
        log.warn("write refused", { status: error.status, message: error.message, detail: error.detail });
        return errorResponse(error.status, error.message, error.detail);
      }
      throw error;
    }
    gc.note(decoded.decodedBytes);
    const encoding = request.headers.get("content-encoding") || "identity";
    metrics.wireBytes.inc({ encoding: encoding.length > 16 ? "other" : encoding.toLowerCase() }, decoded.wireBytes);
    metrics.decodedBytes.inc({ format: decoded.format }, decoded.decodedBytes);

    const started = performance.now();
    try {
      await store.write(decoded.entries);
    } catch (error) {
      const result = error instanceof StoreUnavailableError ? "unavailable" : error instanceof StoreBusyError ? "busy" : "error";
      metrics.storeWriteDuration.observe({ store: store.kind, result }, (performance.now() - started) / 1000);
      log.error("store write failed", { records: decoded.entries.length, error });
      return storeErrorResponse(error, "store entries");
    }
    metrics.storeWriteDuration.observe({ store: store.kind, result: "ok" }, (performance.now() - started) / 1000);
    metrics.recordsAccepted.inc({ format: decoded.format }, decoded.entries.length);

    const rejections = decoded.rejections;
    if (rejections.length === 0) return json({ accepted: decoded.entries.length, rejected: 0 });
    for (const r of rejections) metrics.recordsRejected.inc({ reason: r.reason });
    log.warn("records rejected", {
      accepted: decoded.entries.length,
      rejected: rejections.length,
      first: rejections.slice(0, 3),
    });
    return json({
      accepted: decoded.entries.length,
      rejected: rejections.length,
      errors: rejections.slice(0, MAX_LISTED_ERRORS),
    });
  };

  return (
    new Elysia({ name: "routes.write" })
      .get(
        "/write",
        async ({ request }) => {
          if (guard && options.guardHealth) {
            const denied = guard(request);
            if (denied) return denied;
          }
          const status = await store.health().catch((e: Error) => ({ healthy: false, detail: e.message }));
          return json(status, status.healthy ? 200 : 503);
        },
        {
          detail: {
            summary: "Health probe",
            description: "200 with healthy: true when the store takes writes and queries; 503 with a detail otherwise.",
            tags: ["ingest"],
          },
          response: { 200: HealthStatus, 503: HealthStatus },
        },
      )
      .post("/write", ({ request }) => ingest(request), {
        parse: "none",
        detail: {
          summary: "Ingest a batch of Fluent Bit records",
          description:
            "Takes what Fluent Bit's http output sends: Format json (an array), json_lines, json_stream or msgpack, " +
            "with Compress gzip, zstd, snappy, deflate or none. Valid records are stored even when others are " +
            "rejected (200 with counts). 400 only when the body cannot be decoded at all; 413 over the size caps; " +
            "415 for an unknown Content-Encoding; 503 with Retry-After when the store cannot take the batch now. " +
            "A batch sent again (a retry) is stored once.",
          tags: ["ingest"],
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: { type: "array", items: { type: "object" } }, example: [recordExample] },
              "application/x-ndjson": { schema: { type: "string" } },
              "application/msgpack": { schema: { type: "string", format: "binary" } },
            },
          },
        },
        response: writeResponses,
      })
      // Fluent Bit's http output posts to "/" unless URI is set, and drops a batch answered 404:
      // accept it there too rather than lose logs to a missing line of configuration.
      .post("/", ({ request }) => ingest(request), {
        parse: "none",
        detail: { summary: "Alias of POST /write (Fluent Bit's default URI)", tags: ["ingest"] },
        response: writeResponses,
      })
  );
}
