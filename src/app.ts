// createApp composes the route modules over a store, with the one error mapping and the request
// metrics. Exported for tests, which drive it with app.handle(new Request(...)); main.ts serves it
// through server.ts.
import { Elysia } from "elysia";
import { DEFAULT_CONFIG, type Config } from "./config.ts";
import { ingestBudget } from "./ingest/ingest.ts";
import { log, logEnabled } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { AccessControl } from "./access/access.ts";
import { debugRoutes } from "./routes/debug.ts";
import { docsRoutes } from "./routes/docs.ts";
import { ERRORS, errorResponse, errorResponseFor } from "./routes/http.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { queryRoutes } from "./routes/query.ts";
import { bodySent } from "./routes/streaming.ts";
import { VERSION } from "./version.ts";
import { lokiRoutes } from "./routes/loki.ts";
import { discoveryRoutes } from "./routes/discovery.ts";
import { tailRoutes } from "./routes/tail.ts";
import { volumeRoutes } from "./routes/volume.ts";
import { webRoutes } from "./routes/web.ts";
import { writeRoutes, type WriteRouteOptions } from "./routes/write.ts";
import { lokiPushRoutes } from "./routes/loki-push.ts";
import { WriteNotifier, type FollowOptions } from "./query/follow.ts";
import { retentionPolicyOf } from "./store/open.ts";
import type { LogStore } from "./store/store.ts";

export { VERSION };

export type AppConfig = Pick<
  Config,
  | "maxBodySize"
  | "maxDecompressedSize"
  | "maxLineSize"
  | "bodyTimeoutSeconds"
  | "maxInflightBytes"
  | "dateKey"
  | "retentionSeconds"
  | "retentionRules"
  | "authBasic"
  | "authToken"
  | "authProtectAll"
  | "tenancy"
  | "authFile"
  | "tenantIngestLinesPerSecond"
  | "tenantIngestBytesPerSecond"
  | "tenantMaxQueryRangeSeconds"
  | "enableProfiling"
>;

const started = new WeakMap<Request, number>();

export interface AppParts {
  metrics?: Metrics;
  /** Wakes followers when this app stores lines (one per process: several apps may share it). */
  notifier?: WriteNotifier;
  /** Follow's timing (tests shorten it). */
  follow?: FollowOptions;
  /** Who may do what (main.ts makes it, to reload its auth file); made from the config otherwise. */
  access?: AccessControl;
}

export function createApp(store: LogStore, config: Partial<AppConfig> = {}, parts: AppParts = {}) {
  const cfg: AppConfig = { ...DEFAULT_CONFIG, ...config };
  const metrics = parts.metrics ?? createMetrics();
  const notifier = parts.notifier ?? new WriteNotifier();
  const access = parts.access ?? new AccessControl(cfg);
  // One in-flight budget and retention for every ingest route.
  const ingest: WriteRouteOptions = {
    ...cfg,
    readTimeoutMs: cfg.bodyTimeoutSeconds * 1000,
    budget: ingestBudget(cfg.maxInflightBytes),
    notifier,
    access,
    retention: retentionPolicyOf(cfg),
  };
  return (
    new Elysia({ name: "kube-insight-logserver" })
      .error(ERRORS)
      .onRequest(async ({ request }) => {
        started.set(request, performance.now());
        // The docs plugin's routes take no macro: with --auth-protect-all they are guarded here.
        if (cfg.authProtectAll && new URL(request.url).pathname.startsWith("/swagger")) {
          await access.identify(request, "protect-all");
        }
      })
      // The one error mapping: every failure of every route becomes {message, detail} here.
      .onError(({ code, error, request, set }) => {
        let response: Response;
        if (code === "NOT_FOUND") {
          response = errorResponse(404, "not found", `no route for ${request.method} ${new URL(request.url).pathname}`);
        } else if (code === "VALIDATION" || code === "PARSE") {
          response = errorResponse(400, "invalid query", (error as Error).message);
        } else {
          response = errorResponseFor(error);
        }
        if (response.status >= 500) log.error("request failed", { path: new URL(request.url).pathname, error });
        else if (response.status !== 404) log.warn("request refused", { status: response.status, error });
        set.status = response.status;
        return response;
      })
      // Request metrics once the answer is sent, streamed bodies to their end.
      .onAfterResponse(async ({ request, response, route, set }) => {
        const answer = response instanceof Response ? response : undefined;
        if (answer) await bodySent(answer);
        const t0 = started.get(request);
        const seconds = t0 === undefined ? 0 : (performance.now() - t0) / 1000;
        const status = String(answer?.status ?? set.status ?? 200);
        const labels = { method: request.method, route: route || "unmatched", status_code: status };
        metrics.httpRequests.inc(labels);
        metrics.httpDuration.observe(labels, seconds);
        if (logEnabled("debug")) log.debug("request", { ...labels, path: new URL(request.url).pathname, ms: seconds * 1000 });
      })
      .use(docsRoutes(VERSION))
      .use(writeRoutes(store, metrics, ingest))
      .use(lokiPushRoutes(store, metrics, ingest))
      .use(queryRoutes(store, metrics, access))
      .use(tailRoutes(store, metrics, access, { notifier, follow: parts.follow }))
      .use(discoveryRoutes(store, access))
      .use(volumeRoutes(store, access))
      .use(lokiRoutes(store, metrics, access, { notifier, follow: parts.follow }))
      .use(metricsRoutes(metrics, access))
      .use(debugRoutes(cfg.enableProfiling, access))
      .use(webRoutes())
  );
}

export type App = ReturnType<typeof createApp>;
