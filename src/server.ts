// The HTTP server around the app: Bun.serve options that agree with the app's own limits, and
// the fetch function that hands each request to Elysia. Every request passes here first, so that
// none reaches a handler with a URL the router cannot read.
import type { Server } from "bun";
import { log } from "./log.ts";
import { errorResponseFor } from "./routes/http.ts";

/** Bun's idle timeout tops out at 255 s. */
export const MAX_IDLE_TIMEOUT_SECONDS = 255;

/** Seconds between the body timeout and the idle timeout: the body timeout answers 408 first. */
const IDLE_MARGIN_SECONDS = 10;

const servers = new WeakMap<Request, Server<unknown>>();

/**
 * Lets one request stay silent for `seconds` (a CPU profile, a live tail) past the server's idle
 * timeout. Does nothing for requests that did not come through a server (tests' app.handle).
 */
export function allowLongRequest(request: Request, seconds: number): void {
  servers.get(request)?.timeout(request, Math.min(MAX_IDLE_TIMEOUT_SECONDS, Math.ceil(seconds)));
}

/** A host, an IPv4 address or a bracketed IPv6 address, with an optional port. */
const AUTHORITY = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/**
 * The request with a URL the router reads right. Bun builds request.url from the Host header:
 * without one, or with one that is not a valid authority ("a b"), it is the bare path, which
 * `new URL` refuses; with a valid one that names an impossible port (":99999") `new URL` refuses
 * it too; and Elysia finds the path at a fixed offset (the first "/" from the 12th character), so a
 * host of three characters or fewer ("Host: x") misroutes every request. Such requests are
 * rebuilt on "localhost": the host plays no part in routing here.
 */
export function routable(request: Request): Request {
  const url = request.url;
  const scheme = url.startsWith("https://") ? 8 : url.startsWith("http://") ? 7 : 0;
  const slash = scheme === 0 ? 0 : url.indexOf("/", scheme);
  if (scheme !== 0 && slash >= 11) {
    const m = AUTHORITY.exec(url.slice(scheme, slash));
    if (m !== null && (m[1] === undefined || Number(m[1]) <= 65535)) return request;
  }
  const path = scheme === 0 ? (url.startsWith("/") ? url : `/${url}`) : slash === -1 ? "/" : url.slice(slash);
  return new Request(`${scheme === 8 ? "https" : "http"}://localhost${path}`, request);
}

export interface Handler {
  handle: (request: Request) => Response | Promise<Response>;
}

/** The fetch function for Bun.serve. */
export function serverFetch(app: Handler) {
  return (request: Request, server: Server<unknown>): Response | Promise<Response> => {
    const req = routable(request);
    servers.set(req, server);
    return app.handle(req);
  };
}

export interface ServeOptions {
  hostname: string;
  port: number;
  /** Seconds a request body may take to arrive: the idle timeout stays above it. */
  bodyTimeoutSeconds: number;
}

/** Bun.serve over the app, with timeouts and limits that leave every answer to the app. */
export function serve(app: Handler, options: ServeOptions): Server<unknown> {
  return Bun.serve({
    hostname: options.hostname,
    port: options.port,
    fetch: serverFetch(app),
    // Never Bun's development error page (it shows source and paths), even for a thrown error.
    development: false,
    error: (error) => {
      log.error("unhandled error outside the app", { error });
      return errorResponseFor(error);
    },
    // The app enforces --max-body-size with a JSON 413; Bun's own cap would answer an empty one.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Above the body timeout, so that a stalled body gets the app's 408 rather than a reset.
    idleTimeout: Math.min(MAX_IDLE_TIMEOUT_SECONDS, options.bodyTimeoutSeconds + IDLE_MARGIN_SECONDS),
  });
}
