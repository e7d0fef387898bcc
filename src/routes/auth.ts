// Optional credentials for Fluent Bit's http_User/http_Passwd (basic) and Header (bearer token)
// options, as one Elysia macro: a route declares `auth: "always"` (writes, queries, profiling) or
// `auth: "protect-all"` (health, metrics: protected only with --auth-protect-all). Without
// credentials configured, nothing is checked. Comparison is constant-time: both sides are hashed
// to a fixed length first, so neither the content nor the length of a secret leaks through timing.
import { Elysia } from "elysia";
import { createHash, timingSafeEqual } from "node:crypto";
import { UnauthorizedError } from "./http.ts";

export interface AuthOptions {
  /** "user:password" (the password may hold ':' and spaces); "" when not required. */
  authBasic: string;
  /** Bearer token; "" when not required. */
  authToken: string;
  /** Also protect the health probe, metrics and docs. */
  authProtectAll: boolean;
}

export type AuthLevel = "always" | "protect-all";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Strict base64 (RFC 4648 §4, padded): Buffer.from would skip what is not base64 and decode the rest. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function authEnabled(options: Pick<AuthOptions, "authBasic" | "authToken">): boolean {
  return options.authBasic !== "" || options.authToken !== "";
}

/** A check that throws UnauthorizedError unless the request carries valid credentials. */
export function credentialCheck(options: Pick<AuthOptions, "authBasic" | "authToken">): (request: Request) => void {
  const basic = options.authBasic !== "" ? digest(options.authBasic) : undefined;
  const token = options.authToken !== "" ? digest(options.authToken) : undefined;
  const schemes = [basic ? 'Basic realm="kube-insight-logserver"' : "", token ? "Bearer" : ""].filter(Boolean).join(", ");
  return (request) => {
    const header = request.headers.get("authorization") ?? "";
    const space = header.indexOf(" ");
    const scheme = space === -1 ? "" : header.slice(0, space).toLowerCase();
    const credentials = space === -1 ? "" : header.slice(space + 1).trim();
    let ok = false;
    if (scheme === "basic" && basic && BASE64.test(credentials)) {
      ok = timingSafeEqual(digest(Buffer.from(credentials, "base64").toString("utf8")), basic);
    } else if (scheme === "bearer" && token) {
      ok = timingSafeEqual(digest(credentials), token);
    }
    if (!ok) {
      throw new UnauthorizedError(
        header === "" ? "this endpoint requires credentials" : "the credentials given are not valid here",
        schemes,
      );
    }
  };
}

/** The `auth` macro, for the route modules to `.use()`. */
export function authPlugin(options: AuthOptions) {
  const check = authEnabled(options) ? credentialCheck(options) : undefined;
  const protects = (level: AuthLevel) => check !== undefined && (level === "always" || options.authProtectAll);
  return new Elysia({ name: "auth", seed: options }).macro({
    auth: (level: AuthLevel) => (protects(level) ? { beforeHandle: ({ request }: { request: Request }) => check!(request) } : {}),
  });
}
