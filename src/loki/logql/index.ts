// LogQL, parsed (with Grafana's @grafana/lezer-logql grammar) and evaluated, independent of any
// store: see plan.ts for what a caller provides (SampleSource) and evaluate.ts / logs.ts for runs.
export {
  LogQLEvalError,
  LogQLParseError,
  LogQLUnsupportedError,
  type LogQLExpr,
  type LogSelectorExpr,
  type SampleExpr,
  type RangeAggregationExpr,
  type Stage,
  type LabelMatcher,
} from "./ast.ts";
export { parseLogQL } from "./parse.ts";
export {
  CountsCannotAnswer,
  isLogQuery,
  planLogSelector,
  selectorsOf,
  type CountRow,
  type CountsQuery,
  type LogSelectorPlan,
  type SampleSource,
  type SourceLine,
} from "./plan.ts";
export { evaluateMetric, simpleCountPlan, type EvalLimits, type EvalParams, type MetricResult } from "./evaluate.ts";
export { runLogQuery, type LogQueryResult, type LogStream } from "./logs.ts";
export type { Pipeline, PipelineResult } from "./pipeline.ts";
export { detectLevel, normalizeLevel, DETECTED_LEVEL, LEVEL_FIELDS } from "./level.ts";
export { formatSampleValue, nsToSeconds } from "./units.ts";
