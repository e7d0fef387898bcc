// The fault suite's client: a known set of unique lines, sent as Fluent Bit sends (the same
// bytes again after 5xx, 429, 408 or a connection error, with backoff; dropped on 400), and the
// count of what came back.
import { formatRfc3339Nano } from "../../src/time.ts";

/** A scenario's lines: line i is `<tag> <i> <padding>` of pod i % pods, at base + i × stepNs. */
export interface LineSet {
  tag: string;
  namespace: string;
  pods: number;
  lines: number;
  batchLines: number;
  baseNs: bigint;
  stepNs: bigint;
}

export function lineSet(tag: string, lines: number, over: Partial<LineSet> = {}): LineSet {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  return {
    tag,
    namespace: `faults-${tag}-${process.pid}`,
    pods: 4,
    lines,
    batchLines: 500,
    // Ten minutes ago, 100 µs apart: a million lines span 100 s, four 30-s partitions a pod.
    baseNs: nowNs - 600_000_000_000n,
    stepNs: 100_000n,
    ...over,
  };
}

const PADDING = " ".repeat(60) + "lorem ipsum dolor sit amet";

function record(set: LineSet, i: number): string {
  const t = set.baseNs + BigInt(i) * set.stepNs;
  return JSON.stringify({
    date: Number(t / 1000n) / 1e6,
    time: formatRfc3339Nano(t),
    log: `${set.tag} ${i}${PADDING}`,
    stream: "stdout",
    kubernetes: {
      namespace_name: set.namespace,
      pod_name: `pod-${i % set.pods}`,
      container_name: "main",
      pod_id: "f5225d5f-4e9d-11e8-8b6b-02425d6e035a",
      docker_id: "e8b89cc4e292",
      host: "worker1",
      labels: { app: "faults" },
    },
  });
}

/** The body of batch k: Fluent Bit's json format (an array of records). */
export function batchBody(set: LineSet, k: number): Uint8Array {
  const first = k * set.batchLines;
  const last = Math.min(set.lines, first + set.batchLines);
  const parts: string[] = [];
  for (let i = first; i < last; i++) parts.push(record(set, i));
  return new TextEncoder().encode(`[${parts.join(",")}]`);
}

export function batchCount(set: LineSet): number {
  return Math.ceil(set.lines / set.batchLines);
}

export interface SendStats {
  sent: number;
  acknowledged: number;
  dropped: number;
  /** Records a 200 answer named as rejected (its `rejected` count): stored nowhere, as Fluent Bit sees it. */
  rejected: number;
  status503: number;
  status429: number;
  otherStatus: number;
  connectionErrors: number;
  /** 503s without a Retry-After header. */
  without503RetryAfter: number;
  /** Longest stretch (ms) without an acknowledgement while lines were waiting: failures and stalls alike. */
  longestUnavailableMs: number;
  errorKinds: Record<string, number>;
}

export interface SendOptions {
  /** Base URLs; batch k goes to urls[k % urls.length] (and its resends with it). */
  urls: () => string[];
  concurrency?: number;
  /** Called after each acknowledged batch with the lines acknowledged so far. */
  onProgress?: (acknowledged: number) => void | Promise<void>;
  /** Give up a batch after this long (ms) of failures; the run then fails as lost lines. */
  giveUpMs?: number;
  path?: string;
}

/**
 * Sends every batch until acknowledged: Fluent Bit's retry semantics (the byte-identical body
 * again after 5xx, 429, 408 or a connection error, exponential backoff from 100 ms to 2 s;
 * dropped after a 400 or another 4xx).
 */
