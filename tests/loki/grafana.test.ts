// Grafana's stock Loki data source against this service, on each store: the HTTP requests Grafana
// sends for each user action, replayed as Grafana builds them (paths, parameters, headers, time
// formats), and the parts of each answer Grafana's parsers read. Sources (github.com/grafana/grafana):
//
// - Save & test: the frontend's DataSourceWithBackend.testDatasource calls the backend's
//   CheckHealth (pkg/tsdb/loki/healthcheck.go): an instant query `vector(1)+vector(1)` over
//   [1 s, 4 s] that must give one frame whose value is 2.
// - Queries: pkg/tsdb/loki/api.go makeDataRequest: GET /loki/api/v1/query_range with query,
//   direction, limit (when maxLines > 0), start and end as integer ns, step as `<ms>ms`; or GET
//   /loki/api/v1/query with time as integer ns. Headers: X-Loki-Response-Encoding-Flags:
//   categorize-labels (requestStructuredMetadata) and, for supporting queries, X-Query-Tags:
//   Source=logvolhist (logs volume) / logsample / datasample / infinitescroll. The step is
//   pkg/tsdb/loki/step.go calculateStep: max(interval, range / 11000) rounded up to whole ms;
//   `$__auto` becomes that step as gtime.FormatInterval prints it (parse_query.go).
// - Answers: pkg/promlib/converter/prom.go reads status, data.resultType, data.encodingFlags
//   (which must come before data.result: the reader picks the categorized stream reader by the
//   flags read so far), data.result, data.stats; with categorize-labels every value must be
//   [ts, line, {structuredMetadata?, parsed?}]; matrix/vector points are [float seconds, "value"].
// - Logs volume: public/app/plugins/datasource/loki/datasource.ts getSupplementaryQuery:
//   `sum by (level, detected_level) (count_over_time(<expr> | drop __error__[$__auto]))`, range,
//   supportingQueryType logsVolume.
// - Label browser: LanguageProvider.ts through getResource → the backend's CallResource, which
//   forwards `<path>?<query>` as GET /loki/api/v1/<path>: labels?start&end[&query],
//   label/<name>/values?start&end[&query], series?match[]&start&end; datasource.ts getQueryStats:
//   index/stats?query&start&end. start and end are the range's ms × 1e6.
// - Live tail: datasource.ts createLiveTarget / LiveStreams.ts: a WebSocket to
//   /loki/api/v1/tail?query=<expr> (no other parameter), each message {streams: [{stream,
//   values: [[ts, line]]}]}, ts ns as a string (liveStreamsResultTransformer.ts slices off 6 digits).
import { describe, expect, test } from "bun:test";
import { fbRecord, unique } from "../helpers.ts";
import { servedStore, storesUnderTest } from "../stores.ts";

type Value = [string, string, { structuredMetadata?: Record<string, string>; parsed?: Record<string, string> }?];
type Streams = { stream: Record<string, string>; values: Value[] }[];
type Matrix = { metric: Record<string, string>; values: [number, string][] }[];
type Vector = { metric: Record<string, string>; value: [number, string] }[];

const NS_PER_MS = 1_000_000n;
const CATEGORIZE = { "X-Loki-Response-Encoding-Flags": "categorize-labels" };

/** url.Values.Encode of Go: keys sorted, each value form-encoded (what the backend sends). */
function goEncode(params: Record<string, string>): string {
  const search = new URLSearchParams();
  for (const key of Object.keys(params).sort()) search.append(key, params[key]!);
  return search.toString();
}

/** pkg/tsdb/loki/step.go calculateStep without a query step, resolution 1: ms. */
function grafanaStepMs(intervalMs: number, rangeMs: number): number {
  return Math.ceil(Math.max(intervalMs, rangeMs / 11000));
}

/** gtime.FormatInterval: the largest unit that fits, truncated (how `$__auto` is written). */
function formatInterval(ms: number): string {
  const units: [number, string][] = [
    [365 * 86_400_000, "y"],
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1000, "s"],
    [1, "ms"],
  ];
  for (const [size, unit] of units) if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  return "1ms";
}

