// GET /metrics: Prometheus text exposition of the app's registry.
import { Elysia } from "elysia";
import type { Metrics } from "../metrics.ts";
import { authPlugin, type AuthOptions } from "./auth.ts";

export function metricsRoutes(metrics: Metrics, auth: AuthOptions) {
  return new Elysia({ name: "routes.metrics" }).use(authPlugin(auth)).get(
    "/metrics",
    async () =>
      new Response(await metrics.registry.metrics(), {
        headers: { "content-type": metrics.registry.contentType },
      }),
    {
      auth: "protect-all",
      detail: {
        summary: "Prometheus metrics",
        description:
          "Requests and latency by method, route and status code; records accepted, deduplicated and rejected by " +
          "reason; bytes received; store write latency and store errors; process CPU, memory and file descriptors.",
        tags: ["operate"],
      },
    },
  );
}
