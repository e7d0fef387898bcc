// The per-line pipeline of a log selector, after Loki's pkg/logql/log: line filters, parsers,
// label filters, formatters, drop/keep, with Loki's label categories (stream labels, structured
// metadata, parsed labels), collision rule (a parsed or metadata label named like a stream label
// is renamed `<name>_extracted`), "first parser wins" per line, and the `__error__` /
// `__error_details__` labels (JSONParserErr, LogfmtParserErr, LabelFilterErr, TemplateFormatErr,
// SampleExtractionErr).
import {
  LogQLParseError,
  LogQLUnsupportedError,
  type CompareOp,
  type LabelFilter,
  type LabelMatcher,
  type LineFilterStage,
  type NamedMatcher,
  type Stage,
} from "./ast.ts";
import {
  jsonGet,
  jsonLabelValue,
  LogfmtDecoder,
  objectEach,
  parseJSONPath,
  PatternError,
  PatternMatcher,
  unescapeJSON,
} from "./formats.ts";
import { compileAnchoredRE2, compileRE2, RE2Error, translateRE2 } from "./re2.ts";
import { compileTemplate, TemplateError } from "./template.ts";
import { parseGoDuration, parseGoFloat, parseHumanBytes } from "./units.ts";

export const ERROR_LABEL = "__error__";
export const ERROR_DETAILS_LABEL = "__error_details__";
export const PRESERVE_ERROR_LABEL = "__preserve_error__";
export const ERR_JSON = "JSONParserErr";
export const ERR_LOGFMT = "LogfmtParserErr";
export const ERR_LABEL_FILTER = "LabelFilterErr";
export const ERR_TEMPLATE = "TemplateFormatErr";
export const ERR_SAMPLE_EXTRACTION = "SampleExtractionErr";
const DUPLICATE_SUFFIX = "_extracted";

/** The labels of one line as the pipeline changes them (Loki's LabelsBuilder). */
export class LabelsBuilder {
  base: Record<string, string> = {};
  metadata = new Map<string, string>();
  parsed = new Map<string, string>();
  deleted = new Set<string>();
  /** Parsed labels set on this line: later parsers leave them alone. */
  extracted = new Set<string>();
  err = "";
  errDetails = "";

  reset(base: Record<string, string>, metadata: Record<string, string> | undefined): void {
    this.base = base;
    if (this.metadata.size > 0) this.metadata.clear();
    if (this.parsed.size > 0) this.parsed.clear();
    if (this.deleted.size > 0) this.deleted.clear();
    if (this.extracted.size > 0) this.extracted.clear();
    this.err = "";
    this.errDetails = "";
    if (metadata !== undefined) {
      for (const name in metadata) {
        const value = metadata[name]!;
        if (name === ERROR_LABEL) this.err = value;
        else if (name === ERROR_DETAILS_LABEL) this.errDetails = value;
        else this.metadata.set(this.baseHas(name) ? name + DUPLICATE_SUFFIX : name, value);
      }
    }
  }

  baseHas(name: string): boolean {
    return Object.hasOwn(this.base, name);
  }

  /** Whether a parser must rename `name` (it names a stream label or a metadata label). */
  collides(name: string): boolean {
    return this.baseHas(name) || this.metadata.has(name);
  }

  get(name: string): string | undefined {
    const p = this.parsed.get(name);
    if (p !== undefined) return p;
    const m = this.metadata.get(name);
    if (m !== undefined) return m;
    if (this.deleted.has(name)) return undefined;
    const b = this.base[name];
    return b !== undefined && b !== "" && Object.hasOwn(this.base, name) ? b : undefined;
  }

  /** A value for label filters: `__error__` reads the error; absent labels are "". */
  filterValue(name: string): string {
    if (name === ERROR_LABEL) return this.err;
    return this.get(name) ?? "";
  }

  setParsed(name: string, value: string): void {
    this.metadata.delete(name);
    this.parsed.set(name, value);
    this.extracted.add(name);
  }

  del(name: string): void {
    this.metadata.delete(name);
    this.parsed.delete(name);
    this.deleted.add(name);
  }

