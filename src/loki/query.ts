// LogQL over the read engine: log queries become a LogQuery (selector and leading line filters)
// whose rows go through the query's pipeline, grouped into Loki streams; metric queries read
// their lines through the same engine (the SampleSource the evaluator pulls from).
import { runQuery, type LogQuery, type ResultRow } from "../query/engine.ts";
import type { Direction, LogStore } from "../store/store.ts";
import {
  CountsCannotAnswer,
  DETECTED_LEVEL,
  detectLevel,
  type CountRow,
  type LogSelectorPlan,
  type SampleSource,
  type SourceLine,
} from "./logql/index.ts";
import { selectStreams, streamCounts } from "./index-stats.ts";
import { CONTAINER_ID, lineLabels, lineMetadata, labelsText, POD_UID, streamLabels } from "./view.ts";

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
function countable(names: readonly string[]): boolean {
  return names.every((n) => n !== POD_UID && n !== CONTAINER_ID && !n.startsWith("__"));
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
      if (q.labels === undefined || !countable(q.labels)) return undefined;
      return countRows(store, tenant, q.plan, q.startNs, q.endNs, q.labels);
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
  labels: readonly string[] | undefined,
): AsyncGenerator<CountRow[]> {
  if (endNs <= startNs) return;
  const matchers = plan.matchers.map((m) => ({ name: m.name, op: m.op, value: m.value }));
  const rows: CountRow[] = [];
  const streams = await selectStreams(store, tenant, matchers, startNs, endNs - 1n);
  // A count row knows its stream's labels, `stream` and the level, not a line's structured
  // metadata: a label the query sums by that some stream lacks may be metadata on its lines (a
  // trace id pushed through the Loki API), which only the lines can tell. Decided before any
  // count is read.
  for (const name of labels ?? []) {
    if (name === "stream" || name === DETECTED_LEVEL || name === "level") continue;
    for (const info of streams) {
      const own = streamLabels(info);
      if (!own[name]) throw new CountsCannotAnswer(`${labelsText(own)} has no label ${name}: it may be on its lines`);
    }
  }
  for (const series of await streamCounts(store, streams, matchers, startNs, endNs - 1n, true)) {
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

/** A row read for a log query, and what the pipeline made of it. */
export interface PipedRow {
  row: ResultRow;
  input: SourceLine;
  out: { line: string; labels: Record<string, string> };
}

/**
 * The rows of a plan's selector in the direction, each through the pipeline once: those it keeps,
 * until `limit` of them. `read` sees every row read, kept or not (stats, a follow's memory).
 */
export async function* pipedRows(
  store: LogStore,
  tenant: string,
  plan: LogSelectorPlan,
  startNs: bigint,
  endNs: bigint,
  direction: Direction,
  limit: number,
  read?: (row: ResultRow) => void,
): AsyncGenerator<PipedRow> {
  if (limit <= 0) return;
  let kept = 0;
  const rows = runQuery(store, engineQuery(tenant, plan, startNs, endNs, direction));
  try {
    for await (const page of rows) {
      for (const row of page) {
        read?.(row);
        const input = sourceLine(row);
        const out = plan.pipeline.process(input.line, input.timeNs, input.labels, input.metadata);
        if (out === null) continue;
        yield { row, input, out };
        if (++kept >= limit) return;
      }
    }
  } finally {
    await rows.return({});
  }
}

/**
 * Piped rows grouped into Loki streams, in the order they come. With `categorize` (Loki's
 * `categorize-labels` encoding flag), a stream is keyed by the stream labels only and each value
 * carries its structured metadata and parsed labels apart; without it, those are labels of the
 * stream, as Loki does.
 */
export class StreamGroups {
  private readonly groups = new Map<string, LokiStream>();

  constructor(private readonly categorize: boolean) {}

  get size(): number {
    return this.groups.size;
  }

  add({ row, input, out }: PipedRow): void {
    const labels = this.categorize ? input.labels : out.labels;
    const key = labelsText(labels);
    let group = this.groups.get(key);
    if (group === undefined) this.groups.set(key, (group = { stream: labels, values: [] }));
    const ts = String(row.timeNs);
    // Categorized: always three elements, `{}` when the line has nothing beyond its stream's
    // labels, as Loki writes them: Grafana's categorized reader expects the third on every value.
    if (this.categorize) group.values.push([ts, out.line, categorized(labels, input.metadata, out.labels) ?? {}]);
    else group.values.push([ts, out.line]);
  }

  streams(): LokiStream[] {
    return [...this.groups.values()];
  }
}

/** A log query: rows in the direction, through the pipeline, until `limit` lines come out, grouped. */
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
  const groups = new StreamGroups(categorize);
  let returned = 0;
  let linesRead = 0;
  let bytesRead = 0;
  const read = (row: ResultRow) => {
    linesRead++;
    bytesRead += row.log.length;
  };
  for await (const piped of pipedRows(store, tenant, plan, startNs, endNs, direction, limit, read)) {
    groups.add(piped);
    returned++;
  }
  return { streams: groups.streams(), linesRead, bytesRead, returned };
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
