// Timestamps travel as epoch nanoseconds (bigint). These helpers parse and print RFC 3339 with
// any fraction, which is how Kubernetes, Fluent Bit and our query API spell time.

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SECOND = 1_000_000_000n;

/**
 * The latest representable time, 2262-04-11T23:47:16.854775807Z: the stores keep signed 64-bit
 * nanoseconds, so a later time would wrap around to 1677. The earliest is the epoch (0n).
 */
export const MAX_TIME_NS = (1n << 63n) - 1n;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export interface ParseTimeOptions {
  /** Accept a time without zone designator and read it as UTC (java_sql_timestamp). */
  allowNoZone?: boolean;
}

/**
 * Parses an RFC 3339 timestamp ("2018-05-03T12:04:57.094408152Z", "...+02:00", any number of
 * fraction digits; digits past nanoseconds are truncated). Returns epoch nanoseconds, or
 * undefined when the text is not a valid timestamp.
 */
export function parseRfc3339(text: string, options: ParseTimeOptions = {}): bigint | undefined {
  // Fast path for the shape container runtimes write ("2018-05-03T12:04:57.094408152Z"): lines
  // of a batch mostly share their second, so the "YYYY-MM-DDTHH:MM:SS" prefix is parsed once.
  const n = text.length;
  if (n >= 20 && n <= 30 && text.charCodeAt(n - 1) === 90 /* Z */ && text.charCodeAt(10) === 84 /* T */) {
    const dot = text.charCodeAt(19);
    if ((dot === 46 /* . */ && n > 21) || (dot === 90 && n === 20)) {
      if (!text.startsWith(cachedParsePrefix)) {
        const seconds = parseSlow(`${text.slice(0, 19)}Z`, options);
        if (seconds === undefined) return undefined;
        cachedParsePrefix = text.slice(0, 19);
        cachedParseNs = seconds;
      }
      let fraction = 0;
      let digits = 0;
      for (let i = 20; i < n - 1; i++) {
        const d = text.charCodeAt(i) - 48;
        if (d < 0 || d > 9) return undefined;
        if (digits < 9) {
          fraction = fraction * 10 + d;
          digits++;
        }
      }
      for (; digits < 9; digits++) fraction *= 10;
      return cachedParseNs + BigInt(fraction);
    }
  }
  return parseSlow(text, options);
}

let cachedParsePrefix = "\u0000";
let cachedParseNs = 0n;

function parseSlow(text: string, options: ParseTimeOptions): bigint | undefined {
  if (text.length > 64) return undefined;
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const year = +m[1]!;
  const month = +m[2]!;
  const day = +m[3]!;
  const hour = +m[4]!;
  const minute = +m[5]!;
  const second = +m[6]!;
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]!) return undefined;
  if (month === 2 && day === 29 && !isLeapYear(year)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    if (m[9] === undefined) {
      if (!options.allowNoZone) return undefined;
    } else {
      const oh = +m[10]!;
      const om = +m[11]!;
      if (oh > 23 || om > 59) return undefined;
      offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
    }
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offsetMinutes, second, 0);
  const fraction = m[7] === undefined ? 0 : Number((m[7] + "00000000").slice(0, 9));
  return BigInt(date.getTime()) * NS_PER_MS + BigInt(fraction);
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

let cachedSecondNs = -1n;
let cachedPrefix = "";
/** "000".."999", and the same with trailing zeros dropped ("1" for 100, "" for 0). */
const DIGITS3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
const DIGITS3_TRIMMED = DIGITS3.map((d) => d.replace(/0+$/, ""));

/**
 * Prints epoch nanoseconds as RFC 3339 in UTC with the fraction Go's RFC3339Nano prints:
 * nanoseconds kept, trailing zeros dropped ("2018-05-07T00:00:00.1Z", "...:00Z").
 */
export function formatRfc3339Nano(ns: bigint): string {
  // Consecutive rows mostly share their second: reuse its formatted prefix, and keep bigint
  // arithmetic (slow) to one subtraction per row.
  let offset = ns - cachedSecondNs;
  if (cachedSecondNs < 0n || offset < 0n || offset >= NS_PER_SECOND) {
    let seconds = ns / NS_PER_SECOND;
    if (seconds * NS_PER_SECOND > ns) seconds -= 1n; // floor for times before 1970
    cachedSecondNs = seconds * NS_PER_SECOND;
    cachedPrefix = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
    offset = ns - cachedSecondNs;
  }
  const fraction = Number(offset);
  if (fraction === 0) return `${cachedPrefix}Z`;
  const ms = Math.floor(fraction / 1_000_000);
  const us = Math.floor(fraction / 1000) % 1000;
  const rest = fraction % 1000;
  if (rest !== 0) return `${cachedPrefix}.${DIGITS3[ms]}${DIGITS3[us]}${DIGITS3_TRIMMED[rest]}Z`;
  if (us !== 0) return `${cachedPrefix}.${DIGITS3[ms]}${DIGITS3_TRIMMED[us]}Z`;
  return `${cachedPrefix}.${DIGITS3_TRIMMED[ms]}Z`;
}

/** The current time in epoch nanoseconds (millisecond resolution). */
export function nowNs(): bigint {
  return BigInt(Date.now()) * NS_PER_MS;
}

/** Lines older than this (epoch ns) are past a retention of `seconds`. */
export function retentionCutoffNs(seconds: number): bigint {
  return nowNs() - BigInt(seconds) * NS_PER_SECOND;
}

/** Milliseconds to nanoseconds without float error. */
export function msToNs(ms: number): bigint {
  return BigInt(ms) * NS_PER_MS;
}

const DURATION_UNITS_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: NS_PER_MS,
  s: NS_PER_SECOND,
  m: 60n * NS_PER_SECOND,
  h: 3_600n * NS_PER_SECOND,
  d: 86_400n * NS_PER_SECOND,
  w: 604_800n * NS_PER_SECOND,
};

/**
 * A duration as Go and kubectl write them ("90s", "1h30m", "500ms"), with days and weeks ("2d",
 * "1w") too; whole numbers per unit. Returns nanoseconds, or undefined when the text is not one.
 */
export function parseDurationNs(text: string): bigint | undefined {
  const s = text.trim();
  if (s === "" || s.length > 64) return undefined;
  const term = /(\d+)(ns|us|µs|ms|s|m|h|d|w)/y;
  let total = 0n;
  let at = 0;
  while (at < s.length) {
    term.lastIndex = at;
    const m = term.exec(s);
    if (m === null) return undefined;
    total += BigInt(m[1]!) * DURATION_UNITS_NS[m[2]!]!;
    at = term.lastIndex;
  }
  return total;
}