  setErr(err: string, details?: string): void {
    this.err = err;
    if (details !== undefined) this.errDetails = details;
  }

  hasChanges(): boolean {
    return this.parsed.size > 0 || this.metadata.size > 0 || this.deleted.size > 0 || this.err !== "" || this.errDetails !== "";
  }

  /** All labels of the line (Loki's LabelsResult), error labels included; unsorted. */
  labels(): Record<string, string> {
    if (!this.hasChanges()) return this.base;
    const out: Record<string, string> = {};
    for (const name in this.base) {
      if (this.deleted.has(name) || this.metadata.has(name) || this.parsed.has(name)) continue;
      out[name] = this.base[name]!;
    }
    for (const [k, v] of this.metadata) if (!this.parsed.has(k)) out[k] = v;
    for (const [k, v] of this.parsed) out[k] = v;
    if (this.err !== "") out[ERROR_LABEL] = this.err;
    if (this.errDetails !== "") out[ERROR_DETAILS_LABEL] = this.errDetails;
    return out;
  }

  /**
   * The labels a metric sample carries (Loki's GroupedLabels): a line with an error keeps all its
   * labels (so the error is seen); otherwise only the `by` labels, or all but the `without` ones.
   */
  grouped(g: SampleGrouping | undefined): Record<string, string> {
    if (this.err !== "") return this.labels();
    if (g === undefined) return this.labels();
    if (g.noLabels) return {};
    if (g.labels.length === 0) return this.labels();
    if (g.without) {
      const all = this.labels();
      const out: Record<string, string> = {};
      for (const k in all) if (!g.labels.includes(k)) out[k] = all[k]!;
      return out;
    }
    const out: Record<string, string> = {};
    for (const name of g.labels) {
      const p = this.parsed.get(name) ?? this.metadata.get(name);
      if (p !== undefined) {
        out[name] = p;
        continue;
      }
      if (this.deleted.has(name)) continue;
      const b = this.base[name];
      if (b !== undefined && b !== "") out[name] = b;
    }
    return out;
  }
}

export interface SampleGrouping {
  without: boolean;
  labels: string[];
  noLabels: boolean;
}

/** A stage: the (possibly changed) line, or null when the line is filtered out. */
type StageFn = (line: string, tsNs: bigint, lb: LabelsBuilder) => string | null;

export interface PipelineResult {
  line: string;
  labels: Record<string, string>;
}

/** A compiled pipeline: run it on each line of a stream. */
export interface Pipeline {
  /** No stage at all: lines and labels pass unchanged (plus structured metadata). */
  readonly noop: boolean;
  /** The line and its final labels (Loki's), or null when a stage filtered it out. */
  process(line: string, tsNs: bigint, labels: Record<string, string>, metadata?: Record<string, string>): PipelineResult | null;
  /** Runs the stages; the builder holds the line's labels until the next call. */
  run(
    line: string,
    tsNs: bigint,
    labels: Record<string, string>,
    metadata?: Record<string, string>,
  ): { line: string; lb: LabelsBuilder } | null;
}

function stageError(stage: string, error: unknown): LogQLParseError {
  return new LogQLParseError(`parse error : stage '${stage}' : ${(error as Error).message}`);
}

function matcherTest(m: LabelMatcher): (v: string) => boolean {
  switch (m.op) {
    case "=":
      return (v) => v === m.value;
    case "!=":
      return (v) => v !== m.value;
    case "=~": {
      const re = compileAnchoredRE2(m.value);
      return (v) => re.test(v);
    }
    case "!~": {
      const re = compileAnchoredRE2(m.value);
      return (v) => !re.test(v);
    }
  }
}

export function compileLineFilter(f: LineFilterStage): (line: string) => boolean {
  const values = f.values;
  const negative = f.op === "!=" || f.op === "!~" || f.op === "!>";
  let tests: ((line: string) => boolean)[];
  try {
    if (f.op === "|=" || f.op === "!=") tests = values.map((v) => (line: string) => line.includes(v));
    else if (f.op === "|~" || f.op === "!~")
      tests = values.map((v) => {
        const re = compileRE2(v);
        return (line: string) => re.test(line);
      });
    else
      tests = values.map((v) => {
        const m = PatternMatcher.lineFilter(v);
        return (line: string) => m.test(line);
      });
  } catch (error) {
    if (error instanceof RE2Error || error instanceof PatternError)
      throw stageError(`${f.op} ${JSON.stringify(values[0])}`, error);
    throw error;
  }
  if (tests.length === 1) {
    const t = tests[0]!;
    return negative ? (line) => !t(line) : t;
  }
  return negative ? (line) => !tests.some((t) => t(line)) : (line) => tests.some((t) => t(line));
}

