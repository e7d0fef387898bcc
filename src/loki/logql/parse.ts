// LogQL text → typed syntax tree. The grammar is Grafana's (@grafana/lezer-logql, the one its Loki
// data source uses); this walks its tree. Two things the lezer grammar does differently from Loki's
// yacc grammar are corrected here: binary operator precedence (lezer ranks `+` above `*`) and the
// grouping of `,` in label filters (Loki's yacc gives `,` no precedence: it shifts). Validation
// follows Loki's pkg/logql/syntax (unwrap rules, grouping rules, parameters, selector rules).
import type { SyntaxNode } from "@lezer/common";
import { parser } from "@grafana/lezer-logql";
import {
  LogQLParseError,
  LogQLUnsupportedError,
  type BinaryOp,
  type CompareOp,
  type ExtractionParam,
  type Grouping,
  type LabelFilter,
  type LabelMatcher,
  type LineFilterOp,
  type LineFilterStage,
  type LogQLExpr,
  type LogSelectorExpr,
  type MatchOp,
  type NamedMatcher,
  type RangeAggregationExpr,
  type RangeOp,
  type SampleExpr,
  type Stage,
  type Unwrap,
  type VectorMatching,
  type VectorOp,
} from "./ast.ts";
import { planLogSelector, selectorsOf } from "./plan.ts";
import { compileAnchoredRE2, RE2Error } from "./re2.ts";
import { parseGoDuration, parseGoFloat, parseHumanBytes, parseLogQLDuration } from "./units.ts";

class Ctx {
  constructor(readonly text: string) {}
  str(n: SyntaxNode): string {
    return this.text.slice(n.from, n.to);
  }
  pos(offset: number): { line: number; col: number } {
    const before = this.text.slice(0, offset);
    const line = before.split("\n").length;
    const col = offset - (before.lastIndexOf("\n") + 1) + 1;
    return { line, col };
  }
  error(n: SyntaxNode | number, msg: string): LogQLParseError {
    const off = typeof n === "number" ? n : n.from;
    const { line, col } = this.pos(off);
    return new LogQLParseError(`parse error at line ${line}, col ${col}: ${msg}`);
  }
}

function kids(n: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = n.firstChild; c !== null; c = c.nextSibling) out.push(c);
  return out;
}

function child(n: SyntaxNode, name: string): SyntaxNode | null {
  return n.getChild(name);
}

/** Loki's plain parse error, without a position. */
function plainError(msg: string): LogQLParseError {
  return new LogQLParseError(`parse error : ${msg}`);
}

/** Parses LogQL text into a typed expression. Throws LogQLParseError or LogQLUnsupportedError. */
export function parseLogQL(text: string): LogQLExpr {
  const ctx = new Ctx(text);
  if (text.trim() === "") throw plainError("syntax error: unexpected $end");
  const tree = parser.parse(text);
  let firstError: SyntaxNode | undefined;
  tree.iterate({
    enter: (n) => {
      if (firstError !== undefined) return false;
      if (n.type.isError) {
        firstError = n.node;
        return false;
      }
      return undefined;
    },
  });
  if (firstError !== undefined) throw syntaxError(ctx, firstError);
  const top = tree.topNode;
  const expr = child(top, "Expr");
  if (expr === null) throw ctx.error(0, "syntax error: unexpected input");
  const e = parseExpr(ctx, expr);
  // Compile every pipeline now: bad regexes, templates and unsupported functions fail the parse.
  for (const s of selectorsOf(e)) planLogSelector(s);
  return e;
}

function syntaxError(ctx: Ctx, err: SyntaxNode): LogQLParseError {
  let at = err.from;
  let token = ctx.text.slice(err.from, err.to).trim();
  if (token === "") {
    // An empty error node marks where the parser gave up: name the token found there.
    const rest = ctx.text.slice(at);
    const skipped = rest.length - rest.trimStart().length;
    at += skipped;
    const m =
      /^(?:"(?:[^"\\]|\\.)*"?|`[^`]*`?|[A-Za-z_:][A-Za-z0-9_:]*|[0-9][0-9.]*[A-Za-z]*|\|[=~>]|!=|!~|!>|=~|==|>=|<=|\S)/.exec(
        rest.trimStart(),
      );
    token = m ? m[0] : "";
  }
  if (token === "") return ctx.error(Math.min(at, ctx.text.length), "syntax error: unexpected $end");
  if (token.length > 40) token = token.slice(0, 40) + "…";
  return ctx.error(at, `syntax error: unexpected ${token}`);
}

