// Runs the server as a child process and waits until it listens: used by the end-to-end tests
// and by the benchmarks.

export interface ServerProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe" | "inherit">;
  /** Base URL without a trailing slash. */
  url: string;
  /** Everything the server printed on stdout so far. */
  output: () => string;
  /** SIGTERM, then wait for the exit; resolves with the exit code. */
  stop: () => Promise<number>;
}

/** Spawns `command` (which should include `--port 0`) and resolves once it logs "listening". */
export async function startServerProcess(
  command: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; stderr?: "pipe" | "inherit"; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const proc = Bun.spawn(command, {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: options.stderr ?? "pipe",
  });
  let out = "";
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
    const line = out.split("\n").find((l) => l.includes('"msg":"listening"'));
    if (line) {
      // Keep draining stdout in the background so that the child never blocks on a full pipe.
      (async () => {
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          out += decoder.decode(r.value);
        }
      })();
      return {
        proc,
        url: (JSON.parse(line) as { url: string }).url.replace(/\/$/, ""),
        output: () => out,
        stop: async () => {
          proc.kill("SIGTERM");
          return proc.exited;
        },
      };
    }
  }
  proc.kill();
  const stderr = proc.stderr instanceof ReadableStream ? await new Response(proc.stderr).text() : "";
  throw new Error(`the server did not start:\n${out}\n${stderr}`);
}