function compare(op: CompareOp, a: number, b: number): boolean {
  switch (op) {
    case "==":
      return a === b;
    case "!=":
      return a !== b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
  }
}

/** A label filter: true to keep the line (it may set LabelFilterErr and keep it). */
export function compileLabelFilter(f: LabelFilter): (lb: LabelsBuilder) => boolean {
  switch (f.kind) {
    case "and": {
      const l = compileLabelFilter(f.left);
      const r = compileLabelFilter(f.right);
      return (lb) => {
        const a = l(lb);
        const b = r(lb);
        return a && b;
      };
    }
    case "or": {
      const l = compileLabelFilter(f.left);
      const r = compileLabelFilter(f.right);
      return (lb) => l(lb) || r(lb);
    }
    case "string": {
      const test = matcherTest(f.matcher);
      const name = f.matcher.name;
      return (lb) => test(lb.filterValue(name));
    }
    case "number":
    case "duration":
    case "bytes": {
      const convert = f.kind === "number" ? parseGoFloat : f.kind === "duration" ? parseGoDuration : parseHumanBytes;
      return (lb) => {
        const v = lb.get(f.name);
        if (v === undefined) return false;
        let n: number;
        try {
          n = convert(v);
        } catch (error) {
          if (lb.err === "") lb.setErr(ERR_LABEL_FILTER, (error as Error).message);
          return true;
        }
        return compare(f.op, n, f.value);
      };
    }
  }
}

function sanitizeLabelKey(key: string, isPrefix: boolean): string {
  key = key.trim();
  if (key === "") return key;
  if (isPrefix && key[0]! >= "0" && key[0]! <= "9") key = "_" + key;
  return key.replace(/[^a-zA-Z0-9_]/gu, "_");
}

function jsonParser(): StageFn {
  const walk = (line: string, start: number, prefix: string[], lb: LabelsBuilder) => {
    objectEach(
      line,
      (key, v) => {
        if (v.kind === "object") {
          const begin = v.end - v.raw.length;
          walk(line, begin, [...prefix, key], lb);
          return;
        }
        if (v.kind !== "string" && v.kind !== "number" && v.kind !== "boolean") return;
        let name: string;
        if (prefix.length === 0) {
          name = sanitizeLabelKey(key, true);
          if (name === "") return;
          if (lb.collides(name)) name += DUPLICATE_SUFFIX;
        } else {
          const parts = [...prefix, key];
          name = joinSanitized(parts);
          if (lb.collides(name)) name = joinSanitized([...prefix, key + DUPLICATE_SUFFIX]);
        }
        if (lb.extracted.has(name)) return;
        lb.setParsed(name, jsonLabelValue(v));
      },
      start,
    );
  };
  return (line, _ts, lb) => {
    try {
      walk(line, 0, [], lb);
    } catch (error) {
      lb.setErr(ERR_JSON, (error as Error).message);
    }
    return line;
  };
}

function joinSanitized(parts: string[]): string {
  let out = "";
  for (const part of parts) {
    const p = part.trim();
    if (p === "") continue;
    let s = p.replace(/[^a-zA-Z0-9_]/gu, "_");
    if (out === "" && s[0]! >= "0" && s[0]! <= "9") s = "_" + s;
    out = out === "" ? s : out + "_" + s;
  }
  return out;
}

