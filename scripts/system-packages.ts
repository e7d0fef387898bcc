// Commands the test suite needs from the operating system, installed when missing, as the test
// script fetches Cassandra's jars: on a fresh Debian machine (the CI machine) `apt-get install`
// brings them. Elsewhere (no apt-get, not root) it only says what is missing; the tests that need
// the command then fail with that message.

/** A command and the Debian package that provides it. */
export interface SystemCommand {
  command: string;
  debianPackage: string;
}

function run(argv: string[]): { ok: boolean; output: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return { ok: r.exitCode === 0, output: `${r.stdout.toString()}${r.stderr.toString()}` };
}

/**
 * Installs, with apt-get, the packages of the commands not on the PATH. Returns one line per
 * command still missing afterwards (empty when all are there).
 */
export function ensureSystemCommands(wanted: SystemCommand[]): string[] {
  const missing = wanted.filter((w) => Bun.which(w.command) === null);
  if (missing.length === 0) return [];
  const packages = [...new Set(missing.map((m) => m.debianPackage))];
  const apt = Bun.which("apt-get");
  const root = process.getuid?.() === 0;
  if (apt !== null && root) {
    console.log(`installing ${packages.join(", ")} with apt-get`);
    let install = run([apt, "install", "-y", "--no-install-recommends", ...packages]);
    if (!install.ok) {
      // A fresh machine has no package lists yet.
      run([apt, "update"]);
      install = run([apt, "install", "-y", "--no-install-recommends", ...packages]);
    }
    if (!install.ok) console.error(`apt-get install ${packages.join(" ")} failed:\n${install.output.slice(-2000)}`);
  }
  return missing
    .filter((m) => Bun.which(m.command) === null)
    .map(
      (m) =>
        `${m.command} is missing (Debian package ${m.debianPackage})` +
        (apt === null ? ": no apt-get here, install it by hand" : root ? "" : ": run the tests as root or install it by hand"),
    );
}
