// A stand-in server for the `logs` client's edge cases: what the real server (tested with the client
// in server.e2e.test.ts) cannot be made to do on cue: record the parameters it was sent, page at a
// given size, drop lines for a slow reader, cut a stream mid-way, refuse connections for a while,
// answer 5xx. It speaks the read API as the README describes it (GET /query, GET /tail), over real
// HTTP (Bun.serve on a free port), and is deliberately tiny: selectors are `key=value` pairs only.
import type { Server } from "bun";
import { formatRfc3339Nano, parseRfc3339 } from "../../src/time.ts";

export interface StoredLine {
  time: string;
  log: string;
  stream: string;
  namespace: string;
  pod_name: string;
  container_name: string;
  labels?: Record<string, string>;
}

export interface StandInOptions {
  lines?: StoredLine[];
  /** Credentials the server requires (either is accepted), as --auth-token / --auth-basic. */
  token?: string;
  user?: string;
  /** Rows per /query answer before it ends with next_cursor (a server-side limit). */
  pageSize?: number;
  /** Called before each /query row is sent, with the row's index in the answer: lets a test hold the answer. */
  beforeRow?: (index: number) => Promise<void> | void;
  /** Cut the connection (as the real server does when its store fails) after this many /query rows. */
  cutAfterRows?: number;
}

export interface StandIn {
  /** The base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Every request's URL, in order (restarts included). */
  requests: URL[];
  /** Lines a pushed /tail stream has not shown yet are sent to the open streams that select them. */
  push(line: StoredLine): void;
  dropped(n: number): void;
  /** Ends every open /tail stream cleanly, as a server closing its connections does. */
  closeStreams(): void;
  /** Open /tail streams right now. */
  openStreams(): number;
  /** Stops listening and cuts every connection (a crash or a restart's first half). */
  stop(): Promise<void>;
  /** Listens again on the same port (a restart's second half). */
  start(): void;
}

const JSON_HEADERS = { "content-type": "application/json" };
const error = (status: number, message: string, detail = "") =>
  new Response(JSON.stringify({ message, detail }), { status, headers: JSON_HEADERS });

const DURATION_PART = /(\d+)([smhdw])/g;
const UNIT_NS: Record<string, bigint> = { s: 1n, m: 60n, h: 3600n, d: 86400n, w: 604800n };

