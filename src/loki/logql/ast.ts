// The typed LogQL syntax tree (after Loki's pkg/logql/syntax): what parseLogQL returns.

export type MatchOp = "=" | "!=" | "=~" | "!~";

export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

/** `|=` contains, `!=` not contains, `|~` regex, `!~` not regex, `|>` pattern, `!>` not pattern. */
export type LineFilterOp = "|=" | "!=" | "|~" | "!~" | "|>" | "!>";

export interface LineFilterStage {
  kind: "line_filter";
  op: LineFilterOp;
  /** With `or`: a positive filter passes when any value matches, a negative one when none does. */
  values: string[];
}

export type CompareOp = "==" | "!=" | ">" | ">=" | "<" | "<=";

export type LabelFilter =
  | { kind: "and" | "or"; left: LabelFilter; right: LabelFilter }
  | { kind: "string"; matcher: LabelMatcher }
  | { kind: "number"; name: string; op: CompareOp; value: number }
  | { kind: "duration"; name: string; op: CompareOp; /** nanoseconds */ value: number }
  | { kind: "bytes"; name: string; op: CompareOp; value: number };

export interface ExtractionParam {
  /** The label to set. */
  name: string;
  /** The JSON path (`a.b[0]`) or logfmt key; the label name itself when not given. */
  expr: string;
}

export interface NamedMatcher {
  name: string;
  matcher?: LabelMatcher;
}

export type Stage =
  | LineFilterStage
  | { kind: "json"; params?: ExtractionParam[] }
  | { kind: "logfmt"; strict: boolean; keepEmpty: boolean; params?: ExtractionParam[] }
  | { kind: "regexp"; pattern: string }
  | { kind: "pattern"; pattern: string }
  | { kind: "unpack" }
  | { kind: "label_filter"; filter: LabelFilter }
  | { kind: "line_format"; template: string }
  | { kind: "label_format"; items: { dst: string; src?: string; template?: string }[] }
  | { kind: "decolorize" }
  | { kind: "drop"; items: NamedMatcher[] }
  | { kind: "keep"; items: NamedMatcher[] };

/** A log query: a stream selector and its pipeline. */
export interface LogSelectorExpr {
  kind: "log";
  matchers: LabelMatcher[];
  stages: Stage[];
}

export interface Grouping {
  without: boolean;
  labels: string[];
}

export type RangeOp =
  | "count_over_time"
  | "rate"
  | "rate_counter"
  | "bytes_over_time"
  | "bytes_rate"
  | "avg_over_time"
  | "sum_over_time"
  | "min_over_time"
  | "max_over_time"
  | "stddev_over_time"
  | "stdvar_over_time"
  | "quantile_over_time"
  | "first_over_time"
  | "last_over_time"
  | "absent_over_time";

export interface Unwrap {
  label: string;
  /** "" plain float; "bytes" humanized sizes; "duration"/"duration_seconds" Go durations → seconds. */
  conversion: "" | "bytes" | "duration" | "duration_seconds";
  postFilters: LabelFilter[];
}

export interface RangeAggregationExpr {
  kind: "range";
  op: RangeOp;
  /** quantile_over_time's φ. */
  param?: number;
  selector: LogSelectorExpr;
  rangeNs: bigint;
  offsetNs: bigint;
  unwrap?: Unwrap;
  grouping?: Grouping;
}

export type VectorOp = "sum" | "avg" | "min" | "max" | "count" | "stddev" | "stdvar" | "topk" | "bottomk" | "sort" | "sort_desc";

export interface VectorAggregationExpr {
  kind: "vector_agg";
  op: VectorOp;
  /** topk/bottomk's k. */
  param?: number;
  inner: SampleExpr;
  grouping: Grouping;
}

export type BinaryOp = "or" | "and" | "unless" | "+" | "-" | "*" | "/" | "%" | "^" | "==" | "!=" | ">" | ">=" | "<" | "<=";

export interface VectorMatching {
  on: boolean;
  labels: string[];
  card: "one-to-one" | "many-to-one" | "one-to-many";
  include: string[];
}

export interface BinOpExpr {
  kind: "binop";
  op: BinaryOp;
  returnBool: boolean;
  matching?: VectorMatching;
  left: SampleExpr;
  right: SampleExpr;
}

export interface LiteralExpr {
  kind: "literal";
  value: number;
}

export interface VectorExpr {
  kind: "vector";
  value: number;
}

export interface LabelReplaceExpr {
  kind: "label_replace";
  inner: SampleExpr;
  dst: string;
  replacement: string;
  src: string;
  regex: string;
}

export type SampleExpr = RangeAggregationExpr | VectorAggregationExpr | BinOpExpr | LiteralExpr | VectorExpr | LabelReplaceExpr;

export type LogQLExpr = LogSelectorExpr | SampleExpr;

export class LogQLParseError extends Error {
  override readonly name = "LogQLParseError";
}

/** A construct the grammar accepts that this implementation does not evaluate (a 400). */
export class LogQLUnsupportedError extends Error {
  override readonly name = "LogQLUnsupportedError";
  constructor(
    readonly construct: string,
    detail?: string,
  ) {
    super(`unsupported LogQL: ${construct}${detail ? ` (${detail})` : ""}`);
  }
}

/** A query that parsed but fails while running, as Loki's pipeline / limit errors (a 400). */
export class LogQLEvalError extends Error {
  override readonly name = "LogQLEvalError";
}
