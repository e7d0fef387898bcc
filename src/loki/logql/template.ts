// A subset of Go's text/template, as LogQL's `line_format` and `label_format` use it (Loki's
// pkg/logql/log/fmt.go: missingkey=zero, its own functions plus a list of sprig ones). Supported:
// text, `{{ }}` actions with `{{-`/`-}}` trimming, comments, fields `.name`, `.` , `$`, variables
// (`$x := ...`), string/number/bool/nil literals, pipelines `a | f b`, parenthesised pipelines,
// `if`/`else if`/`else`/`end`, `with`, and the functions listed in FUNCTIONS below. Anything else
// (range, define, template, block, unknown functions) is rejected when the template is compiled.
import { LogQLUnsupportedError } from "./ast.ts";
import { compileRE2, goReplaceAll } from "./re2.ts";
import { formatGoFloatV, parseGoDuration, parseHumanBytes } from "./units.ts";

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

/** A Go time.Time: nanoseconds since the epoch, shown in UTC. */
export class GoTime {
  constructor(readonly ns: bigint) {}
  toString(): string {
    return formatGoTime(this, "2006-01-02 15:04:05.999999999 -0700 MST");
  }
}

/** Go int (int64) values are bigints; float64 values are numbers. */
type Value = string | number | bigint | boolean | GoTime | null | Record<string, string>;

interface Ctx {
  data: Record<string, string>;
  line: () => string;
  timestampNs: () => bigint;
  vars: Map<string, Value>[];
}

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

type Node =
  { t: "text"; text: string } | { t: "action"; pipe: Pipe } | { t: "if" | "with"; pipe: Pipe; list: Node[]; elseList?: Node[] };

interface Pipe {
  decl?: string;
  cmds: Arg[][];
}

type Arg =
  | { t: "field"; names: string[]; on?: "dot" | string }
  | { t: "dot" }
  | { t: "var"; name: string; fields: string[] }
  | { t: "lit"; v: Value }
  | { t: "ident"; name: string }
  | { t: "pipe"; pipe: Pipe; fields: string[] };

interface Tok {
  t: "field" | "var" | "ident" | "str" | "num" | "char" | "pipe" | "lp" | "rp" | "decl" | "assign" | "dot";
  v: string;
}

function lexAction(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    let m: RegExpExecArray | null;
    if ((m = /^"(?:[^"\\]|\\.)*"/.exec(rest))) {
      toks.push({ t: "str", v: JSON.parse(m[0].replace(/\\x([0-9a-fA-F]{2})/g, "\\u00$1")) as string });
    } else if ((m = /^`[^`]*`/.exec(rest))) {
      toks.push({ t: "str", v: m[0].slice(1, -1) });
    } else if ((m = /^'(?:[^'\\]|\\.)'/.exec(rest))) {
      toks.push({ t: "char", v: m[0] });
    } else if ((m = /^(\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(rest))) {
      toks.push({ t: "field", v: m[0] });
    } else if ((m = /^\$[A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(rest))) {
      toks.push({ t: "var", v: m[0] });
    } else if (
      (m = /^[+-]?(0[xX][0-9a-fA-F_]+|[0-9][0-9_]*\.?[0-9_]*([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?)/.exec(rest))
    ) {
      toks.push({ t: "num", v: m[0] });
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) {
      toks.push({ t: "ident", v: m[0] });
    } else if (rest.startsWith(":=")) {
      m = [":="] as unknown as RegExpExecArray;
      toks.push({ t: "decl", v: ":=" });
    } else if (c === "=") {
      m = ["="] as unknown as RegExpExecArray;
      toks.push({ t: "assign", v: "=" });
    } else if (c === "|") {
      m = ["|"] as unknown as RegExpExecArray;
      toks.push({ t: "pipe", v: "|" });
    } else if (c === "(") {
      m = ["("] as unknown as RegExpExecArray;
      toks.push({ t: "lp", v: "(" });
    } else if (c === ")") {
      m = [")"] as unknown as RegExpExecArray;
      toks.push({ t: "rp", v: ")" });
    } else if (c === ".") {
      m = ["."] as unknown as RegExpExecArray;
      toks.push({ t: "dot", v: "." });
    } else {
      throw new TemplateError(`unexpected "${c}" in command`);
    }
    i += m[0].length;
  }
  return toks;
}

function parseNumber(s: string): Value {
  const clean = s.replaceAll("_", "");
  if (/^[+-]?0[xX]/.test(clean)) return BigInt(clean.startsWith("-") ? "-" + clean.slice(1) : clean.replace(/^\+/, ""));
  if (/^[+-]?[0-9]+$/.test(clean)) return BigInt(clean);
  return Number(clean);
}

class Parser {
  private pos = 0;
  constructor(private toks: Tok[]) {}
  done(): boolean {
    return this.pos >= this.toks.length;
  }
  peek(): Tok | undefined {
    return this.toks[this.pos];
  }
  next(): Tok | undefined {
    return this.toks[this.pos++];
  }
  pipeline(closer?: "rp"): Pipe {
    const pipe: Pipe = { cmds: [] };
    const a = this.toks[this.pos];
    const b = this.toks[this.pos + 1];
    if (a?.t === "var" && (b?.t === "decl" || b?.t === "assign")) {
      pipe.decl = a.v;
      this.pos += 2;
    }
    let cmd: Arg[] = [];
    for (;;) {
      const t = this.peek();
      if (t === undefined || (closer !== undefined && t.t === closer)) break;
      if (t.t === "pipe") {
        this.next();
        if (cmd.length === 0) throw new TemplateError("missing command in pipeline");
        pipe.cmds.push(cmd);
        cmd = [];
        continue;
      }
      cmd.push(this.operand());
    }
    if (cmd.length === 0) throw new TemplateError("missing value for command");
    pipe.cmds.push(cmd);
    return pipe;
  }
  operand(): Arg {
    const t = this.next()!;
    switch (t.t) {
      case "field":
        return { t: "field", names: t.v.slice(1).split(".") };
      case "dot":
        return { t: "dot" };
      case "var": {
        const [name, ...fields] = t.v.split(".");
        return { t: "var", name: name!, fields };
      }
      case "str":
        return { t: "lit", v: t.v };
      case "char":
        return { t: "lit", v: BigInt(JSON.parse(`"${t.v.slice(1, -1)}"`).codePointAt(0)) };
      case "num":
        return { t: "lit", v: parseNumber(t.v) };
      case "ident":
        if (t.v === "true" || t.v === "false") return { t: "lit", v: t.v === "true" };
        if (t.v === "nil") return { t: "lit", v: null };
        if (!Object.hasOwn(FUNCTIONS, t.v) && !Object.hasOwn(BUILTINS, t.v)) {
          throw new LogQLUnsupportedError(`template function "${t.v}"`, "not defined or not supported");
        }
        return { t: "ident", name: t.v };
      case "lp": {
        const pipe = this.pipeline("rp");
        if (this.next()?.t !== "rp") throw new TemplateError("unclosed left paren");
        const f = this.peek();
        let fields: string[] = [];
        if (f?.t === "field") {
          this.next();
          fields = f.v.slice(1).split(".");
        }
        return { t: "pipe", pipe, fields };
      }
    }
    throw new TemplateError(`unexpected "${t.v}" in operand`);
  }
}

/** Splits text into text and actions, applying `{{-` / `-}}` trimming. */
function tokenizeTemplate(src: string): ({ t: "text"; v: string } | { t: "action"; v: string })[] {
  const out: ({ t: "text"; v: string } | { t: "action"; v: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    if (open < 0) {
      out.push({ t: "text", v: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (/^-[ \t\r\n]/.test(src.slice(start, start + 2))) {
      text = text.trimEnd();
      start += 2;
    }
    if (text !== "") out.push({ t: "text", v: text });
    // Find the closing }} outside of string literals.
    let j = start;
    let close = -1;
    while (j < src.length) {
      const c = src[j]!;
      if (c === '"' || c === "`" || c === "'") {
        const q = c;
        j++;
        while (j < src.length && src[j] !== q) j += src[j] === "\\" && q !== "`" ? 2 : 1;
        j++;
        continue;
      }
      if (src.startsWith("}}", j)) {
        close = j;
        break;
      }
      j++;
    }
    if (close < 0) throw new TemplateError("unclosed action");
    let body = src.slice(start, close);
    let after = close + 2;
    if (/[ \t\r\n]-$/.test(body)) {
      body = body.slice(0, -2);
      const rest = src.slice(after);
      after += rest.length - rest.trimStart().length;
    }
    out.push({ t: "action", v: body });
    i = after;
  }
  return out;
}

