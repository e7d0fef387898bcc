// GET /metrics: Prometheus text exposition of the app's registry.
import { Elysia } from "elysia";
import type { Metrics } from "../metrics.ts";
import type { AccessControl } from "../access/access.ts";

export function metricsRoutes(metrics: Metrics, access: AccessControl) {
  return new Elysia({ name: "routes.metrics" }).use(access.plugin()).get(
    "/metrics",
    async () =>
      new Response(await metrics.registry.metrics(), {
        headers: { "content-type": metrics.registry.contentType },
      }),
    {
      access: "metrics",
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