function parseExpr(ctx: Ctx, n: SyntaxNode): LogQLExpr {
  const c = n.firstChild!;
  if (c.name === "LogExpr") return parseLogExpr(ctx, c);
  if (c.name === "MetricExpr") return parseMetricExpr(ctx, c);
  throw ctx.error(c, `syntax error: unexpected ${ctx.str(c)}`);
}

// ---------------------------------------------------------------------------------------------
// Log selectors and pipelines

function parseLogExpr(ctx: Ctx, n: SyntaxNode): LogSelectorExpr {
  const inner = child(n, "LogExpr");
  if (inner !== null) return parseLogExpr(ctx, inner);
  const sel = child(n, "Selector")!;
  const matchers = parseSelector(ctx, sel);
  const pipe = child(n, "PipelineExpr");
  const stages = pipe === null ? [] : parsePipeline(ctx, pipe);
  return { kind: "log", matchers, stages };
}

function parseSelector(ctx: Ctx, sel: SyntaxNode): LabelMatcher[] {
  const out: LabelMatcher[] = [];
  const walk = (n: SyntaxNode) => {
    for (const c of kids(n)) {
      if (c.name === "Matchers") walk(c);
      else if (c.name === "Matcher") out.push(parseMatcher(ctx, c));
    }
  };
  walk(sel);
  // Loki: at least one matcher must select something (not match the empty value).
  const selective = out.some((m) => {
    if (m.op === "=") return m.value !== "";
    if (m.op === "=~") return !compileAnchoredRE2(m.value).test("");
    return false;
  });
  if (!selective) {
    throw plainError(
      'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will',
    );
  }
  return out;
}

function matchOp(name: string): MatchOp | undefined {
  switch (name) {
    case "Eq":
      return "=";
    case "Neq":
      return "!=";
    case "Re":
      return "=~";
    case "Nre":
      return "!~";
  }
  return undefined;
}

function parseMatcher(ctx: Ctx, n: SyntaxNode): LabelMatcher {
  const [id, opNode, valueNode] = kids(n);
  const op = matchOp(opNode!.name)!;
  const value = parseString(ctx, valueNode!);
  const m: LabelMatcher = { name: ctx.str(id!), op, value };
  if (op === "=~" || op === "!~") {
    try {
      compileAnchoredRE2(value);
    } catch (error) {
      if (error instanceof RE2Error) throw ctx.error(valueNode!, error.message);
      throw error;
    }
  }
  return m;
}

/** A Go string literal: "..." with Go's escapes, or a raw `...`. */
function parseString(ctx: Ctx, n: SyntaxNode): string {
  const s = ctx.str(n);
  if (s.startsWith("`")) return s.slice(1, -1);
  try {
    return unquoteGo(s);
  } catch (error) {
    throw ctx.error(n, (error as Error).message);
  }
}

export function unquoteGo(s: string): string {
  const body = s.slice(1, -1);
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case "n":
        out += "\n";
        break;
      case "t":
        out += "\t";
        break;
      case "r":
        out += "\r";
        break;
      case "a":
        out += "\x07";
        break;
      case "b":
        out += "\b";
        break;
      case "f":
        out += "\f";
        break;
      case "v":
        out += "\v";
        break;
      case "\\":
        out += "\\";
        break;
      case '"':
        out += '"';
        break;
      case "'":
        out += "'";
        break;
      case "x": {
        const h = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new Error("invalid syntax");
        out += String.fromCharCode(Number.parseInt(h, 16));
        i += 2;
        break;
      }
      case "u":
      case "U": {
        const len = e === "u" ? 4 : 8;
        const h = body.slice(i + 1, i + 1 + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) throw new Error("invalid syntax");
        out += String.fromCodePoint(Number.parseInt(h, 16));
        i += len;
        break;
      }
      default:
        if (e !== undefined && /[0-7]/.test(e)) {
          const o = body.slice(i, i + 3);
          if (!/^[0-7]{3}$/.test(o)) throw new Error("invalid syntax");
          out += String.fromCharCode(Number.parseInt(o, 8));
          i += 2;
          break;
        }
        throw new Error("invalid syntax");
    }
  }
  return out;
}