function jsonExpressionParser(params: { name: string; expr: string }[]): StageFn {
  const paths = params.map((p) => {
    try {
      return { name: p.name, path: parseJSONPath(p.expr) };
    } catch (error) {
      throw new LogQLParseError(`parse error : cannot parse expression [${p.expr}]: ${(error as Error).message}`);
    }
  });
  return (line, _ts, lb) => {
    if (line === "") return line;
    const c = line[0];
    if (c !== '"' && c !== "{" && c !== "[") {
      lb.setErr(ERR_JSON);
      return line;
    }
    for (const { name, path } of paths) {
      let key = name;
      if (lb.collides(key)) key += DUPLICATE_SUFFIX;
      let v;
      try {
        v = jsonGet(line, path);
      } catch (error) {
        lb.setErr(ERR_JSON, (error as Error).message);
        continue;
      }
      if (v === undefined) {
        if (lb.get(name) === undefined) lb.setParsed(name, "");
        continue;
      }
      if (v.kind === "null") lb.setParsed(key, "");
      else if (v.kind === "string") lb.setParsed(key, jsonLabelValue(v));
      else lb.setParsed(key, v.raw);
    }
    return line;
  };
}

function logfmtParser(strict: boolean, keepEmpty: boolean): StageFn {
  return (line, _ts, lb) => {
    const dec = new LogfmtDecoder(line);
    while (!dec.eol()) {
      if (!dec.scanKeyval()) {
        if (strict) break;
        continue;
      }
      let key = sanitizeLabelKey(dec.key ?? "", true);
      if (key === "") continue;
      if (lb.collides(key)) key += DUPLICATE_SUFFIX;
      if (lb.extracted.has(key)) continue;
      const val = (dec.value ?? "").replaceAll("\uFFFD", " ");
      if (!keepEmpty && val === "") continue;
      lb.setParsed(key, val);
    }
    if (strict && dec.err !== undefined) lb.setErr(ERR_LOGFMT, dec.err);
    return line;
  };
}

function logfmtExpressionParser(params: { name: string; expr: string }[], strict: boolean): StageFn {
  // Loki's expression parser: each named label is set ("" when absent), taking the key `expr`.
  const wanted = new Map<string, string>(); // key in the line → label name
  for (const p of params) wanted.set(p.expr, p.name);
  return (line, _ts, lb) => {
    for (const p of params) if (!lb.collides(p.name)) lb.setParsed(p.name, "");
    const dec = new LogfmtDecoder(line);
    while (!dec.eol()) {
      if (!dec.scanKeyval()) {
        if (strict) break;
        continue;
      }
      const k = sanitizeLabelKey(dec.key ?? "", true);
      const name = wanted.get(k);
      if (name === undefined) continue;
      let key = name;
      const val = dec.value !== undefined && dec.value.includes("\uFFFD") ? "" : (dec.value ?? "");
      if (lb.collides(key)) key += DUPLICATE_SUFFIX;
      lb.setParsed(key, val);
    }
    if (strict && dec.err !== undefined) lb.setErr(ERR_LOGFMT, dec.err);
    return line;
  };
}

function regexpParser(pattern: string): StageFn {
  let re: RegExp;
  try {
    re = compileRE2(pattern);
  } catch (error) {
    throw stageError(`regexp ${JSON.stringify(pattern)}`, error);
  }
  const names = [...pattern.matchAll(/\(\?P?<([^>]+)>/g)].map((m) => m[1]!);
  if (names.length === 0)
    throw stageError(`regexp ${JSON.stringify(pattern)}`, new Error("at least one named capture must be supplied"));
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw stageError(`regexp ${JSON.stringify(pattern)}`, new Error(`duplicate extracted label name '${n}'`));
    seen.add(n);
  }
  return (line, _ts, lb) => {
    const m = re.exec(line);
    if (m === null || m.groups === undefined) return line;
    for (const n of names) {
      let key = sanitizeLabelKey(n, true);
      if (key === "") continue;
      if (lb.collides(key)) key += DUPLICATE_SUFFIX;
      if (lb.extracted.has(key)) continue;
      lb.setParsed(key, m.groups[n] ?? "");
    }
    return line;
  };
}

