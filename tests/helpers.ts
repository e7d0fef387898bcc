// Shared test helpers: entries, records and requests with sensible defaults.
import type { Database } from "bun:sqlite";
import { compareLines, decodeChunk, linesOf, type ChunkLine } from "../src/store/chunk.ts";
import type { LogEntry, LogRow, LogStore, OrderedRow, StreamRef } from "../src/store/store.ts";
import { parseRfc3339 } from "../src/time.ts";

let counter = 0;
/** A name no other test uses, so tests can share one store without cleaning it. */
export function unique(prefix = "t"): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

export function ns(rfc3339: string): bigint {
  const v = parseRfc3339(rfc3339);
  if (v === undefined) throw new Error(`bad time in test: ${rfc3339}`);
  return v;
}

export function entry(over: Partial<LogEntry> & Pick<LogEntry, "namespace" | "timeNs">): LogEntry {
  return {
    tenant: "",
    pod: "pod-a",
    container: "main",
    log: "hello",
    stream: "stdout",
    podId: "pod-id-1",
    dockerId: "docker-1",
    host: "node-1",
    labels: { app: "demo" },
    ...over,
  };
}

export async function collect(pages: AsyncIterable<LogRow[]>): Promise<LogRow[]> {
  const out: LogRow[] = [];
  for await (const page of pages) out.push(...page);
  return out;
}

/** One container's lines in a closed time interval: what the original /query asked for. */
export interface Query extends StreamRef {
  startNs: bigint;
  endNs: bigint;
}

/** A container's lines in the range, oldest first, read through the store's own read(). */
export function queryAll(store: LogStore, q: Query): Promise<OrderedRow[]> {
  return collect(store.read(q, { startNs: q.startNs, endNs: q.endNs, direction: "forward" })) as Promise<OrderedRow[]>;
}

/** A Fluent Bit record as the Kubernetes filter shapes it. */
export function fbRecord(over: {
  namespace?: string;
  pod?: string;
  container?: string;
  log?: string;
  stream?: string;
  time?: string;
  date?: unknown;
  labels?: unknown;
}): Record<string, unknown> {
  const rec: Record<string, unknown> = {
    log: over.log ?? "hello",
    stream: over.stream ?? "stdout",
    time: over.time ?? "2018-05-03T12:04:57.094408152Z",
    kubernetes: {
      docker_id: "e8b89cc4e292",
      labels: over.labels ?? { app: "web" },
      host: "worker1",
      pod_name: over.pod ?? "web-1",
      container_name: over.container ?? "nginx",
      pod_id: "f5225d5f-4e9d-11e8-8b6b-02425d6e035a",
      namespace_name: over.namespace ?? "default",
    },
  };
  if (over.date !== undefined) rec.date = over.date;
  return rec;
}

export function post(
  body: string | Uint8Array | ArrayBuffer | Blob | ReadableStream,
  headers: Record<string, string> = { "content-type": "application/json" },
  path = "/write",
): Request {
  return new Request(`http://localhost${path}`, { method: "POST", body, headers });
}

export function get(pathAndQuery: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://localhost${pathAndQuery}`, { headers });
}

export function queryUrl(p: { namespace: string; pod?: string; container?: string; start: string; end?: string }): string {
  const q = new URLSearchParams({
    namespace: p.namespace,
    pod_name: p.pod ?? "web-1",
    container_name: p.container ?? "nginx",
    start_time: p.start,
  });
  if (p.end !== undefined) q.set("end_time", p.end);
  return `/query?${q}`;
}

/**
 * Every line the embedded store's database holds, decoded from its chunks, with its container:
 * what tests check when they look at the store's own tables. Ordered by tenant, namespace, pod,
 * container, then (time, seq, id).
 */
export function storedLines(db: Database): (ChunkLine & {
  tenant: string;
  namespace: string;
  pod: string;
  container: string;
})[] {
  const rows = db
    .query(
      `SELECT c.tenant, c.namespace, c.pod, c.container, k.data FROM chunks k JOIN containers c ON c.id = k.container_id
       ORDER BY c.tenant, c.namespace, c.pod, c.container, k.first_ts`,
    )
    .values() as [string, string, string, string, Uint8Array][];
  const out = [];
  for (const [tenant, namespace, pod, container, data] of rows) {
    const chunk = decodeChunk(data);
    for (const line of linesOf(chunk)) out.push({ tenant, namespace, pod, container, ...line });
  }
  return out.sort(
    (a, b) =>
      compareStrings(a.tenant, b.tenant) ||
      compareStrings(a.namespace, b.namespace) ||
      compareStrings(a.pod, b.pod) ||
      compareStrings(a.container, b.container) ||
      compareLines(a, b),
  );
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
