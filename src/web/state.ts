// The whole view as URL parameters, so that a link reproduces it: what is selected, the range,
// the search, and how lines are shown.
import { formatNs, parseNs, durationMs } from "./time.ts";

export interface ViewState {
  /** "pod": namespace → pod → container pickers; "selector": a label selector. */
  mode: "pod" | "selector";
  namespace: string;
  /** "" is every pod of the namespace. */
  pod: string;
  /** "" is every container of the pod. */
  container: string;
  selector: string;
  /** A relative range (5m, 1h, ...), used when `from` is empty. */
  since: string;
  /** An absolute range (RFC 3339); `to` empty is "now". */
  from: string;
  to: string;
  q: string;
  regex: boolean;
  matchCase: boolean;
  order: "newest" | "oldest";
  utc: boolean;
  wrap: boolean;
  follow: boolean;
  hist: "stream" | "level";
  /** A line's time to mark (a line's permalink). */
  at: string;
}

export const DEFAULT_STATE: ViewState = {
  mode: "pod",
  namespace: "",
  pod: "",
  container: "",
  selector: "",
  since: "1h",
  from: "",
  to: "",
  q: "",
  regex: false,
  matchCase: false,
  order: "newest",
  utc: false,
  wrap: false,
  follow: false,
  hist: "stream",
  at: "",
};

export function parseState(search: string): ViewState {
  const p = new URLSearchParams(search);
  const s = { ...DEFAULT_STATE };
  const text = (name: string) => p.get(name) ?? "";
  s.selector = text("selector");
  s.mode = s.selector !== "" || p.get("mode") === "selector" ? "selector" : "pod";
  s.namespace = text("namespace");
  s.pod = text("pod");
  s.container = text("container");
  s.from = text("from");
  s.to = text("to");
  const since = text("since");
  if (since !== "" && durationMs(since) !== undefined) s.since = since;
  s.q = text("q");
  s.regex = p.get("regex") === "1";
  s.matchCase = p.get("case") === "1";
  s.order = p.get("order") === "oldest" ? "oldest" : "newest";
  s.utc = p.get("tz") === "utc";
  s.wrap = p.get("wrap") === "1";
  s.follow = p.get("follow") === "1";
  s.hist = p.get("hist") === "level" ? "level" : "stream";
  s.at = text("at");
  return s;
}

export function stateToSearch(s: ViewState): string {
  const p = new URLSearchParams();
  if (s.mode === "selector") {
    p.set("mode", "selector");
    if (s.selector) p.set("selector", s.selector);
  } else {
    if (s.namespace) p.set("namespace", s.namespace);
    if (s.pod) p.set("pod", s.pod);
    if (s.container) p.set("container", s.container);
  }
  if (s.from) {
    p.set("from", s.from);
    if (s.to) p.set("to", s.to);
  } else p.set("since", s.since);
  if (s.q) p.set("q", s.q);
  if (s.regex) p.set("regex", "1");
  if (s.matchCase) p.set("case", "1");
  if (s.order === "oldest") p.set("order", "oldest");
  if (s.utc) p.set("tz", "utc");
  if (s.wrap) p.set("wrap", "1");
  if (s.follow) p.set("follow", "1");
  if (s.hist === "level") p.set("hist", "level");
  if (s.at) p.set("at", s.at);
  return p.toString();
}

/** Whether the state names something to read. */
export function hasSelection(s: ViewState): boolean {
  return s.mode === "selector" ? s.selector.trim() !== "" : s.namespace !== "";
}

/** The selection as API parameters (/query, /tail, /volume). */
export function selectionParams(s: ViewState): URLSearchParams {
  const p = new URLSearchParams();
  if (s.mode === "selector") p.set("selector", s.selector.trim());
  else {
    p.set("namespace", s.namespace);
    if (s.pod) p.set("pod_name", s.pod);
    if (s.pod && s.container) p.set("container_name", s.container);
  }
  return p;
}

/** The search as API filter parameters. */
export function filterParams(s: ViewState, into: URLSearchParams): URLSearchParams {
  if (s.q !== "") into.set(s.regex ? "regexp" : "filter", s.q);
  if (s.q !== "" && !s.matchCase) into.set("ignore_case", "true");
  return into;
}

/** The range in epoch ns: relative ranges end now. */
export function resolveRange(s: ViewState, nowMs = Date.now()): { startNs: bigint; endNs: bigint } | { error: string } {
  if (s.from) {
    const startNs = parseNs(s.from);
    if (startNs === undefined) return { error: `from: '${s.from}' is not an RFC 3339 time such as 2026-05-03T12:00:00Z` };
    const endNs = s.to ? parseNs(s.to) : BigInt(nowMs) * 1_000_000n;
    if (endNs === undefined) return { error: `to: '${s.to}' is not an RFC 3339 time such as 2026-05-03T13:00:00Z` };
    if (!(startNs < endNs)) return { error: "from must be earlier than to" };
    return { startNs, endNs };
  }
  const endNs = BigInt(nowMs) * 1_000_000n;
  return { startNs: endNs - BigInt(durationMs(s.since) ?? 3_600_000) * 1_000_000n, endNs };
}

/** The state with its range made absolute (what a permalink holds). */
export function absolute(s: ViewState, range: { startNs: bigint; endNs: bigint }): ViewState {
  return { ...s, from: formatNs(range.startNs), to: formatNs(range.endNs), follow: false };
}

/** The identity of what the rows are: a change reloads them. */
export function queryKey(s: ViewState): string {
  return JSON.stringify([
    s.mode,
    s.namespace,
    s.pod,
    s.container,
    s.selector,
    s.since,
    s.from,
    s.to,
    s.q,
    s.regex,
    s.matchCase,
    s.order,
  ]);
}