function parseTemplate(src: string): Node[] {
  const parts = tokenizeTemplate(src);
  let k = 0;
  const list = (terminators: string[]): { nodes: Node[]; end: string; rest?: Tok[] } => {
    const nodes: Node[] = [];
    while (k < parts.length) {
      const p = parts[k++]!;
      if (p.t === "text") {
        nodes.push({ t: "text", text: p.v });
        continue;
      }
      const body = p.v.trim();
      if (body.startsWith("/*")) {
        if (!body.endsWith("*/")) throw new TemplateError("unclosed comment");
        continue;
      }
      const toks = lexAction(p.v);
      if (toks.length === 0) throw new TemplateError("missing value for command");
      const first = toks[0]!;
      if (first.t === "ident") {
        switch (first.v) {
          case "end":
          case "else":
            if (!terminators.includes(first.v)) throw new TemplateError(`unexpected {{${first.v}}}`);
            return { nodes, end: first.v, rest: toks.slice(1) };
          case "if":
          case "with": {
            const parser = new Parser(toks.slice(1));
            const pipe = parser.pipeline();
            nodes.push(branch(first.v, pipe));
            continue;
          }
          case "range":
          case "define":
          case "template":
          case "block":
          case "break":
          case "continue":
            throw new LogQLUnsupportedError(`template action "${first.v}"`);
        }
      }
      const parser = new Parser(toks);
      nodes.push({ t: "action", pipe: parser.pipeline() });
    }
    if (terminators.length > 0) throw new TemplateError("unexpected EOF");
    return { nodes, end: "" };
  };
  const branch = (kind: "if" | "with", pipe: Pipe): Node => {
    const body = list(["end", "else"]);
    const node: Node = { t: kind, pipe, list: body.nodes };
    if (body.end === "else") {
      const rest = body.rest!;
      if (rest.length > 0 && rest[0]!.t === "ident" && (rest[0]!.v === "if" || rest[0]!.v === "with")) {
        // {{else if ...}}: a nested branch that shares our {{end}}.
        const inner = branch(rest[0]!.v as "if" | "with", new Parser(rest.slice(1)).pipeline());
        node.elseList = [inner];
      } else {
        node.elseList = list(["end"]).nodes;
      }
    }
    return node;
  };
  return list([]).nodes;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function typeName(v: Value): string {
  if (v === null) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "bigint") return "int";
  if (typeof v === "number") return "float64";
  if (typeof v === "boolean") return "bool";
  if (v instanceof GoTime) return "time.Time";
  return "map[string]string";
}

export function printValue(v: Value): string {
  if (v === null) return "<no value>";
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return formatGoFloatV(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v instanceof GoTime) return v.toString();
  return `map[${Object.keys(v)
    .sort()
    .map((k) => `${k}:${v[k]}`)
    .join(" ")}]`;
}

