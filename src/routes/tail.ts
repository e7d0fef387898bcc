// GET /tail: follow lines as Server-Sent Events, as `kubectl logs -f`: first the last N lines
// (`tail`) or the lines since a time (`since`, `start_time`), then new lines as they are written,
// with a heartbeat comment every 15 s, until the client closes the stream.
import { Elysia, t } from "elysia";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { runQuery, type QueryEnd, type ResultRow } from "../query/engine.ts";
import { Follower, followFloor, type FollowEvent, type FollowOptions, type WriteNotifier } from "../query/follow.ts";
import type { LogStore } from "../store/store.ts";
import { nowNs } from "../time.ts";
import type { AccessControl } from "../access/access.ts";
import { ErrorBody } from "./http.ts";
import { MAX_LIMIT, renderSourcedRow } from "./query.ts";
import { parseCount, parseRange, parseSelection, RangeParams, rejectRepeated, SelectionParams } from "./selection.ts";

const HEARTBEAT_MS = 15_000;

export const TailParams = t.Object({
  ...SelectionParams,
  since: RangeParams.since,
  start_time: RangeParams.start_time,
  tail: t.Optional(t.String({ description: `Start with the last N lines (N ≤ ${MAX_LIMIT}); default: new lines only.` })),
});

export interface TailOptions {
  notifier: WriteNotifier;
  follow?: FollowOptions;
}

const encoder = new TextEncoder();

function event(name: string, data: string): Uint8Array {
  return encoder.encode(`event: ${name}\ndata: ${data}\n\n`);
}

function rowsEvent(rows: ResultRow[]): Uint8Array {
  let text = "";
  for (const row of rows) text += `event: line\ndata: ${renderSourcedRow(row)}\n\n`;
  return encoder.encode(text);
}

export function tailRoutes(store: LogStore, metrics: Metrics, access: AccessControl, options: TailOptions) {
  return new Elysia({ name: "routes.tail" }).use(access.plugin()).get(
    "/tail",
    async ({ query: params, request, identity }) => {
      rejectRepeated(request, [
        "namespace",
        "pod_name",
        "container_name",
        "selector",
        "stream",
        "since",
        "start_time",
        "tail",
        "ignore_case",
      ]);
      const { selector, filters } = parseSelection(params);
      const tail = parseCount("tail", params.tail, 0, MAX_LIMIT);
      const now = nowNs();
      const given = params.since !== undefined || (params.start_time !== undefined && params.start_time !== "");
      // The first lines: the last `tail` (of the range, when one is given, as kubectl's
      // --since with --tail), or all lines of the range.
      const tenant = identity.tenant;
      const startNs = given ? parseRange(params, now).startNs : access.clampStart(tenant, 0n, now);
      access.checkRange(tenant, startNs, now);
      let initial: AsyncGenerator<ResultRow[], QueryEnd> | undefined;
      if (tail !== undefined && tail > 0) {
        initial = runQuery(store, {
          tenant,
          selector,
          filters,
          startNs,
          endNs: now,
          direction: "backward",
          limit: tail,
        });
      } else if (given) {
        initial = runQuery(store, { tenant, selector, filters, startNs, endNs: now, direction: "forward" });
      }
      // A tail is read newest first and sent oldest first: those (at most MAX_LIMIT) are held.
      const newestFirst = tail !== undefined && tail > 0;
      // The first page before the answer starts: a store that fails at once is a clean 503.
      let first: IteratorResult<ResultRow[], QueryEnd> | undefined = await initial?.next();
      if (newestFirst && first !== undefined && !first.done) {
        const rows = [...first.value];
        for (let next = await initial!.next(); !next.done; next = await initial!.next()) rows.push(...next.value);
        first = { done: false, value: rows.reverse() };
        initial = undefined;
      }
      // Started once the first lines are read: it sends what is written after `now`, and after
      // the last `tail` lines, what followFloor says.
      const held = newestFirst && first !== undefined && !first.done ? first.value : undefined;
      const floor = newestFirst ? followFloor(held ?? [], tail!, startNs) : now;
      const follower = new Follower(store, tenant, selector, filters, floor, options.notifier, options.follow);
      if (held !== undefined) follower.markDelivered(held);
      const events = follower[Symbol.asyncIterator]();
      let pendingEvent: Promise<IteratorResult<FollowEvent>> | undefined;
      let sent = 0;
      const fail = async (controller: ReadableStreamDefaultController<Uint8Array>, error: unknown) => {
        log.error("tail failed while streaming", { error, linesSent: sent });
        metrics.storeErrors.inc({ store: store.kind, operation: "query" });
        await new Promise((resolve) => setTimeout(resolve, 0)); // see streaming.ts
        controller.error(error);
      };
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode(": following\n\n"));
        },
        async pull(controller) {
          // First the initial lines, page by page as the client reads them.
          if (first !== undefined) {
            const page = first;
            first = undefined;
            if (!page.done) {
              controller.enqueue(rowsEvent(page.value));
              sent += page.value.length;
              return;
            }
          }
          if (initial !== undefined) {
            let page: IteratorResult<ResultRow[], QueryEnd>;
            try {
              page = await initial.next();
            } catch (error) {
              return fail(controller, error);
            }
            if (!page.done) {
              controller.enqueue(rowsEvent(page.value));
              sent += page.value.length;
              return;
            }
            initial = undefined;
          }
          // Then new lines, or a heartbeat when none came for a while.
          pendingEvent ??= events.next();
          let timer: ReturnType<typeof setTimeout> | undefined;
          const heartbeat = new Promise<"heartbeat">((resolve) => (timer = setTimeout(() => resolve("heartbeat"), HEARTBEAT_MS)));
          let next: IteratorResult<FollowEvent> | "heartbeat";
          try {
            next = await Promise.race([pendingEvent, heartbeat]);
          } catch (error) {
            return fail(controller, error);
          } finally {
            clearTimeout(timer);
          }
          if (next === "heartbeat") {
            controller.enqueue(encoder.encode(": heartbeat\n\n"));
            return;
          }
          pendingEvent = undefined;
          if (next.done) {
            controller.close();
            return;
          }
          if (next.value.type === "dropped") {
            controller.enqueue(event("dropped", JSON.stringify({ dropped: next.value.count })));
          } else {
            controller.enqueue(rowsEvent(next.value.rows));
            sent += next.value.rows.length;
          }
        },
        cancel() {
          follower.close();
          void initial?.return({});
          metrics.queryRows.inc({ store: store.kind }, sent);
        },
      });
      return new Response(body, {
        headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
      });
    },
    {
      access: "read",
      query: TailParams,
      detail: {
        summary: "Follow lines as Server-Sent Events",
        description:
          "As `kubectl logs -f`: the last `tail` lines (or the lines since `since` / `start_time`), then new lines as they " +
          "are written, in time order, within about a second. Events: `line` (a row as /query gives it, with its " +
          "container), `dropped` ({dropped: N}: the client read too slowly and N lines were skipped for it). A comment " +
          "every 15 s keeps the connection open.",
        tags: ["query"],
      },
      response: { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
    },
  );
}
