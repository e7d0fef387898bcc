// The parameters the native read API shares (/query, /tail, discovery): what to select, which
// lines to keep, and the time range; checked here once, each error a 400 naming the parameter.
import { t } from "elysia";
import { FilterError, lineFilter, type LineFilter, type LineFilterOp } from "../query/filters.ts";
import { parseSelector, SelectorError, type Matcher } from "../query/selector.ts";
import { MAX_TIME_NS, parseDurationNs, parseRfc3339 } from "../time.ts";
import { InvalidQueryError } from "./http.ts";

export const TIME_HELP = "RFC 3339 with any fraction and Z or an offset, e.g. 2018-05-07T00:00:00.000Z";
const DURATION_HELP = "a duration such as 30s, 15m, 1h30m, 2d";

const repeatable = (description: string) => t.Optional(t.Union([t.String(), t.Array(t.String())], { description }));

/** Selecting streams and lines. */
export const SelectionParams = {
  namespace: t.Optional(t.String({ description: "Namespace of the pods. Needed unless `selector` is given." })),
  pod_name: t.Optional(t.String({ description: "Pod name; all pods of the namespace when left out." })),
  container_name: t.Optional(t.String({ description: "Container name; all containers of the pod when left out." })),
  selector: t.Optional(
    t.String({
      description:
        "Label selector, as `kubectl logs -l`: `app=nginx,tier!=db`, also `=~` and `!~` (regex, whole value). " +
        "Labels: the pod's own, and namespace, pod, container, host, stream.",
    }),
  ),
  stream: t.Optional(t.String({ description: "stdout or stderr only." })),
  filter: repeatable("Keep lines that contain this text (repeatable: all must hold)."),
  filter_out: repeatable("Drop lines that contain this text (repeatable)."),
  regexp: repeatable("Keep lines that match this regular expression; (?i) at its start ignores case (repeatable)."),
  regexp_out: repeatable("Drop lines that match this regular expression (repeatable)."),
  ignore_case: t.Optional(t.String({ description: "true: filter, filter_out, regexp and regexp_out ignore case." })),
};

/** A time range. */
export const RangeParams = {
  start_time: t.Optional(t.String({ description: `Start of the range, inclusive. ${TIME_HELP}.` })),
  end_time: t.Optional(t.String({ description: `End of the range, inclusive; default now. ${TIME_HELP}.` })),
  since: t.Optional(t.String({ description: `Only lines newer than this, as \`kubectl logs --since\`: ${DURATION_HELP}.` })),
};

type Values = string | string[] | undefined;

export interface SelectionInput {
  namespace?: string;
  pod_name?: string;
  container_name?: string;
  selector?: string;
  stream?: string;
  filter?: Values;
  filter_out?: Values;
  regexp?: Values;
  regexp_out?: Values;
  ignore_case?: string;
}

export interface Selection {
  selector: Matcher[];
  filters: LineFilter[];
  /** Whether the selection names one container (namespace, pod and container, no selector). */
  pinned: boolean;
}

