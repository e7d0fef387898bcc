// Loki's query API over real HTTP on each store, as Grafana and logcli call it: envelopes, time
// parameter forms, defaults, LogQL log and metric queries, labels, series, index stats and
// volume from the per-minute counts, errors, and the WebSocket tail.
import { describe, expect, test } from "bun:test";
import { fbRecord, unique } from "../helpers.ts";
import { servedStore, storesUnderTest } from "../stores.ts";

type Streams = { stream: Record<string, string>; values: [string, string, unknown?][] }[];
type Matrix = { metric: Record<string, string>; values: [number, string][] }[];
type Vector = { metric: Record<string, string>; value: [number, string] }[];

const BASE = Date.UTC(2026, 4, 3, 12); // 2026-05-03T12:00:00Z
const BASE_S = BASE / 1000;
const at = (seconds: number) => new Date(BASE + seconds * 1000).toISOString();
const ns = (seconds: number) => String(BigInt(BASE + seconds * 1000) * 1_000_000n);
/** The timestamps of every stream's values, newest first (or oldest first). */
const flat = (result: Streams, forward = false) => {
  const all = result.flatMap((r) => r.values.map((v) => v[0]));
  return forward ? all.sort() : all.sort().reverse();
};

/** A namespace's lines: web-1/nginx (4 lines, 2 per minute), web-2/nginx (stderr), db-0/pg. */
function records(n: string) {
  const labels = { app: "web", "app.kubernetes.io/name": "shop" };
  return [
    fbRecord({ namespace: n, pod: "web-1", log: 'level=info msg="GET /" status=200 took=12ms', time: at(0), labels }),
    fbRecord({ namespace: n, pod: "web-1", log: 'level=info msg="GET /a" status=200 took=30ms', time: at(30), labels }),
    fbRecord({ namespace: n, pod: "web-1", log: 'level=warn msg="GET /b" status=404 took=5ms', time: at(60), labels }),
    fbRecord({ namespace: n, pod: "web-1", log: 'level=info msg="GET /c" status=200 took=7ms', time: at(90), labels }),
    fbRecord({
      namespace: n,
      pod: "web-2",
      log: '{"level":"error","msg":"boom","code":500}',
      time: at(45),
      labels,
      stream: "stderr",
    }),
    fbRecord({ namespace: n, pod: "db-0", container: "pg", log: "checkpoint complete", time: at(75), labels: { app: "db" } }),
  ];
}