function parsePipeline(ctx: Ctx, n: SyntaxNode): Stage[] {
  const stages: Stage[] = [];
  const walk = (p: SyntaxNode) => {
    for (const c of kids(p)) {
      if (c.name === "PipelineExpr") walk(c);
      else if (c.name === "PipelineStage") stages.push(...parseStage(ctx, c));
    }
  };
  walk(n);
  return stages;
}

const FILTER_OPS: Record<string, LineFilterOp> = {
  PipeExact: "|=",
  Neq: "!=",
  PipeMatch: "|~",
  Nre: "!~",
  PipePattern: "|>",
  Npa: "!>",
};

function parseStage(ctx: Ctx, n: SyntaxNode): Stage[] {
  const lf = child(n, "LineFilters");
  if (lf !== null) return parseLineFilters(ctx, lf);
  const body = kids(n).find((c) => c.name !== "Pipe")!;
  switch (body.name) {
    case "LogfmtParser": {
      const flags = parseFlags(ctx, body);
      return [{ kind: "logfmt", ...flags }];
    }
    case "LogfmtExpressionParser": {
      const flags = parseFlags(ctx, body);
      const params = parseExtractionParams(ctx, child(body, "LabelExtractionExpressionList")!);
      return [{ kind: "logfmt", ...flags, params }];
    }
    case "JsonExpressionParser": {
      const params = parseExtractionParams(ctx, child(body, "LabelExtractionExpressionList")!);
      return [{ kind: "json", params }];
    }
    case "LabelParser": {
      const k = body.firstChild!;
      const s = child(body, "String");
      switch (k.name) {
        case "Json":
          return [{ kind: "json" }];
        case "Unpack":
          return [{ kind: "unpack" }];
        case "Regexp":
          return [{ kind: "regexp", pattern: parseString(ctx, s!) }];
        case "Pattern":
          return [{ kind: "pattern", pattern: parseString(ctx, s!) }];
      }
      throw new LogQLUnsupportedError(ctx.str(k));
    }
    case "LabelFilter":
      return [{ kind: "label_filter", filter: parseLabelFilter(ctx, body) }];
    case "LineFormatExpr":
      return [{ kind: "line_format", template: parseString(ctx, child(body, "String")!) }];
    case "LabelFormatExpr": {
      const items: { dst: string; src?: string; template?: string }[] = [];
      const walk = (p: SyntaxNode) => {
        for (const c of kids(p)) {
          if (c.name === "LabelsFormat") walk(c);
          else if (c.name === "LabelFormatMatcher") {
            const [dst, , value] = kids(c);
            if (value!.name === "Identifier") items.push({ dst: ctx.str(dst!), src: ctx.str(value!) });
            else items.push({ dst: ctx.str(dst!), template: parseString(ctx, value!) });
          }
        }
      };
      walk(child(body, "LabelsFormat")!);
      const seen = new Set<string>();
      for (const it of items) {
        if (it.dst === "__error__") throw plainError(`stage 'label_format' : __error__ cannot be formatted`);
        if (seen.has(it.dst)) {
          throw plainError(`stage 'label_format' : multiple label name '${it.dst}' not allowed in a single format operation`);
        }
        seen.add(it.dst);
      }
      return [{ kind: "label_format", items }];
    }
    case "DecolorizeExpr":
      return [{ kind: "decolorize" }];
    case "DropLabelsExpr":
      return [{ kind: "drop", items: parseNamedMatchers(ctx, child(body, "DropLabels")!, "DropLabels", "DropLabel") }];
    case "KeepLabelsExpr":
      return [{ kind: "keep", items: parseNamedMatchers(ctx, child(body, "KeepLabels")!, "KeepLabels", "KeepLabel") }];
  }
  throw new LogQLUnsupportedError(`pipeline stage "${ctx.str(n).trim()}"`);
}