function durationNs(text: string): bigint | undefined {
  if (!/^(?:\d+[smhdw])+$/.test(text)) return undefined;
  let ns = 0n;
  for (const [, n, unit] of text.matchAll(DURATION_PART)) ns += BigInt(n!) * UNIT_NS[unit!]! * 1_000_000_000n;
  return ns;
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const timeNs = (l: StoredLine) => parseRfc3339(l.time)!;

interface Selection {
  matches(l: StoredLine): boolean;
  /** Rows name their container unless the query is pinned to one. */
  pinned: boolean;
}

function selection(p: URLSearchParams): Selection | Response {
  const namespace = p.get("namespace");
  const pod = p.get("pod_name");
  const container = p.get("container_name");
  const selector = p.get("selector");
  if (namespace === null && selector === null) return error(400, "missing query parameter: namespace", "namespace");
  const pairs: [string, string][] = [];
  for (const part of selector ? selector.split(",") : []) {
    const [k, v] = part.split("=");
    if (k === undefined || v === undefined) return error(400, "invalid selector", "selector");
    pairs.push([k.trim(), v.trim()]);
  }
  const regexps: RegExp[] = [];
  for (const re of p.getAll("regexp")) {
    try {
      regexps.push(new RegExp(re));
    } catch (e) {
      return error(400, "invalid query parameter", `regexp: ${(e as Error).message}`);
    }
  }
  const labelOf = (l: StoredLine, k: string) =>
    ({ namespace: l.namespace, pod: l.pod_name, container: l.container_name, stream: l.stream })[k] ?? l.labels?.[k];
  return {
    pinned: pod !== null && container !== null && selector === null,
    matches: (l) =>
      (namespace === null || l.namespace === namespace) &&
      (pod === null || l.pod_name === pod) &&
      (container === null || l.container_name === container) &&
      pairs.every(([k, v]) => labelOf(l, k) === v) &&
      regexps.every((re) => re.test(l.log)),
  };
}

/** The start of the range from start_time or since; a Response when they are wrong. */
function rangeStart(p: URLSearchParams): bigint | undefined | Response {
  const start = p.get("start_time");
  const since = p.get("since");
  if (start !== null && since !== null) return error(400, "start_time and since are exclusive", "since");
  if (start !== null) return parseRfc3339(start) ?? error(400, "failed to parse start_time", "start_time");
  if (since !== null) {
    const d = durationNs(since);
    return d === undefined ? error(400, "invalid duration", "since") : nowNs() - d;
  }
  return undefined;
}

function rowJson(l: StoredLine, pinned: boolean): string {
  const row: Record<string, string> = { time: formatRfc3339Nano(timeNs(l)), log: l.log, stream: l.stream };
  if (!pinned) Object.assign(row, { namespace: l.namespace, pod_name: l.pod_name, container_name: l.container_name });
  return JSON.stringify(row);
}

export function startStandIn(options: StandInOptions = {}): StandIn {
  const lines = [...(options.lines ?? [])].sort((a, b) => (timeNs(a) < timeNs(b) ? -1 : timeNs(a) > timeNs(b) ? 1 : 0));
  const requests: URL[] = [];
  const streams = new Set<{ send: (text: string) => void; close: () => void; selection: Selection }>();

  function authorized(req: Request): boolean {
    if (options.token === undefined && options.user === undefined) return true;
    const h = req.headers.get("authorization") ?? "";
    return (
      (options.token !== undefined && h === `Bearer ${options.token}`) ||
      (options.user !== undefined && h === `Basic ${Buffer.from(options.user).toString("base64")}`)
    );
  }

  function query(p: URLSearchParams): Response {
    const sel = selection(p);
    if (sel instanceof Response) return sel;
    const start = rangeStart(p);
    if (start instanceof Response) return start;
    const tailText = p.get("tail");
    if (start === undefined && tailText === null) return error(400, "missing query parameter: start_time", "start_time");
    let rows = lines.filter((l) => sel.matches(l) && (start === undefined || timeNs(l) >= start));
    if (tailText !== null) rows = rows.slice(Math.max(0, rows.length - Number(tailText)));
    const from = Number(p.get("cursor") ?? "0");
    const pageSize = options.pageSize ?? Infinity;
    const page = rows.slice(from, from + pageSize);
    const more = tailText === null && from + page.length < rows.length;
    const close = more ? `],"next_cursor":${JSON.stringify(String(from + page.length))}}` : "]}";
    const encoder = new TextEncoder();
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(encoder.encode('{"log_rows":['));
      },
      async pull(c) {
        if (i === options.cutAfterRows) {
          // As the real server when its store fails: what was sent stays sent, then the
          // connection is cut. (Cut by stopping this stand-in: erroring the stream would do the
          // same, but Bun then prints the error's stack into the test output.)
          await Bun.sleep(50);
          await server?.stop(true);
          return;
        }
        if (i === page.length) {
          c.enqueue(encoder.encode(close));
          c.close();
          return;
        }
        await options.beforeRow?.(i);
        c.enqueue(encoder.encode((i > 0 ? "," : "") + rowJson(page[i]!, sel.pinned)));
        i++;
      },
    });
    return new Response(body, { headers: JSON_HEADERS });
  }

  function tail(p: URLSearchParams): Response {
    const sel = selection(p);
    if (sel instanceof Response) return sel;
    const start = rangeStart(p);
    if (start instanceof Response) return start;
    const selected = lines.filter((l) => sel.matches(l));
    const tailN = Number(p.get("tail") ?? "0");
    const first =
      start !== undefined ? selected.filter((l) => timeNs(l) >= start) : selected.slice(Math.max(0, selected.length - tailN));
    const encoder = new TextEncoder();
    let stream: { send: (text: string) => void; close: () => void; selection: Selection };
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        stream = {
          selection: sel,
          send: (text) => c.enqueue(encoder.encode(text)),
          close: () => {
            streams.delete(stream);
            c.close();
          },
        };
        c.enqueue(encoder.encode(": heartbeat\n\n")); // the real server sends one every 15 s
        for (const l of first) stream.send(lineEvent(l));
        streams.add(stream);
      },
      cancel() {
        streams.delete(stream);
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }

  const lineEvent = (l: StoredLine) => `event: line\ndata: ${rowJson(l, false)}\n\n`;

  let server: Server<undefined> | undefined;
  let port = 0;
  const start = () => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port,
      idleTimeout: 0, // /tail streams stay open as long as the test wants
      fetch(req) {
        const url = new URL(req.url);
        requests.push(url);
        if (!authorized(req)) return error(401, "unauthorized", "missing or wrong credentials");
        if (req.method !== "GET") return error(405, "method not allowed");
        if (url.pathname === "/query") return query(url.searchParams);
        if (url.pathname === "/tail") return tail(url.searchParams);
        return error(404, "not found", url.pathname);
      },
    });
    port = server.port!;
  };
  start();

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    push(line) {
      lines.push(line);
      for (const s of streams) if (s.selection.matches(line)) s.send(lineEvent(line));
    },
    dropped(n) {
      for (const s of streams) s.send(`event: dropped\ndata: {"dropped":${n}}\n\n`);
    },
    closeStreams() {
      for (const s of [...streams]) s.close();
    },
    openStreams: () => streams.size,
    async stop() {
      streams.clear();
      await server?.stop(true);
      server = undefined;
    },
    start,
  };
}

export function line(over: Partial<StoredLine> & Pick<StoredLine, "time" | "log">): StoredLine {
  return { stream: "stdout", namespace: "shop", pod_name: "web-1", container_name: "nginx", labels: { app: "web" }, ...over };
}
