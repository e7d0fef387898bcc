// What a query needs from the store-facing side: the selector's matchers, the line filters a store
// may apply early, the compiled pipeline; and the interface a caller implements to feed lines
// (and optionally per-minute counts) to the evaluator.
import {
  LogQLEvalError,
  type LabelMatcher,
  type LogQLExpr,
  type LogSelectorExpr,
  type RangeAggregationExpr,
  type SampleExpr,
} from "./ast.ts";
import { compilePipeline, leadingLineFilters, type Pipeline } from "./pipeline.ts";

/** A log query (selector + pipeline) → what the engine can pre-filter, plus the per-line pipeline. */
export interface LogSelectorPlan {
  /** The stream selector, with Loki label names. */
  matchers: LabelMatcher[];
  /**
   * Line filters safe to apply before the pipeline (a pre-filter): the single-value filters placed
   * before any stage that rewrites the line (line_format, unpack, decolorize). Regex values are
   * already translated from Go's syntax to JavaScript's (compile them with the `u` flag, and `i`
   * when ignoreCase). The pipeline still applies every filter.
   */
  lineFilters: { op: "contains" | "not_contains" | "regexp" | "not_regexp"; value: string; ignoreCase?: boolean }[];
  /** process(line, timeNs, labels, metadata?) → { line, labels } | null (filtered out). */
  pipeline: Pipeline;
  /** The selector expression itself. */
  selector: LogSelectorExpr;
}

/** A line of a stream as the evaluator reads it. */
export interface SourceLine {
  timeNs: bigint;
  line: string;
  /** The stream's labels as Loki sees them (sanitised names, no empty values). */
  labels: Record<string, string>;
  /** Structured metadata (e.g. detected_level); a name also in labels is renamed `<name>_extracted`. */
  metadata?: Record<string, string>;
}

/** Lines with m < ts <= m + 1 minute of one label set, m = timeNs (a whole minute). */
export interface CountRow {
  timeNs: bigint;
  /** The labels the lines of this row would have: their stream labels and structured metadata. */
  labels: Record<string, string>;
  lines: number;
  /** Bytes of the lines (UTF-8). */
  bytes: number;
}

export interface CountsQuery {
  plan: LogSelectorPlan;
  /** Rows for the minutes m with startNs <= m < endNs (both whole minutes). */
  startNs: bigint;
  endNs: bigint;
  /**
   * When set, only these labels of each row matter (the query sums by them): rows may carry just
   * these. Unset: each row must carry all the labels its lines would have.
   */
  labels?: string[];
}

export interface SampleSource {
  /** The selector's lines with startNs <= ts <= endNs, in forward time order, in batches. */
  lines(plan: LogSelectorPlan, startNs: bigint, endNs: bigint): AsyncIterable<SourceLine[]>;
  /**
   * Optional: pre-aggregated per-minute counts for a selector without pipeline (plan.selector has
   * no stages), rows in ascending timeNs. Return undefined when they cannot answer exactly (then
   * the evaluator reads lines); a source that finds so only once it has looked (at the streams)
   * throws CountsCannotAnswer before it gives any row, with the same effect.
   */
  counts?(q: CountsQuery): AsyncIterable<CountRow[]> | undefined;
}

/** Thrown by SampleSource.counts, before any row, when the counts cannot answer exactly. */
export class CountsCannotAnswer extends Error {
  override readonly name = "CountsCannotAnswer";
}

const pipelines = new WeakMap<LogSelectorExpr, Pipeline>();

/** Whether an expression is a log query (selector + pipeline) rather than a metric one. */
export function isLogQuery(e: LogQLExpr): e is LogSelectorExpr {
  return e.kind === "log";
}

function rangeAggregations(e: SampleExpr, out: RangeAggregationExpr[] = []): RangeAggregationExpr[] {
  switch (e.kind) {
    case "range":
      out.push(e);
      break;
    case "vector_agg":
    case "label_replace":
      rangeAggregations(e.inner, out);
      break;
    case "binop":
      rangeAggregations(e.left, out);
      rangeAggregations(e.right, out);
      break;
  }
  return out;
}

/** All the log selectors an expression reads (one for a log query). */
export function selectorsOf(e: LogQLExpr): LogSelectorExpr[] {
  return e.kind === "log" ? [e] : rangeAggregations(e).map((r) => r.selector);
}

/**
 * The plan of a log query, or of the selector inside a range aggregation (a metric expression must
 * read exactly one selector to have a single plan).
 */
export function planLogSelector(e: LogQLExpr): LogSelectorPlan {
  let selector: LogSelectorExpr;
  if (e.kind === "log") selector = e;
  else if (e.kind === "range") selector = e.selector;
  else {
    const all = rangeAggregations(e);
    if (all.length !== 1) throw new LogQLEvalError(`the expression reads ${all.length} selectors, not one`);
    selector = all[0]!.selector;
  }
  let pipeline = pipelines.get(selector);
  if (pipeline === undefined) {
    pipeline = compilePipeline(selector.stages);
    pipelines.set(selector, pipeline);
  }
  return { matchers: selector.matchers, lineFilters: leadingLineFilters(selector.stages), pipeline, selector };
}
