// GET /query: the original API's one-container query, grown into the native read API: several
// containers, selectors, filters, limits, both directions, cursors, `since` and `tail` as
// `kubectl logs` takes them. Rows are streamed as {"log_rows":[...]} row by row, so that neither
// the result nor a page of it is ever held as one string. With only the original's parameters,
// the answer is the original's, byte for byte.
import { Elysia, t } from "elysia";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { CursorError, decodeCursor, ForeignCursorError } from "../query/cursor.ts";
import { fingerprint, runQuery, type LogQuery, type QueryEnd, type ResultRow } from "../query/engine.ts";
import type { LogStore } from "../store/store.ts";
import { formatRfc3339Nano, nowNs } from "../time.ts";
import { ForbiddenError, type AccessControl } from "../access/access.ts";
import { ErrorBody, InvalidQueryError } from "./http.ts";
import { parseCount, parseRange, parseSelection, RangeParams, rejectRepeated, SelectionParams, TIME_HELP } from "./selection.ts";
import { streamed } from "./streaming.ts";

/** The largest `limit` and `tail`. */
export const MAX_LIMIT = 100_000;

const Row = t.Object({
  time: t.String({ description: "RFC 3339 in UTC, nanoseconds kept (trailing zeros dropped, as Go's RFC3339Nano)." }),
  log: t.String(),
  stream: t.String({ description: "stdout or stderr, as the container runtime reported it." }),
  namespace: t.Optional(t.String({ description: "When the query may span containers." })),
  pod_name: t.Optional(t.String({ description: "When the query may span containers." })),
  container_name: t.Optional(t.String({ description: "When the query may span containers." })),
});

export const QueryResult = t.Object({
  log_rows: t.Array(Row, {
    description:
      "In the query's direction (ascending time by default; `tail` too); lines of one nanosecond in one order " +
      "(see the README), streams of one nanosecond by namespace, pod and container.",
  }),
  next_cursor: t.Optional(t.String({ description: "Present when `limit` or `tail` cut the answer: pass it as `cursor`." })),
});

/** The parameters of GET /query; the OpenAPI parameters come from here. */
export const QueryParams = t.Object({
  ...SelectionParams,
  ...RangeParams,
  start_time: t.Optional(t.String({ description: `Start of the range, inclusive. ${TIME_HELP}. Needed unless since or tail.` })),
  tail: t.Optional(
    t.String({ description: `The last N lines of the range, oldest first (as \`kubectl logs --tail\`), N ≤ ${MAX_LIMIT}.` }),
  ),
  limit: t.Optional(
    t.String({ description: `At most this many rows, 1 to ${MAX_LIMIT}; with more to come, the answer has next_cursor.` }),
  ),
  direction: t.Optional(t.String({ description: "forward (oldest first, the default) or backward (newest first)." })),
  cursor: t.Optional(t.String({ description: "The next_cursor of a previous answer of the same query." })),
});

/** Parameters that take one value (the repeatable filters are the others). */
const SINGLE_VALUED = [
  "namespace",
  "pod_name",
  "container_name",
  "start_time",
  "end_time",
  "selector",
  "stream",
  "since",
  "tail",
  "limit",
  "direction",
  "cursor",
  "ignore_case",
];

