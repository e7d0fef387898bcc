// GET /volume: lines per interval of a selection, by stdout/stderr and by detected level, from the
// per-minute counts every store keeps at write time (never by reading lines). The explorer's
// histogram draws it. Line filters play no part: the counts are of all lines of the streams.
import { Elysia, t } from "elysia";
import { resolveStreams } from "../query/engine.ts";
import { linePredicate } from "../query/selector.ts";
import type { LogStore, MinuteCount, StreamInfo } from "../store/store.ts";
import { formatRfc3339Nano, nowNs, parseDurationNs } from "../time.ts";
import type { AccessControl } from "../access/access.ts";
import { ErrorBody, InvalidQueryError } from "./http.ts";
import { parseRange, parseSelection, RangeParams, rejectRepeated, SelectionParams } from "./selection.ts";

const MINUTE_NS = 60_000_000_000n;
const DAY_NS = 86_400_000_000_000n;
/** The most buckets one answer holds (a week by the minute fits). */
export const MAX_BUCKETS = 11_000;
/** Steps an automatic step is chosen from: the smallest that gives at most AUTO_BUCKETS buckets. */
const AUTO_STEPS_MINUTES = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];
const AUTO_BUCKETS = 240;
/** Streams whose counts are read at once. */
const PARALLEL_READS = 8;

/** What stream and level are called when the line had none. */
export const UNKNOWN = "unknown";

export const VolumeParams = t.Object({
  namespace: SelectionParams.namespace,
  pod_name: SelectionParams.pod_name,
  container_name: SelectionParams.container_name,
  selector: SelectionParams.selector,
  stream: SelectionParams.stream,
  ...RangeParams,
  start_time: t.Optional(t.String({ description: `${RangeParams.start_time.description} Default: 24 hours before end_time.` })),
  step: t.Optional(
    t.String({
      description:
        `Bucket width, whole minutes (1m, 5m, 1h, ...): at most ${MAX_BUCKETS} buckets. ` +
        `Default: the smallest of 1m, 2m, 5m, ... 1w that gives at most ${AUTO_BUCKETS}.`,
    }),
  ),
});

const Counts = {
  lines: t.Number(),
  bytes: t.Number({ description: "UTF-8 bytes of the lines' text." }),
  streams: t.Record(t.String(), t.Number(), { description: `Lines by stdout / stderr (${UNKNOWN}: not reported).` }),
  levels: t.Record(t.String(), t.Number(), { description: `Lines by detected level (${UNKNOWN}: none detected).` }),
};

export const VolumeResult = t.Object({
  start_time: t.String({ description: "Start of the first bucket (a multiple of step since 1970)." }),
  end_time: t.String({ description: "End of the range asked for." }),
  step_seconds: t.Number(),
  buckets: t.Array(t.Object({ time: t.String({ description: "Start of the bucket." }), ...Counts }), {
    description: "Every bucket of the range, oldest first, empty ones too. A bucket holds the minutes that start in it.",
  }),
  total: t.Object(Counts),
});

interface Tally {
  lines: number;
  bytes: number;
  streams: Record<string, number>;
  levels: Record<string, number>;
}

const tally = (): Tally => ({ lines: 0, bytes: 0, streams: {}, levels: {} });

function add(into: Tally, c: MinuteCount): void {
  into.lines += c.lines;
  into.bytes += c.bytes;
  const stream = c.stream || UNKNOWN;
  const level = c.level || UNKNOWN;
  into.streams[stream] = (into.streams[stream] ?? 0) + c.lines;
  into.levels[level] = (into.levels[level] ?? 0) + c.lines;
}

/** The step in nanoseconds: given (whole minutes), or chosen for the range. */
export function stepOf(text: string | undefined, startNs: bigint, endNs: bigint): bigint {
  if (text !== undefined && text !== "") {
    const step = parseDurationNs(text);
    if (step === undefined) throw new InvalidQueryError(`step: '${text}' is not a duration such as 1m, 5m, 1h`);
    if (step < MINUTE_NS || step % MINUTE_NS !== 0n) {
      throw new InvalidQueryError(`step: '${text}' is not a whole number of minutes (the counts are kept per minute)`);
    }
    const buckets = (endNs - startNs) / step + 1n;
    if (buckets > BigInt(MAX_BUCKETS)) {
      throw new InvalidQueryError(
        `step: ${text} makes ${buckets} buckets of this range, more than ${MAX_BUCKETS}; take a longer step`,
      );
    }
    return step;
  }
  for (const minutes of AUTO_STEPS_MINUTES) {
    const step = BigInt(minutes) * MINUTE_NS;
    if ((endNs - startNs) / step + 1n <= BigInt(AUTO_BUCKETS)) return step;
  }
  return BigInt(AUTO_STEPS_MINUTES.at(-1)!) * MINUTE_NS;
}

const floorTo = (ns: bigint, step: bigint) => ns - (ns % step);

export function volumeRoutes(store: LogStore, access: AccessControl) {
  return new Elysia({ name: "routes.volume" }).use(access.plugin()).get(
    "/volume",
    async ({ query: params, request, identity: { tenant } }) => {
      rejectRepeated(request, [
        "namespace",
        "pod_name",
        "container_name",
        "selector",
        "stream",
        "start_time",
        "end_time",
        "since",
        "step",
      ]);
      const { selector } = parseSelection(params);
      const { startNs, endNs } = parseRange(params, nowNs(), { defaultSinceNs: DAY_NS });
      access.checkRange(tenant, startNs, endNs);
      const step = stepOf(params.step, startNs, endNs);
      const first = floorTo(startNs, step);
      const buckets: Tally[] = [];
      for (let b = first; b <= endNs; b += step) buckets.push(tally());
      const total = tally();
      const keep = linePredicate(selector);
      const streams: StreamInfo[] = (await resolveStreams(store, tenant, selector, first, endNs)).map((x) => x.s);
      const countStream = async (s: StreamInfo) => {
        for await (const page of store.counts(s, first, endNs)) {
          for (const c of page) {
            if (keep !== undefined && !keep(c.stream)) continue;
            const bucket = buckets[Number((c.minuteNs - first) / step)];
            if (bucket === undefined) continue;
            add(bucket, c);
            add(total, c);
          }
        }
      };
      for (let i = 0; i < streams.length; i += PARALLEL_READS) {
        await Promise.all(streams.slice(i, i + PARALLEL_READS).map(countStream));
      }
      return {
        start_time: formatRfc3339Nano(first),
        end_time: formatRfc3339Nano(endNs),
        step_seconds: Number(step / 1_000_000_000n),
        buckets: buckets.map((b, i) => ({ time: formatRfc3339Nano(first + BigInt(i) * step), ...b })),
        total,
      };
    },
    {
      access: "read",
      query: VolumeParams,
      detail: {
        summary: "Lines per interval, by stdout/stderr and by detected level",
        description:
          "The volume of a selection (as /query's: namespace, pod_name, container_name, or selector; stream) over a range " +
          "(default: the last 24 hours), in buckets of `step`, from the per-minute counts kept at write time. Line " +
          "filters do not apply: the counts are of every line of the streams.",
        tags: ["query"],
      },
      response: { 200: VolumeResult, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
    },
  );
}
