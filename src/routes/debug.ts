// Profiling under /debug/, mounted only with --enable-profiling: a heap snapshot and a CPU
// profile in the formats Chrome DevTools opens, and the runtime's memory figures. With
// credentials configured every one of them requires them, always: a heap snapshot holds the
// process's memory, secrets included.
import { heapStats } from "bun:jsc";
import { Elysia, t } from "elysia";
import { Session } from "node:inspector";
import { allowLongRequest } from "../server.ts";
import type { AccessControl } from "../access/access.ts";
import { ErrorBody, HttpError, json } from "./http.ts";

const MAX_PROFILE_SECONDS = 300;

export function debugRoutes(enabled: boolean, access: AccessControl) {
  // Disabled: no routes at all, so /debug/* is a plain 404.
  if (!enabled) return new Elysia({ name: "routes.debug" });
  let profiling = false;
  return new Elysia({ name: "routes.debug", prefix: "/debug" })
    .use(access.plugin())
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
      { access: "admin", detail: { summary: "List the profiling endpoints", tags: ["debug"] } },
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
      { access: "admin", detail: { summary: "Heap snapshot (V8 format, opens in Chrome DevTools)", tags: ["debug"] } },
    )
    .get(
      "/profile",
      async ({ query, request }) => {
        const seconds = query.seconds ?? 10;
        if (profiling) throw new HttpError(409, "a CPU profile is already being taken", "wait for it to finish");
        profiling = true;
        // The answer comes after `seconds` of silence: longer than the server's idle timeout.
        allowLongRequest(request, seconds + 30);
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
        access: "admin",
        query: t.Object({
          seconds: t.Optional(
            t.Numeric({
              exclusiveMinimum: 0,
              maximum: MAX_PROFILE_SECONDS,
              description: `Profile length in seconds, up to ${MAX_PROFILE_SECONDS} (default 10).`,
              error: `invalid profile duration: seconds must be in (0, ${MAX_PROFILE_SECONDS}]`,
            }),
          ),
        }),
        detail: { summary: "CPU profile of N seconds (.cpuprofile, opens in Chrome DevTools)", tags: ["debug"] },
        response: { 400: ErrorBody, 401: ErrorBody, 409: ErrorBody },
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
      { access: "admin", detail: { summary: "Memory figures of the process and the JavaScriptCore heap", tags: ["debug"] } },
    );
}
