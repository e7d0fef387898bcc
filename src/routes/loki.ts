// Loki's query API (/loki/api/v1/*), so that Grafana's stock Loki data source and logcli read
// this service unchanged. A front end to the read engine (src/query/) and the LogQL evaluator
// (src/loki/logql/): it parses Loki's parameters, runs the query and answers in Loki's envelopes.
// Errors keep this service's {message, detail} shape (Grafana and logcli show `message`), with
// Loki's messages and status codes.
import { Elysia } from "elysia";
import type { AccessControl } from "../access/access.ts";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { ResultRow } from "../query/engine.ts";
import { Follower, followFloor, type FollowOptions, type WriteNotifier } from "../query/follow.ts";
import type { LogStore, StreamInfo } from "../store/store.ts";
import { NS_PER_SECOND, nowNs } from "../time.ts";
import { indexStats, selectStreams, seriesCounts, volumeGroups, volumeTargets } from "../loki/index-stats.ts";
import {
  evaluateMetric,
  isLogQuery,
  LogQLParseError,
  LogQLUnsupportedError,
  parseLogQL,
  planLogSelector,
  type LogQLExpr,
  type LogSelectorPlan,
} from "../loki/logql/index.ts";
import {
  LokiBadRequest,
  Params,
  parseDirection,
  parseLimit,
  parseLokiTime,
  parseRange,
  parseSecondsOrDuration,
  parseStep,
} from "../loki/params.ts";
import { engineQuery, engineSource, pipedRows, runLogQuery, sourceLine, StreamGroups, type PipedRow } from "../loki/query.ts";
import { labelsText, streamLabels } from "../loki/view.ts";
import { VERSION } from "../version.ts";
import { json } from "./http.ts";

const ENCODING_FLAGS = "x-loki-response-encoding-flags";
const CATEGORIZE = "categorize-labels";
/** The Loki version whose API this serves (Grafana picks features by it). */
export const LOKI_API_VERSION = "3.0.0";
/** Label queries look back this far without a start, as Loki. */
const LABELS_DEFAULT_SPAN_NS = 6n * 3600n * NS_PER_SECOND;
const TAIL_MAX_DELAY_S = 5;

const seconds = (ns: bigint): number => Number(ns) / 1e9;

function parseQuery(text: string | undefined): LogQLExpr {
  if (text === undefined) throw new LokiBadRequest("query must not be empty", "the query parameter is missing");
  try {
    return parseLogQL(text);
  } catch (error) {
    if (error instanceof LogQLParseError || error instanceof LogQLUnsupportedError) {
      throw new LokiBadRequest(error.message, `query: ${text}`);
    }
    throw error;
  }
}

/** A selector parameter (`query` of labels calls, `match[]` of series): a log selector only. */
function selectorPlan(text: string): LogSelectorPlan {
  const expr = parseQuery(text);
  if (!isLogQuery(expr)) throw new LokiBadRequest(`only log selectors are accepted here, got: ${text}`);
  return planLogSelector(expr);
}

function success(data: unknown, extra?: Record<string, unknown>): Response {
  return json({ status: "success", data, ...extra });
}

function stats(linesRead: number, bytesRead: number, returned: number, startedMs: number) {
  const execTime = (performance.now() - startedMs) / 1000;
  return {
    summary: {
      bytesProcessedPerSecond: execTime > 0 ? Math.round(bytesRead / execTime) : 0,
      linesProcessedPerSecond: execTime > 0 ? Math.round(linesRead / execTime) : 0,
      totalBytesProcessed: bytesRead,
      totalLinesProcessed: linesRead,
      totalEntriesReturned: returned,
      totalPostFilterLines: returned,
      execTime,
      queueTime: 0,
      subqueries: 0,
      splits: 0,
      shards: 0,
    },
  };
}

export interface LokiRouteOptions {
  notifier: WriteNotifier;
  follow?: FollowOptions;
}

