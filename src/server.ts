// The HTTP server around the app: Bun.serve options that agree with the app's own limits, and
// the fetch function that hands each request to Elysia. Every request passes here first, so that
// none reaches a handler with a URL the router cannot read. Over TLS, the server follows its
// certificate files (cert-manager rotates them) without dropping a connection.
import type { Server, WebSocketHandler } from "bun";
import { websocket as elysiaWebSocket } from "elysia/ws";
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
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
  /** Elysia reads the server of a request from here (its WebSocket upgrade needs it). */
  server?: Server<unknown> | null;
}

/** Servers replaced by a new certificate: each answer closes its connection. */
const retired = new WeakSet<Server<unknown>>();

/** The response with `Connection: close`, so that its client goes on over a new connection. */
async function closing(pending: Response | Promise<Response>): Promise<Response> {
  let response = await pending;
  try {
    response.headers.set("connection", "close");
  } catch {
    response = new Response(response.body, response); // immutable headers (a Response.redirect)
    response.headers.set("connection", "close");
  }
  return response;
}

/** The fetch function for Bun.serve. */
export function serverFetch(app: Handler) {
  return (request: Request, server: Server<unknown>): Response | Promise<Response> => {
    const req = routable(request);
    servers.set(req, server);
    // Elysia takes a request's server (for a WebSocket upgrade) from app.server as the request
    // starts, synchronously: with several listeners (a certificate rotation) it must be this one.
    app.server = server;
    return retired.has(server) ? closing(app.handle(req)) : app.handle(req);
  };
}

export interface TlsFiles {
  /** PEM certificate, optionally followed by its chain. */
  certFile: string;
  /** PEM private key of the certificate. */
  keyFile: string;
  /** PEM CAs that sign client certificates: given, every client must present one (mutual TLS). */
  clientCaFile?: string;
}

export interface ServeOptions {
  hostname: string;
  port: number;
  /** Seconds a request body may take to arrive: the idle timeout stays above it. */
  bodyTimeoutSeconds: number;
  /** HTTPS with these files, served anew when they change. */
  tls?: TlsFiles;
  /** Milliseconds between two reads of the TLS files. */
  tlsPollMs?: number;
}

export const DEFAULT_TLS_POLL_MS = 5000;

/**
 * Milliseconds a replaced server keeps its connections (closing each after its next answer) before
 * it stops: a client busy on one moves on between two requests, not in the middle of its next.
 */
const RETIRE_AFTER_MS = 2000;

/** A certificate that expires within this many days gets a warning when it is loaded. */
const EXPIRY_WARNING_DAYS = 7;

/** The contents of the TLS files, checked: the certificate parses and the key is its key. */
interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
  /** The leaf certificate, for the logs. */
  leaf: X509Certificate;
}

