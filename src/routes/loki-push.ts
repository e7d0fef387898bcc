// POST /loki/api/v1/push: Loki's push API, for Fluent Bit's loki output, Grafana Alloy, Promtail
// and any Loki client. Decoding is src/loki/push.ts; everything after it (the in-flight budget,
// the tenant's rate, the store, metrics, followers) is /write's, shared through ingestBatch.
import { Elysia, t } from "elysia";
import { decodeLokiPush } from "../loki/push.ts";
import type { Metrics } from "../metrics.ts";
import type { LogStore } from "../store/store.ts";
import { ErrorBody, errorResponse } from "./http.ts";
import { ingestBatch, writeSummary, type WriteRouteOptions } from "./write.ts";

/** How many refused lines the 400 answer names; its counts cover all of them. */
const MAX_LISTED = 10;

export function lokiPushRoutes(store: LogStore, metrics: Metrics, options: WriteRouteOptions) {
  return new Elysia({ name: "routes.loki-push" }).use(options.access.plugin()).post(
    "/loki/api/v1/push",
    ({ request, identity }) =>
      ingestBatch(
        request,
        identity,
        store,
        metrics,
        options,
        (lease) => decodeLokiPush(request, options, identity.tenant, lease),
        (decoded, stored) => {
          const summary = writeSummary(store, metrics, decoded, stored);
          if (summary.rejected === 0) return new Response(null, { status: 204 });
          // Loki's answer to a push with invalid entries: the valid ones are stored, the request
          // is answered 400 naming the rest (a client drops the batch, which holds nothing a
          // retry could store).
          const kept = decoded.entries.length - stored.rejected.length;
          return errorResponse(400, "log lines rejected", rejectionDetail(kept, decoded.rejections));
        },
      ),
    {
      access: "write",
      parse: "none",
      detail: {
        summary: "Loki push (JSON or snappy protobuf)",
        description:
          "Loki's push API: JSON (application/json, optionally gzip, deflate, zstd or snappy by Content-Encoding) " +
          "or Loki's protobuf PushRequest (application/x-protobuf) in snappy's block format. Stream labels map onto " +
          "namespace, pod and container (see the README, 'Pushing with Loki clients'). 204 when every line was " +
          "stored; 400 naming the lines refused (the others are stored, as Loki does) or for a body that cannot be " +
          "read; 413 over the size caps; 429 with Retry-After over the in-flight budget or the tenant's rate; 503 " +
          "with Retry-After when the store cannot take the batch now. A batch sent again is stored once.",
        tags: ["ingest"],
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: { type: "object" },
              example: {
                streams: [
                  {
                    stream: { namespace: "default", pod: "web-5mfwh", container: "nginx", app: "web" },
                    values: [["1777809897094408152", "GET / 200", { trace_id: "0242ac120002" }]],
                  },
                ],
              },
            },
            "application/x-protobuf": { schema: { type: "string", format: "binary" } },
          },
        },
      },
      response: {
        204: t.Void({ description: "Every line was stored." }),
        400: ErrorBody,
        401: ErrorBody,
        403: ErrorBody,
        408: ErrorBody,
        413: ErrorBody,
        415: ErrorBody,
        429: ErrorBody,
        503: ErrorBody,
      },
    },
  );
}

/** "3 of 5 lines stored; 2 rejected: <reason>: <detail>; ...", alike details said once. */
function rejectionDetail(kept: number, rejections: readonly { reason: string; detail: string }[]): string {
  const groups = new Map<string, number>();
  for (const r of rejections) {
    const key = `${r.reason}: ${r.detail}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const listed = [...groups].slice(0, MAX_LISTED).map(([text, n]) => (n > 1 ? `${text} (${n} lines)` : text));
  const more = groups.size > MAX_LISTED ? `; and ${groups.size - MAX_LISTED} more` : "";
  return `${kept} of ${kept + rejections.length} lines stored; ${rejections.length} rejected: ${listed.join("; ")}${more}`;
}
