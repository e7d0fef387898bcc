// The test command (scripts/test.ts): its reading of bun test's summary, its closing line, and a
// run without any Cassandra (no java, no mvn, nothing at CASSANDRA_HOSTS), which must still run
// every test and fail each Cassandra suite with the reason.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { summarize, summaryLine } from "../../scripts/test.ts";

const root = resolve(import.meta.dir, "../..");
const scratch = mkdtempSync(join(tmpdir(), "logserver-runner-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// A PATH with bun and nothing else: no java, no mvn.
const binDir = join(scratch, "bin");
mkdirSync(binDir);
symlinkSync(process.execPath, join(binDir, "bun"));

/** Runs `bun run scripts/test.ts ...args` as if on a machine without Java, Maven or Cassandra. */
async function runRunner(args: string[], env: Record<string, string> = {}) {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    PATH: binDir,
    CASSANDRA_HOSTS: "127.0.0.1:1", // a closed port: nothing answers
    ...env,
  };
  delete childEnv.JAVA_HOME; // java only from PATH, which has none
  delete childEnv.CASSANDRA_UNAVAILABLE;
  const { stdout, output, exitCode } = await spawnAndCollect([join(binDir, "bun"), "run", "scripts/test.ts", ...args], childEnv);
  return { output, lastLine: stdout.trim().split("\n").at(-1)!, exitCode };
}

/** Runs a command from the project root; resolves with its output once it exits. */
async function spawnAndCollect(command: string[], env: Record<string, string | undefined>) {
  const proc = Bun.spawn(command, { cwd: root, env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, output: stdout + stderr, exitCode };
}

// As bun test 1.4 prints it (stderr), a test's own output ahead of the summary.
const BUN_OUTPUT = `bun test v1.4.5 (a7733435c)

tests/a.test.ts:
 7 pass
(pass) ok
(skip) sk
(todo) td
error: boom
(fail) bad [0.20ms]

 12 pass
 2 skip
 1 todo
 1 fail
 30 expect() calls
Ran 16 tests across 1 file. [8.00ms]
`;

describe("summary of a bun test run", () => {
  test("counts passes, failures, and skipped and todo tests together, from the closing summary", () => {
    expect(summarize(BUN_OUTPUT, 1)).toEqual({ passed: 12, failed: 1, skipped: 3 });
    expect(summarize(" 3 pass\n 0 fail\nRan 3 tests across 1 file.", 0)).toEqual({ passed: 3, failed: 0, skipped: 0 });
  });

  test("an unhandled error, or a failed run with no summary, counts as a failure", () => {
    expect(summarize(" 0 pass\n 0 fail\n 1 error\nRan 0 tests across 1 file.", 1).failed).toBe(1);
    expect(summarize("Segmentation fault", 139)).toEqual({ passed: 0, failed: 1, skipped: 0 });
  });

  test("the closing line names skipped tests only when there are some", () => {
    expect(summaryLine({ passed: 12, failed: 1, skipped: 3 })).toBe("tests: 12 passed, 1 failed, 3 skipped");
    expect(summaryLine({ passed: 5, failed: 0, skipped: 0 })).toBe("tests: 5 passed, 0 failed");
  });
});

describe("bun run test", () => {
  test("reports skipped tests and exits non-zero on a failure (a fixture of four tests)", async () => {
    const fixture = join(scratch, "mixed.test.ts");
    writeFileSync(
      fixture,
      `import { test } from "bun:test";
test("passes", () => {});
test.skip("skipped", () => {});
test.todo("to do");
test("fails", () => { throw new Error("fixture failure"); });
`,
    );
    const mixed = await runRunner([fixture]);
    expect(mixed.lastLine).toBe("tests: 1 passed, 1 failed, 2 skipped");
    expect(mixed.exitCode).toBe(1);
    expect(mixed.output).toContain("fixture failure");

    const clean = join(scratch, "clean.test.ts");
    writeFileSync(clean, `import { test } from "bun:test";\ntest("a", () => {});\ntest("b", () => {});\n`);
    const ok = await runRunner([clean]);
    expect(ok.lastLine).toBe("tests: 2 passed, 0 failed");
    expect(ok.exitCode).toBe(0);
  }, 60_000);

  test("without java, mvn or a node, the other tests run and each Cassandra suite fails saying why", async () => {
    const started = Date.now();
    const { output, lastLine, exitCode } = await runRunner(["tests/config.test.ts", "tests/store/cassandra.test.ts"]);
    const passed = output.match(/^\(pass\) /gm)?.length ?? 0;
    expect(passed).toBeGreaterThan(5); // tests/config.test.ts ran
    expect(output).not.toMatch(/^\(fail\) configuration/m);
    expect(lastLine).toBe(`tests: ${passed} passed, 1 failed`);
    expect(exitCode).toBe(1);
    // The Cassandra suite is one failing test, at once, whose message says what to do.
    expect(output).toMatch(/^\(fail\) cassandra store \(real node\) > needs a Cassandra node/m);
    expect(output).toMatch(
      /^error: No Cassandra node for the tests: nothing answers at 127\.0\.0\.1:1 .*Install Java 17 and Maven/m,
    );
    expect(output).toContain("or set CASSANDRA_HOSTS to a node that answers");
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});

describe("a suite on every store, without Cassandra", () => {
  test("runs on the embedded store, and its Cassandra half is one failing test with the reason", async () => {
    const fixture = join(scratch, "every-store.test.ts");
    writeFileSync(
      fixture,
      `import { describe, expect, test } from "bun:test";
import { storesUnderTest } from ${JSON.stringify(join(root, "tests", "stores.ts"))};
for (const s of storesUnderTest("fixture")) {
  describe(\`fixture on the \${s.name} store\`, () => {
    test("opens", async () => {
      const store = await s.open();
      expect((await store.health()).healthy).toBe(true);
      await store.close();
      await s.cleanup();
    });
  });
}
`,
    );
    const { output, exitCode } = await spawnAndCollect([process.execPath, "test", fixture], {
      ...process.env,
      CASSANDRA_HOSTS: "127.0.0.1:1",
      CASSANDRA_UNAVAILABLE: "the reason, as given",
    });
    expect(output).toMatch(/^\(pass\) fixture on the embedded store > opens/m);
    expect(output).toMatch(/^\(fail\) fixture on the cassandra store > needs a Cassandra node/m);
    expect(output).toMatch(/^error: the reason, as given$/m);
    expect(summarize(output, exitCode)).toEqual({ passed: 1, failed: 1, skipped: 0 });
  }, 30_000);
});
