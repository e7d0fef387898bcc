// Metric evaluation and log queries over an in-memory SampleSource (an array of lines: the
// evaluator's input, not a store). Expected answers follow Loki's pkg/logql: windows
// (t - range, t] at t = start, start + step, ..., end; rate = count / range seconds; series
// labels are stream labels + structured metadata + parsed labels; errors fail metric queries.
import { describe, expect, test } from "bun:test";
import {
  CountsCannotAnswer,
  evaluateMetric,
  LogQLEvalError,
  parseLogQL,
  planLogSelector,
  runLogQuery,
  simpleCountPlan,
  type CountRow,
  type CountsQuery,
  type LogSelectorPlan,
  type MetricResult,
  type SampleSource,
  type SourceLine,
} from "../../src/loki/logql/index.ts";

const S = 1_000_000_000n;
const M = 60n * S;
const T0 = 1_700_000_000n * S - ((1_700_000_000n * S) % (10n * M)); // a whole 10 minutes

function matches(plan: LogSelectorPlan, labels: Record<string, string>): boolean {
  return plan.matchers.every((m) => {
    const v = labels[m.name] ?? "";
    switch (m.op) {
      case "=":
        return v === m.value;
      case "!=":
        return v !== m.value;
      case "=~":
        return new RegExp(`^(?:${m.value})$`).test(v);
      case "!~":
        return !new RegExp(`^(?:${m.value})$`).test(v);
    }
  });
}

/** Lines in memory, served in forward time order in small batches; records what was asked. */
class MemorySource implements SampleSource {
  reads: [bigint, bigint][] = [];
  constructor(public data: SourceLine[]) {
    this.data = [...data].sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  }
  async *lines(plan: LogSelectorPlan, startNs: bigint, endNs: bigint): AsyncIterable<SourceLine[]> {
    this.reads.push([startNs, endNs]);
    const sel = this.data.filter((l) => l.timeNs >= startNs && l.timeNs <= endNs && matches(plan, { ...l.labels }));
    for (let i = 0; i < sel.length; i += 2) yield sel.slice(i, i + 2);
  }
}

const A = { app: "api", namespace: "prod", pod: "api-1" };
const B = { app: "api", namespace: "prod", pod: "api-2" };
const C = { app: "web", namespace: "dev", pod: "web-1" };

function at(sec: bigint, labels: Record<string, string>, line: string, metadata?: Record<string, string>): SourceLine {
  const l: SourceLine = { timeNs: T0 + sec * S, line, labels };
  if (metadata) l.metadata = metadata;
  return l;
}

const LINES = [
  at(10n, A, '{"level":"info","status":200,"latency":"100ms","size":"1KB"}', { detected_level: "info" }),
  at(30n, A, '{"level":"error","status":500,"latency":"300ms","size":"2KB"}', { detected_level: "error" }),
  at(60n, A, '{"level":"info","status":200,"latency":"200ms","size":"1KB"}', { detected_level: "info" }), // exactly on a step
  at(70n, B, '{"level":"info","status":404,"latency":"50ms","size":"3KB"}', { detected_level: "info" }),
  at(100n, B, "level=warn msg=plain", { detected_level: "warn" }),
  at(130n, C, "hello from web", { detected_level: "unknown" }),
];

async function evalQ(q: string, start: bigint, end: bigint, step: bigint, data = LINES, limits = {}): Promise<MetricResult> {
  return evaluateMetric(
    parseLogQL(q),
    { startNs: T0 + start * S, endNs: T0 + end * S, stepNs: step * S },
    new MemorySource(data),
    limits,
  );
}

const sec = (s: bigint) => Number(T0 / S + s);

/** The JSON key of a label set, names in order (as results carry them). */
const L = (labels: Record<string, string>) =>
  JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));

/** A matrix as { "labels": [[t, v], ...] } for compact expectations. */
function matrix(r: MetricResult): Record<string, [number, string][]> {
  if (r.resultType !== "matrix") throw new Error(`not a matrix: ${r.resultType}`);
  return Object.fromEntries(r.result.map((s) => [JSON.stringify(s.metric), s.values]));
}

function vector(r: MetricResult): Record<string, string> {
  if (r.resultType !== "vector") throw new Error(`not a vector: ${r.resultType}`);
  return Object.fromEntries(r.result.map((s) => [JSON.stringify(s.metric), s.value[1]]));
}

