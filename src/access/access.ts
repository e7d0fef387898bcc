// Who may do what, for which tenant. Every route declares an access level with the `access`
// macro and receives the caller's Identity; the tenant travels from there into the write path and
// the LogQuery, so that no route picks a tenant by itself.
//
// Levels: write (POST /write), read (queries, discovery, tail), admin (profiling), metrics
// (/metrics) and protect-all (health, docs). Sources of identity:
//  - nothing configured: everyone may do everything, in the default tenant;
//  - --auth-basic / --auth-token: one shared secret; write, read and admin need it, metrics and
//    protect-all only with --auth-protect-all;
//  - --auth-file: users with roles (write, read, metrics, admin) and tenants; the same levels need
//    credentials, and the user's roles must cover the level (403 otherwise);
//  - --tenancy header: the tenant is X-Scope-OrgID (401 without it). With an auth file the
//    credentials decide the tenant: the header may pick among the user's tenants, and naming
//    another is 403.
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { Elysia } from "elysia";
import type { Tenancy } from "../config.ts";
import { log } from "../log.ts";
import { HttpError, InvalidQueryError, UnauthorizedError } from "../routes/http.ts";
import { parseAuthFile, type AuthFile, type Role, type TenantLimits, type User } from "./authfile.ts";
import { presented, SharedSecrets, UserDirectory } from "./credentials.ts";
import { TenantLimiter } from "./limits.ts";
import { TENANT_HEADER, tenantIdProblem } from "./tenant.ts";

export type AccessLevel = "write" | "read" | "admin" | "metrics" | "protect-all";

export interface Identity {
  /** "" is the default tenant. */
  tenant: string;
  /** The auth file's user name; undefined without an auth file. */
  user?: string;
}

export interface AccessOptions {
  authBasic: string;
  authToken: string;
  authProtectAll: boolean;
  tenancy: Tenancy;
  /** Path of the auth file; "" for none. */
  authFile: string;
  tenantIngestLinesPerSecond: number;
  tenantIngestBytesPerSecond: number;
  tenantMaxQueryRangeSeconds: number;
}

/** Credentials that are valid but not for this: 403. */
export class ForbiddenError extends HttpError {
  override readonly name = "ForbiddenError";
  constructor(detail: string) {
    super(403, "forbidden", detail);
  }
}

