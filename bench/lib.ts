// Shared pieces of the benchmarks: the server under test as a child process, figures.
import { readFileSync } from "node:fs";
import { startServerProcess } from "../scripts/server-process.ts";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");

/** BUN_JSC_forceRAMSize of the Containerfile (512 MiB), which the benchmarks run the server with. */
export const CONTAINER_RAM_SIZE = "536870912";

export interface Server {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/**
 * Starts the server with the given options on a free port; resolves once it listens. `binary`
 * runs the compiled executable (what ships), `source` runs src/main.ts with bun.
 */
export async function startServer(args: string[], kind: "binary" | "source" = "source"): Promise<Server> {
  const command = kind === "binary" ? [join(ROOT, "dist/kube-insight-logserver")] : ["bun", join(ROOT, "src/main.ts")];
  const server = await startServerProcess([...command, "--port", "0", "--bind-address", "127.0.0.1", ...args], {
    cwd: ROOT,
    // As the Containerfile runs it: JavaScriptCore told the pod's memory rather than the machine's.
    env: { ...process.env, BUN_JSC_forceRAMSize: process.env.BUN_JSC_forceRAMSize ?? CONTAINER_RAM_SIZE },
    stderr: "inherit",
  });
  return {
    url: server.url,
    pid: server.proc.pid,
    stop: async () => {
      await server.stop();
    },
  };
}

/** Resident memory of a process (kB figures of /proc/<pid>/status), in bytes. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process (all its threads), seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samples: number[]): { p50: number; p99: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), n: s.length };
}

export const MB = 1024 * 1024;

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A plain-text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
