// The auth file in the real process: read at start (a broken one stops the start, naming it),
// read again when it changes and on SIGHUP (a broken change keeps the previous users), never
// logged; and the hash-password command that makes its hashes.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startServerProcess } from "../../scripts/server-process.ts";
import { fbRecord, unique } from "../helpers.ts";

const root = resolve(import.meta.dir, "../..");
const main = join(root, "src/main.ts");
const dir = mkdtempSync(join(tmpdir(), "logserver-authfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

async function hashPassword(secret: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(["bun", main, "hash-password", ...args], {
    cwd: root,
    env,
    stdin: new Blob([secret]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

/** Writes the file in one step, as a Kubernetes secret volume does (a rename). */
function replace(path: string, text: string): void {
  const next = `${path}.${unique()}`;
  writeFileSync(next, text);
  renameSync(next, path);
}

/** Polls until `f` holds, at most `ms`. */
async function eventually(f: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return true;
    await Bun.sleep(100);
  }
  return f();
}

describe("auth file in the server process", () => {
  test("hash-password prints argon2id (or bcrypt) hashes of standard input, and new tokens", async () => {
    const argon = await hashPassword("s3cret\n");
    expect(argon.code).toBe(0);
    expect(argon.out.trim()).toStartWith("$argon2id$");
    expect(await Bun.password.verify("s3cret", argon.out.trim())).toBe(true);
    const bcrypt = await hashPassword("s3cret", "--bcrypt");
    expect(bcrypt.out.trim()).toStartWith("$2b$");
    expect(await Bun.password.verify("s3cret", bcrypt.out.trim())).toBe(true);
    const token = await hashPassword("", "--new-token");
    const [, tok] = /^token: (\S+)$/m.exec(token.out)!;
    const [, tokenHash] = /^token_hash: "(\S+)"$/m.exec(token.out)!;
    expect(await Bun.password.verify(tok!, tokenHash!)).toBe(true);
    const empty = await hashPassword("");
    expect(empty.code).toBe(2);
    expect(empty.err).toContain("nothing on standard input");
  });

  test("a broken auth file stops the start with its place named; --auth-file with --auth-basic is refused", async () => {
    const path = join(dir, "broken.yaml");
    writeFileSync(path, "users:\n  - name: u\n    password_hash: hunter2\n    roles: [read]\n");
    const proc = Bun.spawn(["bun", main, "--data-dir", join(dir, "data-broken"), "--port", "0", "--auth-file", path], {
      cwd: root,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(1);
    expect(out).toContain("users[0] (u): password_hash");
    expect(out).not.toContain("hunter2");
    const both = Bun.spawn(["bun", main, "--auth-file", path, "--auth-basic", "a:b"], {
      cwd: root,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [err, code2] = await Promise.all([new Response(both.stderr).text(), both.exited]);
    expect(code2).toBe(2);
    expect(err).toContain("--auth-file replaces --auth-basic");
  });

  test("changes are taken when the file changes and on SIGHUP; a broken change keeps the previous users", async () => {
    const path = join(dir, "users.yaml");
    const user = async (name: string, password: string, tenant: string) =>
      `  - name: ${name}\n    password_hash: "${await Bun.password.hash(password, { algorithm: "argon2id", memoryCost: 1024, timeCost: 1 })}"\n    tenant: ${tenant}\n    roles: [write, read]\n`;
    const alice = await user("alice", "pw-alice", "team-a");
    replace(path, `users:\n${alice}`);
    const server = await startServerProcess(
      [
        "bun",
        main,
        "--data-dir",
        join(dir, "data"),
        "--port",
        "0",
        "--bind-address",
        "127.0.0.1",
        "--auth-file",
        path,
        "--tenancy",
        "header",
      ],
      { cwd: root, env, timeoutMs: 20_000 },
    );
    try {
      const write = (auth: string) =>
        fetch(`${server.url}/write`, {
          method: "POST",
          headers: { authorization: auth },
          body: JSON.stringify([fbRecord({ namespace: unique(), log: "x" })]),
        }).then((r) => r.status);
      expect(await write(basic("alice", "pw-alice"))).toBe(200);
      expect(await write(basic("bob", "pw-bob"))).toBe(401);
      // Bob is added: the change is noticed (polled every 2 s) without a signal.
      replace(path, `users:\n${alice}${await user("bob", "pw-bob", "team-b")}`);
      expect(await eventually(async () => (await write(basic("bob", "pw-bob"))) === 200)).toBe(true);
      // A broken file: logged, and the previous users stay (bob included).
      replace(path, "users: [ {");
      server.proc.kill("SIGHUP");
      expect(await eventually(async () => server.output().includes("auth file not reloaded"))).toBe(true);
      expect(await write(basic("bob", "pw-bob"))).toBe(200);
      // Alice removed, signalled at once.
      replace(path, `users:\n${await user("bob", "pw-bob", "team-b")}`);
      server.proc.kill("SIGHUP");
      expect(await eventually(async () => (await write(basic("alice", "pw-alice"))) === 401)).toBe(true);
      expect(await write(basic("bob", "pw-bob"))).toBe(200);
      // Neither passwords nor hashes reach the log.
      for (const secret of ["pw-alice", "pw-bob", "$argon2id$"]) expect(server.output()).not.toContain(secret);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});
