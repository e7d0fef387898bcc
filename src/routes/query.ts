// GET /query: one container's lines in a time range, streamed as {"log_rows":[...]} so that a
// large answer never sits in memory whole.
import { Elysia, t } from "elysia";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { LogRow, LogStore, Query } from "../store/store.ts";
import { formatRfc3339Nano, nowNs, parseRfc3339 } from "../time.ts";
import { errorResponse, ErrorBody, storeErrorResponse } from "./http.ts";

export const QueryResult = t.Object({
  log_rows: t.Array(
    t.Object({
      time: t.String({ description: "RFC 3339 in UTC, nanoseconds kept (trailing zeros dropped, as Go's RFC3339Nano)." }),
      log: t.String(),
      stream: t.String({ description: "stdout or stderr, as the container runtime reported it." }),
    }),
    { description: "Ascending time order; lines with equal times in the order they arrived." },
  ),
});

const TIME_HELP = "RFC 3339 with any fraction and Z or an offset, e.g. 2018-05-07T00:00:00.000Z";

/** Reads and validates the query parameters; returns the Query or the 400 detail. */
export function parseQueryParams(params: URLSearchParams, nowNs: () => bigint): Query | string {
  const one = (name: string, required: boolean): string | undefined | Error => {
    const values = params.getAll(name);
    if (values.length === 0 || (values.length === 1 && values[0] === "" && required)) {
      return required ? new Error(`missing query parameter: ${name}`) : undefined;
    }
    if (values.length > 1) {
      return new Error(`query parameter ${name} has wrong number of values: was: ${values.length}, expected: 1`);
    }
    return values[0];
  };
  const namespace = one("namespace", true);
  if (namespace instanceof Error) return namespace.message;
  const pod = one("pod_name", true);
  if (pod instanceof Error) return pod.message;
  const container = one("container_name", true);
  if (container instanceof Error) return container.message;
  const start = one("start_time", true);
  if (start instanceof Error) return start.message;
  const startNs = parseRfc3339(start!);
  if (startNs === undefined) return `failed to parse start_time: '${start}' is not ${TIME_HELP}`;
  const end = one("end_time", false);
  if (end instanceof Error) return end.message;
  let endNs: bigint;
  if (end === undefined || end === "") {
    endNs = nowNs(); // as the original: end_time defaults to now
  } else {
    const parsed = parseRfc3339(end);
    if (parsed === undefined) return `failed to parse end_time: '${end}' is not ${TIME_HELP}`;
    endNs = parsed;
  }
  if (!(startNs < endNs)) return "query time-interval: start_time must be earlier than end_time";
  return { namespace: namespace!, pod: pod!, container: container!, startNs, endNs };
}

function param(name: string, required: boolean, description: string) {
  return { name, in: "query" as const, required, description, schema: { type: "string" as const } };
}

/** Characters a JSON string cannot hold as they are (and surrogates, left to JSON.stringify). */
const NEEDS_ESCAPING = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal; most log lines need no escaping, and testing is cheaper than escaping. */
function jsonString(s: string): string {
  return NEEDS_ESCAPING.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function renderRows(rows: LogRow[]): string {
  let out = "";
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    out += `${i === 0 ? "" : ","}{"time":"${formatRfc3339Nano(r.timeNs)}","log":${jsonString(r.log)},"stream":${jsonString(r.stream)}}`;
  }
  return out;
}

export function queryRoutes(store: LogStore, metrics: Metrics, guard?: (request: Request) => Response | undefined) {
  return new Elysia({ name: "routes.query" }).get(
    "/query",
    async ({ request }) => {
      if (guard) {
        const denied = guard(request);
        if (denied) return denied;
      }
      const url = new URL(request.url);
      const query = parseQueryParams(url.searchParams, nowNs);
      if (typeof query === "string") return errorResponse(400, "invalid query", query);

      // The first page decides the status: a store that fails before any row is a clean 503.
      const pages = store.query(query)[Symbol.asyncIterator]();
      let first: IteratorResult<LogRow[]>;
      try {
        first = await pages.next();
      } catch (error) {
        log.error("query failed", { error });
        return storeErrorResponse(error, "run query");
      }
      let pending: IteratorResult<LogRow[]> | undefined = first;
      let count = 0;
      let separator = "";
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(Buffer.from('{"log_rows":['));
        },
        async pull(controller) {
          try {
            const page = pending ?? (await pages.next());
            pending = undefined;
            if (page.done) {
              controller.enqueue(Buffer.from("]}"));
              controller.close();
              metrics.queryRows.inc({ store: store.kind }, count);
              return;
            }
            if (page.value.length === 0) return;
            count += page.value.length;
            // Buffer.from encodes a large string several times faster than TextEncoder here.
            controller.enqueue(Buffer.from(separator + renderRows(page.value)));
            separator = ",";
          } catch (error) {
            // Headers are sent: cut the stream so that the client sees an error, never a
            // silently shortened answer.
            log.error("query failed while streaming", { error, rowsSent: count });
            controller.error(error);
          }
        },
        async cancel() {
          await pages.return?.();
        },
      });
      return new Response(body, { headers: { "content-type": "application/json; charset=utf-8" } });
    },
    {
      detail: {
        summary: "A container's log lines in a time range",
        description: "Lines in ascending time order, bounds inclusive, across any number of days.",
        // Declared here rather than as an Elysia schema: the handler checks them itself so that
        // every 400 names the parameter in the original's words.
        parameters: [
          param("namespace", true, "Namespace of the pod."),
          param("pod_name", true, "Pod name."),
          param("container_name", true, "Container name."),
          param("start_time", true, `Start of the range, inclusive. ${TIME_HELP}.`),
          param("end_time", false, `End of the range, inclusive; default now. ${TIME_HELP}.`),
        ],
        tags: ["query"],
      },
      response: { 200: QueryResult, 400: ErrorBody, 401: ErrorBody, 503: ErrorBody },
    },
  );
}
