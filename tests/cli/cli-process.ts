// Runs `bun src/main.ts logs ...` as a real process against any server: give `server` the base
// URL of the stand-in (contract-server.ts) or of a real kube-insight-logserver.
import { resolve } from "node:path";
import type { Subprocess } from "bun";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");

export interface CliOptions {
  /** Base URL of the server, passed as KUBE_INSIGHT_SERVER (a --server in args wins over it). */
  server: string;
  env?: Record<string, string>;
  /** The process is killed past this (a hung client fails the test instead of hanging it). */
  timeoutMs?: number;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliCount {
  code: number;
  /** Bytes written to stdout (not kept: the output may be far larger than the test wants to hold). */
  stdoutBytes: number;
  /** The last TAIL_BYTES of stdout. */
  stdoutEnd: string;
  stderr: string;
  /** The process's peak resident memory, in bytes. */
  maxRss: number;
}

/** The environment the client sees: nothing of the test runner's own, so no credential leaks in. */
function cliEnv(o: CliOptions): Record<string, string> {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", KUBE_INSIGHT_SERVER: o.server, ...o.env };
}

/** Runs the client to its end. */
export async function runCli(args: string[], o: CliOptions): Promise<CliResult> {
  const cli = startCli(args, o);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

const TAIL_BYTES = 4096;

/** Runs the client to its end, counting its output rather than keeping it. */
export async function runCliCounting(args: string[], o: CliOptions): Promise<CliCount> {
  const proc = Bun.spawn([process.execPath, MAIN, "logs", ...args], {
    env: cliEnv(o),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const killer = setTimeout(() => proc.kill("SIGKILL"), o.timeoutMs ?? 60_000);
  let stdoutBytes = 0;
  let tail = new Uint8Array(0);
  const counted = (async () => {
    for await (const chunk of proc.stdout) {
      stdoutBytes += chunk.length;
      const joined = new Uint8Array(tail.length + chunk.length);
      joined.set(tail);
      joined.set(chunk, tail.length);
      tail = joined.slice(-TAIL_BYTES);
    }
  })();
  const stderr = new Response(proc.stderr).text();
  const code = await proc.exited;
  await counted;
  clearTimeout(killer);
  return {
    code,
    stdoutBytes,
    stdoutEnd: new TextDecoder().decode(tail),
    stderr: await stderr,
    maxRss: proc.resourceUsage()?.maxRSS ?? 0,
  };
}

export interface RunningCli {
  readonly exited: Promise<number>;
  stdout(): string;
  stderr(): string;
  /** Waits until stdout (or stderr) satisfies `done`; fails with what arrived when `timeoutMs` passes first. */
  waitFor(done: (out: { stdout: string; stderr: string }) => boolean, timeoutMs?: number): Promise<void>;
  /** Ctrl-C; resolves to the exit code. */
  interrupt(timeoutMs?: number): Promise<number>;
}

export function startCli(args: string[], o: CliOptions): RunningCli {
  const proc: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn([process.execPath, MAIN, "logs", ...args], {
    env: cliEnv(o),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const killer = setTimeout(() => proc.kill("SIGKILL"), o.timeoutMs ?? 20_000);
  let stdout = "";
  let stderr = "";
  const collect = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) add(decoder.decode(chunk, { stream: true }));
  };
  const pumped = Promise.all([collect(proc.stdout, (s) => (stdout += s)), collect(proc.stderr, (s) => (stderr += s))]);
  const exited = (async () => {
    const code = await proc.exited;
    await pumped;
    clearTimeout(killer);
    return proc.signalCode === "SIGKILL" ? -9 : code;
  })();

  return {
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    async waitFor(done, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let ended = false;
      void exited.then(() => (ended = true));
      while (!done({ stdout, stderr })) {
        if (Date.now() > deadline || ended) {
          // one last look: the process may have printed and ended in the same turn
          if (done({ stdout, stderr })) return;
          throw new Error(
            `${ended ? "the client ended" : `no match within ${timeoutMs} ms`}\n--- stdout:\n${stdout}--- stderr:\n${stderr}`,
          );
        }
        await Bun.sleep(20);
      }
    },
    async interrupt(timeoutMs = 5000) {
      proc.kill("SIGINT");
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