function parseFlags(ctx: Ctx, n: SyntaxNode): { strict: boolean; keepEmpty: boolean } {
  let strict = false;
  let keepEmpty = false;
  const walk = (p: SyntaxNode) => {
    for (const c of kids(p)) {
      if (c.name === "LogfmtParserFlags") walk(c);
      else if (c.name === "ParserFlag") {
        if (ctx.str(c) === "--strict") strict = true;
        else keepEmpty = true;
      }
    }
  };
  walk(n);
  return { strict, keepEmpty };
}

function parseExtractionParams(ctx: Ctx, n: SyntaxNode): ExtractionParam[] {
  const out: ExtractionParam[] = [];
  const walk = (p: SyntaxNode) => {
    for (const c of kids(p)) {
      if (c.name === "LabelExtractionExpressionList") walk(c);
      else if (c.name === "LabelExtractionExpression") {
        const id = ctx.str(c.getChild("Identifier")!);
        const s = c.getChild("String");
        out.push({ name: id, expr: s === null ? id : parseString(ctx, s) });
      }
    }
  };
  walk(n);
  return out;
}

function parseNamedMatchers(ctx: Ctx, n: SyntaxNode, listName: string, itemName: string): NamedMatcher[] {
  const out: NamedMatcher[] = [];
  const walk = (p: SyntaxNode) => {
    for (const c of kids(p)) {
      if (c.name === listName) walk(c);
      else if (c.name === itemName) {
        const m = c.getChild("Matcher");
        if (m !== null) {
          const matcher = parseMatcher(ctx, m);
          out.push({ name: matcher.name, matcher });
        } else out.push({ name: ctx.str(c.getChild("Identifier")!) });
      }
    }
  };
  walk(n);
  return out;
}

function parseLineFilters(ctx: Ctx, n: SyntaxNode): LineFilterStage[] {
  const out: LineFilterStage[] = [];
  const orValues = (o: SyntaxNode, into: string[]) => {
    for (const c of kids(o)) {
      if (c.name === "String") into.push(parseString(ctx, c));
      else if (c.name === "FilterOp") throw new LogQLUnsupportedError("ip() line filter");
      else if (c.name === "OrFilter") orValues(c, into);
    }
  };
  const walk = (p: SyntaxNode) => {
    for (const c of kids(p)) {
      if (c.name === "LineFilters") walk(c);
      else if (c.name === "LineFilter") {
        const op = FILTER_OPS[child(c, "Filter")!.firstChild!.name]!;
        if (child(c, "FilterOp") !== null) throw new LogQLUnsupportedError("ip() line filter");
        const values: string[] = [];
        for (const x of kids(c)) {
          if (x.name === "String") values.push(parseString(ctx, x));
          else if (x.name === "OrFilter") orValues(x, values);
        }
        out.push({ kind: "line_filter", op, values });
      } else if (c.name === "OrFilter") {
        const last = out[out.length - 1];
        if (last === undefined) throw ctx.error(c, "syntax error: unexpected or");
        orValues(c, last.values);
      }
    }
  };
  walk(n);
  return out;
}

const COMPARE_OPS: Record<string, CompareOp> = {
  Gtr: ">",
  Gte: ">=",
  Lss: "<",
  Lte: "<=",
  Neq: "!=",
  Eq: "==",
  Eql: "==",
};

type LFOp = "and" | "," | "or";

/** A label filter expression, grouped as Loki's yacc grammar groups it. */
function parseLabelFilter(ctx: Ctx, n: SyntaxNode): LabelFilter {
  const operands: LabelFilter[] = [];
  const ops: LFOp[] = [];
  const flatten = (p: SyntaxNode) => {
    const cs = kids(p);
    const subs = cs.filter((c) => c.name === "LabelFilter");
    if (subs.length === 2) {
      flatten(subs[0]!);
      ops.push(cs.some((c) => c.name === "Or") ? "or" : cs.some((c) => c.name === "And") ? "and" : ",");
      flatten(subs[1]!);
      return;
    }
    operands.push(parseLabelFilterAtom(ctx, p));
  };
  flatten(n);
  // yacc: reduce `L op1 R` before op2 only when both have a precedence and op1's is >= op2's;
  // otherwise shift. `and` binds tighter than `or`; `,` has none.
  const prec = (op: LFOp) => (op === "or" ? 1 : op === "and" ? 2 : undefined);
  const build = (op: LFOp, left: LabelFilter, right: LabelFilter): LabelFilter => ({
    kind: op === "or" ? "or" : "and",
    left,
    right,
  });
  return reduceInfix(
    operands,
    ops,
    (a, b) => {
      const pa = prec(a);
      const pb = prec(b);
      return pa !== undefined && pb !== undefined && pa >= pb;
    },
    build,
  );
}

