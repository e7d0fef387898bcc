// The explorer's side of the HTTP API: every request carries the session's credentials; a 401 (or
// a tenant the server needs named) asks the user for them and tries again. Credentials live in
// sessionStorage only: gone when the tab closes.

export interface Credentials {
  kind: "none" | "basic" | "bearer";
  user?: string;
  password?: string;
  token?: string;
  /** X-Scope-OrgID, when the server keeps tenants apart. */
  tenant?: string;
}

const KEY = "kube-insight-logserver.credentials";

export function loadCredentials(): Credentials {
  try {
    const text = sessionStorage.getItem(KEY);
    if (text) return JSON.parse(text) as Credentials;
  } catch {
    // unreadable: none
  }
  return { kind: "none" };
}

export function saveCredentials(c: Credentials): void {
  sessionStorage.setItem(KEY, JSON.stringify(c));
}

export function clearCredentials(): void {
  sessionStorage.removeItem(KEY);
}

/** Base64 of the UTF-8 of a text (btoa takes Latin-1 only). */
function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function authHeaders(c: Credentials = loadCredentials()): Record<string, string> {
  const h: Record<string, string> = {};
  if (c.kind === "basic") h.authorization = `Basic ${base64(`${c.user ?? ""}:${c.password ?? ""}`)}`;
  if (c.kind === "bearer") h.authorization = `Bearer ${c.token ?? ""}`;
  if (c.tenant) h["x-scope-orgid"] = c.tenant;
  return h;
}

/** An answer in the API's error shape: {message, detail}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
  /** The server asks for credentials, or for a tenant to be named. */
  get needsCredentials(): boolean {
    return this.status === 401 || (this.status === 400 && /X-Scope-OrgID/.test(this.detail));
  }
}

type Asker = (problem: ApiError) => Promise<void>;
let asker: Asker | undefined;
let asking: Promise<void> | undefined;

/** Who asks the user for credentials (the app's dialog); resolves once new ones are saved. */
export function onCredentialsNeeded(fn: Asker): void {
  asker = fn;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { message?: string; detail?: string };
    return new ApiError(res.status, body.message ?? res.statusText, body.detail ?? "");
  } catch {
    return new ApiError(res.status, res.statusText || `HTTP ${res.status}`, text.slice(0, 500));
  }
}

/** GET with credentials; asks for them on 401 and tries again. */
export async function request(path: string, params?: URLSearchParams, init: RequestInit = {}): Promise<Response> {
  const url = params && [...params.keys()].length > 0 ? `${path}?${params}` : path;
  for (;;) {
    // credentials "omit": a 401 with WWW-Authenticate: Basic then never opens the browser's own
    // prompt; the credentials travel in the Authorization header this code sets.
    const res = await fetch(url, {
      ...init,
      credentials: "omit",
      headers: { ...authHeaders(), ...(init.headers as Record<string, string>) },
    });
    if (res.ok) return res;
    const error = await errorOf(res);
    if (!error.needsCredentials || asker === undefined) throw error;
    asking ??= asker(error).finally(() => (asking = undefined));
    await asking;
  }
}

export async function getJson<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  return (await (await request(path, params, { signal })).json()) as T;
}

/** A row as /query and /tail give it. */
export interface Row {
  time: string;
  log: string;
  stream: string;
  namespace?: string;
  pod_name?: string;
  container_name?: string;
}

export interface QueryAnswer {
  log_rows: Row[];
  next_cursor?: string;
}

export interface PodInfo {
  name: string;
  first_seen: string;
  last_seen: string;
  labels: Record<string, string>;
  host: string;
  containers: { name: string }[];
}

export interface VolumeBucket {
  time: string;
  lines: number;
  bytes: number;
  streams: Record<string, number>;
  levels: Record<string, number>;
}

export interface Volume {
  start_time: string;
  end_time: string;
  step_seconds: number;
  buckets: VolumeBucket[];
  total: Omit<VolumeBucket, "time">;
}

/**
 * Follows /tail (Server-Sent Events over fetch, which, unlike EventSource, sends the
 * credentials). Calls onRows for each batch of lines; resolves when the stream ends (server gone),
 * rejects on an HTTP error; abort() stops it.
 */
export async function followTail(
  params: URLSearchParams,
  signal: AbortSignal,
  onRows: (rows: Row[]) => void,
  onOpen: () => void,
): Promise<void> {
  const res = await request("/tail", params, { signal, headers: { accept: "text/event-stream" } });
  onOpen();
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const rows: Row[] = [];
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      if (event === "line" && data) rows.push(JSON.parse(data) as Row);
    }
    if (rows.length > 0) onRows(rows);
  }
}