function patternParser(pattern: string): StageFn {
  let m: PatternMatcher;
  try {
    m = PatternMatcher.parser(pattern);
  } catch (error) {
    throw stageError(`pattern ${JSON.stringify(pattern)}`, error);
  }
  return (line, _ts, lb) => {
    const values = m.matches(line);
    for (let i = 0; i < values.length; i++) {
      let name = m.names[i]!;
      if (lb.collides(name)) name += DUPLICATE_SUFFIX;
      if (lb.extracted.has(name)) continue;
      lb.setParsed(name, values[i]!);
    }
    return line;
  };
}

function unpackParser(): StageFn {
  return (line, _ts, lb) => {
    if (line === "") return line;
    if (line[0] !== "{") {
      lb.setErr(ERR_JSON, "expecting json object(6), but it is not");
      return line;
    }
    const buf: [string, string][] = [];
    let entry: string | undefined;
    try {
      objectEach(line, (key, v) => {
        if (v.kind !== "string") return;
        if (key === "_entry") {
          const u = unescapeJSON(v.raw);
          if (u === undefined) throw new Error("Encountered an invalid escape sequence in a string");
          entry = u;
          return;
        }
        let k = key;
        if (lb.collides(k)) k += DUPLICATE_SUFFIX;
        if (lb.extracted.has(k)) return;
        buf.push([sanitizeLabelKey(k, true), jsonLabelValue(v)]);
      });
    } catch (error) {
      lb.setErr(ERR_JSON, (error as Error).message);
      return line;
    }
    if (entry === undefined) return line;
    for (const [k, v] of buf) lb.setParsed(k, v);
    return entry;
  };
}

function lineFormat(template: string): StageFn {
  let t;
  try {
    t = compileTemplate(template);
  } catch (error) {
    if (error instanceof TemplateError) throw stageError("line_format", new Error(`invalid line template: ${error.message}`));
    throw error;
  }
  const tmpl = t;
  if (tmpl.simpleKey !== undefined) {
    const key = tmpl.simpleKey;
    return (_line, _ts, lb) => lb.get(key) ?? "";
  }
  return (line, ts, lb) => {
    try {
      return tmpl.execute(lb.labels(), line, ts);
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      lb.setErr(ERR_TEMPLATE, `template: line:1: executing "line": ${error.message}`);
      return line;
    }
  };
}

function labelFormat(items: { dst: string; src?: string; template?: string }[]): StageFn {
  const compiled = items.map((it) => {
    if (it.src !== undefined) return { dst: it.dst, src: it.src };
    try {
      return { dst: it.dst, tmpl: compileTemplate(it.template!) };
    } catch (error) {
      if (error instanceof TemplateError)
        throw stageError("label_format", new Error(`invalid template for label '${it.dst}': ${error.message}`));
      throw error;
    }
  });
  return (line, ts, lb) => {
    let data: Record<string, string> | undefined;
    for (const f of compiled) {
      if (f.src !== undefined) {
        const v = lb.get(f.src);
        if (v !== undefined) {
          lb.setParsed(f.dst, v);
          lb.del(f.src);
        }
        continue;
      }
      // Loki computes the template data once, before the first template of the stage.
      if (data === undefined) data = { ...lb.labels() };
      try {
        lb.setParsed(f.dst, f.tmpl!.execute(data, line, ts));
      } catch (error) {
        if (!(error instanceof TemplateError)) throw error;
        lb.setErr(ERR_TEMPLATE, `template: label:1: executing "label": ${error.message}`);
      }
    }
    return line;
  };
}

// eslint-disable-next-line no-control-regex
const ANSI =
  /[\u001B\u009B][[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\u0007)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))/g;

function dropLabels(items: NamedMatcher[]): StageFn {
  const compiled = items.map((it) => ({ name: it.name, test: it.matcher ? matcherTest(it.matcher) : undefined }));
  return (line, _ts, lb) => {
    for (const { name, test } of compiled) {
      if (name === ERROR_LABEL) {
        if (test === undefined || test(lb.err)) lb.err = "";
        continue;
      }
      if (name === ERROR_DETAILS_LABEL) {
        if (test === undefined || test(lb.errDetails)) lb.errDetails = "";
        continue;
      }
      if (test === undefined) {
        if (lb.get(name) !== undefined) lb.del(name);
      } else if (test(lb.get(name) ?? "")) lb.del(name);
    }
    return line;
  };
}

