// Go's parsing and formatting of numbers, durations and byte sizes, as LogQL (written in Go) does
// them: time.ParseDuration, Prometheus' model.ParseDuration (for `[5m]`, `offset 1d`),
// go-humanize's ParseBytes, strconv.ParseFloat and strconv.FormatFloat(f, 'f', -1, 64).

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds; throws Go's error message. */
export function parseGoDuration(text: string): number {
  const orig = text;
  let s = text;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new Error(`time: invalid duration "${orig}"`);
  let total = 0;
  while (s !== "") {
    const m = /^([0-9]*)(\.[0-9]*)?/.exec(s)!;
    if (m[0] === "" || m[0] === ".") throw new Error(`time: invalid duration "${orig}"`);
    s = s.slice(m[0].length);
    const u = /^[^0-9.]*/.exec(s)![0];
    if (u === "") throw new Error(`time: missing unit in duration "${orig}"`);
    const scale = UNIT_NS[u];
    if (scale === undefined) throw new Error(`time: unknown unit "${u}" in duration "${orig}"`);
    s = s.slice(u.length);
    total += Number(m[0]) * scale;
  }
  return neg ? -total : total;
}

const PROM_UNIT_NS: Record<string, bigint> = {
  y: 365n * 24n * 3600n * 1_000_000_000n,
  w: 7n * 24n * 3600n * 1_000_000_000n,
  d: 24n * 3600n * 1_000_000_000n,
  h: 3600n * 1_000_000_000n,
  m: 60n * 1_000_000_000n,
  s: 1_000_000_000n,
  ms: 1_000_000n,
  us: 1000n,
  µs: 1000n,
  ns: 1n,
};

/**
 * A LogQL duration literal (`5m`, `1h30m`, `1d`, `250ms`, `1.5h`) in nanoseconds: Loki accepts
 * Go's time.ParseDuration units and Prometheus' `d`, `w`, `y`.
 */
export function parseLogQLDuration(text: string): bigint {
  let s = text;
  let neg = false;
  if (s.startsWith("-")) {
    neg = true;
    s = s.slice(1);
  }
  if (s === "") throw new Error(`not a valid duration string: "${text}"`);
  let total = 0n;
  const re = /^([0-9]+(?:\.[0-9]*)?)(y|w|d|h|ms|m|s|us|µs|ns)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) throw new Error(`not a valid duration string: "${text}"`);
    const unit = PROM_UNIT_NS[m[2]!]!;
    const [int, frac = ""] = m[1]!.split(".");
    total += BigInt(int!) * unit;
    if (frac !== "") total += BigInt(Math.round(Number("0." + frac) * Number(unit)));
    s = s.slice(m[0].length);
  }
  return neg ? -total : total;
}

const BYTE_SIZES: Record<string, number> = {
  b: 1,
  "": 1,
  kib: 1024,
  ki: 1024,
  kb: 1000,
  k: 1000,
  mib: 1024 ** 2,
  mi: 1024 ** 2,
  mb: 1000 ** 2,
  m: 1000 ** 2,
  gib: 1024 ** 3,
  gi: 1024 ** 3,
  gb: 1000 ** 3,
  g: 1000 ** 3,
  tib: 1024 ** 4,
  ti: 1024 ** 4,
  tb: 1000 ** 4,
  t: 1000 ** 4,
  pib: 1024 ** 5,
  pi: 1024 ** 5,
  pb: 1000 ** 5,
  p: 1000 ** 5,
  eib: 1024 ** 6,
  ei: 1024 ** 6,
  eb: 1000 ** 6,
  e: 1000 ** 6,
};