/** Operator-precedence reduction of `o0 op0 o1 op1 o2 ...`. */
function reduceInfix<T, O>(
  operands: T[],
  ops: O[],
  reduceFirst: (stacked: O, incoming: O) => boolean,
  build: (op: O, l: T, r: T) => T,
): T {
  const vals: T[] = [operands[0]!];
  const stack: O[] = [];
  const reduce = () => {
    const op = stack.pop()!;
    const r = vals.pop()!;
    const l = vals.pop()!;
    vals.push(build(op, l, r));
  };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    while (stack.length > 0 && reduceFirst(stack[stack.length - 1]!, op)) reduce();
    stack.push(op);
    vals.push(operands[i + 1]!);
  }
  while (stack.length > 0) reduce();
  return vals[0]!;
}

function parseLabelFilterAtom(ctx: Ctx, n: SyntaxNode): LabelFilter {
  const c = n.firstChild!;
  switch (c.name) {
    case "LabelFilter":
      return parseLabelFilter(ctx, c);
    case "Matcher":
      return { kind: "string", matcher: parseMatcher(ctx, c) };
    case "IpLabelFilter":
      throw new LogQLUnsupportedError("ip() label filter");
    case "UnitFilter": {
      const f = c.firstChild!;
      const [id, opNode, value] = kids(f);
      const op = COMPARE_OPS[opNode!.name]!;
      const name = ctx.str(id!);
      if (f.name === "DurationFilter") {
        let ns: number;
        try {
          ns = parseGoDuration(ctx.str(value!));
        } catch {
          ns = Number(parseLogQLDuration(ctx.str(value!)));
        }
        return { kind: "duration", name, op, value: ns };
      }
      return { kind: "bytes", name, op, value: parseHumanBytes(ctx.str(value!)) };
    }
    case "NumberFilter": {
      const [id, opNode, lit] = kids(c);
      return { kind: "number", name: ctx.str(id!), op: COMPARE_OPS[opNode!.name]!, value: parseLiteral(ctx, lit!) };
    }
  }
  throw new LogQLUnsupportedError(`label filter "${ctx.str(n)}"`);
}

function parseLiteral(ctx: Ctx, n: SyntaxNode): number {
  const num = child(n, "Number")!;
  let v: number;
  try {
    v = parseGoFloat(ctx.str(num));
  } catch (error) {
    throw ctx.error(num, `unable to parse literal as a float: ${(error as Error).message}`);
  }
  return child(n, "Sub") !== null ? -v : v;
}

// ---------------------------------------------------------------------------------------------
// Metric expressions

const RANGE_OPS: Record<string, RangeOp> = {
  CountOverTime: "count_over_time",
  Rate: "rate",
  RateCounter: "rate_counter",
  BytesOverTime: "bytes_over_time",
  BytesRate: "bytes_rate",
  AvgOverTime: "avg_over_time",
  SumOverTime: "sum_over_time",
  MinOverTime: "min_over_time",
  MaxOverTime: "max_over_time",
  StddevOverTime: "stddev_over_time",
  StdvarOverTime: "stdvar_over_time",
  QuantileOverTime: "quantile_over_time",
  FirstOverTime: "first_over_time",
  LastOverTime: "last_over_time",
  AbsentOverTime: "absent_over_time",
};

const VECTOR_OPS: Record<string, VectorOp> = {
  Sum: "sum",
  Avg: "avg",
  Count: "count",
  Max: "max",
  Min: "min",
  Stddev: "stddev",
  Stdvar: "stdvar",
  Bottomk: "bottomk",
  Topk: "topk",
  Sort: "sort",
  Sort_Desc: "sort_desc",
};

const BIN_OPS: Record<string, BinaryOp> = {
  Or: "or",
  And: "and",
  Unless: "unless",
  Add: "+",
  Sub: "-",
  Mul: "*",
  Div: "/",
  Mod: "%",
  Pow: "^",
  Eql: "==",
  Neq: "!=",
  Gtr: ">",
  Gte: ">=",
  Lss: "<",
  Lte: "<=",
};

