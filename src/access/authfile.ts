// The --auth-file: users with hashed credentials, the tenant(s) each acts for, their roles, and
// per-tenant limits. YAML or JSON (JSON is YAML); every mistake is an error naming its place, so
// that a typo never silently opens or closes access. Example:
//
//   users:
//     - name: team-a-fluent-bit          # basic auth user name, and the name in logs
//       password_hash: "$argon2id$..."    # kube-insight-logserver hash-password
//       tenant: team-a
//       roles: [write]
//     - name: team-a-grafana
//       token_hash: "$argon2id$..."       # Authorization: Bearer <token>
//       tenant: team-a
//       roles: [read]
//     - name: platform
//       password_hash: "$2b$..."          # bcrypt works too
//       tenants: [team-a, team-b]         # X-Scope-OrgID picks one
//       roles: [read, metrics, admin]
//   tenants:
//     team-a: { ingest_lines_per_second: 5000, ingest_bytes_per_second: 4MiB, max_query_range: 30d }
import { parseDuration, parseSize } from "../config.ts";
import { tenantIdProblem } from "./tenant.ts";

export const ROLES = ["write", "read", "metrics", "admin"] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  name: string;
  /** Bun.password hash (argon2id/argon2i/argon2d or bcrypt) of the basic auth password. */
  passwordHash?: string;
  /** Bun.password hash of the bearer token. */
  tokenHash?: string;
  /** The tenants the user acts for ("" is the default tenant); the first is the default. */
  tenants: string[];
  roles: ReadonlySet<Role>;
}

export interface TenantLimits {
  /** 0: unlimited. */
  ingestLinesPerSecond: number;
  ingestBytesPerSecond: number;
  /** Seconds; 0: unlimited. */
  maxQueryRangeSeconds: number;
}

export interface AuthFile {
  users: User[];
  /** Per-tenant overrides of the --tenant-* defaults. */
  tenants: Map<string, Partial<TenantLimits>>;
}

export class AuthFileError extends Error {
  override readonly name = "AuthFileError";
}

const HASH = /^\$(argon2id|argon2i|argon2d|2a|2b|2y)\$/;
const USER_KEYS = new Set(["name", "password_hash", "token_hash", "tenant", "tenants", "roles"]);
const LIMIT_KEYS: Record<string, keyof TenantLimits> = {
  ingest_lines_per_second: "ingestLinesPerSecond",
  ingest_bytes_per_second: "ingestBytesPerSecond",
  max_query_range: "maxQueryRangeSeconds",
};
const USER_NAME = /^[^\s:]{1,200}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses the text of an auth file (YAML or JSON). `where` names it in errors. */
export function parseAuthFile(text: string, where: string): AuthFile {
  let doc: unknown;
  try {
    doc = text.trim() === "" ? {} : Bun.YAML.parse(text);
  } catch (error) {
    throw new AuthFileError(`${where}: not valid YAML or JSON: ${(error as Error).message}`);
  }
  if (!isObject(doc)) throw new AuthFileError(`${where}: expected a map with users and tenants`);
  for (const key of Object.keys(doc)) {
    if (key !== "users" && key !== "tenants") throw new AuthFileError(`${where}: unknown key "${key}" (expected users, tenants)`);
  }
  const users = parseUsers(doc.users ?? [], where);
  const tenants = parseTenants(doc.tenants ?? {}, where);
  return { users, tenants };
}

