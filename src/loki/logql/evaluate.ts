// Metric query evaluation, after Loki's pkg/logql (engine.go, evaluator.go, range_vector.go):
// every expression is a step evaluator yielding one vector per step t = start, start+step, ...,
// end; a range aggregation at t covers the lines with t - offset - range < ts <= t - offset.
//
// Memory stays bounded: a range aggregation reads its selector's lines once, in time order, and
// keeps per series only accumulators of the buckets inside the current window (bucket width:
// gcd(range, step)); steps are emitted as soon as the lines pass them. Only avg, stddev, stdvar,
// quantile_over_time and rate_counter keep the values of the window (as Loki does).
import {
  LogQLEvalError,
  type BinaryOp,
  type Grouping,
  type LabelMatcher,
  type LogQLExpr,
  type RangeAggregationExpr,
  type SampleExpr,
  type Stage,
  type VectorAggregationExpr,
} from "./ast.ts";
import { scalarBinOp } from "./parse.ts";
import {
  compileLabelFilter,
  compilePipeline,
  ERR_SAMPLE_EXTRACTION,
  ERROR_LABEL,
  PRESERVE_ERROR_LABEL,
  type Pipeline,
  type SampleGrouping,
} from "./pipeline.ts";
import { compileAnchoredRE2, expandGoTemplate } from "./re2.ts";
import {
  CountsCannotAnswer,
  planLogSelector,
  type CountRow,
  type LogSelectorPlan,
  type SampleSource,
  type SourceLine,
} from "./plan.ts";
import { formatSampleValue, nsToSeconds, parseGoDuration, parseGoFloat, parseHumanBytes } from "./units.ts";

export type MetricResult =
  | { resultType: "matrix"; result: { metric: Record<string, string>; values: [number, string][] }[] }
  | { resultType: "vector"; result: { metric: Record<string, string>; value: [number, string] }[] }
  | { resultType: "scalar"; result: [number, string] };

export interface EvalParams {
  startNs: bigint;
  endNs: bigint;
  /** 0 for an instant query (then start = end). */
  stepNs: bigint;
}

export interface EvalLimits {
  /** Series in the answer (Loki's max_query_series, default 500). */
  maxSeries?: number;
  /** Series a range aggregation may hold at once before any vector aggregation (default 20000). */
  maxInnerSeries?: number;
  /** Steps of a range query (Loki: 11000). */
  maxPoints?: number;
}

const MINUTE_NS = 60_000_000_000n;

interface Sample {
  labels: Record<string, string>;
  key: string;
  value: number;
}

type StepIter = AsyncGenerator<Sample[], void, undefined>;

interface Ctx {
  source: SampleSource;
  steps: bigint[];
  stepNs: bigint;
  limits: Required<EvalLimits>;
}

/** The same labels with their names in order (as Loki's sorted label sets print). */
export function sortLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}

export function labelsKey(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  let k = "";
  for (const n of names) k += n + "\xff" + labels[n] + "\xfe";
  return k;
}

/** Prometheus' labels.Compare on sorted label sets. */
export function compareLabels(a: Record<string, string>, b: Record<string, string>): number {
  const an = Object.keys(a).sort();
  const bn = Object.keys(b).sort();
  const n = Math.min(an.length, bn.length);
  for (let i = 0; i < n; i++) {
    if (an[i] !== bn[i]) return an[i]! < bn[i]! ? -1 : 1;
    const av = a[an[i]!]!;
    const bv = b[bn[i]!]!;
    if (av !== bv) return av < bv ? -1 : 1;
  }
  return an.length - bn.length;
}