/** The request as a LogQuery; `reverse`: rows are read newest first and answered oldest first. */
export function toLogQuery(
  params: typeof QueryParams.static,
  now: bigint,
  tenant: string,
): { query: LogQuery; pinned: boolean; reverse: boolean } {
  const { selector, filters, pinned } = parseSelection(params);
  const tail = parseCount("tail", params.tail, 1, MAX_LIMIT);
  const limit = parseCount("limit", params.limit, 1, MAX_LIMIT);
  if (tail !== undefined && limit !== undefined) throw new InvalidQueryError("tail and limit: give one of them");
  const { startNs, endNs } = parseRange(params, now, { allowOpenStart: tail !== undefined });
  let direction: LogQuery["direction"] = "forward";
  if (params.direction !== undefined && params.direction !== "") {
    if (params.direction !== "forward" && params.direction !== "backward") {
      throw new InvalidQueryError(`direction: expected forward or backward, got '${params.direction}'`);
    }
    if (tail !== undefined) throw new InvalidQueryError("tail and direction: tail reads the last lines; leave direction out");
    direction = params.direction;
  }
  if (tail !== undefined) direction = "backward";
  const query: LogQuery = { tenant, selector, filters, startNs, endNs, direction, limit: tail ?? limit };
  if (params.cursor !== undefined && params.cursor !== "") {
    try {
      query.cursor = decodeCursor(params.cursor, fingerprint(query), query.tenant);
    } catch (error) {
      if (error instanceof ForeignCursorError) throw new ForbiddenError(`cursor: ${error.message}`);
      if (error instanceof CursorError) throw new InvalidQueryError(`cursor: ${error.message}`);
      throw error;
    }
  }
  return { query, pinned, reverse: tail !== undefined };
}

/** Characters a JSON string cannot hold as they are (and surrogates, left to JSON.stringify). */
const NEEDS_ESCAPING = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal; most log lines need no escaping, and testing is cheaper than escaping. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPING.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** A row as the original API printed it. */
function renderRow(r: ResultRow): string {
  return `{"time":"${formatRfc3339Nano(r.timeNs)}","log":${jsonString(r.log)},"stream":${jsonString(r.stream)}}`;
}

/** A row that says which container it came from. */
export function renderSourcedRow(r: ResultRow): string {
  const s = r.source;
  return `{"time":"${formatRfc3339Nano(r.timeNs)}","log":${jsonString(r.log)},"stream":${jsonString(r.stream)},"namespace":${jsonString(s.namespace)},"pod_name":${jsonString(s.pod)},"container_name":${jsonString(s.container)}}`;
}

/** The rows of a `tail`, read newest first, handed out oldest first (at most MAX_LIMIT of them). */
async function* oldestFirst(pages: AsyncGenerator<ResultRow[], QueryEnd>): AsyncGenerator<ResultRow[], QueryEnd> {
  const rows: ResultRow[] = [];
  let next = await pages.next();
  while (!next.done) {
    rows.push(...next.value);
    next = await pages.next();
  }
  if (rows.length > 0) yield rows.reverse();
  return next.value;
}

export function queryRoutes(store: LogStore, metrics: Metrics, access: AccessControl) {
  return new Elysia({ name: "routes.query" }).use(access.plugin()).get(
    "/query",
    async ({ query: params, request, identity }) => {
      rejectRepeated(request, SINGLE_VALUED);
      const { query, pinned, reverse } = toLogQuery(params, nowNs(), identity.tenant);
      // `tail` without a start reads back as far as the tenant may; a stated range must fit.
      if (params.since === undefined && !params.start_time)
        query.startNs = access.clampStart(identity.tenant, query.startNs, query.endNs);
      access.checkRange(identity.tenant, query.startNs, query.endNs);
      const pages = runQuery(store, query);
      return streamed(reverse ? oldestFirst(pages) : pages, {
        open: '{"log_rows":[',
        close: (end) => (end?.nextCursor === undefined ? "]}" : `],"next_cursor":"${end.nextCursor}"}`),
        render: pinned ? renderRow : renderSourcedRow,
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
      access: "read",
      query: QueryParams,
      detail: {
        summary: "Log lines of one or more containers in a time range",
        description:
          "The original API's query (namespace, pod_name, container_name, start_time, end_time), and more: leave out " +
          "pod_name or container_name for all of them, or select by labels; filter lines; limit, page with next_cursor, " +
          "read newest first, or take the last lines (tail) or the lines of the last hour (since).",
        tags: ["query"],
      },
      response: { 200: QueryResult, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
    },
  );
}