/** The range query Grafana's backend sends for a query model over [fromMs, toMs]. */
function queryRangeParams(expr: string, fromMs: number, toMs: number, stepMs: number, maxLines?: number) {
  const params: Record<string, string> = {
    query: expr.replaceAll("$__auto", formatInterval(stepMs)),
    direction: "backward",
    start: String(BigInt(fromMs) * NS_PER_MS),
    end: String(BigInt(toMs) * NS_PER_MS),
    step: `${stepMs}ms`,
  };
  if (maxLines !== undefined) params.limit = String(maxLines);
  return goEncode(params);
}

/** The logs volume query of datasource.ts getSupplementaryQuery for a log query. */
const logsVolumeExpr = (expr: string) => `sum by (level, detected_level) (count_over_time(${expr} | drop __error__[$__auto]))`;

for (const s of storesUnderTest("loki-grafana")) {
  describe(`Grafana's Loki data source on the ${s.name} store`, () => {
    const served = servedStore(s);
    // A whole minute ten minutes ago: every line below is in it, so each step holds them all.
    const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const n = unique("grafana");
    const at = (ms: number) => new Date(T0 + ms).toISOString();
    const nsAt = (ms: number) => String(BigInt(T0 + ms) * NS_PER_MS);
    const webLabels = { app: "web", "app.kubernetes.io/name": "shop" };
    const lines = [
      { ms: 200, log: 'level=error msg="db down" code=500' },
      { ms: 400, log: 'level=error msg="db down again" code=500' },
      { ms: 600, log: 'level=error msg="retry failed" code=503' },
      { ms: 800, log: 'level=info msg="GET /" code=200' },
      { ms: 1000, log: 'level=info msg="GET /a" code=200' },
    ];
    let ingested = false;
    /** The namespace's lines: web-1 (3 errors, 2 infos), db-0 (one line, stderr), and a pushed stream. */
    async function ingest() {
      if (ingested) return;
      const records = [
        ...lines.map((l) => fbRecord({ namespace: n, pod: "web-1", log: l.log, time: at(l.ms), labels: webLabels })),
        fbRecord({
          namespace: n,
          pod: "db-0",
          container: "pg",
          stream: "stderr",
          log: "checkpoint complete",
          time: at(30_000),
          labels: { app: "db" },
        }),
      ];
      const res = await fetch(`${served.url}/write`, { method: "POST", body: JSON.stringify(records) });
      expect(res.status).toBe(200);
      // A Loki push (Alloy, Fluent Bit's loki output) with structured metadata.
      const push = await fetch(`${served.url}/loki/api/v1/push`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          streams: [
            {
              stream: { service_name: n },
              values: [[nsAt(1500), 'level=warn msg="slow checkout"', { trace_id: "4bf92f3577b34da6" }]],
            },
          ],
        }),
      });
      expect(push.status).toBe(204);
      ingested = true;
    }
    const get = (pathAndQuery: string, headers: Record<string, string> = {}) =>
      fetch(`${served.url}${pathAndQuery}`, { headers });
    /** A success envelope's data, in Grafana's reading: status "success", then data. */
    const ok = async <T>(res: Response): Promise<T> => {
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${res.status}: ${text}`);
      const body = JSON.parse(text) as { status: string; data: T };
      expect(body.status).toBe("success");
      return body.data;
    };
    /** Explore's "Last 1 hour", ending now (ms), as Grafana's time range has it. */
    const lastHour = () => {
      const toMs = Date.now();
      return { fromMs: toMs - 3_600_000, toMs };
    };

    test("Save & test: the health check's instant query vector(1)+vector(1) at 4 s is one vector sample of 2", async () => {
      // healthcheck.go: queryType instant, TimeRange [1 s, 4 s], no maxLines, no direction (backward).
      const query = goEncode({ query: "vector(1)+vector(1)", direction: "backward", time: String(4n * 1_000_000_000n) });
      const res = await get(`/loki/api/v1/query?${query}`, CATEGORIZE);
      expect(res.headers.get("content-type")).toContain("application/json");
      const data = await ok<{ resultType: string; result: Vector }>(res);
      expect(data.resultType).toBe("vector");
      // One frame, one row, value 2 (all the health check reads); the time a float of seconds
      // (readTimeValuePair). "4000000000" has 10 digits, which Loki reads as seconds
      // (pkg/loghttp/params.go parseTimestamp), so Loki too answers at 4,000,000,000 s.
      expect(data.result).toHaveLength(1);
      expect(data.result[0]!.metric).toEqual({});
      expect(data.result[0]!.value).toEqual([4_000_000_000, "2"]);
    });

    test("Explore, a log query: backward, limit 1000, ns bounds, ms step, categorize-labels", async () => {
      await ingest();
      const { fromMs, toMs } = lastHour();
      // Explore's interval for an hour over a ~1,800 px pane is 2 s: step 2000ms.
      const stepMs = grafanaStepMs(2000, toMs - fromMs);
      expect(stepMs).toBe(2000);
      const expr = `{namespace="${n}", app="web"}`;
      const res = await get(`/loki/api/v1/query_range?${queryRangeParams(expr, fromMs, toMs, stepMs, 1000)}`, CATEGORIZE);
      const text = await res.text();
      expect(res.status).toBe(200);
      const body = JSON.parse(text) as { status: string; data: Record<string, unknown> };
      expect(body.status).toBe("success");
      // encodingFlags before result, or Grafana reads 3-element values with the plain reader.
      const keys = Object.keys(body.data);
      expect(keys.slice(0, 3)).toEqual(["resultType", "encodingFlags", "result"]);
      const data = body.data as {
        resultType: string;
        encodingFlags: string[];
        result: Streams;
        stats: { summary: Record<string, number> };
      };
      expect(data.resultType).toBe("streams");
      expect(data.encodingFlags).toEqual(["categorize-labels"]);
      // Stream labels are the indexed ones only; the pod uid, container id and detected level are
      // structured metadata of each value, which always has its third element.
      expect(data.result.map((r) => r.stream)).toEqual([
        {
          namespace: n,
          pod: "web-1",
          container: "nginx",
          stream: "stdout",
          node_name: "worker1",
          app: "web",
          app_kubernetes_io_name: "shop",
        },
      ]);
      const values = data.result[0]!.values;
      expect(values.map((v) => v[0])).toEqual([...lines].reverse().map((l) => nsAt(l.ms))); // newest first, ns strings
      expect(values.map((v) => v[1])).toEqual([...lines].reverse().map((l) => l.log));
      for (const v of values) {
        expect(v).toHaveLength(3);
        expect(v[0]).toMatch(/^\d{19}$/);
        expect(v[2]!.structuredMetadata).toMatchObject({
          pod_uid: "f5225d5f-4e9d-11e8-8b6b-02425d6e035a",
          container_id: "e8b89cc4e292",
        });
        expect(v[2]!.parsed).toBeUndefined();
      }
      expect(values.map((v) => v[2]!.structuredMetadata!.detected_level)).toEqual(["info", "info", "error", "error", "error"]);
      // Stats Grafana shows (frame.go parseStats reads summary's numbers).
      for (const k of [
        "bytesProcessedPerSecond",
        "linesProcessedPerSecond",
        "totalBytesProcessed",
        "totalLinesProcessed",
        "execTime",
      ]) {
        expect(typeof data.stats.summary[k]).toBe("number");
      }
    });

    test("Explore with a parser: parsed labels apart; a line with nothing beyond its stream labels still has {}", async () => {
      await ingest();
      const { fromMs, toMs } = lastHour();
      const stepMs = grafanaStepMs(2000, toMs - fromMs);
      const parsed = await ok<{ encodingFlags: string[]; result: Streams }>(
        await get(
          `/loki/api/v1/query_range?${queryRangeParams(`{namespace="${n}", pod="web-1"} | logfmt | level="error"`, fromMs, toMs, stepMs, 1000)}`,
          CATEGORIZE,
        ),
      );
      expect(parsed.encodingFlags).toEqual(["categorize-labels"]);
      expect(parsed.result).toHaveLength(1);
      expect(parsed.result[0]!.stream.level).toBeUndefined();
      expect(parsed.result[0]!.values.map((v) => v[2]!.parsed)).toEqual([
        { level: "error", msg: "retry failed", code: "503" },
        { level: "error", msg: "db down again", code: "500" },
        { level: "error", msg: "db down", code: "500" },
      ]);
      // Dropping every non-stream label: Loki still writes [ts, line, {}], and Grafana's
      // categorized reader needs that third element on every value.
      const bare = await ok<{ result: Streams }>(
        await get(
          `/loki/api/v1/query_range?${queryRangeParams(`{namespace="${n}", pod="db-0"} | drop detected_level, pod_uid, container_id`, fromMs, toMs, stepMs, 1000)}`,
          CATEGORIZE,
        ),
      );
      expect(bare.result.map((r) => r.values)).toEqual([[[nsAt(30_000), "checkpoint complete", {}]]]);
    });

    test("Explore, a pushed stream: its structured metadata per value, the stream its pushed labels", async () => {
      await ingest();
      const { fromMs, toMs } = lastHour();
      const data = await ok<{ result: Streams }>(
        await get(
          `/loki/api/v1/query_range?${queryRangeParams(`{service_name="${n}"}`, fromMs, toMs, grafanaStepMs(2000, toMs - fromMs), 1000)}`,
          CATEGORIZE,
        ),
      );
      expect(data.result).toEqual([
        {
          stream: { service_name: n },
          values: [
            [
              nsAt(1500),
              'level=warn msg="slow checkout"',
              { structuredMetadata: { trace_id: "4bf92f3577b34da6", detected_level: "warn" } },
            ],
          ],
        },
      ]);
    });

    test("Explore's logs volume: Grafana's expression with $__auto as the step, a matrix by detected_level", async () => {
      await ingest();
      const expr = `{namespace="${n}", app="web"}`;
      // Two ranges a user picks: an absolute hour around the lines (interval 2 s) and a day
      // (interval 1 m), both from whole seconds, so that steps fall on T0 + k·step.
      const cases = [
        { fromMs: T0 - 1_800_000, toMs: T0 + 1_800_000, intervalMs: 2000, step: "2000ms", auto: "2s", bucket: T0 + 2000 },
        { fromMs: T0 - 82_800_000, toMs: T0 + 3_600_000, intervalMs: 60_000, step: "60000ms", auto: "1m", bucket: T0 + 60_000 },
      ];
      for (const c of cases) {
        const stepMs = grafanaStepMs(c.intervalMs, c.toMs - c.fromMs);
        expect(`${stepMs}ms`).toBe(c.step);
        expect(formatInterval(stepMs)).toBe(c.auto);
        const query = queryRangeParams(logsVolumeExpr(expr), c.fromMs, c.toMs, stepMs, 1000);
        expect(new URLSearchParams(query).get("query")).toBe(
          `sum by (level, detected_level) (count_over_time({namespace="${n}", app="web"} | drop __error__[${c.auto}]))`,
        );
        const res = await get(`/loki/api/v1/query_range?${query}`, { ...CATEGORIZE, "X-Query-Tags": "Source=logvolhist" });
        const data = await ok<{ resultType: string; result: Matrix; encodingFlags?: string[] }>(res);
        expect(data.resultType).toBe("matrix");
        expect(data.encodingFlags).toBeUndefined(); // Loki echoes the flags on streams answers only
        // No `level` label (the lines have none as a label): Grafana groups by detected_level.
        const byLevel = Object.fromEntries(data.result.map((r) => [JSON.stringify(r.metric), r.values]));
        expect(byLevel).toEqual({
          [JSON.stringify({ detected_level: "error" })]: [[c.bucket / 1000, "3"]],
          [JSON.stringify({ detected_level: "info" })]: [[c.bucket / 1000, "2"]],
        });
      }
    });

    test("label browser and autocomplete: labels, label values, series, index stats as the resource calls forward them", async () => {
      await ingest();
      const { fromMs, toMs } = lastHour();
      // getTimeRangeParams: ms × 1e6 as a JS number, which prints as an integer.
      const start = String(fromMs * 1e6);
      const end = String(toMs * 1e6);
      expect(start).toMatch(/^\d{19}$/);
      const resource = (path: string, params: Record<string, string>) =>
        get(`/loki/api/v1/${path}?${new URLSearchParams(params)}`);

      // fetchLabels: labels?start&end, then labels under a selector (lokiLabelNamesQueryApi).
      const all = await ok<string[]>(await resource("labels", { start, end }));
      expect(all).toEqual(
        expect.arrayContaining(["namespace", "pod", "container", "stream", "node_name", "app", "service_name"]),
      );
      for (const hidden of ["pod_uid", "container_id", "detected_level", "trace_id"]) expect(all).not.toContain(hidden);
      const names = await ok<string[]>(await resource("labels", { start, end, query: `{namespace="${n}"}` }));
      expect(names).toEqual(["app", "app_kubernetes_io_name", "container", "namespace", "node_name", "pod", "stream"]);

      // fetchLabelValues: label/<name>/values?start&end[&query].
      const namespaces = await ok<string[]>(await resource("label/namespace/values", { start, end }));
      expect(namespaces).toContain(n);
      const pods = await ok<string[]>(await resource("label/pod/values", { start, end, query: `{namespace="${n}"}` }));
      expect(pods).toEqual(["db-0", "web-1"]);
      const streams = await ok<string[]>(await resource("label/stream/values", { start, end, query: `{namespace="${n}"}` }));
      expect(streams).toEqual(["stderr", "stdout"]);

      // fetchSeriesLabels / fetchSeries: series?match[]&start&end, label sets Grafana folds by name.
      const series = await ok<Record<string, string>[]>(
        await resource("series", { "match[]": `{namespace="${n}"}`, start, end }),
      );
      expect(series.map((l) => `${l.pod}/${l.container}/${l.stream}`).sort()).toEqual(["db-0/pg/stderr", "web-1/nginx/stdout"]);
      for (const labels of series) expect(labels.namespace).toBe(n);

      // getQueryStats: index/stats?query&start&end, read as {streams, chunks, bytes, entries}.
      const statsRes = await resource("index/stats", { query: `{namespace="${n}", app="web"}`, start, end });
      expect(statsRes.status).toBe(200);
      const stats = (await statsRes.json()) as Record<string, number>;
      expect(stats.streams).toBe(1);
      expect(stats.entries).toBe(lines.length);
      expect(stats.bytes).toBe(lines.reduce((sum, l) => sum + Buffer.byteLength(l.log), 0));
      expect(typeof stats.chunks).toBe("number");
    });

    test("live tail: a WebSocket on /loki/api/v1/tail?query=<expr> alone; a new line within 2 s", async () => {
      await ingest();
      const pod = unique("live");
      const expr = `{namespace="${n}", pod="${pod}"}`;
      const ws = new WebSocket(`${served.url.replace("http", "ws")}/loki/api/v1/tail?${new URLSearchParams({ query: expr })}`);
      const received: { ts: string; line: string; labels: Record<string, string> }[] = [];
      ws.onmessage = (e) => {
        // appendResponseToBufferedData: response.streams[].stream and values of [ts, line].
        const msg = JSON.parse(String(e.data)) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
        for (const s of msg.streams ?? []) for (const [ts, line] of s.values) received.push({ ts, line, labels: s.stream });
      };
      await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
      try {
        const time = new Date().toISOString();
        const res = await fetch(`${served.url}/write`, {
          method: "POST",
          body: JSON.stringify([fbRecord({ namespace: n, pod, log: "live line", time })]),
        });
        expect(res.status).toBe(200);
        const deadline = Date.now() + 2000;
        while (!received.some((r) => r.line === "live line") && Date.now() < deadline) await Bun.sleep(20);
        const got = received.find((r) => r.line === "live line");
        if (got === undefined) throw new Error(`no "live line" within 2 s; got ${JSON.stringify(received)}`);
        expect(got.ts).toMatch(/^\d{19}$/);
        // Grafana takes ms from the ns string by dropping its last 6 digits.
        expect(new Date(parseInt(got.ts.slice(0, -6), 10)).toISOString()).toBe(time);
        expect(got.labels).toMatchObject({ namespace: n, pod });
      } finally {
        ws.close();
      }
    });
  });
}
