// createApp composes the route modules over a store. Exported for tests, which drive it with
// app.handle(new Request(...)); main.ts serves it with Bun.serve.
import { Elysia } from "elysia";
import pkg from "../package.json" with { type: "json" };
import { parseConfig, type Config } from "./config.ts";
import { log, logEnabled } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { authEnabled, authGuard } from "./routes/auth.ts";
import { debugRoutes } from "./routes/debug.ts";
import { docsRoutes } from "./routes/docs.ts";
import { errorResponse } from "./routes/http.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { queryRoutes } from "./routes/query.ts";
import { writeRoutes } from "./routes/write.ts";
import type { LogStore } from "./store/store.ts";

export const VERSION: string = pkg.version;

export type AppConfig = Pick<
  Config,
  | "maxBodySize"
  | "maxDecompressedSize"
  | "maxLineSize"
  | "bodyTimeoutSeconds"
  | "dateKey"
  | "retentionSeconds"
  | "authBasic"
  | "authToken"
  | "authProtectAll"
  | "enableProfiling"
>;

/** The option table's defaults (config.ts), so that the app and the command line agree. */
export const DEFAULT_APP_CONFIG: AppConfig = parseConfig([], {}).config;

const STATUS_BY_CODE: Record<string, number> = { NOT_FOUND: 404, VALIDATION: 400, PARSE: 400, INVALID_COOKIE_SIGNATURE: 400 };

export function createApp(store: LogStore, config: Partial<AppConfig> = {}, metrics: Metrics = createMetrics()) {
  const cfg = { ...DEFAULT_APP_CONFIG, ...config };
  const guard = authEnabled(cfg) ? authGuard(cfg) : undefined;
  const openGuard = cfg.authProtectAll ? guard : undefined;
  const app = new Elysia({ name: "kube-insight-logserver" })
    .onRequest(({ request }) => {
      if (openGuard && new URL(request.url).pathname.startsWith("/swagger")) return openGuard(request);
    })
    .onError(({ code, error, request }) => {
      const status = STATUS_BY_CODE[String(code)] ?? 500;
      if (status === 404) {
        return errorResponse(404, "not found", `no route for ${request.method} ${new URL(request.url).pathname}`);
      }
      if (status === 500) log.error("unhandled error", { path: new URL(request.url).pathname, error });
      const detail = error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);
      return errorResponse(status, status === 500 ? "internal server error" : "bad request", detail);
    })
    .use(docsRoutes(VERSION))
    .use(
      writeRoutes(store, metrics, {
        ...cfg,
        readTimeoutMs: cfg.bodyTimeoutSeconds * 1000,
        guard,
        guardHealth: cfg.authProtectAll,
      }),
    )
    .use(queryRoutes(store, metrics, guard))
    .use(metricsRoutes(metrics, openGuard))
    .use(debugRoutes(cfg.enableProfiling));

  // Request metrics wrap handle() itself: it sees the status of every answer, whichever hook
  // produced it. Every route is a static path, so the path is the route pattern; anything else
  // is "unmatched" (no label per unknown URL).
  const routes = new Set(app.routes.map((r) => r.path));
  const handle = app.handle;
  app.handle = async (request: Request) => {
    const t0 = performance.now();
    const response = await handle(request);
    const path = new URL(request.url).pathname;
    const labels = { method: request.method, route: routes.has(path) ? path : "unmatched", status_code: String(response.status) };
    const seconds = (performance.now() - t0) / 1000;
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, seconds);
    if (logEnabled("debug")) log.debug("request", { ...labels, path, ms: +(seconds * 1000).toFixed(3) });
    return response;
  };
  return app;
}

export type App = ReturnType<typeof createApp>;
