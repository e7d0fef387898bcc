// LogQL over the read engine: log queries become a LogQuery (selector and leading line filters)
// whose rows go through the query's pipeline, grouped into Loki streams; metric queries read
// their lines through the same engine (the SampleSource the evaluator pulls from).
import { runQuery, type LogQuery, type ResultRow } from "../query/engine.ts";
import type { Direction, LogStore } from "../store/store.ts";
import {
  DETECTED_LEVEL,
  detectLevel,
  type CountRow,
  type LogSelectorPlan,
  type SampleSource,
  type SourceLine,
} from "./logql/index.ts";
import { seriesCounts } from "./index-stats.ts";
import { lineLabels, lineMetadata, labelsText } from "./view.ts";

/** A LogQuery for a plan's selector and pre-filters. */
export function engineQuery(
  tenant: string,
  plan: LogSelectorPlan,
  startNs: bigint,
  endNs: bigint,
  direction: Direction,
  limit?: number,
): LogQuery {
  return {
    tenant,
    selector: plan.matchers.map((m) => ({ name: m.name, op: m.op, value: m.value })),
    filters: plan.lineFilters.map((f) => ({ op: f.op, value: f.value, ignoreCase: f.ignoreCase ?? false })),
    startNs,
    endNs,
    direction,
    limit,
    withSource: true,
  };
}

/**
 * A row as the pipeline takes it: its labels, and as structured metadata its pod uid, container
 * id, pushed metadata and `detected_level` (as Loki 3 adds it; the same detection the per-minute
 * counts were kept by at write time).
 */
export function sourceLine(row: ResultRow): SourceLine {
  const labels = lineLabels(row.source, row.stream);
  const metadata = lineMetadata(row) ?? {};
  if (!Object.hasOwn(metadata, DETECTED_LEVEL)) metadata[DETECTED_LEVEL] = detectLevel(row.log, row.source.labels, row.metadata);
  return { timeNs: row.timeNs, line: row.log, labels, metadata };
}

/** Labels a count row can carry: the stream's, `stream`, and detected_level. */
function countable(names: readonly string[], plan: LogSelectorPlan): boolean {
  void plan;
  return names.every((n) => n !== "pod_uid" && n !== "container_id" && !n.startsWith("__"));
}

/**
 * The evaluator's lines, read through the engine oldest first, and the per-minute counts kept at
 * write time for the count and bytes aggregations that need no line (see simpleCountPlan). Counts
 * answer only queries that sum by labels a count knows (stream labels, stream, detected_level):
 * a line's pod uid or pushed metadata is not in them, so other queries read the lines.
 */
export function engineSource(store: LogStore, tenant: string): SampleSource {
  return {
    async *lines(plan, startNs, endNs) {
      for await (const page of runQuery(store, engineQuery(tenant, plan, startNs, endNs, "forward"))) {
        yield page.map(sourceLine);
      }
    },
    counts(q) {
      if (q.labels === undefined || !countable(q.labels, q.plan)) return undefined;
      return countRows(store, tenant, q.plan, q.startNs, q.endNs);
    },
  };
}

/** Count rows of a selector for the minutes m with startNs <= m < endNs, by time. */
async function* countRows(
  store: LogStore,
  tenant: string,
  plan: LogSelectorPlan,
  startNs: bigint,
  endNs: bigint,
): AsyncGenerator<CountRow[]> {
  if (endNs <= startNs) return;
  const matchers = plan.matchers.map((m) => ({ name: m.name, op: m.op, value: m.value }));
  const rows: CountRow[] = [];
  for (const series of await seriesCounts(store, tenant, matchers, startNs, endNs - 1n, true)) {
    for (const c of series.byLevel!) {
      rows.push({
        timeNs: c.minuteNs,
        labels: { ...series.labels, [DETECTED_LEVEL]: c.level || "unknown" },
        lines: c.lines,
        bytes: c.bytes,
      });
    }
  }
  rows.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  for (let i = 0; i < rows.length; i += 1000) yield rows.slice(i, i + 1000);
}

/** One Loki stream of a log query's answer. */
export interface LokiStream {
  stream: Record<string, string>;
  values: ([string, string] | [string, string, Categorized])[];
}

/** A line's labels other than its stream's, when the client asked for them apart. */
export interface Categorized {
  structuredMetadata?: Record<string, string>;
  parsed?: Record<string, string>;
}

export interface LogAnswer {
  streams: LokiStream[];
  /** Lines read and their bytes (for stats). */
  linesRead: number;
  bytesRead: number;
  returned: number;
}

/**
 * A log query: rows in the direction, through the pipeline, until `limit` lines come out, grouped
 * by their final labels. With `categorize` (Loki's `categorize-labels` encoding flag), a stream
 * is keyed by the stream labels only and each value carries its structured metadata and parsed
 * labels apart; without it, those are labels of the stream, as Loki does.
 */
export async function runLogQuery(
  store: LogStore,
  tenant: string,
  plan: LogSelectorPlan,
  startNs: bigint,
  endNs: bigint,
  direction: Direction,
  limit: number,
  categorize: boolean,
): Promise<LogAnswer> {
  const groups = new Map<string, LokiStream>();
  let returned = 0;
  let linesRead = 0;
  let bytesRead = 0;
  const rows = runQuery(store, engineQuery(tenant, plan, startNs, endNs, direction));
  try {
    outer: for await (const page of rows) {
      for (const row of page) {
        linesRead++;
        bytesRead += row.log.length;
        const input = sourceLine(row);
        const out = plan.pipeline.process(input.line, input.timeNs, input.labels, input.metadata);
        if (out === null) continue;
        const ts = String(row.timeNs);
        if (categorize) {
          const streamLabels = input.labels;
          const key = labelsText(streamLabels);
          let group = groups.get(key);
          if (group === undefined) groups.set(key, (group = { stream: streamLabels, values: [] }));
          // Always three elements, `{}` when the line has nothing beyond its stream's labels, as
          // Loki writes them: Grafana's categorized reader expects the third on every value.
          group.values.push([ts, out.line, categorized(streamLabels, input.metadata, out.labels) ?? {}]);
        } else {
          const key = labelsText(out.labels);
          let group = groups.get(key);
          if (group === undefined) groups.set(key, (group = { stream: out.labels, values: [] }));
          group.values.push([ts, out.line]);
        }
        if (++returned >= limit) break outer;
      }
    }
  } finally {
    await rows.return({});
  }
  return { streams: [...groups.values()], linesRead, bytesRead, returned };
}

/** The labels a pipeline's output has beyond the stream's: structured metadata, then parsed. */
function categorized(
  stream: Record<string, string>,
  metadata: Record<string, string> | undefined,
  out: Record<string, string>,
): Categorized | undefined {
  let structured: Record<string, string> | undefined;
  let parsed: Record<string, string> | undefined;
  for (const name in out) {
    const value = out[name]!;
    if (stream[name] === value) continue;
    if (metadata !== undefined && metadata[name] === value) (structured ??= {})[name] = value;
    else (parsed ??= {})[name] = value;
  }
  if (structured === undefined && parsed === undefined) return undefined;
  const c: Categorized = {};
  if (structured) c.structuredMetadata = structured;
  if (parsed) c.parsed = parsed;
  return c;
}