function truth(v: Value): boolean {
  if (v === null) return false;
  if (typeof v === "string") return v !== "";
  if (typeof v === "bigint") return v !== 0n;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "boolean") return v;
  if (v instanceof GoTime) return true;
  return Object.keys(v).length > 0;
}

function fieldOf(v: Value, name: string): Value {
  if (v !== null && typeof v === "object" && !(v instanceof GoTime)) return Object.hasOwn(v, name) ? v[name]! : "";
  throw new TemplateError(`can't evaluate field ${name} in type ${typeName(v)}`);
}

function evalArg(ctx: Ctx, a: Arg, dot: Value): Value {
  switch (a.t) {
    case "field": {
      let v: Value = dot;
      for (const n of a.names) v = fieldOf(v, n);
      return v;
    }
    case "dot":
      return dot;
    case "var": {
      let v: Value | undefined;
      if (a.name === "$") v = ctx.data;
      else
        for (let i = ctx.vars.length - 1; i >= 0 && v === undefined; i--) {
          if (ctx.vars[i]!.has(a.name)) v = ctx.vars[i]!.get(a.name);
        }
      if (v === undefined) throw new TemplateError(`undefined variable: ${a.name}`);
      for (const n of a.fields) v = fieldOf(v, n);
      return v;
    }
    case "lit":
      return a.v;
    case "ident":
      return call(ctx, a.name, [], dot);
    case "pipe": {
      let v = evalPipe(ctx, a.pipe, dot);
      for (const n of a.fields) v = fieldOf(v, n);
      return v;
    }
  }
}

function evalPipe(ctx: Ctx, pipe: Pipe, dot: Value): Value {
  let prev: Value | undefined;
  for (const cmd of pipe.cmds) {
    const head = cmd[0]!;
    if (head.t === "ident") {
      const args = cmd.slice(1).map((a) => evalArg(ctx, a, dot));
      if (prev !== undefined) args.push(prev);
      prev = call(ctx, head.name, args, dot);
    } else {
      if (cmd.length > 1 || prev !== undefined) {
        throw new TemplateError(`can't give argument to non-function ${describe(head)}`);
      }
      prev = evalArg(ctx, head, dot);
    }
  }
  if (pipe.decl !== undefined) ctx.vars[ctx.vars.length - 1]!.set(pipe.decl, prev!);
  return prev!;
}

function describe(a: Arg): string {
  switch (a.t) {
    case "field":
      return "." + a.names.join(".");
    case "var":
      return a.name;
    case "lit":
      return printValue(a.v);
    default:
      return a.t;
  }
}

function execNodes(ctx: Ctx, nodes: Node[], dot: Value, out: string[]): void {
  for (const n of nodes) {
    switch (n.t) {
      case "text":
        out.push(n.text);
        break;
      case "action": {
        const v = evalPipe(ctx, n.pipe, dot);
        if (n.pipe.decl === undefined) out.push(v === null ? "<nil>" : printValue(v));
        break;
      }
      case "if":
      case "with": {
        ctx.vars.push(new Map());
        const v = evalPipe(ctx, n.pipe, dot);
        if (truth(v)) execNodes(ctx, n.list, n.t === "with" ? v : dot, out);
        else if (n.elseList !== undefined) execNodes(ctx, n.elseList, dot, out);
        ctx.vars.pop();
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Functions

function str(fn: string, v: Value | undefined): string {
  if (typeof v === "string") return v;
  throw new TemplateError(
    `error calling ${fn}: wrong type for value; expected string; got ${v === undefined ? "nothing" : typeName(v)}`,
  );
}

function int(fn: string, v: Value | undefined): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number" && Number.isInteger(v)) return v;
  throw new TemplateError(
    `error calling ${fn}: wrong type for value; expected int; got ${v === undefined ? "nothing" : typeName(v)}`,
  );
}

function time(fn: string, v: Value | undefined): GoTime {
  if (v instanceof GoTime) return v;
  throw new TemplateError(
    `error calling ${fn}: wrong type for value; expected time.Time; got ${v === undefined ? "nothing" : typeName(v)}`,
  );
}

function arity(fn: string, args: Value[], n: number, variadic = false): void {
  if (variadic ? args.length < n : args.length !== n) {
    throw new TemplateError(`wrong number of args for ${fn}: want ${variadic ? "at least " : ""}${n} got ${args.length}`);
  }
}

/** spf13/cast ToInt64: numbers truncate, strings parse (base prefixes, "5.0"), else 0. */
function toInt64(v: Value | undefined): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
  if (typeof v === "boolean") return v ? 1n : 0n;
  if (typeof v === "string") {
    let s = v.trim();
    if (/^[+-]?[0-9]+\.0*$/.test(s)) s = s.replace(/\.0*$/, "");
    try {
      if (/^[+-]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[0-9]+)$/.test(s)) {
        const neg = s.startsWith("-");
        const body = s.replace(/^[+-]/, "");
        const n = /^0[0-7]+$/.test(body) ? BigInt("0o" + body.slice(1)) : BigInt(body);
        return neg ? -n : n;
      }
    } catch {
      return 0n;
    }
    return 0n;
  }
  return 0n;
}

function toFloat64(v: Value | undefined): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string") {
    const s = v.trim();
    return /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s) ? Number(s) : 0;
  }
  return 0;
}

