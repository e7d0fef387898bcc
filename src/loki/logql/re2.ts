// Go RE2 syntax → JavaScript RegExp. LogQL regexes (line filters, label matchers, `regexp`,
// `regexReplaceAll`, `label_replace`) are Go's; most of RE2 is JavaScript's too. This translates
// what differs: leading flag groups `(?i)` `(?s)` `(?m)`, `(?P<name>...)`, `\z` `\A` `\Q...\E`,
// POSIX classes `[[:alpha:]]`, `\pL`, `\x{...}`, escaped punctuation (which a `u` RegExp rejects)
// and `.` (which in JavaScript also stops at `\r`). What cannot be translated faithfully throws.

export class RE2Error extends Error {
  override readonly name = "RE2Error";
}

export interface TranslatedRegex {
  source: string;
  flags: string;
}

const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

const JS_SYNTAX = new Set([..."^$\\.*+?()[]{}|/"]);
const GENERAL_CATEGORIES = new Set(
  "C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs".split(" "),
);

function escapeChar(c: string): string {
  return `\\u{${c.codePointAt(0)!.toString(16)}}`;
}

function unicodeClass(name: string, negated: boolean): string {
  const p = negated ? "\\P" : "\\p";
  if (name === "Any") return negated ? "[^\\s\\S]" : "[\\s\\S]";
  if (GENERAL_CATEGORIES.has(name)) return `${p}{${name}}`;
  return `${p}{Script=${name}}`;
}

/** Translates a Go regex; `flags` are JavaScript flags to add (e.g. "i"). */
export function translateRE2(re: string, extraFlags = ""): TranslatedRegex {
  let flags = new Set([..."u", ...extraFlags]);
  let i = 0;
  // Leading flag groups: (?i) (?s) (?m) (?is) ...
  for (;;) {
    const m = /^\(\?([imsU]+)\)/.exec(re.slice(i));
    if (!m) break;
    for (const f of m[1]!) {
      if (f === "U") throw new RE2Error("the (?U) flag (ungreedy) is not supported");
      flags.add(f);
    }
    i += m[0].length;
  }
  const dotAll = flags.has("s");
  flags.delete("s");
  let out = "";
  let inClass = false;
  while (i < re.length) {
    const c = re[i]!;
    if (c === "\\") {
      const n = re[i + 1];
      if (n === undefined) throw new RE2Error("trailing backslash at end of expression");
      if (n === "Q") {
        const end = re.indexOf("\\E", i + 2);
        const lit = end < 0 ? re.slice(i + 2) : re.slice(i + 2, end);
        for (const ch of lit) out += /[0-9A-Za-z_ ]/.test(ch) ? ch : escapeChar(ch);
        i = end < 0 ? re.length : end + 2;
        continue;
      }
      if (n === "z" && !inClass) {
        if (flags.has("m")) throw new RE2Error("\\z with the (?m) flag is not supported");
        out += "$";
        i += 2;
        continue;
      }
      if (n === "A" && !inClass) {
        if (flags.has("m")) throw new RE2Error("\\A with the (?m) flag is not supported");
        out += "^";
        i += 2;
        continue;
      }
      if (n === "p" || n === "P") {
        if (re[i + 2] === "{") {
          const end = re.indexOf("}", i + 3);
          if (end < 0) throw new RE2Error("invalid character class range");
          let name = re.slice(i + 3, end);
          let neg = n === "P";
          if (name.startsWith("^")) {
            neg = !neg;
            name = name.slice(1);
          }
          out += unicodeClass(name, neg);
          i = end + 1;
        } else {
          const name = re[i + 2];
          if (name === undefined) throw new RE2Error("invalid character class range");
          out += unicodeClass(name, n === "P");
          i += 3;
        }
        continue;
      }
      if (n === "x" && re[i + 2] === "{") {
        const end = re.indexOf("}", i + 3);
        if (end < 0) throw new RE2Error("invalid escape sequence");
        out += `\\u{${re.slice(i + 3, end)}}`;
        i = end + 1;
        continue;
      }
      if (n === "C") throw new RE2Error("\\C is not supported");
      if (/[1-9]/.test(n)) throw new RE2Error(`invalid escape sequence: \\${n}`);
      if (/[0-9A-Za-z]/.test(n)) {
        out += "\\" + n;
      } else if (JS_SYNTAX.has(n) || (inClass && n === "-")) {
        out += "\\" + n;
      } else {
        out += escapeChar(n);
      }
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === "[" && re[i + 1] === ":") {
        const end = re.indexOf(":]", i + 2);
        if (end > 0) {
          let name = re.slice(i + 2, end);
          const neg = name.startsWith("^");
          if (neg) name = name.slice(1);
          const cls = POSIX[name];
          if (cls === undefined) throw new RE2Error(`invalid character class range: [:${name}:]`);
          if (neg) throw new RE2Error("negated POSIX classes are not supported");
          out += cls;
          i = end + 2;
          continue;
        }
      }
      if (c === "]") inClass = false;
      if (c === "[") {
        out += "\\[";
        i++;
        continue;
      }
      out += c;
      i++;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      i++;
      if (re[i] === "^") {
        out += "^";
        i++;
      }
      if (re[i] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(" && re[i + 1] === "?") {
      const rest = re.slice(i + 2);
      if (rest.startsWith("P<")) {
        out += "(?<";
        i += 4;
        continue;
      }
      if (rest.startsWith("<") || rest.startsWith(":")) {
        out += "(?";
        i += 2;
        continue;
      }
      const m = /^([imsU-]+)(:|\))/.exec(rest);
      if (m) throw new RE2Error(`flag group (?${m[1]}${m[2]} inside an expression is not supported`);
      throw new RE2Error(`invalid or unsupported Perl syntax: (?${rest.slice(0, 1)}`);
    }
    if (c === ".") {
      out += dotAll ? "[\\s\\S]" : "[^\\n]";
      i++;
      continue;
    }
    out += c;
    i++;
  }
  flags = new Set([...flags].filter((f) => f !== "s"));
  return { source: out, flags: [...flags].sort().join("") };
}

