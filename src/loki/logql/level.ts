// `detected_level`, as Loki 3's distributor derives it (pkg/distributor/field_detection.go): from
// a level label (`level`, `lvl`, `severity`, ...), then structured metadata, then the line: a JSON
// line's level field (two levels deep), a logfmt line's, then the first level word in the line.
// Cheap enough to run at write time.
import { LogfmtDecoder, objectEach, unescapeJSON } from "./formats.ts";

export const DETECTED_LEVEL = "detected_level";

/** Loki's default `validation.log-level-fields`, in priority order. */
export const LEVEL_FIELDS = [
  "level",
  "LEVEL",
  "Level",
  "log.level",
  "severity",
  "SEVERITY",
  "Severity",
  "SeverityText",
  "lvl",
  "LVL",
  "Lvl",
  "severity_text",
  "Severity_Text",
  "SEVERITY_TEXT",
];
const LEVEL_FIELD_SET = new Set(LEVEL_FIELDS);

/** A known level word (any case, abbreviations) → Loki's level; undefined otherwise. */
function knownLevel(v: string): string | undefined {
  switch (v.toLowerCase()) {
    case "trace":
    case "trc":
      return "trace";
    case "debug":
    case "dbg":
      return "debug";
    case "info":
    case "inf":
    case "information":
      return "info";
    case "warn":
    case "wrn":
    case "warning":
      return "warn";
    case "error":
    case "err":
      return "error";
    case "critical":
      return "critical";
    case "fatal":
      return "fatal";
  }
  return undefined;
}

/** normalizeLogLevel: a known level word → Loki's name; anything else unchanged. */
export function normalizeLevel(v: string): string {
  return knownLevel(v) ?? v;
}

const OTLP_SEVERITY = "severity_number";

function fromLabels(labels: Record<string, string> | undefined): string | undefined {
  if (labels === undefined) return undefined;
  for (const f of LEVEL_FIELDS) if (Object.hasOwn(labels, f)) return labels[f];
  return undefined;
}

/**
 * The detected_level of a line. `labels`: the stream labels; `metadata`: structured metadata
 * (a detected_level there wins, normalised). Unknown → "unknown".
 */
export function detectLevel(line: string, labels?: Record<string, string>, metadata?: Record<string, string>): string {
  if (metadata !== undefined && Object.hasOwn(metadata, DETECTED_LEVEL)) return normalizeLevel(metadata[DETECTED_LEVEL]!);
  const fromLabel = fromLabels(labels);
  if (fromLabel !== undefined) return normalizeLevel(fromLabel);
  const fromMeta = fromLabels(metadata);
  if (fromMeta !== undefined) return normalizeLevel(fromMeta);
  const sev = metadata?.[OTLP_SEVERITY];
  if (sev !== undefined && sev !== "") return otlpLevel(sev);
  return levelFromLine(line);
}

function otlpLevel(text: string): string {
  if (!/^[+-]?[0-9]+$/.test(text)) return "info";
  const n = Number(text);
  if (n === 0) return "unknown";
  if (n <= 4) return "trace";
  if (n <= 8) return "debug";
  if (n <= 12) return "info";
  if (n <= 16) return "warn";
  if (n <= 20) return "error";
  if (n <= 24) return "fatal";
  return "unknown";
}

function isJSONLine(line: string): boolean {
  const t = line.trim();
  return t.startsWith("{") && t.endsWith("}");
}

function levelFromLine(line: string): string {
  let v: string | undefined;
  if (isJSONLine(line)) v = jsonLevel(line);
  else if (line.includes("=")) v = logfmtLevel(line);
  else return levelFromWords(line);
  return (v !== undefined ? knownLevel(v) : undefined) ?? levelFromWords(line);
}

function jsonLevel(line: string): string | undefined {
  let result: string | undefined;
  const walk = (start: number, depth: number) => {
    if (depth >= 2) return;
    objectEach(
      line,
      (key, v) => {
        if (v.kind === "string" && LEVEL_FIELD_SET.has(key)) {
          result = v.raw;
          return false;
        }
        if (v.kind === "object") {
          walk(v.end - v.raw.length, depth + 1);
          if (result !== undefined) return false;
        }
        return true;
      },
      start,
    );
  };
  try {
    walk(0, 0);
  } catch {
    // Malformed JSON: what was found before the error counts.
  }
  return result === undefined ? undefined : (unescapeJSON(result) ?? result);
}

/** LEVEL_FIELDS in lower case, and one of them followed by "=" (what a logfmt line naming one holds). */
const LEVEL_FIELDS_LOWER = LEVEL_FIELDS.map((f) => f.toLowerCase());
const LEVEL_KEY = new RegExp(`(?:${[...new Set(LEVEL_FIELDS_LOWER)].map((f) => f.replace(".", "\\.")).join("|")})=`, "i");

function logfmtLevel(line: string): string | undefined {
  // A key matches only where the line holds it followed by "=", in any case: most lines with an
  // "=" (URLs, key=value pairs without a level) hold none, and need no decoding.
  if (!LEVEL_KEY.test(line)) return undefined;
  const d = new LogfmtDecoder(line);
  let pos = LEVEL_FIELDS_LOWER.length;
  let res: string | undefined;
  while (!d.eol() && d.scanKeyval()) {
    const k = (d.key ?? "").toLowerCase();
    for (let x = 0; x < pos; x++) {
      if (LEVEL_FIELDS_LOWER[x] === k) {
        res = d.value ?? "";
        pos = x;
        if (x === 0) return res;
        break;
      }
    }
  }
  return res;
}

const WORDS: [string, string][] = [
  ["trace", "trace"],
  ["debug", "debug"],
  ["fatal", "fatal"],
  ["critical", "critical"],
  ["error", "error"],
  ["err", "error"],
  ["warning", "warn"],
  ["warn", "warn"],
  ["info", "info"],
];
/**
 * The level words as one pattern, in any case: a word of WORDS with one of ` \t\n[({"'=|` (or
 * the start) before it and one of ` \t\n[](){}:,!"'=|` (or the end) after it. At one place at
 * most one word can match so (err and error, warn and warning cannot both end at such a
 * character), so the leftmost match is the word that appears first. Matched case-insensitively on
 * the line itself: lowering a 300-character line costs more than the search.
 */
const WORDS_PATTERN = new RegExp(
  `(?:^|[ \\t\\n\\[({"'=|])(${WORDS.map(([w]) => w).join("|")})(?=$|[ \\t\\n\\[\\](){}:,!"'=|])`,
  "i",
);
const LEVEL_OF_WORD = new Map(WORDS);

/** The level word that appears first in the line (as a whole word, any case), or "unknown". */
function levelFromWords(line: string): string {
  const m = WORDS_PATTERN.exec(line);
  return m === null ? "unknown" : LEVEL_OF_WORD.get(m[1]!.toLowerCase())!;
}
