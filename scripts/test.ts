// The whole test suite in one command (`bun run test`): installs dependencies, runs `bun test`, echoes its output and
// ends with one line `tests: N passed, N failed` read from the real run. Extra arguments go to
// `bun test` (a file filter, -t, ...). Exit status: non-zero when anything failed.

async function pipe(stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream, collect: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.write(chunk);
    collect.push(decoder.decode(chunk, { stream: true }));
  }
}

async function runTests(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; passed: number; failed: number }> {
  const proc = Bun.spawn(["bun", "test", "--timeout", "60000", ...args], {
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const out: string[] = [];
  await Promise.all([pipe(proc.stdout, process.stdout, out), pipe(proc.stderr, process.stderr, out)]);
  const code = await proc.exited;
  const text = out.join("");
  const passed = Number(/^\s*(\d+) pass\s*$/m.exec(text)?.[1] ?? 0);
  const failed = Number(/^\s*(\d+) fail\s*$/m.exec(text)?.[1] ?? 0);
  return { code, passed, failed };
}

// Dependencies from the lockfile first, so that this one command works on a fresh clone.
const install = Bun.spawnSync(["bun", "install", "--frozen-lockfile"], { stdout: "inherit", stderr: "inherit" });
if (install.exitCode !== 0) {
  console.log("tests: 0 passed, 1 failed");
  process.exit(1);
}

const result = await runTests(process.argv.slice(2), { ...process.env });
// A crash before the summary leaves no counts: report it as a failure, not as "0 failed".
const failed = result.failed + (result.code !== 0 && result.failed === 0 ? 1 : 0);
console.log(`tests: ${result.passed} passed, ${failed} failed`);
process.exit(result.code !== 0 || failed > 0 ? 1 : 0);