/** Compiles a Go regex (unanchored, as Go's MatchString); throws RE2Error on bad syntax. */
export function compileRE2(re: string, extraFlags = ""): RegExp {
  const t = translateRE2(re, extraFlags);
  try {
    return new RegExp(t.source, t.flags);
  } catch (error) {
    throw new RE2Error(`error parsing regexp: ${(error as Error).message}: \`${re}\``);
  }
}

/** A Prometheus label matcher regex: anchored at both ends, `.` matching newlines. */
export function compileAnchoredRE2(re: string): RegExp {
  const t = translateRE2(`(?s)${re}`);
  try {
    return new RegExp(`^(?:${t.source})$`, t.flags);
  } catch (error) {
    throw new RE2Error(`error parsing regexp: ${(error as Error).message}: \`${re}\``);
  }
}

/** Go's Regexp.Expand template (`$1`, `${1}`, `$name`, `${name}`, `$$`) for one match. */
export function expandGoTemplate(template: string, m: RegExpExecArray): string {
  let out = "";
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== "$") {
      out += c;
      continue;
    }
    const next = template[i + 1];
    if (next === "$") {
      out += "$";
      i++;
      continue;
    }
    let name: string;
    if (next === "{") {
      const end = template.indexOf("}", i + 2);
      if (end < 0) {
        out += c;
        continue;
      }
      name = template.slice(i + 2, end);
      i = end;
    } else {
      const n = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (!n) {
        out += c;
        continue;
      }
      name = n[0];
      i += name.length;
    }
    if (/^[0-9]+$/.test(name)) out += m[Number(name)] ?? "";
    else out += m.groups?.[name] ?? "";
  }
  return out;
}

/** Go's Regexp.ReplaceAllString(src, repl): repl expands `$1`/`${name}`. */
export function goReplaceAll(re: RegExp, src: string, repl: string, literal = false): string {
  const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : re.flags + "g");
  let out = "";
  let last = 0;
  let m: RegExpExecArray | null;
  let prevEnd = -1;
  while ((m = g.exec(src)) !== null) {
    // Go allows no empty match right where the previous match ended.
    const skip = m[0].length === 0 && m.index === prevEnd;
    if (!skip) out += src.slice(last, m.index) + (literal ? repl : expandGoTemplate(repl, m));
    else out += src.slice(last, m.index);
    last = m.index + m[0].length;
    prevEnd = last;
    if (m[0].length === 0) {
      if (g.lastIndex < src.length) out += src[g.lastIndex];
      g.lastIndex++;
      last = g.lastIndex;
    }
  }
  if (last <= src.length) out += src.slice(last);
  return out;
}