// Exact decimal arithmetic for sprig's addf/subf/mulf/divf (shopspring/decimal).
interface Dec {
  c: bigint;
  e: number;
}
function toDec(f: number): Dec {
  const s = String(f);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s);
  if (!m) return { c: 0n, e: 0 };
  const frac = m[3] ?? "";
  return { c: BigInt(`${m[1]}${m[2]}${frac}`), e: Number(m[4] ?? 0) - frac.length };
}
function decAlign(a: Dec, b: Dec): [bigint, bigint, number] {
  const e = Math.min(a.e, b.e);
  return [a.c * 10n ** BigInt(a.e - e), b.c * 10n ** BigInt(b.e - e), e];
}
function decToFloat(d: Dec): number {
  return Number(`${d.c}e${d.e}`);
}
function decOp(op: string, a: number, b: number): number {
  const da = toDec(a);
  const db = toDec(b);
  switch (op) {
    case "+": {
      const [x, y, e] = decAlign(da, db);
      return decToFloat({ c: x + y, e });
    }
    case "-": {
      const [x, y, e] = decAlign(da, db);
      return decToFloat({ c: x - y, e });
    }
    case "*":
      return decToFloat({ c: da.c * db.c, e: da.e + db.e });
    default: {
      if (db.c === 0n) throw new TemplateError("error calling divf: decimal division by 0");
      // Divide with 16 decimal places, rounding half away from zero (decimal.DivisionPrecision).
      const scale = 16;
      const num = da.c * 10n ** BigInt(scale + 1 + Math.max(0, db.e - da.e + 40));
      const shift = scale + 1 + Math.max(0, db.e - da.e + 40);
      let q = num / db.c;
      let e = da.e - db.e - shift;
      // Round to 10^-16.
      const drop = -scale - e;
      if (drop > 0) {
        const p = 10n ** BigInt(drop);
        const neg = q < 0n;
        const aq = neg ? -q : q;
        let r = aq / p;
        if ((aq % p) * 2n >= p) r += 1n;
        q = neg ? -r : r;
        e += drop;
      }
      return decToFloat({ c: q, e });
    }
  }
}

