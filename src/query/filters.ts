// Line filters: contains, does not contain, regex, not regex, each optionally case-insensitive,
// all of them ANDed, as `|=`, `!=`, `|~`, `!~` chained in LogQL.

export type LineFilterOp = "contains" | "not_contains" | "regexp" | "not_regexp";

export interface LineFilter {
  op: LineFilterOp;
  value: string;
  ignoreCase: boolean;
}

export class FilterError extends Error {
  override readonly name = "FilterError";
}

/**
 * Compiles a filter's regex. A leading `(?i)` (RE2's and Go's spelling, which Loki users write)
 * makes it case-insensitive, as does the filter's own flag.
 */
export function compileLineRegex(value: string, ignoreCase: boolean): RegExp {
  let source = value;
  let insensitive = ignoreCase;
  if (source.startsWith("(?i)")) {
    source = source.slice(4);
    insensitive = true;
  }
  try {
    return new RegExp(source, insensitive ? "iu" : "u");
  } catch (error) {
    throw new FilterError(`/${value}/ is not a valid regular expression: ${(error as Error).message}`);
  }
}

/** One test of a line for all the filters; undefined when there are none. */
export function lineFilter(filters: readonly LineFilter[]): ((line: string) => boolean) | undefined {
  if (filters.length === 0) return undefined;
  const tests = filters.map((f): ((line: string) => boolean) => {
    switch (f.op) {
      case "contains":
        if (!f.ignoreCase) return (line) => line.includes(f.value);
        return insensitiveIncludes(f.value, true);
      case "not_contains":
        if (!f.ignoreCase) return (line) => !line.includes(f.value);
        return insensitiveIncludes(f.value, false);
      case "regexp": {
        const re = compileLineRegex(f.value, f.ignoreCase);
        return (line) => re.test(line);
      }
      case "not_regexp": {
        const re = compileLineRegex(f.value, f.ignoreCase);
        return (line) => !re.test(line);
      }
    }
  });
  if (tests.length === 1) return tests[0];
  return (line) => {
    for (const t of tests) if (!t(line)) return false;
    return true;
  };
}

function insensitiveIncludes(value: string, want: boolean): (line: string) => boolean {
  const re = new RegExp(value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "iu");
  return (line) => re.test(line) === want;
}

/**
 * The case-sensitive texts every line must contain: what a store can filter with before the
 * filters run (for a regex, its longest literal run when one is certain to appear).
 */
export function requiredTexts(filters: readonly LineFilter[]): string[] {
  const texts: string[] = [];
  for (const f of filters) {
    if (f.ignoreCase) continue;
    if (f.op === "contains" && f.value !== "") texts.push(f.value);
    if (f.op === "regexp") {
      const literal = requiredLiteral(f.value);
      if (literal !== undefined) texts.push(literal);
    }
  }
  return texts;
}

/**
 * The longest run of plain characters a regex cannot match without, or undefined when that is not
 * certain: any alternation, an inline flag, or a run made optional or repeated by a quantifier.
 * Conservative by design: a literal that is not required would lose lines.
 */
export function requiredLiteral(source: string): string | undefined {
  if (source.startsWith("(?i)") || source.includes("|")) return undefined;
  let best = "";
  let run = "";
  const end = () => {
    if (run.length > best.length) best = run;
    run = "";
  };
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    const next = source[i + 1];
    // A quantifier after a character makes that character optional or repeatable: it leaves the run.
    const quantified = next === "?" || next === "*" || next === "+" || next === "{";
    if (c === "\\") {
      const e = source[i + 1];
      if (e === undefined) return undefined;
      i++;
      // An escaped punctuation character is itself; \d, \w, \b ... are classes or anchors.
      if (
        /[.*+?^${}()|[\]\\/-]/.test(e) &&
        depth === 0 &&
        !(source[i + 1] === "?" || source[i + 1] === "*" || source[i + 1] === "+" || source[i + 1] === "{")
      ) {
        run += e;
      } else end();
      continue;
    }
    if (c === "[") {
      end();
      // Skip the class (a "]" right after "[" or "[^" belongs to it).
      let j = i + 1;
      if (source[j] === "^") j++;
      if (source[j] === "]") j++;
      while (j < source.length && source[j] !== "]") j += source[j] === "\\" ? 2 : 1;
      i = j;
      continue;
    }
    if (c === "(") {
      end();
      depth++;
      continue;
    }
    if (c === ")") {
      end();
      depth--;
      continue;
    }
    if (".^$*+?{}".includes(c)) {
      end();
      if (c === "{") while (i < source.length && source[i] !== "}") i++;
      continue;
    }
    // Inside a group the run may be repeated or made optional as a whole: not certain.
    if (depth > 0 || quantified) {
      end();
      continue;
    }
    run += c;
  }
  end();
  return best.length >= 3 ? best : undefined;
}

/** A canonical text of the filters, for cursors. */
export function canonicalFilters(filters: readonly LineFilter[]): string {
  return filters.map((f) => `${f.op}${f.ignoreCase ? "/i" : ""}:${JSON.stringify(f.value)}`).join(",");
}