const BIN_PREC: Record<BinaryOp, number> = {
  or: 1,
  and: 2,
  unless: 2,
  "==": 3,
  "!=": 3,
  ">": 3,
  ">=": 3,
  "<": 3,
  "<=": 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
  "^": 6,
};

const COMPARISONS = new Set<BinaryOp>(["==", "!=", ">", ">=", "<", "<="]);
const SET_OPS = new Set<BinaryOp>(["and", "or", "unless"]);

function parseMetricExpr(ctx: Ctx, n: SyntaxNode): SampleExpr {
  const c = n.firstChild!;
  switch (c.name) {
    case "MetricExpr":
      return parseMetricExpr(ctx, c);
    case "RangeAggregationExpr":
      return parseRangeAggregation(ctx, c);
    case "VectorAggregationExpr":
      return parseVectorAggregation(ctx, c);
    case "BinOpExpr":
      return parseBinOp(ctx, c);
    case "LiteralExpr":
      return { kind: "literal", value: parseLiteral(ctx, c) };
    case "VectorExpr": {
      const num = child(c, "Number")!;
      return { kind: "vector", value: parseGoFloat(ctx.str(num)) };
    }
    case "LabelReplaceExpr": {
      const inner = parseMetricExpr(ctx, child(c, "MetricExpr")!);
      const [dst, replacement, src, regex] = c.getChildren("String").map((s) => parseString(ctx, s));
      try {
        compileAnchoredRE2(regex!);
      } catch (error) {
        throw plainError(`invalid regex in label_replace: ${(error as Error).message}`);
      }
      return { kind: "label_replace", inner, dst: dst!, replacement: replacement!, src: src!, regex: regex! };
    }
    case "LabelAggregationExpr":
      throw new LogQLUnsupportedError("approx_count_distinct");
  }
  throw new LogQLUnsupportedError(`"${ctx.str(c)}"`);
}

function parseGrouping(ctx: Ctx, n: SyntaxNode): Grouping {
  const labels: string[] = [];
  const walk = (p: SyntaxNode) => {
    for (const c of kids(p)) {
      if (c.name === "Labels") walk(c);
      else if (c.name === "Identifier") labels.push(ctx.str(c));
    }
  };
  const l = child(n, "Labels");
  if (l !== null) walk(l);
  return { without: child(n, "Without") !== null, labels };
}

function parseRangeAggregation(ctx: Ctx, n: SyntaxNode): RangeAggregationExpr {
  const opNode = child(n, "RangeOp")!.firstChild!;
  const op = RANGE_OPS[opNode.name];
  if (op === undefined) throw new LogQLUnsupportedError(ctx.str(opNode));
  const numNode = child(n, "Number");
  const groupNode = child(n, "Grouping");
  const grouping = groupNode === null ? undefined : parseGrouping(ctx, groupNode);

  let matchers: LabelMatcher[] | undefined;
  const stages: Stage[] = [];
  let rangeNs: bigint | undefined;
  let offsetNs = 0n;
  let unwrap: Unwrap | undefined;
  const walk = (p: SyntaxNode) => {
    for (const c of kids(p)) {
      switch (c.name) {
        case "LogRangeExpr":
          walk(c);
          break;
        case "Selector":
          matchers = parseSelector(ctx, c);
          break;
        case "PipelineExpr":
          stages.push(...parsePipeline(ctx, c));
          break;
        case "Range":
          rangeNs = parseDurationNode(ctx, child(c, "Duration")!);
          break;
        case "OffsetExpr":
          offsetNs = parseDurationNode(ctx, child(c, "Duration")!);
          break;
        case "UnwrapExpr":
          unwrap = parseUnwrap(ctx, c);
          break;
      }
    }
  };
  walk(child(n, "LogRangeExpr")!);
  if (matchers === undefined || rangeNs === undefined)
    throw ctx.error(n, "syntax error: a range aggregation needs a selector and a range");
  const e: RangeAggregationExpr = {
    kind: "range",
    op,
    selector: { kind: "log", matchers, stages },
    rangeNs,
    offsetNs,
  };
  if (unwrap !== undefined) e.unwrap = unwrap;
  if (grouping !== undefined) e.grouping = grouping;
  if (numNode !== null) {
    const p = ctx.str(numNode);
    if (op !== "quantile_over_time") throw plainError(`parameter ${p} not supported for operation ${op}`);
    e.param = parseGoFloat(p);
  } else if (op === "quantile_over_time") {
    throw plainError(`parameter required for operation ${op}`);
  }
  validateRange(e);
  return e;
}