const list = (v: Values): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * The selection as matchers and filters. `namespace` is needed unless a selector is given (the
 * original API's "missing query parameter: namespace").
 */
export function parseSelection(p: SelectionInput): Selection {
  const selector: Matcher[] = [];
  const given = (v: string | undefined) => v !== undefined && v !== "";
  if (given(p.selector)) {
    try {
      selector.push(...parseSelector(p.selector!));
    } catch (error) {
      if (error instanceof SelectorError) throw new InvalidQueryError(`selector: ${error.message}`);
      throw error;
    }
  } else if (!given(p.namespace)) {
    throw new InvalidQueryError("missing query parameter: namespace");
  }
  if (given(p.namespace)) selector.push({ name: "namespace", op: "=", value: p.namespace! });
  if (given(p.pod_name)) selector.push({ name: "pod", op: "=", value: p.pod_name! });
  if (given(p.container_name)) selector.push({ name: "container", op: "=", value: p.container_name! });
  if (p.stream !== undefined) {
    if (p.stream !== "stdout" && p.stream !== "stderr") {
      throw new InvalidQueryError(`stream: expected stdout or stderr, got '${p.stream}'`);
    }
    selector.push({ name: "stream", op: "=", value: p.stream });
  }
  const ignoreCase = parseFlag("ignore_case", p.ignore_case);
  const filters: LineFilter[] = [];
  const add = (op: LineFilterOp, name: string, values: Values) => {
    for (const value of list(values)) {
      const filter = { op, value, ignoreCase };
      try {
        lineFilter([filter]);
      } catch (error) {
        if (error instanceof FilterError) throw new InvalidQueryError(`${name}: ${error.message}`);
        throw error;
      }
      filters.push(filter);
    }
  };
  add("contains", "filter", p.filter);
  add("not_contains", "filter_out", p.filter_out);
  add("regexp", "regexp", p.regexp);
  add("not_regexp", "regexp_out", p.regexp_out);
  const pinned = !given(p.selector) && given(p.namespace) && given(p.pod_name) && given(p.container_name);
  return { selector, filters, pinned };
}

export function parseFlag(name: string, value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "false" || value === "0") return false;
  if (value === "true" || value === "1") return true;
  throw new InvalidQueryError(`${name}: expected true or false, got '${value}'`);
}

export interface RangeInput {
  start_time?: string;
  end_time?: string;
  since?: string;
}

/**
 * The range of a request. `start_time` (or `since`) is needed unless `allowOpenStart` (then the
 * start is 1970). Bounds outside what a store holds (1970 to 2262) are clamped to it.
 */
export function parseRange(p: RangeInput, now: bigint, options: { allowOpenStart?: boolean; defaultSinceNs?: bigint } = {}) {
  let startNs: bigint;
  if (p.start_time !== undefined && p.start_time !== "") {
    if (p.since !== undefined) throw new InvalidQueryError("start_time and since: give one of them");
    const parsed = parseRfc3339(p.start_time);
    if (parsed === undefined) throw new InvalidQueryError(`failed to parse start_time: '${p.start_time}' is not ${TIME_HELP}`);
    startNs = parsed;
  } else if (p.since !== undefined) {
    const since = parseDurationNs(p.since);
    if (since === undefined) throw new InvalidQueryError(`since: '${p.since}' is not ${DURATION_HELP}`);
    startNs = now - since;
  } else if (options.defaultSinceNs !== undefined) {
    startNs = now - options.defaultSinceNs;
  } else if (options.allowOpenStart) {
    startNs = 0n;
  } else {
    throw new InvalidQueryError("missing query parameter: start_time");
  }
  let endNs = now; // as the original: end_time defaults to now
  if (p.end_time !== undefined && p.end_time !== "") {
    const parsed = parseRfc3339(p.end_time);
    if (parsed === undefined) throw new InvalidQueryError(`failed to parse end_time: '${p.end_time}' is not ${TIME_HELP}`);
    endNs = parsed;
  }
  if (!(startNs < endNs)) throw new InvalidQueryError("query time-interval: start_time must be earlier than end_time");
  return { startNs: startNs < 0n ? 0n : startNs, endNs: endNs > MAX_TIME_NS ? MAX_TIME_NS : endNs };
}

/** A parameter given twice is refused, in the original's words, rather than one value picked. */
export function rejectRepeated(request: Request, names: readonly string[]): void {
  const search = new URL(request.url).searchParams;
  for (const name of names) {
    const n = search.getAll(name).length;
    if (n > 1) throw new InvalidQueryError(`query parameter ${name} has wrong number of values: was: ${n}, expected: 1`);
  }
}

/** An integer parameter in [min, max], or undefined when absent. */
export function parseCount(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^-?\d+$/.test(value)) throw new InvalidQueryError(`${name}: expected an integer, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new InvalidQueryError(`${name}: expected a value in [${min}, ${max}], got ${n}`);
  return n;
}
