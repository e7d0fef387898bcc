// The whole test suite in one command (`bun run test`):
//   1. installs dependencies from the lockfile (so the command works on a fresh clone);
//   2. installs the system commands the tests use when missing (openssl, chromium, with apt-get);
//   3. makes sure a Cassandra node answers at CASSANDRA_HOSTS (default 127.0.0.1:9042), starting
//      the project's own node (scripts/cassandra.ts) when nothing answers;
//   4. runs `bun test`, echoing its output. When no Cassandra can be had (nothing answers and
//      the local node cannot be started: no java, no mvn, a failed start), every test still
//      runs: CASSANDRA_UNAVAILABLE carries the reason, and each Cassandra suite reports one
//      failing test that says it (tests/stores.ts), instead of timing out;
//   5. stops the node if it started it, then runs the fault suite in its short form
//      (tests/faults/, issue 12: Cassandra nodes of its own, kill -9, SIGSTOP, a full disk);
//   6. ends with `tests: N passed, N failed[, N skipped]` read from both runs.
// Extra arguments go to `bun test` (a file filter, -t, ...) and leave the fault suite out, as
// SKIP_FAULTS=1 does. Non-zero exit when anything failed.
import * as path from "node:path";
import { cassandraAnswers, startCassandra, stopCassandra } from "./cassandra.ts";
import { ensureSystemCommands } from "./system-packages.ts";

const root = path.resolve(import.meta.dir, "..");

export interface Summary {
  passed: number;
  failed: number;
  /** test.skip and test.todo (and tests of a describe.skip). */
  skipped: number;
}

/**
 * The counts from `bun test`'s closing summary (` 12 pass`, ` 1 fail`, ` 2 skip`, ` 1 todo`,
 * ` 1 error`). A run that failed (exit code) without counting a failure, such as a crash before
 * the summary, counts as one failure, never as "0 failed".
 */
export function summarize(output: string, exitCode: number): Summary {
  const count = (word: string): number => {
    const all = [...output.matchAll(new RegExp(`^\\s*(\\d+) ${word}\\s*$`, "gm"))];
    return Number(all.at(-1)?.[1] ?? 0); // the summary is last; a test's own output may come before
  };
  let failed = count("fail") || count("error");
  if (exitCode !== 0 && failed === 0) failed = 1;
  return { passed: count("pass"), failed, skipped: count("skip") + count("todo") };
}

/** The closing line: `tests: 3 passed, 0 failed`, with `, N skipped` when any were. */
export function summaryLine({ passed, failed, skipped }: Summary): string {
  return `tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`;
}

/** Why the Cassandra tests cannot run, and what would let them. */
export function unavailableReason(why: string): string {
  return (
    `No Cassandra node for the tests: ${why}. Install Java 17 and Maven (java and mvn on the PATH) ` +
    "so that `bun run test` starts a local node, or set CASSANDRA_HOSTS to a node that answers."
  );
}

async function pipe(stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream, collect: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.write(chunk);
    collect.push(decoder.decode(chunk, { stream: true }));
  }
}

async function runTests(args: string[], env: Record<string, string | undefined>): Promise<Summary> {
  const proc = Bun.spawn([process.execPath, "test", "--timeout", "60000", ...args], {
    cwd: root,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const out: string[] = [];
  await Promise.all([pipe(proc.stdout, process.stdout, out), pipe(proc.stderr, process.stderr, out)]);
  return summarize(out.join(""), await proc.exited);
}

/** The fault suite's short form (tests/faults/scenarios.faults.ts), as `bun run test:faults -- --short`. */
async function runFaults(env: Record<string, string | undefined>): Promise<Summary> {
  console.log("\nThe fault suite, short form (bun run test:faults for the full one):");
  const proc = Bun.spawn([process.execPath, "test", "--timeout", "2400000", "./tests/faults/scenarios.faults.ts"], {
    cwd: root,
    env: { ...env, FAULTS_FORM: "short" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out: string[] = [];
  await Promise.all([pipe(proc.stdout, process.stdout, out), pipe(proc.stderr, process.stderr, out)]);
  return summarize(out.join(""), await proc.exited);
}

function report(summary: Summary): never {
  console.log(summaryLine(summary));
  process.exit(summary.failed > 0 ? 1 : 0);
}

/** A node answering at CASSANDRA_HOSTS, else the local one started; else why there is none. */
async function provideCassandra(host: string, port: number): Promise<{ startedNode: boolean; unavailable?: string }> {
  if (await cassandraAnswers(host, port)) {
    console.log(`Using the Cassandra node at ${host}:${port}`);
    return { startedNode: false };
  }
  if (host !== "127.0.0.1" && host !== "localhost") {
    return { startedNode: false, unavailable: unavailableReason(`nothing answers at ${host}:${port}`) };
  }
  try {
    // Throwaway test data: no fsync (CASSANDRA_SKIP_SYNC), wiped when the run ends.
    const started = await startCassandra({ port, skipSync: true });
    return { startedNode: started.started };
  } catch (error) {
    const message = (error as Error).message;
    console.error(`Cannot start a local Cassandra node for the tests: ${message}`);
    const firstLine = message.split("\n")[0]!;
    return {
      startedNode: false,
      unavailable: unavailableReason(`nothing answers at ${host}:${port} and a local node cannot be started (${firstLine})`),
    };
  }
}

/** `bun install --frozen-lockfile` in the project, its output shown; false (and said) when it fails. */
export function installFromLockfile(): boolean {
  const install = Bun.spawnSync([process.execPath, "install", "--frozen-lockfile"], {
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  });
  if (install.exitCode !== 0) console.error("bun install --frozen-lockfile failed");
  return install.exitCode === 0;
}

async function main(): Promise<never> {
  if (!installFromLockfile()) report({ passed: 0, failed: 1, skipped: 0 });

  // openssl makes the certificates of the TLS tests; chromium runs the explorer's browser tests
  // (tests/web/, which fail saying so when it is missing).
  for (const problem of ensureSystemCommands([
    { command: "openssl", debianPackage: "openssl" },
    { command: "chromium", debianPackage: "chromium" },
  ]))
    console.error(problem);

  const hosts = process.env.CASSANDRA_HOSTS ?? "127.0.0.1:9042";
  const [host, portText] = hosts.split(",")[0]!.split(":");
  const port = Number(portText ?? 9042);
  const { startedNode, unavailable } = await provideCassandra(host!, port);
  const env: Record<string, string | undefined> = { ...process.env, CASSANDRA_HOSTS: `${host}:${port}` };
  delete env.CASSANDRA_UNAVAILABLE;
  if (unavailable) {
    console.error(`${unavailable}\nRunning every test; each Cassandra suite fails with that reason.`);
    env.CASSANDRA_UNAVAILABLE = unavailable;
  }

  const args = process.argv.slice(2);
  let summary: Summary;
  try {
    summary = await runTests(args, env);
  } finally {
    if (startedNode) await stopCassandra({ wipe: true });
  }
  // Then the fault suite in its short form (issue 12: its own Cassandra nodes on port 19042,
  // kill -9, SIGSTOP, a full disk), counted in the same summary. Not when arguments pick tests.
  if (args.length === 0 && process.env.SKIP_FAULTS !== "1") {
    const faults = await runFaults(env);
    summary = {
      passed: summary.passed + faults.passed,
      failed: summary.failed + faults.failed,
      skipped: summary.skipped + faults.skipped,
    };
  }
  report(summary);
}

if (import.meta.main) await main();