const ANSI_TIME = new Set(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
void ANSI_TIME;
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** Go's Time.Format for a UTC time, with the common layout elements. */
export function formatGoTime(t: GoTime, layout: string): string {
  const ms = Number(t.ns / 1_000_000n);
  const nanos = Number(((t.ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n);
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const Y = d.getUTCFullYear();
  const M = d.getUTCMonth();
  const D = d.getUTCDate();
  const h = d.getUTCHours();
  const mi = d.getUTCMinutes();
  const s = d.getUTCSeconds();
  const tokens: [string, () => string][] = [
    ["January", () => MONTHS[M]!],
    ["Jan", () => MONTHS[M]!.slice(0, 3)],
    ["Monday", () => DAYS[d.getUTCDay()]!],
    ["Mon", () => DAYS[d.getUTCDay()]!.slice(0, 3)],
    ["MST", () => "UTC"],
    ["2006", () => String(Y).padStart(4, "0")],
    ["-07:00:00", () => "+00:00:00"],
    ["-0700", () => "+0000"],
    ["-07:00", () => "+00:00"],
    ["-07", () => "+00"],
    ["Z07:00:00", () => "Z"],
    ["Z0700", () => "Z"],
    ["Z07:00", () => "Z"],
    ["Z07", () => "Z"],
    ["01", () => p2(M + 1)],
    ["02", () => p2(D)],
    ["_2", () => String(D).padStart(2, " ")],
    ["002", () => String(Math.floor((Date.UTC(Y, M, D) - Date.UTC(Y, 0, 0)) / 86400000)).padStart(3, "0")],
    ["06", () => p2(Y % 100)],
    ["15", () => p2(h)],
    ["03", () => p2(h % 12 === 0 ? 12 : h % 12)],
    ["04", () => p2(mi)],
    ["05", () => p2(s)],
    ["PM", () => (h >= 12 ? "PM" : "AM")],
    ["pm", () => (h >= 12 ? "pm" : "am")],
    ["1", () => String(M + 1)],
    ["2", () => String(D)],
    ["3", () => String(h % 12 === 0 ? 12 : h % 12)],
    ["4", () => String(mi)],
    ["5", () => String(s)],
  ];
  let out = "";
  let i = 0;
  while (i < layout.length) {
    // Fractional seconds: .000 / ,000 (fixed) and .999 (trimmed).
    const frac = /^[.,](0+|9+)(?![0-9])/.exec(layout.slice(i));
    if (frac && i > 0 && /[0-9]$/.test(layout.slice(0, i)) === true) {
      const digits = frac[1]!.length;
      let f = String(nanos).padStart(9, "0").slice(0, digits);
      if (frac[1]![0] === "9") {
        f = f.replace(/0+$/, "");
        out += f === "" ? "" : layout[i] + f;
      } else out += layout[i] + f;
      i += frac[0].length;
      continue;
    }
    const tok = tokens.find(([k]) => layout.startsWith(k, i));
    if (tok !== undefined) {
      out += tok[1]();
      i += tok[0].length;
    } else {
      out += layout[i];
      i++;
    }
  }
  return out;
}

/** Go's time.Parse for UTC layouts made of numeric elements; throws on mismatch. */
function parseGoTime(layout: string, value: string): GoTime {
  const fields: Record<string, [string, string]> = {
    "2006": ["Y", "\\d{4}"],
    "01": ["M", "\\d{2}"],
    "02": ["D", "\\d{2}"],
    "15": ["h", "\\d{2}"],
    "04": ["m", "\\d{2}"],
    "05": ["s", "\\d{2}"],
    "1": ["M", "\\d{1,2}"],
    "2": ["D", "\\d{1,2}"],
    Jan: ["Mon", "[A-Za-z]{3}"],
    Z07: ["Z", "Z|[+-]\\d{2}(?::?\\d{2})?"],
    "-0700": ["Z", "[+-]\\d{4}"],
    "-07:00": ["Z", "[+-]\\d{2}:\\d{2}"],
    "Z07:00": ["Z", "Z|[+-]\\d{2}:\\d{2}"],
    MST: ["TZ", "[A-Z]{3,4}"],
  };
  const names: string[] = [];
  let re = "^";
  let i = 0;
  const keys = Object.keys(fields).sort((a, b) => b.length - a.length);
  while (i < layout.length) {
    const frac = /^[.,](0+|9+)/.exec(layout.slice(i));
    if (frac) {
      names.push("F");
      re += `(?:[.,](\\d+))?`;
      i += frac[0].length;
      continue;
    }
    const k = keys.find((key) => layout.startsWith(key, i));
    if (k !== undefined) {
      names.push(fields[k]![0]);
      re += `(${fields[k]![1]})`;
      i += k.length;
    } else {
      re += layout[i]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      i++;
    }
  }
  const m = new RegExp(re + "$").exec(value);
  if (!m) throw new TemplateError(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse`);
  const parts: Record<string, string> = {};
  names.forEach((n, idx) => {
    if (m[idx + 1] !== undefined) parts[n] = m[idx + 1]!;
  });
  const month = parts.Mon !== undefined ? MONTHS.findIndex((x) => x.startsWith(parts.Mon!)) : Number(parts.M ?? 1) - 1;
  let ms = Date.UTC(
    Number(parts.Y ?? 0),
    month,
    Number(parts.D ?? 1),
    Number(parts.h ?? 0),
    Number(parts.m ?? 0),
    Number(parts.s ?? 0),
  );
  const z = parts.Z;
  if (z !== undefined && z !== "Z") {
    const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(z)!;
    const off = (Number(zm[2]) * 60 + Number(zm[3] ?? 0)) * 60000;
    ms -= zm[1] === "+" ? off : -off;
  }
  const frac = parts.F !== undefined ? BigInt(parts.F.padEnd(9, "0").slice(0, 9)) : 0n;
  return new GoTime(BigInt(ms) * 1_000_000n + frac);
}

function isEmpty(v: Value | undefined): boolean {
  return v === undefined || !truth(v);
}

function compare(fn: string, a: Value, b: Value): number {
  const kind = (v: Value) =>
    typeof v === "bigint" ? "int" : typeof v === "number" ? "float" : typeof v === "string" ? "string" : typeof v;
  if (kind(a) !== kind(b)) throw new TemplateError(`error calling ${fn}: incompatible types for comparison`);
  if (typeof a === "boolean" || a === null || typeof a === "object") {
    if (fn === "eq" || fn === "ne") return a === b ? 0 : 1;
    throw new TemplateError(`error calling ${fn}: invalid type for comparison`);
  }
  return a < b! ? -1 : a > b! ? 1 : 0;
}

type Fn = (args: Value[], ctx: Ctx, dot: Value) => Value;

const BUILTINS: Record<string, Fn> = {
  and: (a) => {
    arity("and", a, 1, true);
    for (const v of a) if (!truth(v)) return v;
    return a[a.length - 1]!;
  },
  or: (a) => {
    arity("or", a, 1, true);
    for (const v of a) if (truth(v)) return v;
    return a[a.length - 1]!;
  },
  not: (a) => (arity("not", a, 1), !truth(a[0]!)),
  len: (a) => {
    arity("len", a, 1);
    const v = a[0]!;
    if (typeof v === "string") return BigInt(new TextEncoder().encode(v).length);
    if (v !== null && typeof v === "object" && !(v instanceof GoTime)) return BigInt(Object.keys(v).length);
    throw new TemplateError(`error calling len: len of type ${typeName(v)}`);
  },
  index: (a) => {
    arity("index", a, 2);
    const m = a[0]!;
    if (m !== null && typeof m === "object" && !(m instanceof GoTime))
      return Object.hasOwn(m, str("index", a[1])) ? m[a[1] as string]! : "";
    throw new TemplateError(`error calling index: can't index item of type ${typeName(m)}`);
  },
  print: (a) =>
    a.map((v, i) => (i > 0 && typeof v !== "string" && typeof a[i - 1] !== "string" ? " " : "") + printValue(v)).join(""),
  println: (a) => a.map(printValue).join(" ") + "\n",
  printf: (a) => {
    arity("printf", a, 1, true);
    return goSprintf(str("printf", a[0]), a.slice(1));
  },
  eq: (a) => {
    arity("eq", a, 2, true);
    return a.slice(1).some((b) => compare("eq", a[0]!, b) === 0);
  },
  ne: (a) => (arity("ne", a, 2), compare("ne", a[0]!, a[1]!) !== 0),
  lt: (a) => (arity("lt", a, 2), compare("lt", a[0]!, a[1]!) < 0),
  le: (a) => (arity("le", a, 2), compare("le", a[0]!, a[1]!) <= 0),
  gt: (a) => (arity("gt", a, 2), compare("gt", a[0]!, a[1]!) > 0),
  ge: (a) => (arity("ge", a, 2), compare("ge", a[0]!, a[1]!) >= 0),
  urlquery: (a) => encodeURIComponent(a.map(printValue).join("")).replace(/%20/g, "+"),
};

function goSprintf(format: string, args: Value[]): string {
  let ai = 0;
  return format.replace(
    /%([-+ #0]*)(\d+)?(?:\.(\d+))?([vsdqfgexXtT%])/g,
    (whole, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
      if (verb === "%") return "%";
      if (ai >= args.length) return `%!${verb}(MISSING)`;
      const v = args[ai++]!;
      let s: string;
      switch (verb) {
        case "v":
        case "s":
          s = printValue(v);
          if (prec !== undefined && verb === "s") s = s.slice(0, Number(prec));
          break;
        case "q":
          s = JSON.stringify(printValue(v));
          break;
        case "d":
          if (typeof v !== "bigint") return `%!d(${typeName(v)}=${printValue(v)})`;
          s = v.toString();
          if (flags.includes("+") && v >= 0n) s = "+" + s;
          break;
        case "f":
        case "e":
        case "g": {
          if (typeof v !== "number") return `%!${verb}(${typeName(v)}=${printValue(v)})`;
          const p = prec === undefined ? (verb === "g" ? undefined : 6) : Number(prec);
          s =
            verb === "f"
              ? v.toFixed(p)
              : verb === "e"
                ? v.toExponential(p).replace(/e([+-])(\d)$/, "e$10$2")
                : p === undefined
                  ? formatGoFloatV(v)
                  : String(Number(v.toPrecision(p)));
          if (flags.includes("+") && v >= 0) s = "+" + s;
          break;
        }
        case "x":
        case "X":
          s = typeof v === "bigint" ? v.toString(16) : Buffer.from(printValue(v)).toString("hex");
          if (verb === "X") s = s.toUpperCase();
          break;
        case "t":
          s = printValue(v);
          break;
        case "T":
          s = typeName(v);
          break;
        default:
          return whole;
      }
      if (width !== undefined && s.length < Number(width)) {
        const pad = (flags.includes("0") && !flags.includes("-") ? "0" : " ").repeat(Number(width) - s.length);
        s = flags.includes("-") ? s + " ".repeat(pad.length) : pad + s;
      }
      return s;
    },
  );
}

function goTitle(s: string): string {
  let prev = " ";
  let out = "";
  for (const ch of s) {
    const sep = /[^\p{L}\p{N}_]/u.test(prev) && (/[\x00-\x7f]/.test(prev) || /\s/u.test(prev));
    out += sep ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function goTrim(s: string, cutset: string, left: boolean, right: boolean): string {
  const set = new Set([...cutset]);
  const chars = [...s];
  let a = 0;
  let b = chars.length;
  if (left) while (a < b && set.has(chars[a]!)) a++;
  if (right) while (b > a && set.has(chars[b - 1]!)) b--;
  return chars.slice(a, b).join("");
}

const FUNCTIONS: Record<string, Fn> = {
  // Loki's own
  ToLower: (a) => (arity("ToLower", a, 1), str("ToLower", a[0]).toLowerCase()),
  ToUpper: (a) => (arity("ToUpper", a, 1), str("ToUpper", a[0]).toUpperCase()),
  Replace: (a) => {
    arity("Replace", a, 4);
    const [s, o, n] = [str("Replace", a[0]), str("Replace", a[1]), str("Replace", a[2])];
    let count = int("Replace", a[3]);
    if (count < 0) return s.replaceAll(o, n);
    let out = s;
    let from = 0;
    while (count-- > 0) {
      const i = out.indexOf(o, from);
      if (i < 0) break;
      out = out.slice(0, i) + n + out.slice(i + o.length);
      from = i + n.length + (o === "" ? 1 : 0);
    }
    return out;
  },
  Trim: (a) => (arity("Trim", a, 2), goTrim(str("Trim", a[0]), str("Trim", a[1]), true, true)),
  TrimLeft: (a) => (arity("TrimLeft", a, 2), goTrim(str("TrimLeft", a[0]), str("TrimLeft", a[1]), true, false)),
  TrimRight: (a) => (arity("TrimRight", a, 2), goTrim(str("TrimRight", a[0]), str("TrimRight", a[1]), false, true)),
  TrimPrefix: (a) => {
    arity("TrimPrefix", a, 2);
    const [s, p] = [str("TrimPrefix", a[0]), str("TrimPrefix", a[1])];
    return s.startsWith(p) ? s.slice(p.length) : s;
  },
  TrimSuffix: (a) => {
    arity("TrimSuffix", a, 2);
    const [s, p] = [str("TrimSuffix", a[0]), str("TrimSuffix", a[1])];
    return p !== "" && s.endsWith(p) ? s.slice(0, -p.length) : s;
  },
  TrimSpace: (a) => (arity("TrimSpace", a, 1), str("TrimSpace", a[0]).trim()),
  regexReplaceAll: (a) => {
    arity("regexReplaceAll", a, 3);
    return goReplaceAll(
      compileTemplateRegex(str("regexReplaceAll", a[0])),
      str("regexReplaceAll", a[1]),
      str("regexReplaceAll", a[2]),
    );
  },
  regexReplaceAllLiteral: (a) => {
    arity("regexReplaceAllLiteral", a, 3);
    return goReplaceAll(
      compileTemplateRegex(str("regexReplaceAllLiteral", a[0])),
      str("regexReplaceAllLiteral", a[1]),
      str("regexReplaceAllLiteral", a[2]),
      true,
    );
  },
  count: (a) => {
    arity("count", a, 2);
    const re = compileTemplateRegex(str("count", a[0]));
    return BigInt([...str("count", a[1]).matchAll(new RegExp(re.source, re.flags + "g"))].length);
  },
  urldecode: (a) => {
    arity("urldecode", a, 1);
    try {
      return decodeURIComponent(str("urldecode", a[0]).replace(/\+/g, " "));
    } catch {
      throw new TemplateError(`error calling urldecode: invalid URL escape`);
    }
  },
  urlencode: (a) => (
    arity("urlencode", a, 1),
    encodeURIComponent(str("urlencode", a[0]))
      .replace(/%20/g, "+")
      .replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
  ),
  bytes: (a) => {
    arity("bytes", a, 1);
    try {
      return parseHumanBytes(str("bytes", a[0]));
    } catch (error) {
      throw new TemplateError(`error calling bytes: ${(error as Error).message}`);
    }
  },
  duration: (a) => durationFn("duration", a),
  duration_seconds: (a) => durationFn("duration_seconds", a),
  unixEpochMillis: (a) => (arity("unixEpochMillis", a, 1), (time("unixEpochMillis", a[0]).ns / 1_000_000n).toString()),
  unixEpochNanos: (a) => (arity("unixEpochNanos", a, 1), time("unixEpochNanos", a[0]).ns.toString()),
  unixToTime: (a) => {
    arity("unixToTime", a, 1);
    const s = str("unixToTime", a[0]);
    if (!/^-?[0-9]+$/.test(s)) throw new TemplateError(`error calling unixToTime: unable to parse time '${s}'`);
    const i = BigInt(s);
    switch (s.length) {
      case 5:
        return new GoTime(i * 86400n * 1_000_000_000n);
      case 10:
        return new GoTime(i * 1_000_000_000n);
      case 13:
        return new GoTime(i * 1_000_000n);
      case 16:
        return new GoTime(i * 1000n);
      case 19:
        return new GoTime(i);
    }
    throw new TemplateError(`error calling unixToTime: unable to parse time '${s}'`);
  },
  toDateInZone: (a) => {
    arity("toDateInZone", a, 3);
    const zone = str("toDateInZone", a[1]);
    if (zone !== "UTC" && zone !== "") throw new TemplateError(`error calling toDateInZone: only the UTC zone is supported`);
    try {
      return parseGoTime(str("toDateInZone", a[0]), str("toDateInZone", a[2]));
    } catch {
      return new GoTime(-62135596800000000000n);
    }
  },
  alignLeft: (a) => {
    arity("alignLeft", a, 2);
    const c = int("alignLeft", a[0]);
    const r = [...str("alignLeft", a[1])];
    if (c < 0 || c === r.length) return r.join("");
    return c > r.length ? r.join("") + " ".repeat(c - r.length) : r.slice(0, c).join("");
  },
  alignRight: (a) => {
    arity("alignRight", a, 2);
    const c = int("alignRight", a[0]);
    const r = [...str("alignRight", a[1])];
    if (c < 0 || c === r.length) return r.join("");
    return c > r.length ? " ".repeat(c - r.length) + r.join("") : r.slice(r.length - c).join("");
  },
  b64dec: (a) => {
    arity("b64dec", a, 1);
    let v = str("b64dec", a[0]);
    const rem = v.length % 4;
    if (rem !== 0 && rem !== 1) v += "=".repeat(4 - rem);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) return "illegal base64 data at input byte 0";
    return Buffer.from(v, "base64").toString("utf8");
  },
  __line__: (a, ctx) => (arity("__line__", a, 0), ctx.line()),
  __timestamp__: (a, ctx) => (arity("__timestamp__", a, 0), new GoTime(ctx.timestampNs())),
  // sprig's
  b64enc: (a) => (arity("b64enc", a, 1), Buffer.from(printValue(a[0]!)).toString("base64")),
  lower: (a) => (arity("lower", a, 1), str("lower", a[0]).toLowerCase()),
  upper: (a) => (arity("upper", a, 1), str("upper", a[0]).toUpperCase()),
  title: (a) => (arity("title", a, 1), goTitle(str("title", a[0]))),
  trunc: (a) => {
    arity("trunc", a, 2);
    const c = int("trunc", a[0]);
    const s = str("trunc", a[1]);
    if (c < 0 && s.length + c > 0) return s.slice(s.length + c);
    if (c >= 0 && s.length > c) return s.slice(0, c);
    return s;
  },
  substr: (a) => {
    arity("substr", a, 3);
    const start = int("substr", a[0]);
    const end = int("substr", a[1]);
    const s = str("substr", a[2]);
    if (start < 0) return s.slice(0, end);
    if (end < 0 || end > s.length) return s.slice(start);
    if (start > end) throw new TemplateError(`error calling substr: slice bounds out of range [${start}:${end}]`);
    return s.slice(start, end);
  },
  contains: (a) => (arity("contains", a, 2), str("contains", a[1]).includes(str("contains", a[0]))),
  hasPrefix: (a) => (arity("hasPrefix", a, 2), str("hasPrefix", a[1]).startsWith(str("hasPrefix", a[0]))),
  hasSuffix: (a) => (arity("hasSuffix", a, 2), str("hasSuffix", a[1]).endsWith(str("hasSuffix", a[0]))),
  indent: (a) => {
    arity("indent", a, 2);
    const pad = " ".repeat(int("indent", a[0]));
    return pad + str("indent", a[1]).replaceAll("\n", "\n" + pad);
  },
  nindent: (a) => {
    arity("nindent", a, 2);
    const pad = " ".repeat(int("nindent", a[0]));
    return "\n" + pad + str("nindent", a[1]).replaceAll("\n", "\n" + pad);
  },
  replace: (a) => (arity("replace", a, 3), str("replace", a[2]).replaceAll(str("replace", a[0]), str("replace", a[1]))),
  repeat: (a) => (arity("repeat", a, 2), str("repeat", a[1]).repeat(Math.max(0, int("repeat", a[0])))),
  trim: (a) => (arity("trim", a, 1), str("trim", a[0]).trim()),
  trimAll: (a) => (arity("trimAll", a, 2), goTrim(str("trimAll", a[1]), str("trimAll", a[0]), true, true)),
  trimSuffix: (a) => {
    arity("trimSuffix", a, 2);
    const [p, s] = [str("trimSuffix", a[0]), str("trimSuffix", a[1])];
    return p !== "" && s.endsWith(p) ? s.slice(0, -p.length) : s;
  },
  trimPrefix: (a) => {
    arity("trimPrefix", a, 2);
    const [p, s] = [str("trimPrefix", a[0]), str("trimPrefix", a[1])];
    return s.startsWith(p) ? s.slice(p.length) : s;
  },
  int: (a) => (arity("int", a, 1), toInt64(a[0])),
  float64: (a) => (arity("float64", a, 1), toFloat64(a[0])),
  add: (a) => (arity("add", a, 2), toInt64(a[0]) + toInt64(a[1])),
  sub: (a) => (arity("sub", a, 2), toInt64(a[0]) - toInt64(a[1])),
  mul: (a) => (arity("mul", a, 2), toInt64(a[0]) * toInt64(a[1])),
  div: (a) => {
    arity("div", a, 2);
    const d = toInt64(a[1]);
    if (d === 0n) throw new TemplateError("error calling div: runtime error: integer divide by zero");
    return toInt64(a[0]) / d;
  },
  mod: (a) => {
    arity("mod", a, 2);
    const d = toInt64(a[1]);
    if (d === 0n) throw new TemplateError("error calling mod: runtime error: integer divide by zero");
    return toInt64(a[0]) % d;
  },
  addf: (a) => a.reduce<number>((acc, v) => decOp("+", acc, toFloat64(v)), 0),
  subf: (a) => (arity("subf", a, 1, true), a.slice(1).reduce<number>((acc, v) => decOp("-", acc, toFloat64(v)), toFloat64(a[0]))),
  mulf: (a) => (arity("mulf", a, 1, true), a.slice(1).reduce<number>((acc, v) => decOp("*", acc, toFloat64(v)), toFloat64(a[0]))),
  divf: (a) => (arity("divf", a, 1, true), a.slice(1).reduce<number>((acc, v) => decOp("/", acc, toFloat64(v)), toFloat64(a[0]))),
  max: (a) => (arity("max", a, 1, true), a.map(toInt64).reduce((x, y) => (y > x ? y : x))),
  min: (a) => (arity("min", a, 1, true), a.map(toInt64).reduce((x, y) => (y < x ? y : x))),
  maxf: (a) => (arity("maxf", a, 1, true), Math.max(...a.map(toFloat64))),
  minf: (a) => (arity("minf", a, 1, true), Math.min(...a.map(toFloat64))),
  ceil: (a) => (arity("ceil", a, 1), Math.ceil(toFloat64(a[0]))),
  floor: (a) => (arity("floor", a, 1), Math.floor(toFloat64(a[0]))),
  round: (a) => {
    arity("round", a, 2, true);
    const roundOn = a.length > 2 ? toFloat64(a[2]) : 0.5;
    const pow = Math.pow(10, toFloat64(a[1]));
    const digit = pow * toFloat64(a[0]);
    const div = digit - Math.trunc(digit);
    return (div >= roundOn ? Math.ceil(digit) : Math.floor(digit)) / pow;
  },
  date: (a) => {
    arity("date", a, 2);
    const d = a[1];
    const t = d instanceof GoTime ? d : typeof d === "bigint" ? new GoTime(d * 1_000_000_000n) : new GoTime(0n);
    return formatGoTime(t, str("date", a[0]));
  },
  toDate: (a) => {
    arity("toDate", a, 2);
    try {
      return parseGoTime(str("toDate", a[0]), str("toDate", a[1]));
    } catch {
      return new GoTime(-62135596800000000000n);
    }
  },
  now: (a) => (arity("now", a, 0), new GoTime(BigInt(Date.now()) * 1_000_000n)),
  unixEpoch: (a) => (arity("unixEpoch", a, 1), (time("unixEpoch", a[0]).ns / 1_000_000_000n).toString()),
  default: (a) => (arity("default", a, 1, true), a.length < 2 || isEmpty(a[1]) ? a[0]! : a[1]!),
};

function durationFn(fn: string, a: Value[]): number {
  arity(fn, a, 1);
  try {
    return parseGoDuration(str(fn, a[0])) / 1e9;
  } catch (error) {
    throw new TemplateError(`error calling ${fn}: ${(error as Error).message}`);
  }
}

const regexCache = new Map<string, RegExp>();
function compileTemplateRegex(re: string): RegExp {
  let r = regexCache.get(re);
  if (r === undefined) {
    try {
      r = compileRE2(re);
    } catch (error) {
      throw new TemplateError((error as Error).message);
    }
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(re, r);
  }
  return r;
}

function call(ctx: Ctx, name: string, args: Value[], dot: Value): Value {
  const fn = FUNCTIONS[name] ?? BUILTINS[name];
  if (fn === undefined) throw new TemplateError(`function "${name}" not defined`);
  return fn(args, ctx, dot);
}

// ---------------------------------------------------------------------------------------------

export interface CompiledTemplate {
  /** When the template is exactly `{{.name}}`: Loki's shortcut (the label's value, "" when absent). */
  simpleKey?: string;
  /** Field names the template reads. */
  fields: string[];
  execute(data: Record<string, string>, line: string, timestampNs: bigint): string;
}

/** Compiles a template; throws TemplateError (bad syntax) or LogQLUnsupportedError. */
export function compileTemplate(src: string): CompiledTemplate {
  const nodes = parseTemplate(src);
  const fields = new Set<string>();
  const collect = (ns: Node[]) => {
    for (const n of ns) {
      if (n.t === "text") continue;
      for (const cmd of n.pipe.cmds) for (const a of cmd) if (a.t === "field") fields.add(a.names[0]!);
      if (n.t !== "action") {
        collect(n.list);
        if (n.elseList) collect(n.elseList);
      }
    }
  };
  collect(nodes);
  let simpleKey: string | undefined;
  if (nodes.length === 1 && nodes[0]!.t === "action") {
    const p = nodes[0]!.pipe;
    const a = p.cmds[0]![0]!;
    if (p.decl === undefined && p.cmds.length === 1 && p.cmds[0]!.length === 1 && a.t === "field" && a.names.length === 1)
      simpleKey = a.names[0];
  }
  return {
    simpleKey,
    fields: [...fields],
    execute(data, line, timestampNs) {
      const ctx: Ctx = { data, line: () => line, timestampNs: () => timestampNs, vars: [new Map()] };
      const out: string[] = [];
      execNodes(ctx, nodes, data, out);
      return out.join("");
    },
  };
}
