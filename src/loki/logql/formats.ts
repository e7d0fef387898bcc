// The line formats LogQL parsers read, scanned as Loki's Go libraries scan them:
// JSON as buger/jsonparser's ObjectEach (lenient, raw number text kept, stops at the first error),
// logfmt as Loki's own decoder (pkg/logql/log/logfmt), and `pattern` expressions.

// ---------------------------------------------------------------------------------------------
// JSON

export type JSONKind = "string" | "number" | "boolean" | "null" | "object" | "array";

export const JSON_ERRORS = {
  malformedObject: "Value looks like object, but can't find closing '}' symbol",
  malformedArray: "Value is array, but can't find closing ']' symbol",
  malformedString: "Value is string, but can't find closing '\"' symbol",
  malformedValue: "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol",
  unknownType: "Unknown value type",
  malformedJSON: "Malformed JSON error",
  keyNotFound: "Key path not found",
};

function isWS(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function skipWS(s: string, i: number): number {
  while (i < s.length && isWS(s.charCodeAt(i))) i++;
  return i;
}

/** The index just past a string starting at s[i] === '"', or -1. */
function stringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

/** The index just past the object/array starting at s[i], or -1. */
function blockEnd(s: string, i: number, open: number, close: number): number {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 34) {
      const e = stringEnd(s, j);
      if (e < 0) return -1;
      j = e - 1;
    } else if (c === open) depth++;
    else if (c === close) {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return -1;
}

function tokenEnd(s: string, i: number): number {
  for (let j = i; j < s.length; j++) {
    const c = s[j]!;
    if (c === " " || c === "\n" || c === "\r" || c === "\t" || c === "," || c === "}" || c === "]") return j;
  }
  return s.length;
}

export interface JSONValue {
  kind: JSONKind;
  /** The raw text; for strings, without the quotes and still escaped. */
  raw: string;
  end: number;
}

/** Reads one value at s[i] (after whitespace); throws one of JSON_ERRORS. */
export function readValue(s: string, i: number): JSONValue {
  i = skipWS(s, i);
  const c = s[i];
  switch (c) {
    case '"': {
      const e = stringEnd(s, i);
      if (e < 0) throw new Error(JSON_ERRORS.malformedString);
      return { kind: "string", raw: s.slice(i + 1, e - 1), end: e };
    }
    case "{": {
      const e = blockEnd(s, i, 123, 125);
      if (e < 0) throw new Error(JSON_ERRORS.malformedObject);
      return { kind: "object", raw: s.slice(i, e), end: e };
    }
    case "[": {
      const e = blockEnd(s, i, 91, 93);
      if (e < 0) throw new Error(JSON_ERRORS.malformedArray);
      return { kind: "array", raw: s.slice(i, e), end: e };
    }
    case undefined:
      throw new Error(JSON_ERRORS.malformedJSON);
  }
  const e = tokenEnd(s, i);
  if (e === i) throw new Error(JSON_ERRORS.malformedValue);
  const raw = s.slice(i, e);
  if (c === "t" || c === "f") {
    if (raw !== "true" && raw !== "false") throw new Error(JSON_ERRORS.unknownType);
    return { kind: "boolean", raw, end: e };
  }
  if (c === "n") {
    if (raw !== "null") throw new Error(JSON_ERRORS.unknownType);
    return { kind: "null", raw, end: e };
  }
  if (c === "-" || (c! >= "0" && c! <= "9")) return { kind: "number", raw, end: e };
  throw new Error(JSON_ERRORS.unknownType);
}

/**
 * Calls fn for each member of the object at s[start]; fn returning false stops. Throws one of
 * JSON_ERRORS on malformed input, after calling fn for the members before the error.
 */
export function objectEach(s: string, fn: (key: string, v: JSONValue) => boolean | void, start = 0): void {
  let i = skipWS(s, start);
  if (s[i] !== "{") throw new Error(JSON_ERRORS.malformedObject);
  i = skipWS(s, i + 1);
  if (s[i] === "}") return;
  for (;;) {
    if (s[i] !== '"') throw new Error(JSON_ERRORS.malformedJSON);
    const ke = stringEnd(s, i);
    if (ke < 0) throw new Error(JSON_ERRORS.malformedString);
    const rawKey = s.slice(i + 1, ke - 1);
    const key = rawKey.includes("\\") ? unescapeJSON(rawKey) : rawKey;
    if (key === undefined) throw new Error("Encountered an invalid escape sequence in a string");
    i = skipWS(s, ke);
    if (s[i] !== ":") throw new Error(JSON_ERRORS.malformedJSON);
    const v = readValue(s, i + 1);
    if (fn(key, v) === false) return;
    i = skipWS(s, v.end);
    if (s[i] === ",") {
      i = skipWS(s, i + 1);
      continue;
    }
    if (s[i] === "}") return;
    throw new Error(JSON_ERRORS.malformedObject);
  }
}

/** Unescapes a JSON string body; undefined when it is invalid. */
export function unescapeJSON(raw: string): string | undefined {
  if (!raw.includes("\\")) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

/** A label value from a JSON value, as Loki's readValue/unescapeJSONString. */
export function jsonLabelValue(v: JSONValue): string {
  switch (v.kind) {
    case "string": {
      const u = unescapeJSON(v.raw);
      return u === undefined ? "" : u.replaceAll("\uFFFD", " ");
    }
    case "null":
      return "";
    default:
      return v.raw;
  }
}

/** A JSON path expression as `json label="a.b[0]"` takes it (Loki's jsonexpr): keys and indices. */
export function parseJSONPath(expr: string): (string | number)[] {
  const out: (string | number)[] = [];
  let i = 0;
  const ident = /^[^.[\]"\s]+/;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === ".") {
      if (i === 0) throw new Error(`syntax error: unexpected .`);
      i++;
      const m = ident.exec(expr.slice(i));
      if (!m) throw new Error(`syntax error: unexpected end after .`);
      out.push(m[0]);
      i += m[0].length;
    } else if (c === "[") {
      const rest = expr.slice(i);
      const num = /^\[\s*([0-9]+)\s*\]/.exec(rest);
      const quoted = /^\[\s*"((?:[^"\\]|\\.)*)"\s*\]/.exec(rest);
      if (num) {
        out.push(Number(num[1]));
        i += num[0].length;
      } else if (quoted) {
        out.push(JSON.parse(`"${quoted[1]}"`) as string);
        i += quoted[0].length;
      } else throw new Error(`syntax error: unexpected [`);
    } else {
      const m = ident.exec(expr.slice(i));
      if (!m || i !== 0) throw new Error(`syntax error: unexpected ${c}`);
      out.push(m[0]);
      i += m[0].length;
    }
  }
  if (out.length === 0) throw new Error("syntax error: empty expression");
  return out;
}

