// Optional credentials for Fluent Bit's http_User/http_Passwd (basic) and Header (bearer token)
// options. Comparison is constant-time: both sides are hashed to a fixed length first, so
// neither the content nor the length of a secret leaks through timing.
import { createHash, timingSafeEqual } from "node:crypto";
import { errorResponse } from "./http.ts";

export interface AuthOptions {
  /** "user:password" (the password may hold ':' and spaces); "" when not required. */
  authBasic: string;
  /** Bearer token; "" when not required. */
  authToken: string;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export function authEnabled(options: AuthOptions): boolean {
  return options.authBasic !== "" || options.authToken !== "";
}

/** A check that returns undefined when the request may pass, or the 401 answer. */
export function authGuard(options: AuthOptions): (request: Request) => Response | undefined {
  const basic = options.authBasic !== "" ? digest(options.authBasic) : undefined;
  const token = options.authToken !== "" ? digest(options.authToken) : undefined;
  const schemes = [basic ? 'Basic realm="kube-insight-logserver"' : "", token ? "Bearer" : ""].filter(Boolean);
  return (request) => {
    const header = request.headers.get("authorization") ?? "";
    const space = header.indexOf(" ");
    const scheme = space === -1 ? "" : header.slice(0, space).toLowerCase();
    const credentials = space === -1 ? "" : header.slice(space + 1).trim();
    let ok = false;
    if (scheme === "basic" && basic) {
      let decoded = "";
      try {
        decoded = Buffer.from(credentials, "base64").toString("utf8");
      } catch {
        decoded = "";
      }
      ok = timingSafeEqual(digest(decoded), basic);
    } else if (scheme === "bearer" && token) {
      ok = timingSafeEqual(digest(credentials), token);
    }
    if (ok) return undefined;
    return errorResponse(
      401,
      "unauthorized",
      header === "" ? "this endpoint requires credentials" : "the credentials given are not valid here",
      { "www-authenticate": schemes.join(", ") },
    );
  };
}
