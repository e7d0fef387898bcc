// Requests of the `logs` client (GET /query, GET /tail) and what their error answers say.
import type { LogsOptions } from "./args.ts";

/** kubectl's "all lines": the range starts at the epoch. */
export const EPOCH = "1970-01-01T00:00:00Z";

/** What -f without --tail shows first for a selector (kubectl's default for -l). */
export const SELECTOR_FOLLOW_TAIL = 10;

/** The selection both endpoints share: which containers, which lines. */
function selection(o: LogsOptions): URLSearchParams {
  const p = new URLSearchParams({ namespace: o.namespace });
  if (o.pod !== undefined) p.set("pod_name", o.pod);
  if (o.container !== undefined) p.set("container_name", o.container);
  if (o.selector !== undefined) p.set("selector", o.selector);
  for (const re of o.grep) p.append("regexp", re);
  return p;
}

/** GET /query's parameters: the whole range unless --since, --since-time or --tail narrow it. */
export function queryParams(o: LogsOptions): URLSearchParams {
  const p = selection(o);
  if (o.since !== undefined) p.set("since", o.since);
  else if (o.sinceTime !== undefined) p.set("start_time", o.sinceTime);
  const tail = o.tail !== undefined && o.tail >= 0 ? o.tail : undefined;
  if (tail !== undefined) p.set("tail", String(tail));
  // The server needs a start; kubectl's default is every line.
  else if (o.since === undefined && o.sinceTime === undefined) p.set("start_time", EPOCH);
  return p;
}

/**
 * GET /tail's parameters. The lines shown first: --tail, else --since, else --since-time, else
 * all of a pod's lines, or the last 10 for a selector (as kubectl). After a reconnection,
 * `resumeFrom` (the time of the last line printed) replaces them.
 */
export function tailParams(o: LogsOptions, resumeFrom?: string): URLSearchParams {
  const p = selection(o);
  if (resumeFrom !== undefined) p.set("start_time", resumeFrom);
  else if (o.tail !== undefined && o.tail >= 0) p.set("tail", String(o.tail));
  else if (o.since !== undefined) p.set("since", o.since);
  else if (o.sinceTime !== undefined) p.set("start_time", o.sinceTime);
  else if (o.pod !== undefined || o.tail === -1) p.set("start_time", EPOCH);
  else p.set("tail", String(SELECTOR_FOLLOW_TAIL));
  return p;
}

/** The URL of an endpoint under the server's base URL (which may carry a path prefix). */
export function endpoint(o: LogsOptions, path: "query" | "tail", params: URLSearchParams): URL {
  const url = new URL(path, o.server);
  url.search = params.toString();
  return url;
}

export function authHeaders(o: LogsOptions): Record<string, string> {
  const tenant: Record<string, string> = o.tenant !== undefined ? { "x-scope-orgid": o.tenant } : {};
  if (o.user !== undefined) return { ...tenant, authorization: `Basic ${Buffer.from(o.user).toString("base64")}` };
  if (o.token !== undefined) return { ...tenant, authorization: `Bearer ${o.token}` };
  return tenant;
}

/** The server as errors name it: no credentials, no query string. */
export function serverName(o: LogsOptions): string {
  const url = new URL(o.server);
  url.username = "";
  url.password = "";
  return url.href.replace(/\/$/, "");
}

/** Most of an error body worth reading; a proxy's HTML page is cut short. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * The "<message>: <detail>" of an error answer. The contract's JSON body when there is one;
 * otherwise the status and the start of the body (a proxy in between answers in its own words).
 */
export async function describeErrorAnswer(res: Response): Promise<string> {
  const body = await readSome(res, MAX_ERROR_BODY);
  try {
    const parsed = JSON.parse(body) as { message?: unknown; detail?: unknown };
    if (typeof parsed.message === "string" && parsed.message !== "") {
      const detail = typeof parsed.detail === "string" ? parsed.detail : "";
      return detail === "" ? parsed.message : `${parsed.message}: ${detail}`;
    }
  } catch {
    // not the contract's shape: described below
  }
  const status = `the server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  const firstLine = body.trim().split(/\r?\n/, 1)[0]?.slice(0, 200) ?? "";
  return firstLine === "" ? status : `${status}: ${firstLine}`;
}

async function readSome(res: Response, limit: number): Promise<string> {
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // what arrived is enough to describe the error
  } finally {
    void reader.cancel().catch(() => {});
  }
  return text.slice(0, limit);
}

/** A network failure in one line: Bun's message, without the code repeated in front of it. */
export function describeNetworkError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^[A-Z_]+: /, "").replace(/\s*For more information, pass `verbose: true`.*$/s, "");
}
