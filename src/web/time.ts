// Times as the API gives them (RFC 3339 with nanoseconds) and as the explorer shows them.

const RFC3339 = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:?\d{2})$/;

/** Epoch nanoseconds of an RFC 3339 time, or undefined when it is not one. */
export function parseNs(text: string): bigint | undefined {
  const m = RFC3339.exec(text.trim());
  if (m === null) return undefined;
  const ms = Date.parse(`${m[1]!.replace(/[ t]/, "T")}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0"));
  return BigInt(ms) * 1_000_000n + frac;
}

/** RFC 3339 in UTC with the nanoseconds kept (trailing zeros dropped). */
export function formatNs(ns: bigint): string {
  const rest = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const base = new Date(Number((ns - rest) / 1_000_000n)).toISOString().slice(0, 19);
  const frac = rest === 0n ? "" : `.${rest.toString().padStart(9, "0").replace(/0+$/, "")}`;
  return `${base}${frac}Z`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** "2026-05-03 12:00:00.123" in UTC or local time (the fraction to milliseconds). */
export function displayTime(text: string, utc: boolean): string {
  const ns = parseNs(text);
  if (ns === undefined) return text;
  const d = new Date(Number(ns / 1_000_000n));
  const ms = pad(d.getUTCMilliseconds(), 3);
  if (utc) {
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${ms}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${ms}`;
}

/** A short time for a chart axis label. */
export function axisTime(ms: number, utc: boolean, spanMs: number): string {
  const d = new Date(ms);
  const [h, m, day, mon] = utc
    ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCDate(), d.getUTCMonth() + 1]
    : [d.getHours(), d.getMinutes(), d.getDate(), d.getMonth() + 1];
  return spanMs > 2 * 86_400_000 ? `${pad(mon)}-${pad(day)} ${pad(h)}:${pad(m)}` : `${pad(h)}:${pad(m)}`;
}

export const PRESETS = ["5m", "15m", "1h", "6h", "24h", "7d"] as const;

/** Milliseconds of a duration such as 5m, 1h, 24h, 7d, 1h30m; undefined when it is not one. */
export function durationMs(text: string): number | undefined {
  const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  const re = /(\d+)([smhdw])/y;
  let total = 0;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null) return undefined;
    total += Number(m[1]) * units[m[2]!]!;
    i = re.lastIndex;
  }
  return total > 0 ? total : undefined;
}