function readPem(what: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read the TLS ${what} file ${path}: ${(error as Error).message}`);
  }
}

/** The three files' contents as they are now; throws an error naming the file that is unusable. */
function readTlsFiles(files: TlsFiles): Omit<TlsMaterial, "leaf"> {
  return {
    cert: readPem("certificate", files.certFile),
    key: readPem("key", files.keyFile),
    ca: files.clientCaFile ? readPem("client CA", files.clientCaFile) : undefined,
  };
}

function checkTlsMaterial(files: TlsFiles, read: Omit<TlsMaterial, "leaf">): TlsMaterial {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(read.cert);
  } catch (error) {
    throw new Error(`the TLS certificate file ${files.certFile} holds no PEM certificate: ${(error as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(read.key);
  } catch (error) {
    throw new Error(`the TLS key file ${files.keyFile} holds no PEM private key: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new Error(`the TLS key file ${files.keyFile} does not hold the key of the certificate in ${files.certFile}`);
  }
  if (read.ca !== undefined) {
    try {
      new X509Certificate(read.ca);
    } catch (error) {
      throw new Error(`the TLS client CA file ${files.clientCaFile} holds no PEM certificate: ${(error as Error).message}`);
    }
  }
  return { ...read, leaf };
}

function describeCertificate(files: TlsFiles, leaf: X509Certificate): Record<string, unknown> {
  return {
    cert: files.certFile,
    subject: leaf.subject.replaceAll("\n", ", "),
    serial: leaf.serialNumber,
    notAfter: new Date(leaf.validTo).toISOString(),
    clientCa: files.clientCaFile || undefined,
  };
}

/** Served anyway (a client decides what it accepts), but said. */
function warnOnExpiry(files: TlsFiles, leaf: X509Certificate): void {
  const notAfter = new Date(leaf.validTo).getTime();
  const now = Date.now();
  if (notAfter <= now) log.warn("the TLS certificate has expired", describeCertificate(files, leaf));
  else if (notAfter - now < EXPIRY_WARNING_DAYS * 86_400_000)
    log.warn("the TLS certificate expires soon", describeCertificate(files, leaf));
}

/**
 * The listening server. Over TLS it watches its certificate files: Bun's server.reload() keeps the
 * TLS material it started with, so a changed certificate gets a new listener on the same port
 * (both with SO_REUSEPORT), and the old one stops accepting and ends once its requests are done.
 */
export class HttpServer {
  private current: Server<unknown>;
  /** Replaced servers finishing their requests, with what their stop(false) resolves. */
  private readonly retiring = new Map<Server<unknown>, Promise<void>>();
  private material?: TlsMaterial;
  /** The files' contents that last failed to load: not tried again until they change. */
  private refused?: string;
  /** The last reason logged for keeping the current certificate. */
  private warned?: string;
  private timer?: ReturnType<typeof setInterval>;
  private stopped = false;

  constructor(
    private readonly app: Handler,
    private readonly options: ServeOptions,
  ) {
    const files = options.tls;
    if (files === undefined) {
      this.current = this.listen(options.port, undefined);
      return;
    }
    this.material = checkTlsMaterial(files, readTlsFiles(files));
    // With SO_REUSEPORT, a port held by another process that set it too (a second instance of
    // this server) would be shared without a word: bind it alone once to be sure it is free.
    if (options.port !== 0) void this.listen(options.port, undefined, false).stop(true);
    this.current = this.listen(options.port, this.material);
    log.info("TLS certificate loaded", describeCertificate(files, this.material.leaf));
    warnOnExpiry(files, this.material.leaf);
    this.timer = setInterval(() => this.reloadTls(), options.tlsPollMs ?? DEFAULT_TLS_POLL_MS);
  }

  get url(): URL {
    return this.current.url;
  }

  get port(): number {
    return this.current.port as number;
  }

  get hostname(): string | undefined {
    return this.current.hostname;
  }

  /**
   * Serves the TLS files anew when their contents changed and load; keeps the current server
   * (and logs why) when they do not, such as a new certificate beside the old key halfway through
   * a rotation: contents that do not load are tried again once they change, a listener that
   * cannot start at the next look. True when the server was replaced.
   */
  reloadTls(): boolean {
    const files = this.options.tls;
    if (files === undefined || this.material === undefined || this.stopped) return false;
    let read: Omit<TlsMaterial, "leaf">;
    try {
      read = readTlsFiles(files);
    } catch (error) {
      return this.keepServing(error);
    }
    const loaded = this.material;
    if (read.cert === loaded.cert && read.key === loaded.key && read.ca === loaded.ca) {
      this.refused = this.warned = undefined;
      return false;
    }
    const contents = `${read.cert}\0${read.key}\0${read.ca}`;
    if (contents === this.refused) return false;
    let material: TlsMaterial;
    try {
      material = checkTlsMaterial(files, read);
    } catch (error) {
      this.refused = contents;
      return this.keepServing(error);
    }
    let next: Server<unknown>;
    try {
      next = this.listen(this.port, material);
    } catch (error) {
      return this.keepServing(error);
    }
    const old = this.current;
    this.current = next;
    this.material = material;
    this.refused = this.warned = undefined;
    // Bun's stop(false) closes idle keep-alive connections at once, and a client may be sending
    // its next request on one right then: first let each connection close after its next answer.
    // Then stop: requests in flight (a slow body, an open /tail) finish on the old server.
    retired.add(old);
    this.retiring.set(
      old,
      Bun.sleep(RETIRE_AFTER_MS)
        .then(() => old.stop(false))
        .finally(() => this.retiring.delete(old)),
    );
    log.info("TLS certificate reloaded", describeCertificate(files, material.leaf));
    warnOnExpiry(files, material.leaf);
    return true;
  }

  /** Logs why the files were not taken, once for each reason. */
  private keepServing(error: unknown): false {
    const why = String(error);
    if (why !== this.warned) log.warn("the TLS files changed but do not load: serving the previous certificate", { error });
    this.warned = why;
    return false;
  }

  /**
   * Stops accepting; resolves once the requests in flight have finished, on every server still
   * running (replaced ones included), or at once with closeActiveConnections. With drainMs, first
   * answers for that long with `Connection: close`: Bun's stop closes idle keep-alive connections
   * at once, and a client sending its next request on one right then would see it reset; a
   * client that keeps sending gets its answer and a closed connection instead.
   */
  async stop(closeActiveConnections = false, drainMs = 0): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (drainMs > 0 && !closeActiveConnections) {
      retired.add(this.current);
      for (const server of this.retiring.keys()) retired.add(server);
      await Bun.sleep(drainMs);
    }
    const all = [this.current.stop(closeActiveConnections)];
    for (const server of this.retiring.keys()) all.push(server.stop(closeActiveConnections));
    await Promise.all(all);
  }

  private listen(port: number, material: TlsMaterial | undefined, reusePort = material !== undefined): Server<unknown> {
    const clientCa = material?.ca;
    return Bun.serve({
      hostname: this.options.hostname,
      port,
      reusePort,
      tls:
        material === undefined
          ? undefined
          : {
              cert: material.cert,
              key: material.key,
              ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: true }),
            },
      fetch: serverFetch(this.app),
      // WebSockets (Loki's tail): Elysia's handlers, which dispatch to the route's.
      websocket: elysiaWebSocket as unknown as WebSocketHandler<unknown>,
      // Never Bun's development error page (it shows source and paths), even for a thrown error.
      development: false,
      error: (error) => {
        log.error("unhandled error outside the app", { error });
        return errorResponseFor(error);
      },
      // The app enforces --max-body-size with a JSON 413; Bun's own cap would answer an empty one.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      // Above the body timeout, so that a stalled body gets the app's 408 rather than a reset.
      idleTimeout: Math.min(MAX_IDLE_TIMEOUT_SECONDS, this.options.bodyTimeoutSeconds + IDLE_MARGIN_SECONDS),
    });
  }
}

/**
 * Bun.serve over the app, with timeouts and limits that leave every answer to the app; HTTPS when
 * TLS files are given. Throws (naming the file) when a TLS file cannot be read or used.
 */
export function serve(app: Handler, options: ServeOptions): HttpServer {
  return new HttpServer(app, options);
}