function keepLabels(items: NamedMatcher[]): StageFn {
  const compiled = items.map((it) => ({ name: it.name, test: it.matcher ? matcherTest(it.matcher) : undefined }));
  return (line, _ts, lb) => {
    const all = lb.labels();
    for (const name in all) {
      if (name === ERROR_LABEL || name === ERROR_DETAILS_LABEL || name === PRESERVE_ERROR_LABEL) continue;
      const value = all[name]!;
      const keep = compiled.some((k) => k.name === name && (k.test === undefined || k.test(value)));
      if (!keep) lb.del(name);
    }
    return line;
  };
}

function compileStage(s: Stage): StageFn {
  switch (s.kind) {
    case "line_filter": {
      const f = compileLineFilter(s);
      return (line) => (f(line) ? line : null);
    }
    case "json":
      return s.params === undefined ? jsonParser() : jsonExpressionParser(s.params);
    case "logfmt":
      return s.params === undefined ? logfmtParser(s.strict, s.keepEmpty) : logfmtExpressionParser(s.params, s.strict);
    case "regexp":
      return regexpParser(s.pattern);
    case "pattern":
      return patternParser(s.pattern);
    case "unpack":
      return unpackParser();
    case "label_filter": {
      const f = compileLabelFilter(s.filter);
      return (line, _ts, lb) => (f(lb) ? line : null);
    }
    case "line_format":
      return lineFormat(s.template);
    case "label_format":
      return labelFormat(s.items);
    case "decolorize":
      return (line) => line.replace(ANSI, "");
    case "drop":
      return dropLabels(s.items);
    case "keep":
      return keepLabels(s.items);
  }
  throw new LogQLUnsupportedError(`pipeline stage ${(s as { kind: string }).kind}`);
}

/** Compiles stages into a pipeline; throws LogQLParseError for invalid stages. */
export function compilePipeline(stages: Stage[]): Pipeline {
  const fns = stages.map(compileStage);
  const lb = new LabelsBuilder();
  const run = (line: string, tsNs: bigint, labels: Record<string, string>, metadata?: Record<string, string>) => {
    lb.reset(labels, metadata);
    let l: string | null = line;
    for (const fn of fns) {
      l = fn(l, tsNs, lb);
      if (l === null) return null;
    }
    return { line: l, lb };
  };
  return {
    noop: fns.length === 0,
    run,
    process(line, tsNs, labels, metadata) {
      const r = run(line, tsNs, labels, metadata);
      return r === null ? null : { line: r.line, labels: r.lb.labels() };
    },
  };
}

/**
 * The line filters that are safe to run before the pipeline (a store may use them to skip
 * lines): those before the first stage that changes the line (line_format, unpack, decolorize),
 * one value each. Every line they drop the pipeline would drop too.
 */
export function leadingLineFilters(
  stages: Stage[],
): { op: "contains" | "not_contains" | "regexp" | "not_regexp"; value: string; ignoreCase?: boolean }[] {
  const out: { op: "contains" | "not_contains" | "regexp" | "not_regexp"; value: string; ignoreCase?: boolean }[] = [];
  for (const s of stages) {
    if (s.kind === "line_format" || s.kind === "unpack" || s.kind === "decolorize") break;
    if (s.kind !== "line_filter" || s.values.length !== 1) continue;
    const v = s.values[0]!;
    if (s.op === "|=") out.push({ op: "contains", value: v });
    else if (s.op === "!=") out.push({ op: "not_contains", value: v });
    else if (s.op === "|~" || s.op === "!~") {
      // Translated to JavaScript's syntax; only regexes that need no flag but `i`.
      let t;
      try {
        t = translateRE2(v);
      } catch {
        continue;
      }
      if (t.flags.replace("u", "").replace("i", "") !== "") continue;
      const ignoreCase = t.flags.includes("i");
      const f: { op: "regexp" | "not_regexp"; value: string; ignoreCase?: boolean } = {
        op: s.op === "|~" ? "regexp" : "not_regexp",
        value: t.source,
      };
      if (ignoreCase) f.ignoreCase = true;
      out.push(f);
    }
  }
  return out;
}
