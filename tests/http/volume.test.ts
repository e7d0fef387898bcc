// GET /volume on every store: lines per bucket by stdout/stderr and by detected level, from the
// per-minute counts; the selection as /query takes it; bad parameters are 400s naming them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LogStore } from "../../src/store/store.ts";
import { entry, ns, unique } from "../helpers.ts";
import { serve, storesUnderTest } from "../stores.ts";

interface Bucket {
  time: string;
  lines: number;
  bytes: number;
  streams: Record<string, number>;
  levels: Record<string, number>;
}
interface Volume {
  start_time: string;
  end_time: string;
  step_seconds: number;
  buckets: Bucket[];
  total: Omit<Bucket, "time">;
}

const RANGE = { start_time: "2026-05-03T12:00:00Z", end_time: "2026-05-03T12:59:59Z" };

for (const s of storesUnderTest("volume")) {
  describe(`GET /volume on the ${s.name} store`, () => {
    const n = unique("vol");
    let store: LogStore;
    let server: ReturnType<typeof serve>;

    beforeAll(async () => {
      store = await s.open();
      server = serve(store);
      // web-1/nginx: 12:00:30 ×3 stdout (one error), 12:07:10 ×2 stderr; web-1/sidecar 12:20:00 ×1; api-1/app 12:40:00 ×4.
      await store.write([
        entry({
          namespace: n,
          pod: "web-1",
          container: "nginx",
          timeNs: ns("2026-05-03T12:00:30Z"),
          log: "a",
          stream: "stdout",
          level: "info",
        }),
        entry({
          namespace: n,
          pod: "web-1",
          container: "nginx",
          timeNs: ns("2026-05-03T12:00:31Z"),
          log: "bb",
          stream: "stdout",
          level: "info",
        }),
        entry({
          namespace: n,
          pod: "web-1",
          container: "nginx",
          timeNs: ns("2026-05-03T12:00:32Z"),
          log: "ccc",
          stream: "stdout",
          level: "error",
        }),
        entry({
          namespace: n,
          pod: "web-1",
          container: "nginx",
          timeNs: ns("2026-05-03T12:07:10Z"),
          log: "dddd",
          stream: "stderr",
          level: "error",
        }),
        entry({ namespace: n, pod: "web-1", container: "nginx", timeNs: ns("2026-05-03T12:07:11Z"), log: "e", stream: "stderr" }),
        entry({
          namespace: n,
          pod: "web-1",
          container: "sidecar",
          timeNs: ns("2026-05-03T12:20:00.5Z"),
          log: "f",
          stream: "stdout",
        }),
        ...[0, 1, 2, 3].map((i) =>
          entry({
            namespace: n,
            pod: "api-1",
            container: "app",
            timeNs: ns(`2026-05-03T12:40:0${i}Z`),
            log: "g",
            stream: "stdout",
            labels: { app: "api" },
          }),
        ),
      ]);
    }, 60_000);

    afterAll(async () => {
      await server.stop();
      await store.close();
      await s.cleanup();
    }, 60_000);

    const volume = async (params: Record<string, string>) => {
      const res = await fetch(`${server.url}/volume?${new URLSearchParams(params)}`);
      return { status: res.status, body: (await res.json()) as Volume & { message: string; detail: string } };
    };

    test("one container in 5-minute buckets: every bucket of the range, by stream and by level", async () => {
      const { status, body } = await volume({ namespace: n, pod_name: "web-1", container_name: "nginx", ...RANGE, step: "5m" });
      expect(status).toBe(200);
      expect(body.step_seconds).toBe(300);
      expect(body.start_time).toBe("2026-05-03T12:00:00Z");
      expect(body.buckets.length).toBe(12);
      expect(body.buckets.map((b) => b.lines)).toEqual([3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      expect(body.buckets[0]).toEqual({
        time: "2026-05-03T12:00:00Z",
        lines: 3,
        bytes: 6,
        streams: { stdout: 3 },
        levels: { info: 2, error: 1 },
      });
      expect(body.buckets[1]!.time).toBe("2026-05-03T12:05:00Z");
      expect(body.buckets[1]!.streams).toEqual({ stderr: 2 });
      expect(body.buckets[1]!.levels).toEqual({ error: 1, unknown: 1 });
      expect(body.total).toEqual({
        lines: 5,
        bytes: 11,
        streams: { stdout: 3, stderr: 2 },
        levels: { info: 2, error: 2, unknown: 1 },
      });
    });

    test("a namespace, all containers of a pod, a selector, one stream", async () => {
      expect((await volume({ namespace: n, ...RANGE })).body.total.lines).toBe(10);
      expect((await volume({ namespace: n, pod_name: "web-1", ...RANGE })).body.total.lines).toBe(6);
      expect((await volume({ selector: `namespace=${n},app=api`, ...RANGE })).body.total.lines).toBe(4);
      const stderr = await volume({ namespace: n, stream: "stderr", ...RANGE });
      expect(stderr.body.total).toMatchObject({ lines: 2, streams: { stderr: 2 } });
      // The range's minutes only.
      const late = await volume({ namespace: n, start_time: "2026-05-03T12:30:00Z", end_time: "2026-05-03T12:59:59Z" });
      expect(late.body.total.lines).toBe(4);
    });

    test("the step is chosen when not given: a minute for an hour, longer for longer ranges", async () => {
      expect((await volume({ namespace: n, ...RANGE })).body.step_seconds).toBe(60);
      const day = await volume({ namespace: n, start_time: "2026-05-03T00:00:00Z", end_time: "2026-05-04T00:00:00Z" });
      expect(day.body.step_seconds).toBe(600);
      expect(day.body.buckets.length).toBeLessThanOrEqual(240);
      expect(day.body.total.lines).toBe(10);
    });

    test("bad parameters: 400 naming them", async () => {
      const cases: [Record<string, string>, RegExp][] = [
        [{ ...RANGE }, /missing query parameter: namespace/],
        [{ namespace: n, ...RANGE, step: "30s" }, /^step: '30s' is not a whole number of minutes/],
        [{ namespace: n, ...RANGE, step: "soon" }, /^step: 'soon' is not a duration/],
        [
          { namespace: n, start_time: "2026-01-01T00:00:00Z", end_time: "2026-05-03T00:00:00Z", step: "1m" },
          /more than 11000; take a longer step/,
        ],
        [{ namespace: n, start_time: "yesterday" }, /failed to parse start_time/],
        [{ namespace: n, ...RANGE, stream: "stdin" }, /stream: expected stdout or stderr/],
        [{ selector: "app in (a", ...RANGE }, /^selector: /],
      ];
      for (const [params, detail] of cases) {
        const { status, body } = await volume(params);
        expect({ params, status }).toEqual({ params, status: 400 });
        expect(body.message).toBe("invalid query");
        expect(body.detail).toMatch(detail);
      }
    });
  });
}
