// Loki's query parameters, read as Loki reads them (pkg/loghttp/params.go): times as integer
// nanoseconds (or seconds when 10 digits or fewer), float seconds or RFC 3339; durations as
// float seconds or Prometheus durations; its defaults (limit 100, direction backward, end now,
// start an hour before end).
import { HttpError } from "../routes/http.ts";
import { NS_PER_SECOND, parseRfc3339 } from "../time.ts";

/** Loki's answer to a bad parameter: 400 with its message. */
export class LokiBadRequest extends HttpError {
  override readonly name = "LokiBadRequest";
  constructor(message: string, detail = message) {
    super(400, message, detail);
  }
}

export const DEFAULT_LIMIT = 100;
/** Loki's max_entries_limit_per_query default. */
export const MAX_ENTRIES = 5000;
/** Loki's max points per series of a range query. */
export const MAX_POINTS = 11_000;
const HOUR_NS = 3600n * NS_PER_SECOND;

/** The parameters of a GET query string and, for POST, a form body, as one lookup. */
export class Params {
  constructor(private readonly values: URLSearchParams) {}

  static async of(request: Request): Promise<Params> {
    const url = new URL(request.url);
    const values = new URLSearchParams(url.search);
    if (request.method === "POST") {
      const type = request.headers.get("content-type") ?? "";
      if (type.includes("application/x-www-form-urlencoded")) {
        const body = await request.text();
        for (const [k, v] of new URLSearchParams(body)) values.append(k, v);
      } else if (type.includes("multipart/form-data")) {
        const form = await request.formData();
        for (const [k, v] of form) if (typeof v === "string") values.append(k, v);
      }
    }
    return new Params(values);
  }

  get(name: string): string | undefined {
    const v = this.values.get(name);
    return v === null || v === "" ? undefined : v;
  }

  all(name: string): string[] {
    return this.values.getAll(name).filter((v) => v !== "");
  }
}

/**
 * A timestamp as Loki takes it: a number with a dot is float seconds; an integer is seconds when
 * it has 10 digits or fewer, nanoseconds otherwise; else RFC 3339.
 */
export function parseLokiTime(name: string, text: string): bigint {
  const t = text.trim();
  if (t.includes(".") && /^[+-]?\d*\.\d*(?:[eE][+-]?\d+)?$/.test(t)) {
    const seconds = Number(t);
    if (Number.isFinite(seconds)) {
      const whole = Math.trunc(seconds);
      const ms = Math.round((seconds - whole) * 1000);
      return BigInt(whole) * NS_PER_SECOND + BigInt(ms) * 1_000_000n;
    }
  }
  if (/^[+-]?\d+$/.test(t)) {
    const n = BigInt(t);
    if (n > (1n << 63n) - 1n || n < -(1n << 63n)) throw new LokiBadRequest(`invalid ${name}: value out of range`, `${name}=${t}`);
    const digits = t.replace(/^[+-]/, "").length;
    return digits <= 10 ? n * NS_PER_SECOND : n;
  }
  const parsed = parseRfc3339(t);
  if (parsed !== undefined) return parsed;
  throw new LokiBadRequest(
    `invalid ${name}: cannot parse "${t}" to a valid timestamp`,
    `${name} takes integer nanoseconds (or seconds), float seconds or RFC 3339`,
  );
}

const DURATION_UNITS: Record<string, bigint> = {
  ms: 1_000_000n,
  s: NS_PER_SECOND,
  m: 60n * NS_PER_SECOND,
  h: 3600n * NS_PER_SECOND,
  d: 86_400n * NS_PER_SECOND,
  w: 7n * 86_400n * NS_PER_SECOND,
  y: 365n * 86_400n * NS_PER_SECOND,
};

/** A Prometheus duration (`1h30m`, `5m`, `250ms`) in ns, or undefined. */
export function parsePromDuration(text: string): bigint | undefined {
  if (!/^(\d+(ms|s|m|h|d|w|y))+$/.test(text)) return undefined;
  let total = 0n;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += BigInt(m[1]!) * DURATION_UNITS[m[2]!]!;
  return total;
}

/** A step or interval: float seconds or a Prometheus duration. */
export function parseSecondsOrDuration(name: string, text: string): bigint {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const seconds = Number(t);
    return BigInt(Math.round(seconds * 1e9));
  }
  const d = parsePromDuration(t);
  if (d !== undefined) return d;
  throw new LokiBadRequest(
    `invalid ${name}: cannot parse "${t}" to a valid duration`,
    `${name} takes float seconds or a duration such as 30s, 1m`,
  );
}

export interface Range {
  startNs: bigint;
  endNs: bigint;
}

/** start and end, Loki's defaults: end now, start an hour before end. */
export function parseRange(p: Params, now: bigint, defaultSpanNs = HOUR_NS): Range {
  const end = p.get("end");
  const endNs = end === undefined ? now : parseLokiTime("end", end);
  const start = p.get("start");
  const startNs = start === undefined ? endNs - defaultSpanNs : parseLokiTime("start", start);
  if (endNs < startNs) {
    throw new LokiBadRequest("end timestamp must not be before or equal to start time", `start=${startNs}, end=${endNs}`);
  }
  return { startNs, endNs };
}

export function parseLimit(p: Params): number {
  const text = p.get("limit");
  if (text === undefined) return DEFAULT_LIMIT;
  if (!/^\d+$/.test(text)) throw new LokiBadRequest(`invalid limit: "${text}" is not a number`);
  const limit = Number(text);
  if (limit <= 0) throw new LokiBadRequest("limit must be a positive value");
  if (limit > MAX_ENTRIES) {
    throw new LokiBadRequest(
      `max entries limit per query exceeded, limit > max_entries_limit_per_query (${limit} > ${MAX_ENTRIES})`,
    );
  }
  return limit;
}

export function parseDirection(p: Params): "forward" | "backward" {
  const text = p.get("direction");
  if (text === undefined) return "backward";
  const lower = text.toLowerCase();
  if (lower === "forward" || lower === "backward") return lower;
  throw new LokiBadRequest(`invalid direction "${text}": expected forward or backward`);
}

/**
 * The step of a range query: given, or Loki's default, (end - start) / 250 in whole seconds, at
 * least 1 s. At most MAX_POINTS points per series.
 */
export function parseStep(p: Params, range: Range): bigint {
  const text = p.get("step");
  let step: bigint;
  if (text === undefined) {
    const seconds = (range.endNs - range.startNs) / NS_PER_SECOND / 250n;
    step = (seconds < 1n ? 1n : seconds) * NS_PER_SECOND;
  } else {
    step = parseSecondsOrDuration("step", text);
  }
  if (step <= 0n) {
    throw new LokiBadRequest("zero or negative query resolution step widths are not accepted. Try a positive integer");
  }
  if ((range.endNs - range.startNs) / step > BigInt(MAX_POINTS)) {
    throw new LokiBadRequest(
      `exceeded maximum resolution of ${MAX_POINTS.toLocaleString("en-US")} points per timeseries. Try increasing the value of the step parameter`,
    );
  }
  return step;
}
