// Label selectors: `app=nginx,tier!=db,pod=~"web-.*"`, as `kubectl logs -l` takes them, with
// Loki's regex operators. A selector picks streams through the store's index (the labels a stream
// carries: namespace, pod, container, host and the pod's own labels); `stream` (stdout/stderr) is
// the one label that belongs to lines, so it is matched line by line.
import type { StreamInfo } from "../store/store.ts";

export type MatchOp = "=" | "!=" | "=~" | "!~";

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

/** The labels every stream has beside its pod's labels; `stream` is a line's. */
export const STREAM_LABELS = ["namespace", "pod", "container", "host"] as const;
export const LINE_LABEL = "stream";

export class SelectorError extends Error {
  override readonly name = "SelectorError";
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;

/**
 * Parses `name op value` terms separated by commas. Operators: `=` (or `==`), `!=`, `=~`, `!~`.
 * A value may be quoted ("..."; backslash escapes `"` and `\`) to hold commas or spaces; regex
 * values must compile. Empty selectors are an error: a selector must select something.
 */
export function parseSelector(text: string): Matcher[] {
  const matchers: Matcher[] = [];
  let i = 0;
  const n = text.length;
  const skipSpaces = () => {
    while (i < n && (text[i] === " " || text[i] === "\t")) i++;
  };
  while (i < n) {
    skipSpaces();
    const nameStart = i;
    while (i < n && !"=!~, \t".includes(text[i]!)) i++;
    const name = text.slice(nameStart, i);
    if (!NAME.test(name)) throw new SelectorError(`"${name || text.slice(nameStart, nameStart + 10)}" is not a label name`);
    skipSpaces();
    let op: MatchOp;
    if (text.startsWith("==", i)) ((op = "="), (i += 2));
    else if (text.startsWith("=~", i)) ((op = "=~"), (i += 2));
    else if (text.startsWith("!=", i)) ((op = "!="), (i += 2));
    else if (text.startsWith("!~", i)) ((op = "!~"), (i += 2));
    else if (text[i] === "=") ((op = "="), (i += 1));
    else throw new SelectorError(`expected =, ==, !=, =~ or !~ after "${name}"`);
    skipSpaces();
    let value = "";
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i++]!;
        if (c === "\\" && i < n) value += text[i++]!;
        else if (c === '"') {
          closed = true;
          break;
        } else value += c;
      }
      if (!closed) throw new SelectorError(`unterminated quoted value for "${name}"`);
      skipSpaces();
    } else {
      const valueStart = i;
      while (i < n && text[i] !== ",") i++;
      value = text.slice(valueStart, i).trim();
    }
    if (op === "=~" || op === "!~") compileLabelRegex(name, value);
    matchers.push({ name, op, value });
    skipSpaces();
    if (i < n) {
      if (text[i] !== ",") throw new SelectorError(`expected "," after the value of "${name}"`);
      i++;
      if (i >= n || text.slice(i).trim() === "") throw new SelectorError('a selector may not end with ","');
    }
  }
  if (matchers.length === 0) throw new SelectorError("the selector is empty");
  return matchers;
}

/** A label regex matches the whole value, as in Prometheus and Loki. */
export function compileLabelRegex(name: string, value: string): RegExp {
  try {
    return new RegExp(`^(?:${value})$`, "s");
  } catch (error) {
    throw new SelectorError(`the regex for "${name}" does not compile: ${(error as Error).message}`);
  }
}

/** The value of a stream's label; missing labels are empty, as in Loki. */
export function labelValue(s: StreamInfo, name: string): string {
  switch (name) {
    case "namespace":
      return s.namespace;
    case "pod":
      return s.pod;
    case "container":
      return s.container;
    case "host":
      return s.host;
  }
  if (Object.hasOwn(s.labels, name)) return s.labels[name]!;
  // Loki's names for the same things: the node as node_name, and pod labels under their
  // sanitised names (app.kubernetes.io/name as app_kubernetes_io_name).
  if (name === "node_name") return s.host;
  for (const key in s.labels) if (sanitizeLabelName(key) === name) return s.labels[key]!;
  return "";
}

const INVALID_LABEL_CHARS = /[^A-Za-z0-9_]/g;

/**
 * A label name as Prometheus and Loki accept it: every character outside [A-Za-z0-9_] becomes
 * `_`, and a leading digit gets a `_` before it (`app.kubernetes.io/name` → `app_kubernetes_io_name`).
 */
export function sanitizeLabelName(name: string): string {
  const clean = name.replace(INVALID_LABEL_CHARS, "_");
  return clean === "" || (clean.charCodeAt(0) >= 48 && clean.charCodeAt(0) <= 57) ? `_${clean}` : clean;
}

/** A test of one value against a matcher, with its regex compiled once. */
export function valueTest(m: Matcher): (value: string) => boolean {
  switch (m.op) {
    case "=":
      return (v) => v === m.value;
    case "!=":
      return (v) => v !== m.value;
    case "=~": {
      const re = compileLabelRegex(m.name, m.value);
      return (v) => re.test(v);
    }
    case "!~": {
      const re = compileLabelRegex(m.name, m.value);
      return (v) => !re.test(v);
    }
  }
}

/** Whether a stream matches every stream-level matcher (the `stream` matcher is left to lines). */
export function streamPredicate(matchers: readonly Matcher[]): (s: StreamInfo) => boolean {
  const tests = matchers.filter((m) => m.name !== LINE_LABEL).map((m) => ({ name: m.name, test: valueTest(m) }));
  return (s) => tests.every((t) => t.test(labelValue(s, t.name)));
}

/** The line-level test of the `stream` matchers, or undefined when there are none. */
export function linePredicate(matchers: readonly Matcher[]): ((stream: string) => boolean) | undefined {
  const tests = matchers.filter((m) => m.name === LINE_LABEL).map(valueTest);
  if (tests.length === 0) return undefined;
  return (stream) => tests.every((t) => t(stream));
}

/** A canonical text of the matchers (sorted), for cursors. */
export function canonicalSelector(matchers: readonly Matcher[]): string {
  return matchers
    .map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`)
    .sort()
    .join(",");
}