/** go-humanize's ParseBytes ("42 MB", "1KiB", "10", "1,024kb"); throws its error message. */
export function parseHumanBytes(text: string): number {
  let last = 0;
  let hasComma = false;
  for (const c of text) {
    if (!((c >= "0" && c <= "9") || c === "." || c === ",")) break;
    if (c === ",") hasComma = true;
    last++;
  }
  let num = text.slice(0, last);
  if (hasComma) num = num.replaceAll(",", "");
  const f = /^[0-9]*\.?[0-9]+$|^[0-9]+\.$/.test(num) ? Number(num) : Number.NaN;
  if (Number.isNaN(f))
    throw new Error(
      num === "" ? 'strconv.ParseFloat: parsing "": invalid syntax' : `strconv.ParseFloat: parsing "${num}": invalid syntax`,
    );
  const extra = text.slice(last).trim().toLowerCase();
  const m = BYTE_SIZES[extra];
  if (m === undefined) throw new Error(`unhandled size name: ${extra}`);
  const v = f * m;
  if (v >= 18446744073709551615) throw new Error(`too large: ${text}`);
  return Math.floor(v);
}

/** Go's strconv.ParseFloat(s, 64): decimal, hex, Inf, NaN, underscores not allowed; throws Go's message. */
export function parseGoFloat(s: string): number {
  const t = s;
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^nan$/i.test(t)) return Number.NaN;
  if (/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(t)) return Number(t);
  if (/^[+-]?0[xX][0-9a-fA-F]+$/.test(t)) {
    const neg = t.startsWith("-");
    const v = Number.parseInt(t.replace(/^[+-]?0[xX]/, ""), 16);
    return neg ? -v : v;
  }
  throw new Error(`strconv.ParseFloat: parsing ${goQuote(s)}: invalid syntax`);
}

/** Go's strconv.Quote for the common cases (error messages). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/**
 * A float as Prometheus and Loki write sample values: strconv.FormatFloat(f, 'f', -1, 64), with
 * "NaN", "+Inf" and "-Inf".
 */
export function formatSampleValue(f: number): string {
  if (Number.isNaN(f)) return "NaN";
  if (f === Infinity) return "+Inf";
  if (f === -Infinity) return "-Inf";
  if (Object.is(f, -0)) return "-0";
  const s = String(f);
  const e = s.indexOf("e");
  if (e < 0) return s;
  // Expand JavaScript's exponent form into plain decimals, as Go's 'f' format does.
  const neg = s.startsWith("-");
  const mantissa = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const [intPart, fracPart = ""] = mantissa.split(".");
  const digits = intPart! + fracPart;
  const point = intPart!.length + exp;
  let out: string;
  if (point <= 0) out = "0." + "0".repeat(-point) + digits;
  else if (point >= digits.length) out = digits + "0".repeat(point - digits.length);
  else out = digits.slice(0, point) + "." + digits.slice(point);
  return (neg ? "-" : "") + out;
}

/** Go's fmt %v of a float64 (strconv 'g' with the shortest precision, exponent at >= 21 or < -4). */
export function formatGoFloatV(f: number): string {
  if (Number.isNaN(f)) return "NaN";
  if (f === Infinity) return "+Inf";
  if (f === -Infinity) return "-Inf";
  if (f === 0) return Object.is(f, -0) ? "-0" : "0";
  const exp = Math.floor(Math.log10(Math.abs(f)));
  if (exp < -4 || exp >= 21) {
    const s = f.toExponential();
    // JS: 1.5e+21 / 1e-7 → Go: 1.5e+21 / 1e-07
    return s.replace(/e([+-])(\d)$/, "e$10$2");
  }
  return formatSampleValue(f);
}

/** Seconds since the epoch with millisecond precision, as Loki's JSON writes sample times. */
export function nsToSeconds(ns: bigint): number {
  const ms = ns >= 0n ? ns / 1_000_000n : -((-ns + 999_999n) / 1_000_000n);
  return Number(ms) / 1000;
}

/** Go's time.Duration.String() for nanoseconds ("1h2m3s", "1.5s", "0s"). */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    if (u < 1e3) out = `${u}ns`;
    else if (u < 1e6) out = `${trimFloat(u / 1e3)}µs`;
    else out = `${trimFloat(u / 1e6)}ms`;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    const s = trimFloat(u / 1e9);
    out = (h > 0 ? `${h}h` : "") + (h > 0 || m > 0 ? `${m}m` : "") + `${s}s`;
  }
  return (neg ? "-" : "") + out;
}

function trimFloat(x: number): string {
  return String(Number(x.toFixed(9)));
}