export async function sendAll(set: LineSet, options: SendOptions): Promise<SendStats> {
  const stats: SendStats = {
    sent: set.lines,
    acknowledged: 0,
    dropped: 0,
    rejected: 0,
    status503: 0,
    status429: 0,
    otherStatus: 0,
    connectionErrors: 0,
    without503RetryAfter: 0,
    longestUnavailableMs: 0,
    errorKinds: {},
  };
  let lastAck = Date.now();
  const succeeded = () => {
    const now = Date.now();
    stats.longestUnavailableMs = Math.max(stats.longestUnavailableMs, now - lastAck);
    lastAck = now;
  };
  const giveUpMs = options.giveUpMs ?? 600_000;
  const total = batchCount(set);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const k = next++;
      const body = batchBody(set, k);
      const lines = Math.min(set.lines, (k + 1) * set.batchLines) - k * set.batchLines;
      let backoff = 100;
      const started = Date.now();
      for (;;) {
        const urls = options.urls();
        const url = `${urls[k % urls.length]}${options.path ?? "/write"}`;
        let status = 0;
        try {
          const res = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
            signal: AbortSignal.timeout(30_000),
          });
          status = res.status;
          if (status === 503 && res.headers.get("retry-after") === null) stats.without503RetryAfter++;
          const text = await res.text();
          if (status === 200) stats.rejected += rejectedIn(text);
        } catch (error) {
          const kind = (error as { code?: string }).code ?? (error as Error).name ?? "error";
          stats.errorKinds[kind] = (stats.errorKinds[kind] ?? 0) + 1;
          stats.connectionErrors++;
        }
        if (status === 200) {
          succeeded();
          stats.acknowledged += lines;
          break;
        }
        if (status === 503) stats.status503++;
        else if (status === 429) stats.status429++;
        else if (status !== 0) stats.otherStatus++;
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          stats.dropped += lines; // Fluent Bit drops what the server refuses as bad
          break;
        }
        if (Date.now() - started > giveUpMs) break;
        await Bun.sleep(backoff * (0.5 + Math.random()));
        backoff = Math.min(backoff * 2, 2_000);
      }
      await options.onProgress?.(stats.acknowledged);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return stats;
}

/** The `rejected` count of a 200 answer's JSON body (0 without one). */
function rejectedIn(body: string): number {
  try {
    const n = (JSON.parse(body) as { rejected?: unknown }).rejected;
    return typeof n === "number" ? n : 0;
  } catch {
    return 0;
  }
}

export interface Census {
  /** Distinct lines of the set found. */
  stored: number;
  /** Rows found beyond the first of each line. */
  duplicated: number;
  /** Rows that are not lines of the set. */
  foreign: number;
  /** The first runs of lines not found, pod by pod: what a failure names. */
  missing: string;
}

/** Reads every line of the set back through /query (each pod, paged) and counts them. */
export async function census(baseUrl: string, set: LineSet): Promise<Census> {
  const seen = new Uint8Array(set.lines);
  let rows = 0;
  let foreign = 0;
  const start = formatRfc3339Nano(set.baseNs - 1_000_000_000n);
  const end = formatRfc3339Nano(set.baseNs + BigInt(set.lines) * set.stepNs + 1_000_000_000n);
  const prefix = `${set.tag} `;
  for (let pod = 0; pod < set.pods; pod++) {
    let cursor: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const q = new URLSearchParams({
        namespace: set.namespace,
        pod_name: `pod-${pod}`,
        container_name: "main",
        start_time: start,
        end_time: end,
        limit: "100000",
      });
      if (cursor) q.set("cursor", cursor);
      const res = await fetch(`${baseUrl}/query?${q}`, { signal: AbortSignal.timeout(120_000) });
      if (res.status !== 200) throw new Error(`census: /query answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { log_rows: { log: string }[]; next_cursor?: string };
      for (const r of body.log_rows) {
        rows++;
        const i = r.log.startsWith(prefix) ? Number.parseInt(r.log.slice(prefix.length), 10) : NaN;
        if (!(i >= 0 && i < set.lines)) foreign++;
        else if (seen[i]! < 255) seen[i]!++;
      }
      cursor = body.next_cursor;
      if (!cursor) break;
    }
  }
  let stored = 0;
  for (const n of seen) if (n > 0) stored++;
  return { stored, duplicated: rows - foreign - stored, foreign, missing: missingRanges(seen, set.pods) };
}

/** The first runs of lines never seen, each of one pod (its lines are every pods-th of the set). */
function missingRanges(seen: Uint8Array, pods: number, most = 8): string {
  const runs: string[] = [];
  let left = 0;
  for (let pod = 0; pod < pods; pod++) {
    for (let i = pod; i < seen.length; i += pods) {
      if (seen[i] !== 0) continue;
      let j = i;
      while (j + pods < seen.length && seen[j + pods] === 0) j += pods;
      if (runs.length < most) runs.push(`pod ${pod}: ${i === j ? i : `${i}-${j} (${(j - i) / pods + 1} lines)`}`);
      else left++;
      i = j;
    }
  }
  return runs.join(", ") + (left > 0 ? ` and ${left} more runs` : "");
}
