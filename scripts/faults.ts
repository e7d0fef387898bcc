// The fault suite (`bun run test:faults`, issue 12): installs the dependencies from the lockfile,
// then runs tests/faults/scenarios.faults.ts, which starts its own Cassandra nodes (.cassandra/faults,
// CQL port 19042: the project's node at 9042 is left alone), servers and clients, and prints one
// table. `--short` runs the same scenarios with fewer lines (what `bun run test`, and so .ci/run, runs after the other tests); the full form
// sends 1,000,000 lines in scenarios 1, 3 and 4. Other arguments go to `bun test` (-t, ...).
// Needs root (scenario 2 mounts a size-limited tmpfs), Java 17 and Maven (Cassandra's jars).
import * as path from "node:path";
import { installFromLockfile } from "./test.ts";

const root = path.resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const short = args.includes("--short");
const rest = args.filter((a) => a !== "--short");

if (!installFromLockfile()) process.exit(1);
const t0 = Date.now();
const proc = Bun.spawn([process.execPath, "test", "--timeout", "2400000", "./tests/faults/scenarios.faults.ts", ...rest], {
  cwd: root,
  env: { ...process.env, FAULTS_FORM: short ? "short" : "full" },
  stdout: "inherit",
  stderr: "inherit",
});
const code = await proc.exited;
console.log(
  `fault suite (${short ? "short" : "full"} form): ${code === 0 ? "passed" : "FAILED"} in ${((Date.now() - t0) / 60_000).toFixed(1)} min`,
);
process.exit(code);