/** The value at a path, as jsonparser.Get; undefined when absent. Throws on malformed JSON. */
export function jsonGet(s: string, path: (string | number)[]): JSONValue | undefined {
  let cur = readValue(s, 0);
  let base = skipWS(s, 0);
  for (const p of path) {
    if (typeof p === "string") {
      if (cur.kind !== "object") return undefined;
      let found: JSONValue | undefined;
      let foundAt = 0;
      objectEach(
        s,
        (k, v) => {
          if (k === p) {
            found = v;
            return false;
          }
          return true;
        },
        base,
      );
      if (found === undefined) return undefined;
      cur = found;
      foundAt = skipWS(s, found.end - found.raw.length - (found.kind === "string" ? 2 : 0));
      base = foundAt;
    } else {
      if (cur.kind !== "array") return undefined;
      let i = skipWS(s, base + 1);
      let idx = 0;
      let hit: JSONValue | undefined;
      let hitAt = 0;
      if (s[i] !== "]") {
        for (;;) {
          const at = skipWS(s, i);
          const v = readValue(s, at);
          if (idx === p) {
            hit = v;
            hitAt = at;
            break;
          }
          idx++;
          i = skipWS(s, v.end);
          if (s[i] === ",") {
            i++;
            continue;
          }
          break;
        }
      }
      if (hit === undefined) return undefined;
      cur = hit;
      base = hitAt;
    }
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// logfmt

export class LogfmtDecoder {
  pos = 0;
  key: string | undefined;
  value: string | undefined;
  err: string | undefined;
  constructor(private line: string) {}

  eol(): boolean {
    return this.pos >= this.line.length;
  }

  private syntaxError(msg: string): void {
    this.err = `logfmt syntax error at pos ${this.pos + 1} : ${msg}`;
  }

  private unexpected(c: string): void {
    this.syntaxError(`unexpected ${JSON.stringify(c).replace(/^"(.*)"$/, "'$1'")}`);
  }

  /** Scans the next key[=value]; false when it was malformed (or the line ended). */
  scanKeyval(): boolean {
    this.key = undefined;
    this.value = undefined;
    const line = this.line;
    const n = line.length;
    while (this.pos < n && line.charCodeAt(this.pos) <= 32) this.pos++;
    if (this.pos >= n) return false;
    const start = this.pos;
    for (; this.pos < n; this.pos++) {
      const c = line[this.pos]!;
      if (c === "=") {
        if (this.pos > start) this.key = line.slice(start, this.pos);
        if (this.key === undefined) {
          this.unexpected(c);
          return this.skipValue();
        }
        return this.afterEqual();
      }
      if (c === '"') {
        this.unexpected(c);
        return this.skipValue();
      }
      if (line.charCodeAt(this.pos) <= 32) {
        if (this.pos > start) this.key = line.slice(start, this.pos);
        return true;
      }
    }
    if (this.pos > start) this.key = line.slice(start, this.pos);
    return true;
  }

  private skipValue(): boolean {
    const line = this.line;
    while (this.pos < line.length && line.charCodeAt(this.pos) > 32) this.pos++;
    return false;
  }

  private afterEqual(): boolean {
    const line = this.line;
    const n = line.length;
    this.pos++;
    if (this.pos >= n) return true;
    const c0 = line[this.pos]!;
    if (line.charCodeAt(this.pos) <= 32) return true;
    if (c0 === '"') return this.quoted();
    const start = this.pos;
    for (; this.pos < n; this.pos++) {
      const c = line[this.pos]!;
      if (c === "=" || c === '"') {
        this.unexpected(c);
        return this.skipValue();
      }
      if (line.charCodeAt(this.pos) <= 32) {
        if (this.pos > start) this.value = line.slice(start, this.pos);
        return true;
      }
    }
    if (this.pos > start) this.value = line.slice(start, this.pos);
    return true;
  }

  private quoted(): boolean {
    const line = this.line;
    const start = this.pos;
    let hasEsc = false;
    let esc = false;
    for (let j = this.pos + 1; j < line.length; j++) {
      const c = line[j]!;
      if (esc) esc = false;
      else if (c === "\\") {
        hasEsc = true;
        esc = true;
      } else if (c === '"') {
        this.pos = j + 1;
        if (hasEsc) {
          try {
            this.value = JSON.parse(line.slice(start, this.pos)) as string;
          } catch {
            this.syntaxError("invalid quoted value");
            return false;
          }
        } else if (this.pos - 1 > start + 1) this.value = line.slice(start + 1, this.pos - 1);
        return true;
      }
    }
    this.pos = line.length;
    this.syntaxError("unterminated quoted value");
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// pattern

type PatternNode = { lit: string } | { capture: string };

export class PatternError extends Error {
  override readonly name = "PatternError";
}

function parsePatternNodes(p: string): PatternNode[] {
  const nodes: PatternNode[] = [];
  const re = /<([A-Za-z_][A-Za-z0-9_]*)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(p)) !== null) {
    if (m.index > last) nodes.push({ lit: p.slice(last, m.index) });
    nodes.push({ capture: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < p.length) nodes.push({ lit: p.slice(last) });
  return nodes;
}

/** Loki's pattern matcher (`pattern "<ip> - <_> [<ts>]"`, and `|>` line filters). */
export class PatternMatcher {
  readonly names: string[];
  private constructor(private nodes: PatternNode[]) {
    this.names = nodes.flatMap((n) => ("capture" in n && n.capture !== "_" ? [n.capture] : []));
  }

  private static checkConsecutive(nodes: PatternNode[]): void {
    for (let i = 0; i + 1 < nodes.length; i++) {
      const a = nodes[i]!;
      const b = nodes[i + 1]!;
      if ("capture" in a && "capture" in b) {
        throw new PatternError(`found consecutive capture '<${a.capture}><${b.capture}>': invalid expression`);
      }
    }
  }

  /** For the `pattern` parser: at least one capture, no consecutive captures, unique names. */
  static parser(p: string): PatternMatcher {
    const nodes = parsePatternNodes(p);
    if (!nodes.some((n) => "capture" in n)) throw new PatternError("at least one capture is required");
    PatternMatcher.checkConsecutive(nodes);
    const seen = new Set<string>();
    for (const n of nodes) {
      if ("capture" in n && n.capture !== "_") {
        if (seen.has(n.capture)) throw new PatternError(`duplicate capture name (${n.capture}): invalid expression`);
        seen.add(n.capture);
      }
    }
    return new PatternMatcher(nodes);
  }

  /** For `|>` / `!>` line filters: only `<_>` captures. */
  static lineFilter(p: string): PatternMatcher {
    const nodes = parsePatternNodes(p);
    PatternMatcher.checkConsecutive(nodes);
    for (const n of nodes) {
      if ("capture" in n && n.capture !== "_") throw new PatternError(`named captures are not allowed: found '<${n.capture}>'`);
    }
    return new PatternMatcher(nodes);
  }

  /** The captured values (named captures only), in order; fewer when the line ends early. */
  matches(line: string): string[] {
    const out: string[] = [];
    if (line === "" || this.nodes.length === 0) return out;
    let expr = this.nodes;
    let input = line;
    const first = expr[0]!;
    if ("lit" in first) {
      if (input.indexOf(first.lit) !== 0) return out;
      input = input.slice(first.lit.length);
      expr = expr.slice(1);
    }
    if (expr.length === 0) return out;
    while (expr.length > 0) {
      const capt = expr[0] as { capture: string };
      if (expr.length === 1) {
        if (capt.capture !== "_") out.push(input);
        return out;
      }
      const lit = (expr[1] as { lit: string }).lit;
      expr = expr.slice(2);
      const i = input.indexOf(lit);
      if (i < 0) {
        if (capt.capture !== "_") out.push(input);
        return out;
      }
      if (capt.capture !== "_") out.push(input.slice(0, i));
      input = input.slice(i + lit.length);
    }
    return out;
  }

  /** Whether a line matches the whole pattern (the `|>` filter). */
  test(line: string): boolean {
    const e = this.nodes;
    if (line === "" || e.length === 0) return line === "" && e.length === 0;
    let off = 0;
    for (let i = 0; i < e.length; i++) {
      const n = e[i]!;
      if (!("lit" in n)) continue;
      const j = line.slice(off).indexOf(n.lit);
      if (j < 0) return false;
      if (i !== 0 && j === 0) return false;
      off += j + n.lit.length;
    }
    const reqRem = "capture" in e[e.length - 1]!;
    const hasRem = off !== line.length;
    return reqRem === hasRem;
  }
}
