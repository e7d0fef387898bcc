// Profiling under /debug/, mounted only with --enable-profiling: a heap snapshot and a CPU
// profile in the formats Chrome DevTools opens, and the runtime's memory figures.
import { heapStats } from "bun:jsc";
import { Elysia } from "elysia";
import { Session } from "node:inspector";
import { errorResponse, json } from "./http.ts";

const MAX_PROFILE_SECONDS = 300;

export function debugRoutes(enabled: boolean) {
  // Disabled: no routes at all, so /debug/* is a plain 404.
  if (!enabled) return new Elysia({ name: "routes.debug" });
  let profiling = false;
  return new Elysia({ name: "routes.debug", prefix: "/debug" })
    .get(
      "/",
      () =>
        json({
          endpoints: {
            "/debug/heap": "V8 heap snapshot (.heapsnapshot): Chrome DevTools > Memory > Load",
            "/debug/profile?seconds=10": "CPU profile (.cpuprofile): Chrome DevTools > Performance > Load profile",
            "/debug/memory": "process and JavaScriptCore heap figures (JSON)",
          },
        }),
      { detail: { summary: "List the profiling endpoints", tags: ["debug"] } },
    )
    .get(
      "/heap",
      () =>
        new Response(Bun.generateHeapSnapshot("v8"), {
          headers: {
            "content-type": "application/json",
            "content-disposition": `attachment; filename="logserver-${Date.now()}.heapsnapshot"`,
          },
        }),
      { detail: { summary: "Heap snapshot (V8 format, opens in Chrome DevTools)", tags: ["debug"] } },
    )
    .get(
      "/profile",
      async ({ request }) => {
        const given = new URL(request.url).searchParams.get("seconds");
        const seconds = given === null ? 10 : Number(given);
        if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_PROFILE_SECONDS) {
          return errorResponse(400, "invalid profile duration", `seconds must be in (0, ${MAX_PROFILE_SECONDS}]`);
        }
        if (profiling) return errorResponse(409, "a CPU profile is already being taken", "wait for it to finish");
        profiling = true;
        const session = new Session();
        session.connect();
        const post = (method: string, params: object = {}) =>
          new Promise<any>((resolve, reject) =>
            session.post(method, params, (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result))),
          );
        try {
          await post("Profiler.enable");
          await post("Profiler.setSamplingInterval", { interval: 1000 });
          await post("Profiler.start");
          await Bun.sleep(seconds * 1000);
          const { profile } = await post("Profiler.stop");
          // An idle process yields few samples and JSC ends the profile at the last one; the
          // window asked for is what was profiled (times are microseconds).
          profile.endTime = Math.max(profile.endTime, profile.startTime + seconds * 1e6);
          return new Response(JSON.stringify(profile), {
            headers: {
              "content-type": "application/json",
              "content-disposition": `attachment; filename="logserver-${Date.now()}.cpuprofile"`,
            },
          });
        } finally {
          session.disconnect();
          profiling = false;
        }
      },
      {
        detail: {
          summary: "CPU profile of N seconds (.cpuprofile, opens in Chrome DevTools)",
          tags: ["debug"],
          parameters: [
            {
              name: "seconds",
              in: "query",
              required: false,
              description: `Profile length in seconds, up to ${MAX_PROFILE_SECONDS} (default 10).`,
              schema: { type: "number" },
            },
          ],
        },
      },
    )
    .get(
      "/memory",
      () => {
        const stats = heapStats();
        return json({
          process: process.memoryUsage(),
          heap: {
            heapSize: stats.heapSize,
            heapCapacity: stats.heapCapacity,
            extraMemorySize: stats.extraMemorySize,
            objectCount: stats.objectCount,
          },
          topObjectTypes: Object.entries(stats.objectTypeCounts)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 20),
        });
      },
      { detail: { summary: "Memory figures of the process and the JavaScriptCore heap", tags: ["debug"] } },
    );
}