function sample(labels: Record<string, string>, value: number): Sample {
  return { labels, key: labelsKey(labels), value };
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** Evaluates a metric expression over [startNs, endNs] at stepNs (instant query: step 0, start = end). */
export async function evaluateMetric(
  e: LogQLExpr,
  params: EvalParams,
  source: SampleSource,
  limits: EvalLimits = {},
): Promise<MetricResult> {
  if (e.kind === "log") throw new LogQLEvalError("log queries are not metric queries: evaluate them with runLogQuery");
  const { startNs, endNs, stepNs } = params;
  const instant = stepNs === 0n;
  if (instant && startNs !== endNs) throw new LogQLEvalError("an instant query (step 0) needs start = end");
  if (stepNs < 0n)
    throw new LogQLEvalError("zero or negative query resolution step widths are not accepted. Try a positive integer");
  if (endNs < startNs) throw new LogQLEvalError("end timestamp must not be before start time");
  const lim: Required<EvalLimits> = {
    maxSeries: limits.maxSeries ?? 500,
    maxInnerSeries: limits.maxInnerSeries ?? 20_000,
    maxPoints: limits.maxPoints ?? 11_000,
  };
  const steps: bigint[] = [];
  if (instant) steps.push(startNs);
  else {
    const n = (endNs - startNs) / stepNs + 1n;
    if (n > BigInt(lim.maxPoints)) {
      throw new LogQLEvalError(
        `exceeded maximum resolution of ${lim.maxPoints.toLocaleString("en-US")} points per timeseries. Try decreasing the query resolution (?step=XX)`,
      );
    }
    for (let t = startNs; t <= endNs; t += stepNs) steps.push(t);
  }
  const ctx: Ctx = { source, steps, stepNs, limits: lim };

  if (e.kind === "literal") {
    if (instant) return { resultType: "scalar", result: [nsToSeconds(startNs), formatSampleValue(e.value)] };
    return {
      resultType: "matrix",
      result: [{ metric: {}, values: steps.map((t) => [nsToSeconds(t), formatSampleValue(e.value)] as [number, string]) }],
    };
  }

  const it = evaluator(ctx, e);
  const sortByValue = containsSort(e);
  if (instant) {
    const r = await it.next();
    const vec = r.done ? [] : r.value;
    await it.return();
    if (vec.length > lim.maxSeries) throw seriesLimitError(lim.maxSeries);
    if (!sortByValue) vec.sort((a, b) => compareLabels(a.labels, b.labels));
    return {
      resultType: "vector",
      result: vec.map((s) => ({ metric: sortLabels(s.labels), value: [nsToSeconds(startNs), formatSampleValue(s.value)] })),
    };
  }
  const series = new Map<string, { metric: Record<string, string>; values: [number, string][] }>();
  let i = 0;
  for await (const vec of it) {
    const t = nsToSeconds(steps[i++]!);
    for (const s of vec) {
      let ser = series.get(s.key);
      if (ser === undefined) {
        if (series.size >= lim.maxSeries) {
          await it.return();
          throw seriesLimitError(lim.maxSeries);
        }
        ser = { metric: sortLabels(s.labels), values: [] };
        series.set(s.key, ser);
      }
      ser.values.push([t, formatSampleValue(s.value)]);
    }
  }
  const result = [...series.values()].sort((a, b) => compareLabels(a.metric, b.metric));
  return { resultType: "matrix", result };
}

function seriesLimitError(limit: number): LogQLEvalError {
  return new LogQLEvalError(
    `maximum number of series (${limit}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()`,
  );
}

function containsSort(e: SampleExpr): boolean {
  switch (e.kind) {
    case "vector_agg":
      return e.op === "sort" || e.op === "sort_desc" || containsSort(e.inner);
    case "binop":
      return containsSort(e.left) || containsSort(e.right);
    case "label_replace":
      return containsSort(e.inner);
    default:
      return false;
  }
}

function evaluator(ctx: Ctx, e: SampleExpr, pushdown?: Grouping): StepIter {
  switch (e.kind) {
    case "range":
      return rangeEvaluator(ctx, e, pushdown);
    case "vector_agg":
      return vectorAggEvaluator(ctx, e);
    case "binop":
      return binOpEvaluator(ctx, e);
    case "vector":
      return constantEvaluator(ctx, [sample({}, e.value)]);
    case "literal":
      return constantEvaluator(ctx, [sample({}, e.value)]);
    case "label_replace":
      return labelReplaceEvaluator(ctx, e);
  }
}

async function* constantEvaluator(ctx: Ctx, vec: Sample[]): StepIter {
  for (let i = 0; i < ctx.steps.length; i++) yield vec.map((s) => ({ ...s }));
}

// ---------------------------------------------------------------------------------------------
// Range aggregations

interface Bucket {
  m: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  first: number;
  last: number;
  values?: number[];
  times?: number[];
}

interface Series {
  labels: Record<string, string>;
  key: string;
  buckets: Bucket[];
  head: number;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

const KEEPS_VALUES = new Set(["avg_over_time", "stddev_over_time", "stdvar_over_time", "quantile_over_time", "rate_counter"]);

/** Whether a count-like range aggregation can be answered from per-minute counts. */
export function simpleCountPlan(
  e: LogQLExpr,
):
  | { plan: LogSelectorPlan; kind: "count" | "bytes"; op: RangeAggregationExpr["op"]; rangeNs: bigint; offsetNs: bigint }
  | undefined {
  if (e.kind !== "range" || e.unwrap !== undefined || !e.selector.stages.every(dropsOnlyErrors)) return undefined;
  if (!["count_over_time", "rate", "bytes_over_time", "bytes_rate"].includes(e.op)) return undefined;
  if (e.rangeNs % MINUTE_NS !== 0n || e.offsetNs % MINUTE_NS !== 0n) return undefined;
  const kind = e.op === "count_over_time" || e.op === "rate" ? "count" : "bytes";
  return { plan: planLogSelector(e), kind, op: e.op, rangeNs: e.rangeNs, offsetNs: e.offsetNs };
}

/**
 * `| drop __error__` (and `__error_details__`) with no parser before it changes nothing: no
 * stage set them. Grafana adds it to its logs-volume query, which counts may then answer.
 */
function dropsOnlyErrors(stage: Stage): boolean {
  return (
    stage.kind === "drop" &&
    stage.items.every((i) => i.matcher === undefined && (i.name === "__error__" || i.name === "__error_details__"))
  );
}

interface Extracted {
  labels: Record<string, string>;
  value: number;
}

/** Loki's sample extractor for a range aggregation: pipeline, then count / bytes / unwrap. */
function makeExtractor(e: RangeAggregationExpr, pushdown: Grouping | undefined): (l: SourceLine) => Extracted | null {
  const grp = e.grouping ?? pushdown;
  let grouping: SampleGrouping | undefined =
    grp === undefined
      ? undefined
      : { without: grp.without, labels: [...grp.labels].sort(), noLabels: grp.labels.length === 0 && !grp.without };
  if (e.op === "absent_over_time")
    grouping = { without: grouping?.without ?? false, labels: grouping?.labels ?? [], noLabels: true };
  const pipeline: Pipeline = compilePipeline(e.selector.stages);
  if (e.unwrap === undefined) {
    const bytes = e.op === "bytes_over_time" || e.op === "bytes_rate";
    return (l) => {
      const r = pipeline.run(l.line, l.timeNs, l.labels, l.metadata);
      if (r === null) return null;
      return { labels: r.lb.grouped(grouping), value: bytes ? Buffer.byteLength(r.line, "utf8") : 1 };
    };
  }
  const u = e.unwrap;
  if (grouping === undefined || grouping.labels.length === 0 || grouping.without) {
    grouping = { without: true, labels: [...(grouping?.labels ?? []), u.label].sort(), noLabels: grouping?.noLabels ?? false };
  }
  const convert =
    u.conversion === "" ? parseGoFloat : u.conversion === "bytes" ? parseHumanBytes : (s: string) => parseGoDuration(s) / 1e9;
  const post = u.postFilters.map(compileLabelFilter);
  const g = grouping;
  return (l) => {
    const r = pipeline.run(l.line, l.timeNs, l.labels, l.metadata);
    if (r === null) return null;
    const lb = r.lb;
    const s = lb.get(u.label);
    if (s === undefined || s === "") return null;
    let v = 0;
    try {
      v = convert(s);
    } catch (error) {
      lb.setErr(ERR_SAMPLE_EXTRACTION, (error as Error).message);
    }
    let keep = true;
    for (const f of post) keep = f(lb) && keep;
    if (!keep) return null;
    return { labels: lb.grouped(g), value: v };
  };
}

async function* rangeEvaluator(ctx: Ctx, e: RangeAggregationExpr, pushdown: Grouping | undefined): StepIter {
  const { steps } = ctx;
  const n = steps.length;
  const range = e.rangeNs;
  const step = n > 1 ? ctx.stepNs : range;
  const g = gcd(range, step === 0n ? range : step);
  const base = steps[0]! - e.offsetNs; // the end of the first window
  const readStart = base - range + 1n;
  const readEnd = steps[n - 1]! - e.offsetNs;
  if (Number(readEnd - readStart) > Number.MAX_SAFE_INTEGER / 2) throw new LogQLEvalError("the query range is too long");
  const gN = Number(g);
  const stepB = Number(step / g); // buckets per step
  const rangeB = Number(range / g); // buckets per window
  const rangeSeconds = Number(range) / 1e9;
  const keepValues = KEEPS_VALUES.has(e.op);
  const countOp = e.unwrap === undefined && (e.op === "count_over_time" || e.op === "rate" || e.op === "absent_over_time");
  const series = new Map<string, Series>();
  let next = 0; // the next step to emit

  const bucketOf = (ts: bigint): number => {
    const x = Number(ts - base);
    let q = Math.floor(x / gN);
    let r = x - q * gN;
    if (r < 0) {
      q--;
      r += gN;
    } else if (r >= gN) {
      q++;
      r -= gN;
    }
    return r === 0 ? q : q + 1;
  };

  const add = (labels: Record<string, string>, m: number, weight: number, value: number, tsNs: number) => {
    const key = labelsKey(labels);
    let s = series.get(key);
    if (s === undefined) {
      if (series.size >= ctx.limits.maxInnerSeries) throw seriesLimitError(ctx.limits.maxInnerSeries);
      s = { labels, key, buckets: [], head: 0 };
      series.set(key, s);
    }
    let b = s.buckets.length > s.head ? s.buckets[s.buckets.length - 1]! : undefined;
    if (b === undefined || b.m !== m) {
      b = { m, count: 0, sum: 0, min: value, max: value, first: value, last: value };
      if (keepValues) {
        b.values = [];
        b.times = [];
      }
      s.buckets.push(b);
    }
    b.count += weight;
    b.sum += value;
    if (value < b.min || Number.isNaN(b.min)) b.min = value;
    if (value > b.max || Number.isNaN(b.max)) b.max = value;
    b.last = value;
    if (keepValues) {
      b.values!.push(value);
      b.times!.push(tsNs);
    }
  };

  const emit = (i: number): Sample[] => {
    const hi = i * stepB;
    const lo = hi - rangeB; // exclusive
    const windowEnd = i * Number(step); // relative to base, as the stored times
    const out: Sample[] = [];
    for (const s of series.values()) {
      let count = 0;
      let sum = 0;
      let min = Number.NaN;
      let max = Number.NaN;
      let first = Number.NaN;
      let last = Number.NaN;
      let any = false;
      const vals: number[] = [];
      const times: number[] = [];
      for (let k = s.head; k < s.buckets.length; k++) {
        const b = s.buckets[k]!;
        if (b.m <= lo) continue;
        if (b.m > hi) break;
        if (!any) {
          first = b.first;
          min = b.min;
          max = b.max;
        } else {
          if (b.min < min || Number.isNaN(min)) min = b.min;
          if (b.max > max || Number.isNaN(max)) max = b.max;
        }
        any = true;
        count += b.count;
        sum += b.sum;
        last = b.last;
        if (keepValues) {
          for (const v of b.values!) vals.push(v);
          for (const t of b.times!) times.push(t);
        }
      }
      if (!any) continue;
      let v: number;
      switch (e.op) {
        case "count_over_time":
          v = count;
          break;
        case "rate":
          v = (countOp ? count : sum) / rangeSeconds;
          break;
        case "bytes_over_time":
        case "sum_over_time":
          v = sum;
          break;
        case "bytes_rate":
          v = sum / rangeSeconds;
          break;
        case "avg_over_time":
          v = avgOverTime(vals);
          break;
        case "min_over_time":
          v = min;
          break;
        case "max_over_time":
          v = max;
          break;
        case "stddev_over_time":
          v = Math.sqrt(stdvar(vals));
          break;
        case "stdvar_over_time":
          v = stdvar(vals);
          break;
        case "quantile_over_time":
          v = quantile(e.param!, vals);
          break;
        case "first_over_time":
          v = first;
          break;
        case "last_over_time":
          v = last;
          break;
        case "absent_over_time":
          v = 1;
          break;
        case "rate_counter":
          v = extrapolatedRate(vals, times, Number(range), windowEnd);
          break;
      }
      if (Object.hasOwn(s.labels, ERROR_LABEL) && s.labels[PRESERVE_ERROR_LABEL] !== "true") throw pipelineError(s.labels);
      out.push({ labels: s.labels, key: s.key, value: v });
    }
    // Drop the buckets no later window needs.
    const nextLo = (i + 1) * stepB - rangeB;
    for (const [key, s] of series) {
      while (s.head < s.buckets.length && s.buckets[s.head]!.m <= nextLo) s.head++;
      if (s.head === s.buckets.length) series.delete(key);
      else if (s.head > 64 && s.head * 2 > s.buckets.length) {
        s.buckets = s.buckets.slice(s.head);
        s.head = 0;
      }
    }
    if (e.op === "absent_over_time") return out.length > 0 ? [] : [sample(absentLabels(e.selector.matchers), 1)];
    return out;
  };

  const windowEndOf = (i: number) => base + BigInt(i) * step;
  const offered = countsSource(ctx, e, pushdown)?.(readStart - 1n, readEnd);
  const counts = offered === undefined ? undefined : await answering(offered);
  if (counts !== undefined) {
    const kindBytes = e.op === "bytes_over_time" || e.op === "bytes_rate";
    const grp = pushdown;
    for await (const rows of counts) {
      for (const row of rows) {
        // A row holds the lines of (timeNs, timeNs + 1m]: the bucket ending at timeNs + 1m.
        const ts = row.timeNs + MINUTE_NS;
        if (ts <= readStart - 1n || ts > readEnd) continue;
        while (next < n && ts > windowEndOf(next)) yield emit(next++);
        const labels = groupLabels(row.labels, grp);
        add(labels, bucketOf(ts), row.lines, kindBytes ? row.bytes : row.lines, Number(ts - base));
      }
    }
  } else {
    const extract = makeExtractor(e, pushdown);
    const plan = planLogSelector(e);
    for await (const batch of ctx.source.lines(plan, readStart, readEnd)) {
      for (const l of batch) {
        const ts = l.timeNs;
        if (ts < readStart || ts > readEnd) continue;
        while (next < n && ts > windowEndOf(next)) yield emit(next++);
        const x = extract(l);
        if (x === null) continue;
        add(x.labels, bucketOf(ts), 1, x.value, Number(ts - base));
      }
    }
  }
  while (next < n) yield emit(next++);
}

/**
 * The counts' rows, or undefined when the source found, before its first row, that they cannot
 * answer (CountsCannotAnswer): then the lines are read instead.
 */
async function answering(counts: AsyncIterable<CountRow[]>): Promise<AsyncIterable<CountRow[]> | undefined> {
  const it = counts[Symbol.asyncIterator]();
  let first: IteratorResult<CountRow[]>;
  try {
    first = await it.next();
  } catch (error) {
    if (error instanceof CountsCannotAnswer) return undefined;
    throw error;
  }
  return (async function* () {
    for (let r = first; !r.done; r = await it.next()) yield r.value;
  })();
}

/** Labels of a counts row after a pushed-down `sum by/without`. */
function groupLabels(labels: Record<string, string>, g: Grouping | undefined): Record<string, string> {
  if (g === undefined) return labels;
  if (!g.without && g.labels.length === 0) return {};
  const out: Record<string, string> = {};
  if (g.without) {
    for (const k in labels) if (!g.labels.includes(k)) out[k] = labels[k]!;
  } else {
    for (const k of g.labels) if (labels[k] !== undefined && labels[k] !== "") out[k] = labels[k]!;
  }
  return out;
}

function countsSource(ctx: Ctx, e: RangeAggregationExpr, pushdown: Grouping | undefined) {
  const src = ctx.source;
  if (src.counts === undefined) return undefined;
  const simple = simpleCountPlan(e);
  if (simple === undefined) return undefined;
  if (ctx.stepNs % MINUTE_NS !== 0n || ctx.steps[0]! % MINUTE_NS !== 0n) return undefined;
  const labels = pushdown !== undefined && !pushdown.without ? [...pushdown.labels] : undefined;
  return (startNs: bigint, endNs: bigint) => {
    const q: { plan: LogSelectorPlan; startNs: bigint; endNs: bigint; labels?: string[] } = { plan: simple.plan, startNs, endNs };
    if (labels !== undefined) q.labels = labels;
    return src.counts!(q);
  };
}

function pipelineError(labels: Record<string, string>): LogQLEvalError {
  const err = labels[ERROR_LABEL]!;
  const metric = `{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(", ")}}`;
  return new LogQLEvalError(
    `pipeline error: '${err}' for series: '${metric}'.\n` +
      `Use a label filter to intentionally skip this error. (e.g | __error__!="${err}").\n` +
      `To skip all potential errors you can match empty errors.(e.g __error__="")\n` +
      `The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__="" )\n`,
  );
}

function absentLabels(matchers: LabelMatcher[]): Record<string, string> {
  const out: Record<string, string> = {};
  const empty: string[] = [];
  for (const m of matchers) {
    if (m.name === "__name__") continue;
    if (m.op === "=" && !Object.hasOwn(out, m.name)) out[m.name] = m.value;
    else empty.push(m.name);
  }
  for (const n of empty) delete out[n];
  return out;
}

function avgOverTime(vals: number[]): number {
  let mean = 0;
  let count = 0;
  for (const v of vals) {
    count++;
    if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
      if (!Number.isFinite(v) && !Number.isNaN(v) && mean > 0 === v > 0) continue;
      if (Number.isFinite(v)) continue;
    }
    mean += v / count - mean / count;
  }
  return mean;
}

function stdvar(vals: number[]): number {
  let aux = 0;
  let count = 0;
  let mean = 0;
  for (const v of vals) {
    count++;
    const delta = v - mean;
    mean += delta / count;
    aux += delta * (v - mean);
  }
  return aux / count;
}

function quantile(q: number, vals: number[]): number {
  if (vals.length === 0) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const s = [...vals].sort((a, b) => (Number.isNaN(a) ? -1 : Number.isNaN(b) ? 1 : a - b));
  const n = s.length;
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return s[lower]! * (1 - weight) + s[upper]! * weight;
}

/**
 * Prometheus' extrapolatedRate as Loki adapts it for rate_counter (counter resets handled, window
 * bounds from the query). Times are nanoseconds, relative to any common origin.
 */
function extrapolatedRate(vals: number[], times: number[], rangeNs: number, rangeEnd: number): number {
  if (vals.length < 2) return 0;
  const rangeStart = rangeEnd - rangeNs;
  const n = vals.length;
  let result = vals[n - 1]! - vals[0]!;
  let lastValue = 0;
  for (const v of vals) {
    if (v < lastValue) result += lastValue;
    lastValue = v;
  }
  let durationToStart = (times[0]! - rangeStart) / 1e9;
  let durationToEnd = (rangeEnd - times[n - 1]!) / 1e9;
  const sampledInterval = (times[n - 1]! - times[0]!) / 1e9;
  const averageDurationBetweenSamples = sampledInterval / (n - 1);
  const threshold = averageDurationBetweenSamples * 1.1;
  if (durationToStart >= threshold) durationToStart = averageDurationBetweenSamples / 2;
  let durationToZero = durationToStart;
  if (result > 0 && vals[0]! >= 0) durationToZero = sampledInterval * (vals[0]! / result);
  if (durationToZero < durationToStart) durationToStart = durationToZero;
  if (durationToEnd >= threshold) durationToEnd = averageDurationBetweenSamples / 2;
  const extrapolateToInterval = sampledInterval + durationToStart + durationToEnd;
  result = result * (extrapolateToInterval / sampledInterval);
  return result / (rangeNs / 1e9);
}

// ---------------------------------------------------------------------------------------------
// Vector aggregations

function canPushDown(e: VectorAggregationExpr): boolean {
  if (e.op !== "sum" || e.inner.kind !== "range" || e.inner.grouping !== undefined) return false;
  return ["bytes_over_time", "bytes_rate", "sum_over_time", "rate", "count_over_time"].includes(e.inner.op);
}

async function* vectorAggEvaluator(ctx: Ctx, e: VectorAggregationExpr): StepIter {
  const inner = evaluator(ctx, e.inner, canPushDown(e) ? e.grouping : undefined);
  const groups = [...e.grouping.labels].sort();
  for await (const vec of inner) {
    yield aggregateVector(e, groups, vec);
  }
}

interface Group {
  labels: Record<string, string>;
  value: number;
  mean: number;
  count: number;
  members: Sample[];
}

function aggregateVector(e: VectorAggregationExpr, groups: string[], vec: Sample[]): Sample[] {
  const result = new Map<string, Group>();
  const order: Group[] = [];
  for (const s of vec) {
    let labels: Record<string, string>;
    if (e.op === "sort" || e.op === "sort_desc") labels = {};
    else if (e.grouping.without) {
      labels = {};
      for (const k in s.labels) if (!groups.includes(k) && k !== "__name__") labels[k] = s.labels[k]!;
    } else {
      labels = {};
      for (const k of groups) if (Object.hasOwn(s.labels, k)) labels[k] = s.labels[k]!;
    }
    const key = labelsKey(labels);
    const g = result.get(key);
    if (g === undefined) {
      const ng: Group = {
        labels,
        value: e.op === "stddev" || e.op === "stdvar" ? 0 : s.value,
        mean: s.value,
        count: 1,
        members: [s],
      };
      result.set(key, ng);
      order.push(ng);
      continue;
    }
    switch (e.op) {
      case "sum":
        g.value += s.value;
        break;
      case "avg": {
        g.count++;
        if (!Number.isFinite(g.mean) && !Number.isNaN(g.mean)) {
          if (!Number.isFinite(s.value) && !Number.isNaN(s.value) && g.mean > 0 === s.value > 0) break;
          if (Number.isFinite(s.value)) break;
        }
        g.mean += (s.value - g.mean) / g.count;
        break;
      }
      case "max":
        if (g.value < s.value || Number.isNaN(g.value)) g.value = s.value;
        break;
      case "min":
        if (g.value > s.value || Number.isNaN(g.value)) g.value = s.value;
        break;
      case "count":
        g.count++;
        break;
      case "stddev":
      case "stdvar": {
        g.count++;
        const delta = s.value - g.mean;
        g.mean += delta / g.count;
        g.value += delta * (s.value - g.mean);
        break;
      }
      default:
        g.members.push(s);
    }
  }
  const out: Sample[] = [];
  for (const g of order) {
    switch (e.op) {
      case "avg":
        out.push(sample(g.labels, g.mean));
        break;
      case "count":
        out.push(sample(g.labels, g.count));
        break;
      case "stddev":
        out.push(sample(g.labels, Math.sqrt(g.value / g.count)));
        break;
      case "stdvar":
        out.push(sample(g.labels, g.value / g.count));
        break;
      case "topk":
      case "bottomk":
      case "sort":
      case "sort_desc": {
        const desc = e.op === "topk" || e.op === "sort_desc";
        // NaN sorts lowest, as Loki's heaps.
        const cmp = (a: Sample, b: Sample) => {
          if (Number.isNaN(a.value)) return Number.isNaN(b.value) ? 0 : desc ? 1 : -1;
          if (Number.isNaN(b.value)) return desc ? -1 : 1;
          return desc ? b.value - a.value : a.value - b.value;
        };
        const sorted = [...g.members].sort(cmp);
        const k = e.op === "topk" || e.op === "bottomk" ? e.param! : sorted.length;
        for (const s of sorted.slice(0, k)) out.push({ labels: s.labels, key: s.key, value: s.value });
        break;
      }
      default:
        out.push(sample(g.labels, g.value));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Binary operations

const COMPARISON = new Set<BinaryOp>(["==", "!=", ">", ">=", "<", "<="]);

async function* binOpEvaluator(ctx: Ctx, e: SampleExpr & { kind: "binop" }): StepIter {
  const comparison = COMPARISON.has(e.op);
  if (e.left.kind === "literal" || e.right.kind === "literal") {
    const litLeft = e.left.kind === "literal";
    const lit = (litLeft ? e.left : e.right) as { value: number };
    const other = evaluator(ctx, litLeft ? e.right : e.left);
    for await (const vec of other) {
      const out: Sample[] = [];
      for (const s of vec) {
        const [a, b] = litLeft ? [lit.value, s.value] : [s.value, lit.value];
        const v = scalarBinOp(e.op, a, b);
        if (comparison && !e.returnBool) {
          if (v === 0) continue;
          out.push(s);
        } else out.push({ labels: s.labels, key: s.key, value: v });
      }
      yield out;
    }
    return;
  }
  const left = evaluator(ctx, e.left);
  const right = evaluator(ctx, e.right);
  try {
    for (;;) {
      const [l, r] = await Promise.all([left.next(), right.next()]);
      if (l.done || r.done) return;
      yield vectorBinOp(e, l.value, r.value);
    }
  } finally {
    await Promise.all([left.return(), right.return()]);
  }
}

function signature(s: Sample, e: SampleExpr & { kind: "binop" }): string {
  const m = e.matching;
  if (m === undefined) return s.key;
  const out: Record<string, string> = {};
  if (m.on) {
    for (const k of m.labels) if (Object.hasOwn(s.labels, k)) out[k] = s.labels[k]!;
  } else {
    for (const k in s.labels) if (!m.labels.includes(k)) out[k] = s.labels[k]!;
  }
  return labelsKey(out);
}

function resultMetric(
  lhs: Record<string, string>,
  rhs: Record<string, string>,
  e: SampleExpr & { kind: "binop" },
): Record<string, string> {
  const m = e.matching;
  if (m === undefined) return lhs;
  const out: Record<string, string> = { ...lhs };
  if (m.card === "one-to-one") {
    if (m.on) {
      for (const k in out) if (!m.labels.includes(k)) delete out[k];
    } else for (const k of m.labels) delete out[k];
  }
  for (const k of m.include) {
    const v = rhs[k];
    if (v !== undefined && v !== "") out[k] = v;
    else delete out[k];
  }
  return out;
}

function vectorBinOp(e: SampleExpr & { kind: "binop" }, lhsIn: Sample[], rhsIn: Sample[]): Sample[] {
  const lsig = lhsIn.map((s) => signature(s, e));
  const rsig = rhsIn.map((s) => signature(s, e));
  switch (e.op) {
    case "and": {
      if (lhsIn.length === 0 || rhsIn.length === 0) return [];
      const right = new Set(rsig);
      return lhsIn.filter((_, i) => right.has(lsig[i]!));
    }
    case "or": {
      if (lhsIn.length === 0) return rhsIn;
      if (rhsIn.length === 0) return lhsIn;
      const left = new Set(lsig);
      return [...lhsIn, ...rhsIn.filter((_, i) => !left.has(rsig[i]!))];
    }
    case "unless": {
      if (lhsIn.length === 0 || rhsIn.length === 0) return lhsIn;
      const right = new Set(rsig);
      return lhsIn.filter((_, i) => !right.has(lsig[i]!));
    }
  }
  const oneToMany = e.matching?.card === "one-to-many";
  const [lhs, rhs, ls, rs] = oneToMany ? [rhsIn, lhsIn, rsig, lsig] : [lhsIn, rhsIn, lsig, rsig];
  const rightBySig = new Map<string, Sample>();
  for (let i = 0; i < rhs.length; i++) {
    if (rightBySig.has(rs[i]!)) {
      throw new LogQLEvalError(
        `found duplicate series on the ${oneToMany ? "left" : "right"} hand-side;many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    rightBySig.set(rs[i]!, rhs[i]!);
  }
  const matched = new Map<string, Set<string>>();
  const comparison = COMPARISON.has(e.op);
  const out: Sample[] = [];
  for (let i = 0; i < lhs.length; i++) {
    const sig = ls[i]!;
    const r = rightBySig.get(sig);
    if (r === undefined) continue;
    let [a, b] = [lhs[i]!, r];
    if (oneToMany) [a, b] = [b, a];
    const metric = resultMetric(a.labels, b.labels, e);
    if (e.matching === undefined || e.matching.card === "one-to-one") {
      if (matched.has(sig))
        throw new LogQLEvalError("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
      matched.set(sig, new Set());
    } else {
      const ins = labelsKey(metric);
      let set = matched.get(sig);
      if (set === undefined) matched.set(sig, (set = new Set()));
      else if (set.has(ins)) throw new LogQLEvalError("multiple matches for labels: grouping labels must ensure unique matches");
      set.add(ins);
    }
    const v = scalarBinOp(e.op, a.value, b.value);
    if (comparison && !e.returnBool) {
      if (v === 0) continue;
      out.push(sample(metric, a.value));
    } else out.push(sample(metric, v));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

async function* labelReplaceEvaluator(ctx: Ctx, e: SampleExpr & { kind: "label_replace" }): StepIter {
  const re = compileAnchoredRE2(e.regex);
  const inner = evaluator(ctx, e.inner);
  for await (const vec of inner) {
    yield vec.map((s) => {
      const src = s.labels[e.src] ?? "";
      const m = re.exec(src);
      if (m === null) return s;
      const res = expandGoTemplate(e.replacement, m);
      const labels = { ...s.labels };
      delete labels[e.dst];
      if (res !== "") labels[e.dst] = res;
      return sample(labels, s.value);
    });
  }
}
