// What Loki answers from its index, answered from the stream index and the per-minute counts kept
// at write time: label names and values, series, index stats and volume. Nothing here reads lines.
import { resolveStreams } from "../query/engine.ts";
import { valueTest, type Matcher } from "../query/selector.ts";
import type { LogStore, StreamInfo } from "../store/store.ts";
import { streamLabels } from "./view.ts";

export const MINUTE_NS = 60_000_000_000n;

/** One series (a stream's labels with `stream` = stdout/stderr) and its counts per minute. */
export interface SeriesCounts {
  labels: Record<string, string>;
  info: StreamInfo;
  /** minute start (ns) → [lines, bytes] */
  minutes: Map<bigint, [number, number]>;
  /** Counts by detected level, over the whole range. */
  levels: Map<string, [number, number]>;
  /** With byLevel: the counts of each minute and level, as the store keeps them. */
  byLevel?: { minuteNs: bigint; level: string; lines: number; bytes: number }[];
}

/** The streams of a selector, in the tenant, from the index. */
export async function selectStreams(store: LogStore, tenant: string, matchers: Matcher[], startNs: bigint, endNs: bigint) {
  return (await resolveStreams(store, tenant, matchers, startNs, endNs)).map((x) => x.s);
}

/**
 * The series of the selector and their per-minute counts in [startNs, endNs] (the minutes that
 * start in it), split by stdout/stderr as Loki's `stream` label splits them. Matchers on `stream`
 * apply to that split.
 */
export async function seriesCounts(
  store: LogStore,
  tenant: string,
  matchers: Matcher[],
  startNs: bigint,
  endNs: bigint,
  byLevel = false,
): Promise<SeriesCounts[]> {
  return streamCounts(store, await selectStreams(store, tenant, matchers, startNs, endNs), matchers, startNs, endNs, byLevel);
}

/** seriesCounts of streams already selected (selectStreams). */
export async function streamCounts(
  store: LogStore,
  streams: StreamInfo[],
  matchers: Matcher[],
  startNs: bigint,
  endNs: bigint,
  byLevel = false,
): Promise<SeriesCounts[]> {
  const streamTests = matchers.filter((m) => m.name === "stream").map(valueTest);
  const out: SeriesCounts[] = [];
  for (const info of streams) {
    const bySeries = new Map<string, SeriesCounts>();
    for await (const page of store.counts(info, startNs, endNs)) {
      for (const c of page) {
        if (!streamTests.every((t) => t(c.stream))) continue;
        let series = bySeries.get(c.stream);
        if (series === undefined) {
          const base = streamLabels(info);
          const labels = c.stream === "" ? base : { ...base, stream: c.stream };
          bySeries.set(c.stream, (series = { labels, info, minutes: new Map(), levels: new Map() }));
          if (byLevel) series.byLevel = [];
        }
        series.byLevel?.push({ minuteNs: c.minuteNs, level: c.level, lines: c.lines, bytes: c.bytes });
        const m = series.minutes.get(c.minuteNs);
        if (m) {
          m[0] += c.lines;
          m[1] += c.bytes;
        } else series.minutes.set(c.minuteNs, [c.lines, c.bytes]);
        const l = series.levels.get(c.level);
        if (l) {
          l[0] += c.lines;
          l[1] += c.bytes;
        } else series.levels.set(c.level, [c.lines, c.bytes]);
      }
    }
    out.push(...bySeries.values());
  }
  return out;
}

export interface IndexStats {
  streams: number;
  chunks: number;
  bytes: number;
  entries: number;
}

/** Loki's index/stats: streams (series), bytes and entries; chunks counted as minutes with lines. */
export function indexStats(series: SeriesCounts[]): IndexStats {
  const stats: IndexStats = { streams: series.length, chunks: 0, bytes: 0, entries: 0 };
  for (const s of series) {
    for (const [lines, bytes] of s.minutes.values()) {
      stats.chunks++;
      stats.entries += lines;
      stats.bytes += bytes;
    }
  }
  return stats;
}

/** The labels a volume is grouped by: targetLabels, or the names the selector uses. */
export function volumeTargets(matchers: Matcher[], targetLabels: string | undefined): string[] {
  if (targetLabels !== undefined && targetLabels.trim() !== "") {
    return targetLabels
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  }
  return [...new Set(matchers.map((m) => m.name))];
}

/** Volume groups: by the target labels' values (aggregateBy=series), or one label at a time (labels). */
export function volumeGroups(
  series: SeriesCounts[],
  targets: string[],
  aggregateBy: "series" | "labels",
): { metric: Record<string, string>; series: SeriesCounts }[] {
  const out: { metric: Record<string, string>; series: SeriesCounts }[] = [];
  for (const s of series) {
    if (aggregateBy === "labels") {
      for (const name of targets) {
        if (Object.hasOwn(s.labels, name)) out.push({ metric: { [name]: s.labels[name]! }, series: s });
      }
    } else {
      const metric: Record<string, string> = {};
      for (const name of targets) if (Object.hasOwn(s.labels, name)) metric[name] = s.labels[name]!;
      out.push({ metric, series: s });
    }
  }
  return out;
}