function parseDurationNode(ctx: Ctx, n: SyntaxNode): bigint {
  try {
    return parseLogQLDuration(ctx.str(n));
  } catch (error) {
    throw ctx.error(n, (error as Error).message);
  }
}

function parseUnwrap(ctx: Ctx, n: SyntaxNode): Unwrap {
  const inner = child(n, "UnwrapExpr");
  if (inner !== null) {
    const u = parseUnwrap(ctx, inner);
    u.postFilters.push(parseLabelFilter(ctx, child(n, "LabelFilter")!));
    return u;
  }
  const conv = child(n, "ConvOp");
  let conversion: Unwrap["conversion"] = "";
  if (conv !== null) {
    const name = conv.firstChild!.name;
    conversion = name === "BytesConv" ? "bytes" : name === "DurationConv" ? "duration" : "duration_seconds";
  }
  return { label: ctx.str(child(n, "Identifier")!), conversion, postFilters: [] };
}

/** Loki's RangeAggregationExpr.validate. */
function validateRange(e: RangeAggregationExpr): void {
  if (e.grouping !== undefined) {
    const allowed = [
      "avg_over_time",
      "stddev_over_time",
      "stdvar_over_time",
      "quantile_over_time",
      "max_over_time",
      "min_over_time",
      "first_over_time",
      "last_over_time",
    ];
    if (!allowed.includes(e.op)) throw plainError(`grouping not allowed for ${e.op} aggregation`);
  }
  if (e.unwrap !== undefined) {
    const allowed = [
      "avg_over_time",
      "sum_over_time",
      "max_over_time",
      "min_over_time",
      "stddev_over_time",
      "stdvar_over_time",
      "quantile_over_time",
      "rate",
      "rate_counter",
      "absent_over_time",
      "first_over_time",
      "last_over_time",
    ];
    if (!allowed.includes(e.op)) throw plainError(`invalid aggregation ${e.op} with unwrap`);
    return;
  }
  if (!["bytes_over_time", "bytes_rate", "count_over_time", "rate", "absent_over_time"].includes(e.op)) {
    throw plainError(`invalid aggregation ${e.op} without unwrap`);
  }
}

function parseVectorAggregation(ctx: Ctx, n: SyntaxNode): SampleExpr {
  const opNode = child(n, "VectorOp")!.firstChild!;
  const op = VECTOR_OPS[opNode.name];
  if (op === undefined) throw new LogQLUnsupportedError(ctx.str(opNode));
  const groupNode = child(n, "Grouping");
  const grouping = groupNode === null ? { without: false, labels: [] } : parseGrouping(ctx, groupNode);
  const numNode = child(n, "Number");
  const inner = parseMetricExpr(ctx, child(n, "MetricExpr")!);
  let param: number | undefined;
  if (op === "topk" || op === "bottomk") {
    if (numNode === null) throw plainError(`parameter required for operation ${op}`);
    const p = ctx.str(numNode);
    if (!/^[+-]?[0-9]+$/.test(p)) throw plainError(`invalid parameter ${op}(${p},`);
    param = Number(p);
    if (param <= 0) throw plainError(`invalid parameter (must be greater than 0) ${op}(${p}`);
  } else if (numNode !== null) {
    throw plainError(`unsupported parameter for operation ${op}(${ctx.str(numNode)},`);
  }
  if (inner.kind === "literal") throw plainError(`unexpected literal for right leg of vector aggregation`);
  const e: SampleExpr = { kind: "vector_agg", op, inner, grouping };
  if (param !== undefined) e.param = param;
  return e;
}

interface BinOpInfo {
  op: BinaryOp;
  returnBool: boolean;
  matching?: VectorMatching;
  node: SyntaxNode;
}

