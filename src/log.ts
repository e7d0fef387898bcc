// The server's own logs: one JSON object per line on stdout, filtered by --log-level.
import { LOG_LEVELS, type LogLevel } from "./config.ts";

const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };
let threshold = rank.info;

export function setLogLevel(level: LogLevel): void {
  threshold = rank[level];
}

export function logEnabled(level: LogLevel): boolean {
  return rank[level] <= threshold;
}

function emit(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (rank[level] > threshold) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, (_k, v) =>
    typeof v === "bigint" ? v.toString() : v instanceof Error ? v.message : v,
  );
  process.stdout.write(line + "\n");
}

export const log = {
  error: (msg: string, fields?: Record<string, unknown>) => emit("error", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => emit("warn", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => emit("info", msg, fields),
  debug: (msg: string, fields?: Record<string, unknown>) => emit("debug", msg, fields),
  trace: (msg: string, fields?: Record<string, unknown>) => emit("trace", msg, fields),
};

export { LOG_LEVELS };
