// GET /query: one container's lines in a time range, streamed as {"log_rows":[...]} row by row,
// so that neither the result nor a page of it is ever held as one string.
import { Elysia, t } from "elysia";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { LogRow, LogStore, Query } from "../store/store.ts";
import { formatRfc3339Nano, MAX_TIME_NS, nowNs, parseRfc3339 } from "../time.ts";
import { authPlugin, type AuthOptions } from "./auth.ts";
import { ErrorBody, InvalidQueryError } from "./http.ts";
import { streamed } from "./streaming.ts";

export const QueryResult = t.Object({
  log_rows: t.Array(
    t.Object({
      time: t.String({ description: "RFC 3339 in UTC, nanoseconds kept (trailing zeros dropped, as Go's RFC3339Nano)." }),
      log: t.String(),
      stream: t.String({ description: "stdout or stderr, as the container runtime reported it." }),
    }),
    {
      description: "Ascending time order; lines of one nanosecond in the order of their batch (across batches, see the README).",
    },
  ),
});

const TIME_HELP = "RFC 3339 with any fraction and Z or an offset, e.g. 2018-05-07T00:00:00.000Z";

const required = (name: string, description: string) =>
  t.String({ minLength: 1, description, error: `missing query parameter: ${name}` });

/** The parameters of GET /query; the OpenAPI parameters come from here. */
export const QueryParams = t.Object({
  namespace: required("namespace", "Namespace of the pod."),
  pod_name: required("pod_name", "Pod name."),
  container_name: required("container_name", "Container name."),
  start_time: required("start_time", `Start of the range, inclusive. ${TIME_HELP}.`),
  end_time: t.Optional(t.String({ description: `End of the range, inclusive; default now. ${TIME_HELP}.` })),
});

const SINGLE_VALUED = Object.keys(QueryParams.properties);

/** A parameter given twice is refused, in the original's words, rather than one value picked. */
function rejectRepeated(request: Request, names: readonly string[]): void {
  const search = new URL(request.url).searchParams;
  for (const name of names) {
    const n = search.getAll(name).length;
    if (n > 1) throw new InvalidQueryError(`query parameter ${name} has wrong number of values: was: ${n}, expected: 1`);
  }
}

/** The parameters, checked, as a store Query. Bounds outside what a store can hold are clamped. */
export function toQuery(params: typeof QueryParams.static, now: () => bigint): Query {
  const startNs = parseRfc3339(params.start_time);
  if (startNs === undefined)
    throw new InvalidQueryError(`failed to parse start_time: '${params.start_time}' is not ${TIME_HELP}`);
  let endNs: bigint;
  if (params.end_time === undefined || params.end_time === "") {
    endNs = now(); // as the original: end_time defaults to now
  } else {
    const parsed = parseRfc3339(params.end_time);
    if (parsed === undefined) throw new InvalidQueryError(`failed to parse end_time: '${params.end_time}' is not ${TIME_HELP}`);
    endNs = parsed;
  }
  if (!(startNs < endNs)) throw new InvalidQueryError("query time-interval: start_time must be earlier than end_time");
  // Lines live between 1970 and 2262 (signed 64-bit nanoseconds): a wider range means all of them.
  return {
    namespace: params.namespace,
    pod: params.pod_name,
    container: params.container_name,
    startNs: startNs < 0n ? 0n : startNs,
    endNs: endNs > MAX_TIME_NS ? MAX_TIME_NS : endNs,
  };
}

/** Characters a JSON string cannot hold as they are (and surrogates, left to JSON.stringify). */
const NEEDS_ESCAPING = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal; most log lines need no escaping, and testing is cheaper than escaping. */
function jsonString(s: string): string {
  return NEEDS_ESCAPING.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function renderRow(r: LogRow): string {
  return `{"time":"${formatRfc3339Nano(r.timeNs)}","log":${jsonString(r.log)},"stream":${jsonString(r.stream)}}`;
}

export function queryRoutes(store: LogStore, metrics: Metrics, auth: AuthOptions) {
  return new Elysia({ name: "routes.query" }).use(authPlugin(auth)).get(
    "/query",
    async ({ query, request }) => {
      rejectRepeated(request, SINGLE_VALUED);
      const q = toQuery(query, nowNs);
      return streamed(store.query(q), {
        open: '{"log_rows":[',
        close: "]}",
        render: renderRow,
        done: (rows, error) => {
          metrics.queryRows.inc({ store: store.kind }, rows);
          if (error !== undefined) {
            log.error("query failed while streaming", { error, rowsSent: rows });
            metrics.storeErrors.inc({ store: store.kind, operation: "query" });
          }
        },
      });
    },
    {
      auth: "always",
      query: QueryParams,
      detail: {
        summary: "A container's log lines in a time range",
        description: "Lines in ascending time order, bounds inclusive, across any number of days.",
        tags: ["query"],
      },
      response: { 200: QueryResult, 400: ErrorBody, 401: ErrorBody, 503: ErrorBody },
    },
  );
}
