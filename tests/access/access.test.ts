// The auth file's reading (every mistake named), credentials checked against real argon2 and bcrypt
// hashes, the tenant rules of each mode, and the token buckets of the ingest limits.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AccessControl, formatDurationSeconds, type AccessOptions } from "../../src/access/access.ts";
import { AuthFileError, parseAuthFile } from "../../src/access/authfile.ts";
import { presented, UserDirectory } from "../../src/access/credentials.ts";
import { TenantLimiter, TokenBucket } from "../../src/access/limits.ts";
import { tenantIdProblem } from "../../src/access/tenant.ts";
import { DEFAULT_CONFIG } from "../../src/config.ts";
import { HttpError } from "../../src/routes/http.ts";

const hash = (secret: string, algorithm: "argon2id" | "bcrypt" = "argon2id") =>
  algorithm === "bcrypt"
    ? Bun.password.hash(secret, { algorithm, cost: 4 })
    : Bun.password.hash(secret, { algorithm, memoryCost: 1024, timeCost: 1 });
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const request = (headers: Record<string, string> = {}) => new Request("http://localhost/query", { headers });

const options = (over: Partial<AccessOptions> = {}): AccessOptions => ({ ...DEFAULT_CONFIG, ...over });

async function statusOf(p: Promise<unknown>): Promise<number | "ok"> {
  try {
    await p;
    return "ok";
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
}

describe("auth file", () => {
  test("YAML and JSON read alike; tenants, roles and limits come out as given", async () => {
    const h = await hash("pw");
    const yaml = parseAuthFile(
      `users:\n  - name: w\n    password_hash: "${h}"\n    tenant: team-a\n    roles: [write, read]\n` +
        `tenants:\n  team-a: { ingest_lines_per_second: 5000, ingest_bytes_per_second: 4MiB, max_query_range: 30d }\n`,
      "f",
    );
    const json = parseAuthFile(
      JSON.stringify({
        users: [{ name: "w", password_hash: h, tenant: "team-a", roles: ["write", "read"] }],
        tenants: { "team-a": { ingest_lines_per_second: 5000, ingest_bytes_per_second: "4MiB", max_query_range: "30d" } },
      }),
      "f",
    );
    for (const file of [yaml, json]) {
      expect(file.users.map((u) => ({ ...u, roles: [...u.roles] }))).toEqual([
        { name: "w", passwordHash: h, tokenHash: undefined, tenants: ["team-a"], roles: ["write", "read"] },
      ]);
      expect(file.tenants.get("team-a")).toEqual({
        ingestLinesPerSecond: 5000,
        ingestBytesPerSecond: 4 * 1024 * 1024,
        maxQueryRangeSeconds: 30 * 86400,
      });
    }
    expect(parseAuthFile("", "f")).toEqual({ users: [], tenants: new Map() });
  });

  test("every mistake is refused with its place named, a plain secret above all", async () => {
    const h = await hash("pw");
    const user = (over: string) => `users:\n  - name: u\n    password_hash: "${h}"\n    roles: [read]\n${over}`;
    const cases: [string, string][] = [
      ["users: [", "not valid YAML"],
      ["- a", "expected a map"],
      ["userz: []", 'unknown key "userz"'],
      ["users: {}", "users: expected a list"],
      [
        `users:\n  - name: u\n    password_hash: "s3cret"\n    roles: [read]\n`,
        "users[0] (u): password_hash: expected an argon2 or bcrypt hash",
      ],
      [`users:\n  - name: u\n    roles: [read]\n`, "give password_hash (basic auth) or token_hash (bearer)"],
      [`users:\n  - name: u\n    password_hash: "${h}"\n    roles: [reader]\n`, 'unknown role "reader"'],
      [`users:\n  - name: u\n    password_hash: "${h}"\n    roles: []\n`, "roles: expected a non-empty list"],
      [`users:\n  - name: "a b"\n    password_hash: "${h}"\n    roles: [read]\n`, "name: expected 1-200 characters"],
      [user(`  - name: u\n    password_hash: "${h}"\n    roles: [read]\n`), 'name "u" is given twice'],
      [user("    tenant: ../x\n"), 'tenant: "../x" is not a tenant id'],
      [user("    tenant: a\n    tenants: [b]\n"), "give tenant or tenants, not both"],
      [user("    pasword_hash: x\n"), 'unknown key "pasword_hash"'],
      ["tenants:\n  a: { ingest_lines: 5 }\n", 'tenants.a: unknown key "ingest_lines"'],
      ["tenants:\n  a: { max_query_range: 30 days }\n", "tenants.a.max_query_range: expected a duration"],
      ["tenants:\n  a: { ingest_lines_per_second: -1 }\n", "expected a number ≥ 0"],
      ["tenants:\n  'a|b': {}\n", "names several tenants"],
    ];
    for (const [text, message] of cases) {
      let error: unknown;
      try {
        parseAuthFile(text, "auth file x.yaml");
      } catch (e) {
        error = e;
      }
      expect({ text, error: error instanceof AuthFileError }).toEqual({ text, error: true });
      expect((error as Error).message).toStartWith("auth file x.yaml");
      expect((error as Error).message).toContain(message);
    }
  });

  test("tenant ids: letters, digits, '.', '_', '-'; never a path, a list or empty", () => {
    for (const ok of ["team-a", "A1", "org.example_1", "x".repeat(150)]) expect(tenantIdProblem(ok)).toBeUndefined();
    for (const bad of ["", ".", "..", "-a", "a/b", "../a", "a|b", "a b", "x".repeat(151), "a\u0000", "é"]) {
      expect({ bad, problem: tenantIdProblem(bad) !== undefined }).toEqual({ bad, problem: true });
    }
  });
});

describe("credentials", () => {
  test("basic and bearer users verify against argon2id and bcrypt hashes; wrong ones do not", async () => {
    const users = parseAuthFile(
      JSON.stringify({
        users: [
          { name: "argon", password_hash: await hash("pw-1"), roles: ["read"] },
          { name: "bcrypt", password_hash: await hash("pw-2", "bcrypt"), roles: ["read"] },
          { name: "bot", token_hash: await hash("tok-3"), roles: ["write"] },
        ],
      }),
      "f",
    ).users;
    const dir = new UserDirectory(users);
    const find = (header: string) => dir.find(header, presented(header)).then((u) => u?.name);
    expect(await find(basic("argon", "pw-1"))).toBe("argon");
    expect(await find(basic("bcrypt", "pw-2"))).toBe("bcrypt");
    expect(await find("Bearer tok-3")).toBe("bot");
    expect(await find("bearer tok-3")).toBe("bot");
    for (const wrong of [
      basic("argon", "pw-2"),
      basic("bcrypt", "pw-1"),
      basic("nobody", "pw-1"),
      "Bearer pw-1",
      basic("bot", "tok-3"),
    ]) {
      expect({ wrong, user: await find(wrong) }).toEqual({ wrong, user: undefined });
    }
    expect(await find("Basic !!!")).toBeUndefined();
  });

  test("one verification serves concurrent requests with the same header, and its answer is cached", async () => {
    const users = parseAuthFile(
      JSON.stringify({ users: [{ name: "u", password_hash: await hash("pw"), roles: ["read"] }] }),
      "f",
    ).users;
    const dir = new UserDirectory(users);
    const original = Bun.password.verify;
    let verifications = 0;
    Bun.password.verify = (async (...args: Parameters<typeof original>) => {
      verifications++;
      return original(...args);
    }) as typeof original;
    try {
      const header = basic("u", "pw");
      const found = await Promise.all(Array.from({ length: 20 }, () => dir.find(header, presented(header))));
      expect(found.every((u) => u?.name === "u")).toBe(true);
      expect(verifications).toBe(1);
      await dir.find(header, presented(header));
      expect(verifications).toBe(1);
      // A wrong password is remembered for a while too: guessing it again costs no hash.
      const wrong = basic("u", "nope");
      expect(await dir.find(wrong, presented(wrong))).toBeUndefined();
      expect(await dir.find(wrong, presented(wrong))).toBeUndefined();
      expect(verifications).toBe(2);
    } finally {
      Bun.password.verify = original;
    }
  });
});

describe("access control", () => {
  const dir = mkdtempSync(join(tmpdir(), "logserver-access-"));
  const file = async (users: object[]) => {
    const path = join(dir, `${crypto.randomUUID()}.json`);
    writeFileSync(path, JSON.stringify({ users }));
    return path;
  };

  test("no tenancy: everyone is the default tenant and X-Scope-OrgID is ignored", async () => {
    const ac = new AccessControl(options());
    expect(await ac.identify(request({ "x-scope-orgid": "team-a" }), "read")).toEqual({ tenant: "" });
    expect(await ac.identify(request(), "write")).toEqual({ tenant: "" });
  });

  test("header tenancy: the header is the tenant; missing is 401, malformed 400; shared secrets still apply", async () => {
    const ac = new AccessControl(options({ tenancy: "header" }));
    expect((await ac.identify(request({ "x-scope-orgid": "team-a" }), "read")).tenant).toBe("team-a");
    expect(await statusOf(ac.identify(request(), "read"))).toBe(401);
    expect(await statusOf(ac.identify(request({ "x-scope-orgid": "a|b" }), "write"))).toBe(400);
    // Health, metrics and profiling name no tenant.
    expect(await statusOf(ac.identify(request(), "metrics"))).toBe("ok");
    const guarded = new AccessControl(options({ tenancy: "header", authToken: "t0k" }));
    expect(await statusOf(guarded.identify(request({ "x-scope-orgid": "a" }), "read"))).toBe(401);
    expect((await guarded.identify(request({ "x-scope-orgid": "a", authorization: "Bearer t0k" }), "read")).tenant).toBe("a");
  });

  test("an auth file decides the tenant; reload takes a new file and keeps the old one when the new one is broken", async () => {
    const path = await file([{ name: "u", password_hash: await hash("pw"), tenant: "team-a", roles: ["read"] }]);
    const ac = new AccessControl(options({ authFile: path }));
    const u = { authorization: basic("u", "pw") };
    expect(await ac.identify(request(u), "read")).toEqual({ tenant: "team-a", user: "u" });
    expect(await statusOf(ac.identify(request(u), "write"))).toBe(403);
    expect(await statusOf(ac.identify(request({ ...u, "x-scope-orgid": "team-b" }), "read"))).toBe(403);
    expect((await ac.identify(request({ ...u, "x-scope-orgid": "team-a" }), "read")).tenant).toBe("team-a");
    writeFileSync(
      path,
      JSON.stringify({ users: [{ name: "v", password_hash: await hash("pw2"), tenant: "team-b", roles: ["write"] }] }),
    );
    expect(ac.reload()).toBe(true);
    expect(await statusOf(ac.identify(request(u), "read"))).toBe(401);
    expect((await ac.identify(request({ authorization: basic("v", "pw2") }), "write")).tenant).toBe("team-b");
    writeFileSync(path, "users: [ {");
    expect(ac.reload()).toBe(false);
    expect((await ac.identify(request({ authorization: basic("v", "pw2") }), "write")).tenant).toBe("team-b");
    rmSync(path);
    expect(ac.reload()).toBe(false);
    expect((await ac.identify(request({ authorization: basic("v", "pw2") }), "write")).tenant).toBe("team-b");
  });

  test("a broken auth file at start is an error naming the file", async () => {
    const path = join(dir, "broken.yaml");
    writeFileSync(path, "users:\n  - name: u\n    password_hash: plain\n    roles: [read]\n");
    expect(() => new AccessControl(options({ authFile: path }))).toThrow(`auth file ${path}: users[0] (u): password_hash`);
    expect(() => new AccessControl(options({ authFile: join(dir, "missing.yaml") }))).toThrow("missing.yaml");
  });

  test("max query range: a longer range is 400 naming the limit; an open start is clamped", () => {
    const ac = new AccessControl(options({ tenantMaxQueryRangeSeconds: 86400 }));
    const day = 86_400_000_000_000n;
    expect(() => ac.checkRange("", 0n, day)).not.toThrow();
    let error: unknown;
    try {
      ac.checkRange("", 0n, day + 1_000_000_000n);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    expect((error as HttpError).detail).toContain("longest query range of 1d");
    expect(ac.clampStart("", 0n, 10n * day)).toBe(9n * day);
    expect(ac.clampStart("", 9n * day + 5n, 10n * day)).toBe(9n * day + 5n);
    expect(formatDurationSeconds(90 * 60)).toBe("90m");
    expect(formatDurationSeconds(61)).toBe("61s");
  });
});

describe("ingest limits", () => {
  test("a token bucket holds two seconds of its rate and refills with time", () => {
    const b = new TokenBucket(10, 0);
    expect(b.wait(20, 0)).toBe(0);
    expect(b.wait(1, 0)).toBeCloseTo(0.1);
    expect(b.wait(5, 500)).toBe(0); // 5 tokens after half a second
    expect(b.wait(10, 500)).toBeCloseTo(1);
  });

  test("a batch larger than the bucket passes when the bucket is full, and the debt holds the rate", () => {
    const b = new TokenBucket(10, 0);
    expect(b.wait(100, 0)).toBe(0); // 100 lines into a bucket of 20: admitted, 80 in debt
    expect(b.wait(1, 0)).toBeCloseTo(8.1);
    expect(b.wait(1, 8_000)).toBeCloseTo(0.1);
    expect(b.wait(1, 8_100)).toBe(0);
  });

  test("lines and bytes are both checked before either is taken; tenants have their own buckets and overrides", () => {
    const limiter = new TenantLimiter(
      { ingestLinesPerSecond: 10, ingestBytesPerSecond: 1000, maxQueryRangeSeconds: 0 },
      new Map([["free", { ingestLinesPerSecond: 0, ingestBytesPerSecond: 0 }]]),
    );
    expect(limiter.admit("a", 5, 1500, 0)).toEqual({ retryAfterSeconds: 0 });
    // 15 lines fit (bucket 20), 600 bytes do not (500 left): refused, and the lines not taken.
    const refused = limiter.admit("a", 15, 600, 0);
    expect(refused.limit).toBe("bytes");
    expect(refused.retryAfterSeconds).toBeCloseTo(0.1);
    expect(limiter.admit("a", 15, 500, 0)).toEqual({ retryAfterSeconds: 0 });
    expect(limiter.admit("b", 20, 2000, 0)).toEqual({ retryAfterSeconds: 0 });
    expect(limiter.admit("free", 1e9, 1e12, 0)).toEqual({ retryAfterSeconds: 0 });
  });
});