/** A tenant over its ingest rate: 429 with Retry-After, which Fluent Bit retries. */
export class RateLimitedError extends HttpError {
  override readonly name = "RateLimitedError";
  constructor(detail: string, retryAfterSeconds: number) {
    super(429, "rate limited", detail, { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
}

const ROLE_OF: Record<AccessLevel, Role | undefined> = {
  write: "write",
  read: "read",
  admin: "admin",
  metrics: "metrics",
  "protect-all": undefined,
};

const ANONYMOUS: Identity = Object.freeze({ tenant: "" });

let plugins = 0;

export class AccessControl {
  private directory: UserDirectory | undefined;
  private readonly shared: SharedSecrets;
  readonly limiter: TenantLimiter;
  private readonly id = ++plugins;

  constructor(
    readonly options: AccessOptions,
    file?: AuthFile,
  ) {
    this.shared = new SharedSecrets(options.authBasic, options.authToken);
    this.limiter = new TenantLimiter({
      ingestLinesPerSecond: options.tenantIngestLinesPerSecond,
      ingestBytesPerSecond: options.tenantIngestBytesPerSecond,
      maxQueryRangeSeconds: options.tenantMaxQueryRangeSeconds,
    });
    if (file !== undefined) this.install(file);
    else if (options.authFile !== "") this.install(readAuthFile(options.authFile));
  }

  private install(file: AuthFile): void {
    this.directory = new UserDirectory(file.users);
    this.limiter.update(file.tenants);
  }

  /** Reads the auth file again; a file with mistakes is logged and the previous one kept. */
  reload(): boolean {
    if (this.options.authFile === "") return false;
    try {
      const file = readAuthFile(this.options.authFile);
      this.install(file);
      log.info("auth file loaded", { path: this.options.authFile, users: file.users.length, tenants: file.tenants.size });
      return true;
    } catch (error) {
      log.error("auth file not reloaded; the previous one stays in force", { path: this.options.authFile, error });
      return false;
    }
  }

  /** Reloads the auth file when it changes (checked every `intervalMs`); returns the stop. */
  watch(intervalMs = 2_000): () => void {
    const path = this.options.authFile;
    if (path === "") return () => {};
    const listener = (now: { mtimeMs: number; size: number; ino: number }, before: typeof now) => {
      if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) this.reload();
    };
    watchFile(path, { interval: intervalMs, persistent: false }, listener);
    return () => unwatchFile(path, listener);
  }

  /** True when anything needs credentials. */
  get credentialsConfigured(): boolean {
    return this.directory !== undefined || this.shared.configured;
  }

  private needsCredentials(level: AccessLevel): boolean {
    if (!this.credentialsConfigured) return false;
    return level === "write" || level === "read" || level === "admin" || this.options.authProtectAll;
  }

  /** The caller, or an error (401, 403, 400 for a malformed tenant id) saying why not. */
  async identify(request: Request, level: AccessLevel): Promise<Identity> {
    const tenanted = level === "write" || level === "read";
    let user: User | undefined;
    if (this.needsCredentials(level)) {
      const header = request.headers.get("authorization");
      const p = presented(header);
      if (this.directory !== undefined) {
        user = header === null ? undefined : await this.directory.find(header, p);
        if (user === undefined) throw this.unauthorized(header, this.directory.schemes);
        const role = ROLE_OF[level];
        const allowed = role === undefined || user.roles.has(role) || (role === "metrics" && user.roles.has("admin"));
        if (!allowed) {
          throw new ForbiddenError(`user "${user.name}" may not ${verb(level)} (roles: ${[...user.roles].join(", ")})`);
        }
      } else if (!this.shared.check(p)) {
        throw this.unauthorized(header, this.shared.schemes);
      }
    }
    if (!tenanted) return user ? { tenant: "", user: user.name } : ANONYMOUS;
    return { tenant: this.tenantOf(request, user), user: user?.name };
  }

  private tenantOf(request: Request, user: User | undefined): string {
    const byHeader = this.directory !== undefined || this.options.tenancy === "header";
    const named = byHeader ? request.headers.get(TENANT_HEADER) : null;
    if (named !== null && named !== "") {
      const problem = tenantIdProblem(named);
      if (problem) throw new InvalidQueryError(`X-Scope-OrgID: ${problem}`);
    }
    if (user !== undefined) {
      if (named !== null && named !== "") {
        if (!user.tenants.includes(named)) {
          throw new ForbiddenError(`user "${user.name}" does not act for tenant "${named}" (X-Scope-OrgID)`);
        }
        return named;
      }
      if (user.tenants.length === 1) return user.tenants[0]!;
      throw new InvalidQueryError(
        `X-Scope-OrgID: user "${user.name}" acts for several tenants (${user.tenants.join(", ")}); name one`,
      );
    }
    if (this.options.tenancy !== "header") return "";
    if (named === null || named === "") {
      throw new UnauthorizedError("this server keeps tenants apart: name yours in the X-Scope-OrgID header", "X-Scope-OrgID");
    }
    return named;
  }

  private unauthorized(header: string | null, schemes: string): UnauthorizedError {
    return new UnauthorizedError(
      header === null || header === "" ? "this endpoint requires credentials" : "the credentials given are not valid here",
      schemes,
    );
  }

  limitsOf(tenant: string): TenantLimits {
    return this.limiter.limitsOf(tenant);
  }

  /** Counts a batch against the tenant's ingest rate, or throws 429 with Retry-After. */
  admitIngest(tenant: string, lines: number, bytes: number): void {
    const verdict = this.limiter.admit(tenant, lines, bytes);
    if (verdict.retryAfterSeconds > 0) {
      const limits = this.limitsOf(tenant);
      const rate =
        verdict.limit === "lines" ? `${limits.ingestLinesPerSecond} lines/s` : `${limits.ingestBytesPerSecond} bytes/s`;
      throw new RateLimitedError(
        `tenant ${tenant === "" ? "(default)" : `"${tenant}"`} is over its ingest rate of ${rate}; ` +
          `this batch (${lines} lines, ${bytes} bytes) fits in ${verdict.retryAfterSeconds.toFixed(1)} s`,
        verdict.retryAfterSeconds,
      );
    }
  }

  /** The start of a range with no stated start: as far back as the tenant may read at once. */
  clampStart(tenant: string, startNs: bigint, endNs: bigint): bigint {
    const max = this.limitsOf(tenant).maxQueryRangeSeconds;
    if (max === 0) return startNs;
    const earliest = endNs - BigInt(max) * 1_000_000_000n;
    return startNs > earliest ? startNs : earliest;
  }

  /** Refuses (400) a query range longer than the tenant may read at once. */
  checkRange(tenant: string, startNs: bigint, endNs: bigint): void {
    const max = this.limitsOf(tenant).maxQueryRangeSeconds;
    if (max === 0) return;
    const spanSeconds = Number((endNs - startNs) / 1_000_000_000n);
    if (spanSeconds > max) {
      throw new InvalidQueryError(
        `the range spans ${formatDurationSeconds(spanSeconds)}, more than this tenant's longest query range of ` +
          `${formatDurationSeconds(max)}; narrow it with start_time/end_time or since`,
      );
    }
  }

  /** The `access` macro, for route modules to `.use()`. */
  plugin() {
    return new Elysia({ name: "access", seed: this.id }).macro({
      access: (level: AccessLevel) => ({
        resolve: async ({ request }: { request: Request }) => ({ identity: await this.identify(request, level) }),
      }),
    });
  }
}

function verb(level: AccessLevel): string {
  switch (level) {
    case "write":
      return "write logs";
    case "read":
      return "read logs";
    case "admin":
      return "use the profiling endpoints";
    case "metrics":
      return "read the metrics";
    default:
      return "do this";
  }
}

/** 2592000 → "30d", 5400 → "90m", 61 → "61s": the largest unit that divides it. */
export function formatDurationSeconds(seconds: number): string {
  for (const [unit, size] of [
    ["w", 604800],
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function readAuthFile(path: string): AuthFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`auth file ${path}: ${(error as Error).message}`);
  }
  return parseAuthFile(text, `auth file ${path}`);
}
