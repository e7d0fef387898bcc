// Who a request's Authorization header names. Two sources:
//  - --auth-basic / --auth-token: one shared secret each, compared in constant time (both sides
//    hashed to a fixed length first, so neither content nor length leaks through timing);
//  - --auth-file: users whose passwords and tokens are stored as argon2 or bcrypt hashes, checked
//    with Bun.password.verify (its own constant-time comparison, on a worker thread).
// A hash check costs tens of milliseconds on purpose, and Fluent Bit sends the same header with
// every batch: answers are cached by a SHA-256 of the header (positive for 5 minutes, negative for
// 30 seconds, at most 10,000 entries), concurrent checks of one header share one verification, and
// at most two verifications run at once (more wait, at most 1,000; beyond, 429).
import { createHash, timingSafeEqual } from "node:crypto";
import { OverloadedError } from "../ingest/budget.ts";
import { Semaphore } from "../store/semaphore.ts";
import type { User } from "./authfile.ts";

/** Strict base64 (RFC 4648 §4, padded): Buffer.from would skip what is not base64 and decode the rest. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const digest = (s: string) => createHash("sha256").update(s).digest();

export interface Presented {
  scheme: "basic" | "bearer" | "other" | "none";
  /** Basic: the user name and password; bearer: the token. */
  user?: string;
  secret?: string;
}

/** The credentials an Authorization header presents. */
export function presented(header: string | null): Presented {
  if (header === null || header === "") return { scheme: "none" };
  const space = header.indexOf(" ");
  const scheme = space === -1 ? "" : header.slice(0, space).toLowerCase();
  const rest = space === -1 ? "" : header.slice(space + 1).trim();
  if (scheme === "basic" && BASE64.test(rest)) {
    const decoded = Buffer.from(rest, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon === -1) return { scheme: "other" };
    return { scheme: "basic", user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  }
  if (scheme === "bearer" && rest !== "") return { scheme: "bearer", secret: rest };
  return { scheme: "other" };
}

/** The shared secrets of --auth-basic and --auth-token. */
export class SharedSecrets {
  private readonly basic: Buffer | undefined;
  private readonly token: Buffer | undefined;

  constructor(authBasic: string, authToken: string) {
    this.basic = authBasic !== "" ? digest(authBasic) : undefined;
    this.token = authToken !== "" ? digest(authToken) : undefined;
  }

  get configured(): boolean {
    return this.basic !== undefined || this.token !== undefined;
  }

  get schemes(): string {
    return [this.basic ? 'Basic realm="kube-insight-logserver"' : "", this.token ? "Bearer" : ""].filter(Boolean).join(", ");
  }

  check(p: Presented): boolean {
    if (p.scheme === "basic" && this.basic) return timingSafeEqual(digest(`${p.user}:${p.secret}`), this.basic);
    if (p.scheme === "bearer" && this.token) return timingSafeEqual(digest(p.secret!), this.token);
    return false;
  }
}

const POSITIVE_MS = 5 * 60_000;
const NEGATIVE_MS = 30_000;
const MAX_CACHED = 10_000;
const MAX_WAITING = 1_000;

/** A hash to verify against when the user is unknown, so that unknown and known names cost alike. */
let decoyHash: Promise<string> | undefined;
const decoy = () => (decoyHash ??= Bun.password.hash(crypto.randomUUID(), { algorithm: "argon2id" }));

/** The users of an auth file, by their credentials. */
export class UserDirectory {
  private readonly byName = new Map<string, User>();
  private readonly bearers: User[];
  private readonly cache = new Map<string, { user: User | undefined; until: number }>();
  private readonly pending = new Map<string, Promise<User | undefined>>();
  private readonly verifications = new Semaphore(2);
  private waiting = 0;

  constructor(readonly users: readonly User[]) {
    for (const u of users) if (u.passwordHash !== undefined) this.byName.set(u.name, u);
    this.bearers = users.filter((u) => u.tokenHash !== undefined);
  }

  get schemes(): string {
    const basic = this.byName.size > 0 ? 'Basic realm="kube-insight-logserver"' : "";
    return [basic, this.bearers.length > 0 ? "Bearer" : ""].filter(Boolean).join(", ") || "Basic";
  }

  /** The user the header names, or undefined when it names none (or wrongly). */
  async find(header: string, p: Presented): Promise<User | undefined> {
    if (p.scheme !== "basic" && p.scheme !== "bearer") return undefined;
    const key = createHash("sha256").update(header).digest("base64");
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached !== undefined && cached.until > now) return cached.user;
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    if (this.waiting >= MAX_WAITING) {
      throw new OverloadedError("too many credential checks are waiting; try again shortly", 1);
    }
    const check = this.verify(p).then((user) => {
      if (this.cache.size >= MAX_CACHED) this.evict(now);
      this.cache.set(key, { user, until: Date.now() + (user ? POSITIVE_MS : NEGATIVE_MS) });
      return user;
    });
    this.pending.set(key, check);
    this.waiting++;
    try {
      return await check;
    } finally {
      this.waiting--;
      this.pending.delete(key);
    }
  }

  private verify(p: Presented): Promise<User | undefined> {
    return this.verifications.run(async () => {
      if (p.scheme === "basic") {
        const user = this.byName.get(p.user!);
        if (user === undefined) {
          await Bun.password.verify(p.secret!, await decoy()).catch(() => false);
          return undefined;
        }
        return (await Bun.password.verify(p.secret!, user.passwordHash!).catch(() => false)) ? user : undefined;
      }
      for (const user of this.bearers) {
        if (await Bun.password.verify(p.secret!, user.tokenHash!).catch(() => false)) return user;
      }
      return undefined;
    });
  }

  /** Makes room: expired entries first, then the oldest. */
  private evict(now: number): void {
    for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
    if (this.cache.size < MAX_CACHED) return;
    let drop = this.cache.size - MAX_CACHED + 1;
    for (const k of this.cache.keys()) {
      if (drop-- <= 0) break;
      this.cache.delete(k);
    }
  }
}