for (const s of storesUnderTest("loki-api")) {
  describe(`Loki query API on the ${s.name} store`, () => {
    const served = servedStore(s);
    const write = async (body: unknown[]) => {
      const res = await fetch(`${served.url}/write`, { method: "POST", body: JSON.stringify(body) });
      expect(res.status).toBe(200);
    };
    const get = (path: string, params: Record<string, string | string[]>, headers: Record<string, string> = {}) => {
      const search = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) search.append(k, one);
      return fetch(`${served.url}${path}?${search}`, { headers });
    };
    const ok = async <T>(res: Response): Promise<T> => {
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${res.status}: ${text}`);
      const body = JSON.parse(text) as { status: string; data: T };
      expect(body.status).toBe("success");
      return body.data;
    };
    const range = { start: ns(-60), end: ns(600) };

    test("query_range of a log selector: Loki's envelope, labels as Loki names them, backward and 100 by default", async () => {
      const n = unique();
      await write(records(n));
      const data = await ok<{ resultType: string; result: Streams; stats: { summary: { totalEntriesReturned: number } } }>(
        await get("/loki/api/v1/query_range", { query: `{namespace="${n}", pod="web-1"}`, ...range }),
      );
      expect(data.resultType).toBe("streams");
      // As Loki 3 without categorize-labels: structured metadata (pod uid, container id,
      // detected_level) are labels of the stream, so info and warn lines are two streams.
      const base = {
        namespace: n,
        pod: "web-1",
        container: "nginx",
        stream: "stdout",
        node_name: "worker1",
        app: "web",
        app_kubernetes_io_name: "shop",
        pod_uid: "f5225d5f-4e9d-11e8-8b6b-02425d6e035a",
        container_id: "e8b89cc4e292",
      };
      expect(data.result.map((r) => r.stream).sort((a, b) => (a.detected_level! < b.detected_level! ? -1 : 1))).toEqual([
        { ...base, detected_level: "info" },
        { ...base, detected_level: "warn" },
      ]);
      // Backward: newest first; timestamps are nanosecond strings.
      for (const r of data.result)
        expect(r.values.map((v) => v[0])).toEqual(
          r.values
            .map((v) => v[0])
            .sort()
            .reverse(),
        );
      expect(flat(data.result)).toEqual([ns(90), ns(60), ns(30), ns(0)]);
      expect(data.stats.summary.totalEntriesReturned).toBe(4);
    });

    test("time parameters in every form Loki takes; direction and limit; start and end inclusive", async () => {
      const n = unique();
      await write(records(n));
      const q = `{namespace="${n}", pod="web-1"}`;
      // end is exclusive, as Loki's (logcli's batches count on it).
      const forms = [
        { start: ns(30), end: ns(61) },
        { start: String(BASE_S + 30), end: String(BASE_S + 61) }, // seconds
        { start: `${BASE_S + 30}.000`, end: `${BASE_S + 60}.5` }, // float seconds
        { start: at(30), end: at(60.001) }, // RFC 3339
      ];
      for (const form of forms) {
        const data = await ok<{ result: Streams }>(
          await get("/loki/api/v1/query_range", { query: q, ...form, direction: "forward" }),
        );
        expect(flat(data.result, true)).toEqual([ns(30), ns(60)]);
      }
      const exclusive = await ok<{ result: Streams }>(
        await get("/loki/api/v1/query_range", { query: q, start: ns(30), end: ns(60) }),
      );
      expect(flat(exclusive.result)).toEqual([ns(30)]);
      const limited = await ok<{ result: Streams }>(await get("/loki/api/v1/query_range", { query: q, ...range, limit: "2" }));
      expect(flat(limited.result)).toEqual([ns(90), ns(60)]);
    });

    test("line filters, parsers and label filters; results grouped by their final labels", async () => {
      const n = unique();
      await write(records(n));
      const filtered = await ok<{ result: Streams }>(
        await get("/loki/api/v1/query_range", { query: `{namespace="${n}"} |= "GET" != "/b"`, ...range, direction: "forward" }),
      );
      expect(filtered.result.flatMap((r) => r.values.map((v) => v[1]))).toEqual([
        'level=info msg="GET /" status=200 took=12ms',
        'level=info msg="GET /a" status=200 took=30ms',
        'level=info msg="GET /c" status=200 took=7ms',
      ]);
      const parsed = await ok<{ result: Streams }>(
        await get("/loki/api/v1/query_range", { query: `{namespace="${n}", pod="web-1"} | logfmt | took > 10ms`, ...range }),
      );
      expect(flat(parsed.result, true)).toEqual([ns(0), ns(30)]);
      expect(parsed.result[0]!.stream.status).toBe("200");
      const json = await ok<{ result: Streams }>(
        await get("/loki/api/v1/query_range", {
          query: `{namespace="${n}"} | json | code >= 500 | line_format "{{.msg}}"`,
          ...range,
        }),
      );
      expect(json.result.flatMap((r) => r.values.map((v) => v[1]))).toEqual(["boom"]);
    });

    test("categorize-labels: stream labels apart from structured metadata and parsed labels", async () => {
      const n = unique();
      await write(records(n));
      const res = await get(
        "/loki/api/v1/query_range",
        { query: `{namespace="${n}", pod="web-2"} | json`, ...range },
        { "X-Loki-Response-Encoding-Flags": "categorize-labels" },
      );
      const data = await ok<{ result: Streams; encodingFlags: string[] }>(res);
      expect(data.encodingFlags).toEqual(["categorize-labels"]);
      expect(data.result[0]!.stream.pod).toBe("web-2");
      expect(data.result[0]!.stream.level).toBeUndefined();
      const extra = data.result[0]!.values[0]![2] as {
        structuredMetadata: Record<string, string>;
        parsed: Record<string, string>;
      };
      expect(extra.structuredMetadata.pod_uid).toBe("f5225d5f-4e9d-11e8-8b6b-02425d6e035a");
      expect(extra.structuredMetadata.container_id).toBe("e8b89cc4e292");
      expect(extra.parsed).toMatchObject({ level: "error", msg: "boom", code: "500" });
    });

    test("instant queries: Grafana's health check vector(1)+vector(1) is 2; a log query is refused", async () => {
      const data = await ok<{ resultType: string; result: Vector }>(
        await get("/loki/api/v1/query", { query: "vector(1)+vector(1)" }),
      );
      expect(data.resultType).toBe("vector");
      expect(data.result[0]!.value[1]).toBe("2");
      const res = await get("/loki/api/v1/query", { query: '{namespace="x"}' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toContain("instant query");
    });

    test("count_over_time by pod over steps; the instant count at a time", async () => {
      const n = unique();
      await write(records(n));
      const data = await ok<{ resultType: string; result: Matrix }>(
        await get("/loki/api/v1/query_range", {
          query: `sum by (pod) (count_over_time({namespace="${n}"}[1m]))`,
          start: String(BASE_S),
          end: String(BASE_S + 120),
          step: "60",
        }),
      );
      expect(data.resultType).toBe("matrix");
      const byPod = Object.fromEntries(data.result.map((r) => [r.metric.pod, r.values]));
      // Each step t counts (t - 1m, t]: the line at exactly t counts at t.
      expect(byPod["web-1"]).toEqual([
        [BASE_S, "1"],
        [BASE_S + 60, "2"],
        [BASE_S + 120, "1"],
      ]);
      expect(byPod["web-2"]).toEqual([[BASE_S + 60, "1"]]);
      expect(byPod["db-0"]).toEqual([[BASE_S + 120, "1"]]);
      const instant = await ok<{ result: Vector }>(
        await get("/loki/api/v1/query", {
          query: `count_over_time({namespace="${n}", pod="web-1"}[2m])`,
          time: String(BASE_S + 90),
        }),
      );
      // (BASE - 30 s, BASE + 90 s]: 4 lines, by detected_level (a series label, as in Loki 3).
      const byLevel = Object.fromEntries(instant.result.map((r) => [r.metric.detected_level, r.value[1]]));
      expect(byLevel).toEqual({ info: "3", warn: "1" });
    });

    test("sum by a pushed structured metadata key counts by its values (lines read); by a label every stream has, from the counts", async () => {
      const n = unique();
      const push = await fetch(`${served.url}/loki/api/v1/push`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          streams: [
            {
              stream: { namespace: n, pod: "api-0", container: "api", app: "api" },
              values: [
                [ns(10), "GET /a", { trace_id: "t1" }],
                [ns(20), "GET /b", { trace_id: "t2" }],
                [ns(30), "GET /c", { trace_id: "t1" }],
                [ns(40), "GET /d"],
              ],
            },
          ],
        }),
      });
      expect(push.status).toBe(204);
      const sumBy = async (label: string) => {
        const data = await ok<{ result: Vector }>(
          await get("/loki/api/v1/query", {
            query: `sum by (${label}) (count_over_time({namespace="${n}"}[1m]))`,
            time: String(BASE_S + 60),
          }),
        );
        return Object.fromEntries(data.result.map((r) => [JSON.stringify(r.metric), r.value[1]]));
      };
      // As Loki: each trace id its series, the line without one in the series without the label.
      expect(await sumBy("trace_id")).toEqual({ '{"trace_id":"t1"}': "2", '{"trace_id":"t2"}': "1", "{}": "1" });
      expect(await sumBy("app")).toEqual({ '{"app":"api"}': "4" });
    });

    test("labels, label values and series: from the index; stream from the counts", async () => {
      const n = unique();
      await write(records(n));
      const names = await ok<string[]>(await get("/loki/api/v1/labels", { ...range, query: `{namespace="${n}"}` }));
      expect(names).toEqual(["app", "app_kubernetes_io_name", "container", "namespace", "node_name", "pod", "stream"]);
      const pods = await ok<string[]>(await get("/loki/api/v1/label/pod/values", { ...range, query: `{namespace="${n}"}` }));
      expect(pods).toEqual(["db-0", "web-1", "web-2"]);
      const streams = await ok<string[]>(
        await get("/loki/api/v1/label/stream/values", { ...range, query: `{namespace="${n}"}` }),
      );
      expect(streams).toEqual(["stderr", "stdout"]);
      const series = await ok<Record<string, string>[]>(
        await get("/loki/api/v1/series", { ...range, "match[]": [`{namespace="${n}", app="web"}`] }),
      );
      expect(series.map((s) => `${s.pod}/${s.stream}`).sort()).toEqual(["web-1/stdout", "web-2/stderr"]);
    });

    test("index stats and volume, from the per-minute counts", async () => {
      const n = unique();
      await write(records(n));
      const statsRes = await get("/loki/api/v1/index/stats", { query: `{namespace="${n}", pod="web-1"}`, ...range });
      expect(statsRes.status).toBe(200);
      const stats = (await statsRes.json()) as { streams: number; entries: number; bytes: number; chunks: number };
      expect(stats.streams).toBe(1);
      expect(stats.entries).toBe(4);
      const web1Bytes = records(n)
        .slice(0, 4)
        .reduce((sum, r) => sum + Buffer.byteLength(r.log as string), 0);
      expect(stats.bytes).toBe(web1Bytes);
      const volume = await ok<{ resultType: string; result: Vector }>(
        await get("/loki/api/v1/index/volume", { query: `{namespace="${n}"}`, ...range, targetLabels: "pod" }),
      );
      expect(volume.resultType).toBe("vector");
      expect(volume.result[0]!.metric).toEqual({ pod: "web-1" }); // the largest first
      expect(volume.result[0]!.value[1]).toBe(String(web1Bytes));
      expect(volume.result).toHaveLength(3);
    });

    test("Loki's errors: a parse error, a bad time, limit over the maximum, end before start: 400 with a message", async () => {
      const cases: [Record<string, string>, string][] = [
        [{ query: '{namespace="x"' }, "parse error"],
        [{ query: '{namespace="x"}', start: "yesterday" }, "invalid start"],
        [{ query: '{namespace="x"}', limit: "100000" }, "max entries limit"],
        [{ query: '{namespace="x"}', start: ns(60), end: ns(0) }, "end timestamp must not be before"],
        [{ query: '{namespace="x"}', step: "-1", start: ns(0), end: ns(60) }, "step"],
      ];
      for (const [params, message] of cases) {
        const res = await get("/loki/api/v1/query_range", params);
        expect(res.status).toBe(400);
        const body = (await res.json()) as { message: string; detail: string };
        expect(body.message).toContain(message);
        expect(typeof body.detail).toBe("string");
      }
    });

    test("buildinfo and ready", async () => {
      const info = (await (await fetch(`${served.url}/loki/api/v1/status/buildinfo`)).json()) as { version: string };
      expect(info.version).toMatch(/^3\./);
      const ready = await fetch(`${served.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.text()).toBe("ready\n");
    });

    test("tail over a WebSocket: the last lines, then a new line within 2 s", async () => {
      const n = unique();
      const now = Date.now();
      await write([fbRecord({ namespace: n, pod: "t-1", log: "before", time: new Date(now - 1000).toISOString() })]);
      const ws = new WebSocket(
        `${served.url.replace("http", "ws")}/loki/api/v1/tail?query=${encodeURIComponent(`{namespace="${n}"}`)}`,
      );
      const lines: string[] = [];
      const got = (text: string) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no "${text}" within 2 s; got ${JSON.stringify(lines)}`)), 2000);
          const check = () => {
            if (lines.includes(text)) {
              clearTimeout(timer);
              resolve();
            } else setTimeout(check, 20);
          };
          check();
        });
      ws.onmessage = (e) => {
        const msg = JSON.parse(String(e.data)) as { streams: Streams };
        for (const s of msg.streams) for (const v of s.values) lines.push(v[1]);
      };
      await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
      try {
        await got("before");
        await write([fbRecord({ namespace: n, pod: "t-1", log: "after", time: new Date().toISOString() })]);
        await got("after");
      } finally {
        ws.close();
      }
    });
  });
}