export function lokiRoutes(store: LogStore, metrics: Metrics, access: AccessControl, options: LokiRouteOptions) {
  /** query_range and query: a log query (streams) or a metric query (matrix, vector, scalar). */
  async function query(request: Request, tenant: string, instant: boolean): Promise<Response> {
    const started = performance.now();
    const p = await Params.of(request);
    const expr = parseQuery(p.get("query"));
    const now = nowNs();
    const limit = parseLimit(p);
    const direction = parseDirection(p);
    let range: { startNs: bigint; endNs: bigint };
    let stepNs = 0n;
    if (instant) {
      const time = p.get("time");
      const at = time === undefined ? now : parseLokiTime("time", time);
      range = { startNs: at, endNs: at };
    } else {
      range = parseRange(p, now);
      stepNs = parseStep(p, range);
      const interval = p.get("interval");
      if (interval !== undefined) parseSecondsOrDuration("interval", interval);
    }
    access.checkRange(tenant, range.startNs, range.endNs);
    if (isLogQuery(expr)) {
      if (instant) {
        throw new LokiBadRequest(
          "log queries are not supported as an instant query type, please change your query to a range query type",
        );
      }
      const categorize = (request.headers.get(ENCODING_FLAGS) ?? "").split(",").some((f) => f.trim() === CATEGORIZE);
      const plan = planLogSelector(expr);
      // Loki's log queries take [start, end): end is exclusive (logcli's batches count on it).
      const lastNs = range.endNs > range.startNs ? range.endNs - 1n : range.endNs;
      const answer = await runLogQuery(store, tenant, plan, range.startNs, lastNs, direction, limit, categorize);
      metrics.queryRows.inc({ store: store.kind }, answer.returned);
      // encodingFlags before result, as Loki writes it: Grafana's streaming parser
      // (pkg/promlib/converter/prom.go) picks the categorized reader by the flags it has read
      // when it reaches `result`, and misreads 3-element values if the flags come after.
      const data: Record<string, unknown> = { resultType: "streams" };
      if (categorize) data.encodingFlags = [CATEGORIZE];
      data.result = answer.streams;
      data.stats = stats(answer.linesRead, answer.bytesRead, answer.returned, started);
      return success(data);
    }
    const result = await evaluateMetric(expr, { ...range, stepNs }, engineSource(store, tenant));
    return success({ resultType: result.resultType, result: result.result, stats: stats(0, 0, 0, started) });
  }

  /** start/end of the label calls: the last 6 hours by default, as Loki. */
  async function labelRange(p: Params, tenant: string) {
    const range = parseRange(p, nowNs(), LABELS_DEFAULT_SPAN_NS);
    access.checkRange(tenant, range.startNs, range.endNs);
    return range;
  }

  /** The streams a label call covers: all, or those of its `query` selector. */
  async function labelStreams(
    p: Params,
    tenant: string,
  ): Promise<{ streams: StreamInfo[]; range: { startNs: bigint; endNs: bigint } }> {
    const range = await labelRange(p, tenant);
    const q = p.get("query");
    const matchers = q === undefined ? [] : selectorPlan(q).matchers;
    return { streams: await selectStreams(store, tenant, matchers, range.startNs, range.endNs), range };
  }

  /** Whether `stream` (stdout/stderr) is known for these streams: from their counts. */
  async function streamValues(streams: StreamInfo[], startNs: bigint, endNs: bigint): Promise<string[]> {
    const values = new Set<string>();
    for (const s of streams) {
      for await (const page of store.counts(s, startNs, endNs)) for (const c of page) if (c.stream !== "") values.add(c.stream);
    }
    return [...values].sort();
  }

  async function labels(request: Request, tenant: string): Promise<Response> {
    const p = await Params.of(request);
    const { streams, range } = await labelStreams(p, tenant);
    const names = new Set<string>();
    for (const s of streams) for (const name of Object.keys(streamLabels(s))) names.add(name);
    if ((await streamValues(streams, range.startNs, range.endNs)).length > 0) names.add("stream");
    return success([...names].sort());
  }

  async function labelValues(request: Request, tenant: string, name: string): Promise<Response> {
    const p = await Params.of(request);
    const { streams, range } = await labelStreams(p, tenant);
    if (name === "stream") return success(await streamValues(streams, range.startNs, range.endNs));
    const values = new Set<string>();
    for (const s of streams) {
      const v = streamLabels(s)[name];
      if (v !== undefined && v !== "") values.add(v);
    }
    return success([...values].sort());
  }

  async function series(request: Request, tenant: string): Promise<Response> {
    const p = await Params.of(request);
    const range = await labelRange(p, tenant);
    const matches = p.all("match[]").concat(p.all("match"));
    const selectors = matches.length === 0 ? [undefined] : matches;
    const seen = new Map<string, Record<string, string>>();
    for (const text of selectors) {
      const matchers = text === undefined ? [] : selectorPlan(text).matchers;
      for (const s of await seriesCounts(store, tenant, matchers, range.startNs, range.endNs)) {
        seen.set(labelsText(s.labels), s.labels);
      }
    }
    return success([...seen.values()]);
  }

  async function statsRoute(request: Request, tenant: string): Promise<Response> {
    const p = await Params.of(request);
    const range = parseRange(p, nowNs());
    access.checkRange(tenant, range.startNs, range.endNs);
    const text = p.get("query") ?? "{}";
    const matchers = text === "{}" ? [] : selectorPlan(text).matchers;
    const found = await seriesCounts(store, tenant, matchers, range.startNs, range.endNs);
    return json(indexStats(found));
  }

  async function volume(request: Request, tenant: string, ranged: boolean): Promise<Response> {
    const p = await Params.of(request);
    const range = parseRange(p, nowNs());
    access.checkRange(tenant, range.startNs, range.endNs);
    const text = p.get("query");
    if (text === undefined) throw new LokiBadRequest("query must not be empty");
    const matchers = selectorPlan(text).matchers;
    const limitText = p.get("limit");
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit <= 0) throw new LokiBadRequest(`invalid limit: ${limitText}`);
    const aggregateBy = (p.get("aggregateBy") ?? "series") as "series" | "labels";
    if (aggregateBy !== "series" && aggregateBy !== "labels") {
      throw new LokiBadRequest(`invalid aggregateBy: ${p.get("aggregateBy")}: expected series or labels`);
    }
    const targets = volumeTargets(matchers, p.get("targetLabels"));
    const found = await seriesCounts(store, tenant, matchers, range.startNs, range.endNs);
    const groups = volumeGroups(found, targets, aggregateBy);
    // Sum bytes per group key, per step for volume_range.
    const stepNs = ranged ? parseStep(p, range) : 0n;
    const byKey = new Map<string, { metric: Record<string, string>; total: number; steps: Map<bigint, number> }>();
    for (const g of groups) {
      const key = labelsText(g.metric);
      let entry = byKey.get(key);
      if (entry === undefined) byKey.set(key, (entry = { metric: g.metric, total: 0, steps: new Map() }));
      for (const [minute, [, bytes]] of g.series.minutes) {
        entry.total += bytes;
        if (ranged) {
          // The step whose (t - step, t] holds the minute's start: as count_over_time would place it.
          const k = (minute - range.startNs + stepNs - 1n) / stepNs;
          const t = range.startNs + (k < 0n ? 0n : k) * stepNs;
          entry.steps.set(t, (entry.steps.get(t) ?? 0) + bytes);
        }
      }
    }
    const top = [...byKey.values()].sort((a, b) => b.total - a.total).slice(0, limit);
    if (!ranged) {
      return success({
        resultType: "vector",
        result: top.map((e) => ({ metric: e.metric, value: [seconds(range.endNs), String(e.total)] })),
      });
    }
    return success({
      resultType: "matrix",
      result: top.map((e) => ({
        metric: e.metric,
        values: [...e.steps.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([t, v]) => [seconds(t), String(v)]),
      })),
    });
  }

  const ready = async () => {
    const health = await store.health().catch((e: Error) => ({ healthy: false, detail: e.message }));
    return health.healthy
      ? new Response("ready\n", { headers: { "content-type": "text/plain; charset=utf-8" } })
      : new Response(`Store not ready: ${health.detail}\n`, {
          status: 503,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
  };

  const tags = ["loki"];
  const read = { access: "read" as const, parse: "none" as const };
  return new Elysia({ name: "routes.loki" })
    .use(access.plugin())
    .get("/loki/api/v1/query_range", ({ request, identity }) => query(request, identity.tenant, false), {
      ...read,
      detail: { summary: "LogQL range query (Loki API)", tags },
    })
    .post("/loki/api/v1/query_range", ({ request, identity }) => query(request, identity.tenant, false), {
      ...read,
      detail: { summary: "LogQL range query (Loki API), parameters as a form", tags },
    })
    .get("/loki/api/v1/query", ({ request, identity }) => query(request, identity.tenant, true), {
      ...read,
      detail: { summary: "LogQL instant query (Loki API)", tags },
    })
    .post("/loki/api/v1/query", ({ request, identity }) => query(request, identity.tenant, true), {
      ...read,
      detail: { summary: "LogQL instant query (Loki API), parameters as a form", tags },
    })
    .get("/loki/api/v1/labels", ({ request, identity }) => labels(request, identity.tenant), {
      ...read,
      detail: { summary: "Label names (Loki API)", tags },
    })
    .post("/loki/api/v1/labels", ({ request, identity }) => labels(request, identity.tenant), {
      ...read,
      detail: { summary: "Label names (Loki API)", tags },
    })
    .get(
      "/loki/api/v1/label/:name/values",
      ({ request, identity, params }) => labelValues(request, identity.tenant, params.name),
      { ...read, detail: { summary: "Values of a label (Loki API)", tags } },
    )
    .post(
      "/loki/api/v1/label/:name/values",
      ({ request, identity, params }) => labelValues(request, identity.tenant, params.name),
      { ...read, detail: { summary: "Values of a label (Loki API)", tags } },
    )
    .get("/loki/api/v1/series", ({ request, identity }) => series(request, identity.tenant), {
      ...read,
      detail: { summary: "Series of selectors (Loki API)", tags },
    })
    .post("/loki/api/v1/series", ({ request, identity }) => series(request, identity.tenant), {
      ...read,
      detail: { summary: "Series of selectors (Loki API)", tags },
    })
    .get("/loki/api/v1/index/stats", ({ request, identity }) => statsRoute(request, identity.tenant), {
      ...read,
      detail: { summary: "Streams, entries and bytes of a selector, from the counts (Loki API)", tags },
    })
    .get("/loki/api/v1/index/volume", ({ request, identity }) => volume(request, identity.tenant, false), {
      ...read,
      detail: { summary: "Bytes per series or label, from the counts (Loki API)", tags },
    })
    .get("/loki/api/v1/index/volume_range", ({ request, identity }) => volume(request, identity.tenant, true), {
      ...read,
      detail: { summary: "Bytes per series or label per step, from the counts (Loki API)", tags },
    })
    .get(
      "/loki/api/v1/status/buildinfo",
      () =>
        json({
          version: LOKI_API_VERSION,
          revision: `kube-insight-logserver ${VERSION}`,
          branch: "",
          buildUser: "",
          buildDate: "",
          goVersion: "",
        }),
      { access: "protect-all", detail: { summary: "Build information (Loki API)", tags } },
    )
    .get("/ready", ready, { access: "protect-all", detail: { summary: "Readiness (Loki API): 200 ready", tags } })
    .ws("/loki/api/v1/tail", {
      access: "read",
      async open(ws) {
        const { tenant } = ws.data.identity;
        const p = new Params(new URL(ws.data.request.url).searchParams);
        const close = (code: number, reason: string) => {
          ws.send(JSON.stringify({ message: reason }));
          ws.close(code, reason.slice(0, 120));
        };
        let plan: LogSelectorPlan;
        try {
          const expr = parseQuery(p.get("query"));
          if (!isLogQuery(expr)) throw new LokiBadRequest("tail takes a log query, not a metric query");
          plan = planLogSelector(expr);
        } catch (error) {
          return close(1008, (error as Error).message);
        }
        const now = nowNs();
        const limit = Math.min(Number(p.get("limit") ?? 100) || 100, 5000);
        const delay = Math.min(Number(p.get("delay_for") ?? 0) || 0, TAIL_MAX_DELAY_S);
        const start = p.get("start");
        let startNs: bigint;
        try {
          startNs = start === undefined ? now - 3600n * NS_PER_SECOND : parseLokiTime("start", start);
        } catch (error) {
          return close(1008, (error as Error).message);
        }
        startNs = access.clampStart(tenant, startNs, now);
        const tail = new LokiTail(ws, store, tenant, plan, now, options, delay);
        tails.set(ws.id, tail);
        await tail.start(startNs, limit);
      },
      close(ws) {
        tails.get(ws.id)?.stop();
        tails.delete(ws.id);
      },
      message() {
        // Loki's tail takes no messages from the client.
      },
      detail: { summary: "Follow a LogQL log query (Loki API, WebSocket)", tags },
    });
}

const tails = new Map<string, LokiTail>();

interface Socket {
  send(data: string): unknown;
  close(code?: number, reason?: string): unknown;
}

/** One /loki/api/v1/tail connection: the last lines, then new ones, as Loki's tail messages. */
class LokiTail {
  private follower: Follower | undefined;
  private stopped = false;

  constructor(
    private readonly ws: Socket,
    private readonly store: LogStore,
    private readonly tenant: string,
    private readonly plan: LogSelectorPlan,
    private readonly now: bigint,
    private readonly options: LokiRouteOptions,
    private readonly delaySeconds: number,
  ) {}

  private send(piped: PipedRow[]): void {
    const groups = new StreamGroups(false);
    for (const p of piped) groups.add(p);
    if (groups.size > 0 && !this.stopped) this.ws.send(JSON.stringify({ streams: groups.streams(), dropped_entries: null }));
  }

  /** New rows of the follow through the pipeline, in their order. */
  private pipe(rows: ResultRow[]): PipedRow[] {
    const piped: PipedRow[] = [];
    for (const row of rows) {
      const input = sourceLine(row);
      const out = this.plan.pipeline.process(input.line, input.timeNs, input.labels, input.metadata);
      if (out !== null) piped.push({ row, input, out });
    }
    return piped;
  }

  async start(startNs: bigint, limit: number): Promise<void> {
    try {
      // The last `limit` lines since start, read newest first through the pipeline, sent oldest
      // first, as Loki's tail begins. Only the last seconds are read again by the follow (its
      // look-back): those rows are remembered, kept or not.
      const recentNs = this.now - (this.options.follow?.lookbackNs ?? 3_000_000_000n) * 2n;
      const read: ResultRow[] = [];
      const kept: PipedRow[] = [];
      const remember = (row: ResultRow) => {
        if (row.timeNs >= recentNs) read.push(row);
      };
      for await (const p of pipedRows(this.store, this.tenant, this.plan, startNs, this.now, "backward", limit, remember)) {
        kept.push(p);
      }
      kept.reverse();
      if (kept.length > 0) this.send(kept);
      // Then what comes after: lines written from now on, also those stamped before now (a line
      // that was in flight while the first ones were read), but never one sent already.
      const q = engineQuery(this.tenant, this.plan, startNs, this.now, "forward");
      const floor = followFloor(
        kept.map((p) => p.row),
        limit,
        startNs,
      );
      this.follower = new Follower(this.store, this.tenant, q.selector, q.filters, floor, this.options.notifier, {
        ...this.options.follow,
      });
      this.follower.markDelivered(read);
      for await (const event of this.follower) {
        if (this.stopped) break;
        if (this.delaySeconds > 0) await Bun.sleep(this.delaySeconds * 1000);
        if (event.type === "dropped") {
          this.ws.send(JSON.stringify({ streams: [], dropped_entries: [{ labels: "{}", timestamp: String(nowNs()) }] }));
        } else this.send(this.pipe(event.rows));
      }
    } catch (error) {
      log.error("loki tail failed", { error });
      if (!this.stopped) this.ws.close(1011, "the store failed; reconnect");
    }
  }

  stop(): void {
    this.stopped = true;
    this.follower?.close();
  }
}
