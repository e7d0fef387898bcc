// Log queries: the pipeline applied to a selector's lines, grouped into Loki's `streams` result.
import type { LogSelectorPlan, SourceLine } from "./plan.ts";
import { labelsKey, sortLabels } from "./evaluate.ts";

export interface LogStream {
  /** The line's final labels: stream labels, structured metadata and parsed labels, `__error__`. */
  stream: Record<string, string>;
  /** [timestamp in ns as a string, line], in the query's direction. */
  values: [string, string][];
}

export interface LogQueryResult {
  streams: LogStream[];
  /** Lines in the answer. */
  entries: number;
  /** Whether the limit cut the answer short. */
  limited: boolean;
  /** The time of the last line in the answer (to continue a backward/forward page). */
  lastTimeNs?: bigint;
}

/**
 * Runs a log query's pipeline over lines already in the query's direction (newest first for
 * `backward`), keeping the first `limit` lines that pass it, grouped by their final label set
 * (Loki's streams). Stops reading as soon as the limit is reached.
 */
export async function runLogQuery(
  plan: LogSelectorPlan,
  lines: AsyncIterable<SourceLine[]>,
  limit: number,
): Promise<LogQueryResult> {
  const streams = new Map<string, LogStream>();
  let entries = 0;
  let lastTimeNs: bigint | undefined;
  let limited = false;
  if (limit <= 0) return { streams: [], entries: 0, limited: false };
  outer: for await (const batch of lines) {
    for (const l of batch) {
      const r = plan.pipeline.process(l.line, l.timeNs, l.labels, l.metadata);
      if (r === null) continue;
      if (entries >= limit) {
        limited = true;
        break outer;
      }
      const key = labelsKey(r.labels);
      let s = streams.get(key);
      if (s === undefined) {
        s = { stream: sortLabels(r.labels), values: [] };
        streams.set(key, s);
      }
      s.values.push([l.timeNs.toString(), r.line]);
      entries++;
      lastTimeNs = l.timeNs;
    }
  }
  const out: LogQueryResult = { streams: [...streams.values()], entries, limited };
  if (lastTimeNs !== undefined) out.lastTimeNs = lastTimeNs;
  return out;
}
