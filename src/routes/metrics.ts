// GET /metrics: Prometheus text exposition of the app's registry.
import { Elysia } from "elysia";
import type { Metrics } from "../metrics.ts";

export function metricsRoutes(metrics: Metrics, guard?: (request: Request) => Response | undefined) {
  return new Elysia({ name: "routes.metrics" }).get(
    "/metrics",
    async ({ request }) => {
      const denied = guard?.(request);
      if (denied) return denied;
      return new Response(await metrics.registry.metrics(), {
        headers: { "content-type": metrics.registry.contentType },
      });
    },
    {
      detail: {
        summary: "Prometheus metrics",
        description:
          "Requests and latency by method, route and status code; records accepted and rejected by reason; " +
          "bytes received; store write latency; process CPU, memory and file descriptors.",
        tags: ["operate"],
      },
    },
  );
}