function parseUsers(value: unknown, where: string): User[] {
  if (!Array.isArray(value)) throw new AuthFileError(`${where}: users: expected a list`);
  const seen = new Set<string>();
  return value.map((raw, i) => {
    const at = `${where}: users[${i}]`;
    if (!isObject(raw)) throw new AuthFileError(`${at}: expected a map`);
    for (const key of Object.keys(raw)) {
      if (!USER_KEYS.has(key)) throw new AuthFileError(`${at}: unknown key "${key}" (expected ${[...USER_KEYS].join(", ")})`);
    }
    const name = raw.name;
    if (typeof name !== "string" || !USER_NAME.test(name)) {
      throw new AuthFileError(`${at}: name: expected 1-200 characters without spaces or ':'`);
    }
    if (seen.has(name)) throw new AuthFileError(`${at}: name "${name}" is given twice`);
    seen.add(name);
    const passwordHash = hashOf(raw.password_hash, `${at} (${name}): password_hash`);
    const tokenHash = hashOf(raw.token_hash, `${at} (${name}): token_hash`);
    if (passwordHash === undefined && tokenHash === undefined) {
      throw new AuthFileError(`${at} (${name}): give password_hash (basic auth) or token_hash (bearer), or both`);
    }
    if (raw.tenant !== undefined && raw.tenants !== undefined) {
      throw new AuthFileError(`${at} (${name}): give tenant or tenants, not both`);
    }
    let tenants: string[];
    if (raw.tenants !== undefined) {
      if (!Array.isArray(raw.tenants) || raw.tenants.length === 0) {
        throw new AuthFileError(`${at} (${name}): tenants: expected a non-empty list of tenant ids`);
      }
      tenants = raw.tenants.map((t) => tenantOf(t, `${at} (${name}): tenants`));
    } else {
      tenants = [raw.tenant === undefined ? "" : tenantOf(raw.tenant, `${at} (${name}): tenant`)];
    }
    if (!Array.isArray(raw.roles) || raw.roles.length === 0) {
      throw new AuthFileError(`${at} (${name}): roles: expected a non-empty list of ${ROLES.join(", ")}`);
    }
    const roles = new Set<Role>();
    for (const role of raw.roles) {
      if (!ROLES.includes(role as Role)) {
        throw new AuthFileError(`${at} (${name}): roles: unknown role "${String(role)}" (expected ${ROLES.join(", ")})`);
      }
      roles.add(role as Role);
    }
    return { name, passwordHash, tokenHash, tenants: [...new Set(tenants)], roles };
  });
}

function hashOf(value: unknown, at: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || !HASH.test(value)) {
    throw new AuthFileError(
      `${at}: expected an argon2 or bcrypt hash ("$argon2id$..." or "$2b$..."; make one with hash-password), never the secret itself`,
    );
  }
  return value;
}

function tenantOf(value: unknown, at: string): string {
  const id = typeof value === "number" ? String(value) : value;
  if (typeof id !== "string") throw new AuthFileError(`${at}: expected a tenant id`);
  const problem = tenantIdProblem(id);
  if (problem) throw new AuthFileError(`${at}: ${problem}`);
  return id;
}

function parseTenants(value: unknown, where: string): Map<string, Partial<TenantLimits>> {
  if (!isObject(value)) throw new AuthFileError(`${where}: tenants: expected a map of tenant id to limits`);
  const out = new Map<string, Partial<TenantLimits>>();
  for (const [id, raw] of Object.entries(value)) {
    const at = `${where}: tenants.${id}`;
    const problem = tenantIdProblem(id);
    if (problem) throw new AuthFileError(`${at}: ${problem}`);
    if (raw === null) {
      out.set(id, {});
      continue;
    }
    if (!isObject(raw)) throw new AuthFileError(`${at}: expected a map of limits`);
    const limits: Partial<TenantLimits> = {};
    for (const [key, v] of Object.entries(raw)) {
      const field = LIMIT_KEYS[key];
      if (field === undefined) {
        throw new AuthFileError(`${at}: unknown key "${key}" (expected ${Object.keys(LIMIT_KEYS).join(", ")})`);
      }
      limits[field] = limitValue(field, v, `${at}.${key}`);
    }
    out.set(id, limits);
  }
  return out;
}

function limitValue(field: keyof TenantLimits, value: unknown, at: string): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) throw new AuthFileError(`${at}: expected a number ≥ 0, got ${value}`);
    return Math.floor(value);
  }
  if (typeof value !== "string") throw new AuthFileError(`${at}: expected a number or a string`);
  try {
    if (value.trim() === "0") return 0;
    if (field === "ingestBytesPerSecond") return parseSize(value);
    if (field === "maxQueryRangeSeconds") return parseDuration(value);
  } catch (error) {
    throw new AuthFileError(`${at}: ${(error as Error).message}`);
  }
  throw new AuthFileError(`${at}: expected a number, got "${value}"`);
}
