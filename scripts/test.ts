// The whole test suite in one command (`bun run test`):
//   1. installs dependencies from the lockfile (so the command works on a fresh clone);
//   2. makes sure a Cassandra node answers at CASSANDRA_HOSTS (default 127.0.0.1:9042), starting
//      the project's own node (scripts/cassandra.ts) when nothing answers;
//   3. runs `bun test`, echoing its output;
//   4. stops the node if it started it, and ends with `tests: N passed, N failed` read from the run.
// Extra arguments go to `bun test` (a file filter, -t, ...). Non-zero exit when anything failed.
import { cassandraAnswers, startCassandra, stopCassandra } from "./cassandra.ts";

async function pipe(stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream, collect: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.write(chunk);
    collect.push(decoder.decode(chunk, { stream: true }));
  }
}

async function runTests(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; passed: number; failed: number }> {
  const proc = Bun.spawn(["bun", "test", "--timeout", "60000", ...args], { env, stdout: "pipe", stderr: "pipe" });
  const out: string[] = [];
  await Promise.all([pipe(proc.stdout, process.stdout, out), pipe(proc.stderr, process.stderr, out)]);
  const code = await proc.exited;
  const text = out.join("");
  const passed = Number(/^\s*(\d+) pass\s*$/m.exec(text)?.[1] ?? 0);
  const failed = Number(/^\s*(\d+) fail\s*$/m.exec(text)?.[1] ?? 0);
  return { code, passed, failed };
}

function report(passed: number, failed: number): never {
  console.log(`tests: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

const install = Bun.spawnSync(["bun", "install", "--frozen-lockfile"], { stdout: "inherit", stderr: "inherit" });
if (install.exitCode !== 0) {
  console.error("bun install --frozen-lockfile failed");
  report(0, 1);
}

const hosts = process.env.CASSANDRA_HOSTS ?? "127.0.0.1:9042";
const [host, port] = hosts.split(",")[0]!.split(":");
let startedNode = false;
if (await cassandraAnswers(host, Number(port ?? 9042))) {
  console.log(`Using the Cassandra node at ${host}:${port ?? 9042}`);
} else if (host === "127.0.0.1" || host === "localhost") {
  try {
    // Throwaway test data: no fsync (CASSANDRA_SKIP_SYNC), wiped when the run ends.
    const started = await startCassandra({ port: Number(port ?? 9042), skipSync: true });
    startedNode = started.started;
  } catch (error) {
    console.error(
      `Cannot start a local Cassandra node for the tests (Java 17 and Maven are needed): ${(error as Error).message}`,
    );
    report(0, 1);
  }
} else {
  console.error(`No Cassandra answers at ${hosts}; the Cassandra tests will fail.`);
}

let result: { code: number; passed: number; failed: number };
try {
  result = await runTests(process.argv.slice(2), { ...process.env, CASSANDRA_HOSTS: `${host}:${port ?? 9042}` });
} finally {
  if (startedNode) await stopCassandra({ wipe: true });
}
// A crash before the summary leaves no counts: report it as a failure, not as "0 failed".
report(result.passed, result.failed + (result.code !== 0 && result.failed === 0 ? 1 : 0));