function parseBinOp(ctx: Ctx, n: SyntaxNode): SampleExpr {
  const operands: SampleExpr[] = [];
  const ops: BinOpInfo[] = [];
  const operand = (exprNode: SyntaxNode) => {
    const c = exprNode.firstChild!;
    if (c.name === "LogExpr")
      throw ctx.error(c, "unexpected type for binary operation: a log query cannot be a leg of a binary operation");
    const inner = c.firstChild!;
    if (inner.name === "BinOpExpr") flatten(inner);
    else operands.push(parseMetricExpr(ctx, c));
  };
  const flatten = (b: SyntaxNode) => {
    const cs = kids(b);
    const exprs = cs.filter((c) => c.name === "Expr");
    const opNode = cs.find((c) => BIN_OPS[c.name] !== undefined)!;
    operand(exprs[0]!);
    ops.push({ ...parseModifier(ctx, child(b, "BinOpModifier")), op: BIN_OPS[opNode.name]!, node: opNode });
    operand(exprs[1]!);
  };
  flatten(n);
  return reduceInfix(
    operands,
    ops,
    (stacked, incoming) => {
      const a = BIN_PREC[stacked.op];
      const b = BIN_PREC[incoming.op];
      return stacked.op === "^" && incoming.op === "^" ? false : a >= b;
    },
    (info, left, right) => makeBinOp(ctx, info, left, right),
  );
}

function parseModifier(ctx: Ctx, n: SyntaxNode | null): { returnBool: boolean; matching?: VectorMatching } {
  if (n === null) return { returnBool: false };
  const returnBool = child(n, "Bool") !== null;
  const onOr = child(n, "OnOrIgnoringModifier");
  if (onOr === null) return { returnBool };
  const labelsOf = (g: SyntaxNode | null): string[] => {
    if (g === null) return [];
    const out: string[] = [];
    const walk = (p: SyntaxNode) => {
      for (const c of kids(p)) {
        if (c.name === "LabelName") out.push(ctx.str(c));
        else walk(c);
      }
    };
    walk(g);
    return out;
  };
  const matching: VectorMatching = {
    on: child(onOr, "On") !== null,
    labels: labelsOf(child(onOr, "GroupingLabels")),
    card: child(n, "GroupLeft") !== null ? "many-to-one" : child(n, "GroupRight") !== null ? "one-to-many" : "one-to-one",
    include: labelsOf(child(n, "GroupingLabels")),
  };
  return { returnBool, matching };
}

function makeBinOp(ctx: Ctx, info: BinOpInfo, left: SampleExpr, right: SampleExpr): SampleExpr {
  const { op, returnBool } = info;
  if (returnBool && !COMPARISONS.has(op)) throw ctx.error(info.node, "bool modifier can only be used on comparison operators");
  if (SET_OPS.has(op)) {
    if (left.kind === "literal")
      throw plainError(`unexpected literal for left leg of logical/set binary operation (${op}): ${left.value.toFixed(6)}`);
    if (right.kind === "literal")
      throw plainError(`unexpected literal for right leg of logical/set binary operation (${op}): ${right.value.toFixed(6)}`);
  }
  if (left.kind === "literal" && right.kind === "literal") {
    // Loki reduces `1 + 1` to a literal at parse time (comparisons give 0 or 1).
    return { kind: "literal", value: scalarBinOp(op, left.value, right.value) };
  }
  const e: SampleExpr = { kind: "binop", op, returnBool, left, right };
  if (info.matching !== undefined) e.matching = info.matching;
  return e;
}

/** The arithmetic and comparison of two numbers, as Loki's MergeBinOp without filtering. */
export function scalarBinOp(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return b === 0 ? Number.NaN : a / b;
    case "%":
      return b === 0 ? Number.NaN : goMod(a, b);
    case "^":
      return Math.pow(a, b);
    case "==":
      return a === b ? 1 : 0;
    case "!=":
      return a !== b ? 1 : 0;
    case ">":
      return a > b ? 1 : 0;
    case ">=":
      return a >= b ? 1 : 0;
    case "<":
      return a < b ? 1 : 0;
    case "<=":
      return a <= b ? 1 : 0;
  }
  throw new LogQLUnsupportedError(`operator ${op} between scalars`);
}

/** Go's math.Mod: the sign of the result follows the dividend (as JavaScript's %). */
function goMod(a: number, b: number): number {
  return a % b;
}