describe("range aggregations", () => {
  test("count_over_time: windows are (t - range, t], a line exactly at t counts at t only", async () => {
    const r = await evalQ('count_over_time({app="api"}[1m])', 60n, 120n, 60n);
    expect(matrix(r)).toEqual({
      [L({ ...A, detected_level: "error" })]: [[sec(60n), "1"]],
      [L({ ...A, detected_level: "info" })]: [[sec(60n), "2"]],
      [L({ ...B, detected_level: "info" })]: [[sec(120n), "1"]],
      [L({ ...B, detected_level: "warn" })]: [[sec(120n), "1"]],
    });
  });

  test("overlapping windows (range > step) and steps between lines", async () => {
    const r = await evalQ('sum(count_over_time({app="api"}[2m]))', 0n, 120n, 30n);
    // windows: (−120,0]=0 (no point), (−90,30]=2, (−60,60]=3, (−30,90]=4, (0,120]=5
    expect(matrix(r)).toEqual({
      "{}": [
        [sec(30n), "2"],
        [sec(60n), "3"],
        [sec(90n), "4"],
        [sec(120n), "5"],
      ],
    });
  });

  test("rate = count / range seconds; bytes_over_time and bytes_rate count UTF-8 bytes", async () => {
    const r = await evalQ('sum(rate({app="api"}[1m]))', 60n, 60n, 0n);
    expect(vector(r)).toEqual({ "{}": "0.05" }); // 3 lines / 60 s
    const data = [at(1n, A, "héllo"), at(2n, A, "abc")];
    expect(vector(await evalQ('bytes_over_time({app="api"}[1m])', 60n, 60n, 0n, data))).toEqual({ [L(A)]: "9" });
    expect(vector(await evalQ('bytes_rate({app="api"}[1m])', 60n, 60n, 0n, data))).toEqual({ [L(A)]: "0.15" });
  });

  test("unwrap: sum, avg, min, max, first, last, quantile, stddev, rate; the unwrapped label leaves the series", async () => {
    const q = (op: string, extra = "") => `${op}(${extra}{app="api"} | json | unwrap status [2m]) by (app)`;
    const inst = async (query: string) => vector(await evalQ(query, 120n, 120n, 0n));
    const key = JSON.stringify({ app: "api" });
    // statuses in (0, 120]: 200, 500, 200, 404 (+ the logfmt line: a JSON error, filtered below)
    const ok = (op: string, extra = "") => q(op, extra).replace("| json", '| json | __error__=""');
    expect(await inst(ok("avg_over_time"))).toEqual({ [key]: "326" });
    expect(await inst(ok("min_over_time"))).toEqual({ [key]: "200" });
    expect(await inst(ok("max_over_time"))).toEqual({ [key]: "500" });
    expect(await inst(ok("first_over_time"))).toEqual({ [key]: "200" });
    expect(await inst(ok("last_over_time"))).toEqual({ [key]: "404" });
    expect(await inst(ok("quantile_over_time", "0.5, "))).toEqual({ [key]: "302" });
    expect(await inst(ok("stdvar_over_time"))).toEqual({ [key]: "17028" });
    const sum = await evalQ('sum_over_time({app="api"} | json | __error__="" | unwrap status [2m])', 120n, 120n, 0n);
    expect(vector(sum)).toEqual({
      [L({ ...A, detected_level: "error", latency: "300ms", level: "error", size: "2KB" })]: "500",
      [L({ ...A, detected_level: "info", latency: "100ms", level: "info", size: "1KB" })]: "200",
      [L({ ...A, detected_level: "info", latency: "200ms", level: "info", size: "1KB" })]: "200",
      [L({ ...B, detected_level: "info", latency: "50ms", level: "info", size: "3KB" })]: "404",
    });
    const rate = await evalQ('sum(rate({app="api"} | json | __error__="" | unwrap status [2m]))', 120n, 120n, 0n);
    expect(vector(rate)).toEqual({ "{}": "10.866666666666667" }); // 1304 / 120
  });

  test("unwrap conversions, and SampleExtractionErr (which fails the query unless filtered)", async () => {
    const lat = await evalQ(
      'sum(sum_over_time({app="api"} | json | unwrap duration(latency) [2m]))',
      120n,
      120n,
      0n,
      LINES.slice(0, 4),
    );
    // Summed in time order as Loki does: 0.1 + 0.3 + 0.2 + 0.05
    expect(vector(lat)).toEqual({ "{}": "0.6500000000000001" });
    const size = await evalQ(
      'sum(sum_over_time({app="api"} | json | unwrap bytes(size) [2m]))',
      120n,
      120n,
      0n,
      LINES.slice(0, 4),
    );
    expect(vector(size)).toEqual({ "{}": "7000" });
    const bad = evalQ('sum(sum_over_time({app="api"} | json | unwrap level [2m]))', 120n, 120n, 0n, LINES.slice(0, 4));
    expect(bad).rejects.toThrow("pipeline error: 'SampleExtractionErr'");
    const filtered = await evalQ(
      'sum(sum_over_time({app="api"} | json | unwrap level | __error__="" [2m]))',
      120n,
      120n,
      0n,
      LINES.slice(0, 4),
    );
    expect(filtered.resultType === "vector" && filtered.result).toEqual([]);
  });

  test('a parser error fails a metric query (Loki\'s pipeline error); | __error__="" or drop __error__ avoids it', async () => {
    const failing = evalQ('count_over_time({app="api"} | json [5m])', 300n, 300n, 0n);
    expect(failing).rejects.toBeInstanceOf(LogQLEvalError);
    expect(failing).rejects.toThrow(/pipeline error: 'JSONParserErr' for series: '\{__error__="JSONParserErr"/);
    const ok = await evalQ(
      'sum by (level) (count_over_time({app="api"} | json | drop __error__, __error_details__ [5m]))',
      300n,
      300n,
      0n,
    );
    // The logfmt line has no JSON level: its error dropped, it counts without one.
    expect(vector(ok)).toEqual({ '{"level":"error"}': "1", '{"level":"info"}': "3", "{}": "1" });
  });

  test("absent_over_time: 1 with the selector's equality labels when nothing matched", async () => {
    const r = await evalQ('absent_over_time({app="nope", pod=~"x.*"}[1m])', 60n, 120n, 60n);
    expect(matrix(r)).toEqual({
      '{"app":"nope"}': [
        [sec(60n), "1"],
        [sec(120n), "1"],
      ],
    });
    const present = await evalQ('absent_over_time({app="web"}[1m])', 60n, 180n, 60n);
    expect(matrix(present)).toEqual({
      '{"app":"web"}': [
        [sec(60n), "1"],
        [sec(120n), "1"],
      ],
    });
  });

  test("offset shifts the window back; the point stays at t", async () => {
    const r = await evalQ('sum(count_over_time({app="api"}[1m] offset 1m))', 120n, 120n, 0n);
    expect(vector(r)).toEqual({ "{}": "3" }); // lines in (0, 60]
    expect(r.resultType === "vector" && r.result[0]!.value[0]).toBe(sec(120n));
  });
});

describe("vector aggregations", () => {
  test("sum/avg/min/max/count by and without, before or after", async () => {
    const inner = 'count_over_time({namespace=~".+"}[5m])';
    const v = async (q: string) => vector(await evalQ(q, 300n, 300n, 0n));
    expect(await v(`sum by (namespace) (${inner})`)).toEqual({ '{"namespace":"dev"}': "1", '{"namespace":"prod"}': "5" });
    expect(await v(`sum(${inner}) by (namespace)`)).toEqual({ '{"namespace":"dev"}': "1", '{"namespace":"prod"}': "5" });
    expect(await v(`count by (pod) (${inner})`)).toEqual({
      '{"pod":"api-1"}': "2",
      '{"pod":"api-2"}': "2",
      '{"pod":"web-1"}': "1",
    });
    expect(await v(`max by (namespace) (${inner})`)).toEqual({ '{"namespace":"dev"}': "1", '{"namespace":"prod"}': "2" });
    expect(await v(`min(${inner})`)).toEqual({ "{}": "1" });
    expect(await v(`avg(${inner})`)).toEqual({ "{}": "1.2" });
    expect(await v(`sum without (pod, detected_level, app) (${inner})`)).toEqual({
      '{"namespace":"dev"}': "1",
      '{"namespace":"prod"}': "5",
    });
    expect(await v(`stddev(${inner})`)).toEqual({ "{}": "0.4" });
  });

  test("topk and bottomk per group", async () => {
    const inner = 'sum by (pod) (count_over_time({namespace=~".+"}[5m]))';
    const top = vector(await evalQ(`topk(2, ${inner})`, 300n, 300n, 0n));
    expect(top).toEqual({ '{"pod":"api-1"}': "3", '{"pod":"api-2"}': "2" });
    const bottom = vector(await evalQ(`bottomk(1, ${inner})`, 300n, 300n, 0n));
    expect(bottom).toEqual({ '{"pod":"web-1"}': "1" });
  });

  test("Grafana's volume query: sum by (level, detected_level) over count_over_time | drop __error__", async () => {
    const r = await evalQ('sum by (level, detected_level) (count_over_time({app="api"} | drop __error__[1m]))', 60n, 120n, 60n);
    expect(matrix(r)).toEqual({
      '{"detected_level":"error"}': [[sec(60n), "1"]],
      '{"detected_level":"info"}': [
        [sec(60n), "2"],
        [sec(120n), "1"],
      ],
      '{"detected_level":"warn"}': [[sec(120n), "1"]],
    });
  });
});

describe("literals, vectors and binary operations", () => {
  test("vector(1)+vector(1) is a vector with the value 2 (Grafana's data source test)", async () => {
    const r = await evalQ("vector(1)+vector(1)", 60n, 60n, 0n);
    expect(r).toEqual({ resultType: "vector", result: [{ metric: {}, value: [sec(60n), "2"] }] });
  });

  test("a literal is a scalar for an instant query, a constant series for a range query", async () => {
    expect(await evalQ("1 + 2 * 3", 60n, 60n, 0n)).toEqual({ resultType: "scalar", result: [sec(60n), "7"] });
    expect(matrix(await evalQ("2", 0n, 60n, 30n))).toEqual({
      "{}": [
        [sec(0n), "2"],
        [sec(30n), "2"],
        [sec(60n), "2"],
      ],
    });
  });

  test("scalar-vector arithmetic keeps labels; comparisons filter, or give 0/1 with bool", async () => {
    const inner = 'sum by (pod) (count_over_time({namespace=~".+"}[5m]))';
    expect(vector(await evalQ(`${inner} * 2`, 300n, 300n, 0n))).toEqual({
      '{"pod":"api-1"}': "6",
      '{"pod":"api-2"}': "4",
      '{"pod":"web-1"}': "2",
    });
    expect(vector(await evalQ(`10 / ${inner}`, 300n, 300n, 0n))).toMatchObject({ '{"pod":"api-1"}': "3.3333333333333335" });
    expect(vector(await evalQ(`${inner} > 1`, 300n, 300n, 0n))).toEqual({ '{"pod":"api-1"}': "3", '{"pod":"api-2"}': "2" });
    expect(vector(await evalQ(`${inner} > bool 2`, 300n, 300n, 0n))).toEqual({
      '{"pod":"api-1"}': "1",
      '{"pod":"api-2"}': "0",
      '{"pod":"web-1"}': "0",
    });
    expect(vector(await evalQ(`2 < ${inner}`, 300n, 300n, 0n))).toEqual({ '{"pod":"api-1"}': "3" });
    expect(vector(await evalQ(`${inner} % 2 ^ 1`, 300n, 300n, 0n))).toEqual({
      '{"pod":"api-1"}': "1",
      '{"pod":"api-2"}': "0",
      '{"pod":"web-1"}': "1",
    });
    expect(vector(await evalQ(`${inner} / 0`, 300n, 300n, 0n))).toMatchObject({ '{"pod":"api-1"}': "NaN" });
  });

  test("vector-vector: one-to-one matching, on/ignoring, group_left, and/or/unless", async () => {
    const byPod = 'sum by (pod, namespace) (count_over_time({namespace=~".+"}[5m]))';
    const byNs = 'sum by (namespace) (count_over_time({namespace=~".+"}[5m]))';
    const v = async (q: string) => vector(await evalQ(q, 300n, 300n, 0n));
    expect(await v(`${byNs} - ${byNs}`)).toEqual({ '{"namespace":"dev"}': "0", '{"namespace":"prod"}': "0" });
    expect(await v(`${byPod} / on (namespace) group_left ${byNs}`)).toEqual({
      '{"namespace":"dev","pod":"web-1"}': "1",
      '{"namespace":"prod","pod":"api-1"}': "0.6",
      '{"namespace":"prod","pod":"api-2"}': "0.4",
    });
    expect(await v(`${byPod} / ignoring (pod) group_left ${byNs}`)).toMatchObject({
      '{"namespace":"prod","pod":"api-1"}': "0.6",
    });
    expect(evalQ(`${byPod} / on (namespace) ${byNs}`, 300n, 300n, 0n)).rejects.toThrow("multiple matches for labels");
    expect(await v(`${byPod} and on (pod) (${byPod} > 2)`)).toEqual({ '{"namespace":"prod","pod":"api-1"}': "3" });
    expect(await v(`${byPod} unless on (pod) (${byPod} > 2)`)).toEqual({
      '{"namespace":"dev","pod":"web-1"}': "1",
      '{"namespace":"prod","pod":"api-2"}': "2",
    });
    expect(await v(`(${byNs} > 1) or vector(7)`)).toEqual({ '{"namespace":"prod"}': "5", "{}": "7" });
  });

  test("label_replace", async () => {
    const r = await evalQ(
      'label_replace(sum by (pod) (count_over_time({app="api"}[5m])), "n", "$1", "pod", "api-(.*)")',
      300n,
      300n,
      0n,
    );
    expect(vector(r)).toEqual({ '{"n":"1","pod":"api-1"}': "3", '{"n":"2","pod":"api-2"}': "2" });
  });
});

describe("limits and memory", () => {
  test("the series limit is a clear error", async () => {
    const data = Array.from({ length: 20 }, (_, i) => at(BigInt(i + 1), { app: "x", pod: `p${i}` }, "l"));
    expect(evalQ('count_over_time({app="x"}[1m])', 60n, 60n, 0n, data, { maxSeries: 10 })).rejects.toThrow(
      "maximum number of series (10) reached",
    );
    expect(vector(await evalQ('sum(count_over_time({app="x"}[1m]))', 60n, 60n, 0n, data, { maxSeries: 10 }))).toEqual({
      "{}": "20",
    });
    expect(evalQ('sum(count_over_time({app="x"}[1m]))', 0n, 3600n * 24n, 1n, data)).rejects.toThrow(
      "exceeded maximum resolution of 11,000 points",
    );
  });

  test("lines are read once per range aggregation, over exactly the needed range", async () => {
    const src = new MemorySource(LINES);
    await evaluateMetric(
      parseLogQL('sum(count_over_time({app="api"}[1m] offset 1m))'),
      { startNs: T0 + 120n * S, endNs: T0 + 240n * S, stepNs: 60n * S },
      src,
    );
    expect(src.reads).toEqual([[T0 + 1n, T0 + 180n * S]]);
  });
});

describe("per-minute counts", () => {
  class CountingSource extends MemorySource {
    countQueries: CountsQuery[] = [];
    constructor(
      data: SourceLine[],
      private rows: CountRow[] | undefined,
    ) {
      super(data);
    }
    counts(q: CountsQuery): AsyncIterable<CountRow[]> | undefined {
      this.countQueries.push(q);
      const rows = this.rows;
      if (rows === undefined) return undefined;
      return (async function* () {
        yield rows.filter((r) => r.timeNs >= q.startNs && r.timeNs < q.endNs);
      })();
    }
  }

  test("simpleCountPlan recognises count-like aggregations without pipeline over whole minutes", () => {
    expect(simpleCountPlan(parseLogQL('count_over_time({app="x"}[5m])'))).toMatchObject({ kind: "count", rangeNs: 5n * M });
    expect(simpleCountPlan(parseLogQL('bytes_rate({app="x"}[1m])'))).toMatchObject({ kind: "bytes", op: "bytes_rate" });
    expect(simpleCountPlan(parseLogQL('count_over_time({app="x"} |= "a" [5m])'))).toBeUndefined();
    expect(simpleCountPlan(parseLogQL('count_over_time({app="x"}[90s])'))).toBeUndefined();
  });

  test("count_over_time and sum by are answered from counts when the source has them", async () => {
    // Rows for (m, m+1m]: 4 lines level info in minute 0, 2 in minute 1; 100 and 50 bytes.
    const rows: CountRow[] = [
      { timeNs: T0, labels: { app: "api", detected_level: "info" }, lines: 4, bytes: 100 },
      { timeNs: T0 + M, labels: { app: "api", detected_level: "info" }, lines: 2, bytes: 50 },
      { timeNs: T0 + M, labels: { app: "api", detected_level: "error" }, lines: 1, bytes: 10 },
    ];
    const src = new CountingSource([], rows);
    const r = await evaluateMetric(
      parseLogQL('sum by (detected_level) (count_over_time({app="api"}[1m]))'),
      { startNs: T0 + M, endNs: T0 + 2n * M, stepNs: M },
      src,
    );
    expect(matrix(r)).toEqual({
      '{"detected_level":"error"}': [[sec(120n), "1"]],
      '{"detected_level":"info"}': [
        [sec(60n), "4"],
        [sec(120n), "2"],
      ],
    });
    expect(src.reads).toEqual([]);
    expect(src.countQueries[0]).toMatchObject({ startNs: T0, endNs: T0 + 2n * M, labels: ["detected_level"] });
    const bytes = await evaluateMetric(
      parseLogQL('sum(bytes_rate({app="api"}[2m]))'),
      { startNs: T0 + 2n * M, endNs: T0 + 2n * M, stepNs: 0n },
      src,
    );
    expect(vector(bytes)).toEqual({ "{}": "1.3333333333333333" }); // 160 bytes / 120 s
  });

  test("lines are read when counts cannot answer (pipeline, unaligned step, or the source declines)", async () => {
    const src = new CountingSource(LINES, undefined);
    const r = await evaluateMetric(
      parseLogQL('sum(count_over_time({app="api"}[1m]))'),
      { startNs: T0 + M, endNs: T0 + M, stepNs: 0n },
      src,
    );
    expect(vector(r)).toEqual({ "{}": "3" });
    expect(src.countQueries.length).toBe(1);
    expect(src.reads.length).toBe(1);
    const src2 = new CountingSource(LINES, []);
    await evaluateMetric(
      parseLogQL('sum(count_over_time({app="api"} |= "x" [1m]))'),
      { startNs: T0 + M, endNs: T0 + M, stepNs: 0n },
      src2,
    );
    await evaluateMetric(
      parseLogQL('sum(count_over_time({app="api"}[1m]))'),
      { startNs: T0 + M, endNs: T0 + 3n * M, stepNs: 30n * S },
      src2,
    );
    expect(src2.countQueries.length).toBe(0);
    expect(src2.reads.length).toBe(2);
  });

  test("lines are read when the counts find, before their first row, that they cannot answer", async () => {
    class Declining extends MemorySource {
      asked = 0;
      counts(): AsyncIterable<CountRow[]> {
        this.asked++;
        return (async function* (): AsyncGenerator<CountRow[]> {
          throw new CountsCannotAnswer("a stream has no label trace_id");
        })();
      }
    }
    const src = new Declining(LINES);
    const r = await evaluateMetric(
      parseLogQL('sum(count_over_time({app="api"}[1m]))'),
      { startNs: T0 + M, endNs: T0 + M, stepNs: 0n },
      src,
    );
    expect(vector(r)).toEqual({ "{}": "3" });
    expect(src.asked).toBe(1);
    expect(src.reads.length).toBe(1);
  });
});

describe("log queries", () => {
  test("runLogQuery: pipeline applied, grouped by final labels, cut at the limit after filtering", async () => {
    const plan = planLogSelector(
      parseLogQL('{app="api"} |= "level" | json | __error__="" | line_format "{{.level}} {{.status}}"'),
    );
    const backward = [...LINES].reverse();
    const src = (async function* () {
      yield backward;
    })();
    const r = await runLogQuery(plan, src, 2);
    expect(r.entries).toBe(2);
    expect(r.limited).toBe(true);
    expect(r.streams).toEqual([
      {
        stream: { ...B, detected_level: "info", latency: "50ms", level: "info", size: "3KB", status: "404" },
        values: [[(T0 + 70n * S).toString(), "info 404"]],
      },
      {
        stream: { ...A, detected_level: "info", latency: "200ms", level: "info", size: "1KB", status: "200" },
        values: [[(T0 + 60n * S).toString(), "info 200"]],
      },
    ]);
    expect(r.lastTimeNs).toBe(T0 + 60n * S);
  });

  test("a metric evaluation refuses a log query", () => {
    expect(
      evaluateMetric(parseLogQL('{app="api"}'), { startNs: 0n, endNs: 0n, stepNs: 0n }, new MemorySource([])),
    ).rejects.toBeInstanceOf(LogQLEvalError);
  });
});
