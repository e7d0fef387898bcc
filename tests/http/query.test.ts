// GET /query through app.handle: validation, ordering, day borders, equal timestamps, format.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { fbRecord, get, post, queryUrl, unique } from "../helpers.ts";

const store = new EmbeddedStore({ dataDir: ":memory:", pageBytes: 32 * 1024 });
const app = createApp(store);
afterAll(() => store.close());

type Rows = { time: string; log: string; stream: string }[];

async function write(records: unknown[]) {
  const res = await app.handle(post(JSON.stringify(records)));
  expect(res.status).toBe(200);
  expect(((await res.json()) as { rejected: number }).rejected).toBe(0);
}

async function query(p: Parameters<typeof queryUrl>[0]): Promise<Rows> {
  const res = await app.handle(get(queryUrl(p)));
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  return ((await res.json()) as { log_rows: Rows }).log_rows;
}

describe("GET /query validation", () => {
  const base = "namespace=a&pod_name=b&container_name=c&start_time=2018-05-03T00:00:00Z&end_time=2018-05-04T00:00:00Z";
  const cases: [string, string][] = [
    ["", "missing query parameter: namespace"],
    [base.replace("namespace=a&", ""), "missing query parameter: namespace"],
    [base.replace("start_time=2018-05-03T00:00:00Z&", ""), "missing query parameter: start_time"],
    [base.replace("namespace=a", "namespace="), "missing query parameter: namespace"],
    [base.replace("2018-05-03T00:00:00Z", "yesterday"), "failed to parse start_time"],
    [base.replace("2018-05-04T00:00:00Z", "2018-05-04"), "failed to parse end_time"],
    [base.replace("2018-05-04T00:00:00Z", "2018-05-02T00:00:00Z"), "start_time must be earlier than end_time"],
    [base.replace("2018-05-04T00:00:00Z", "2018-05-03T00:00:00Z"), "start_time must be earlier than end_time"],
    [`${base}&pod_name=again`, "query parameter pod_name has wrong number of values: was: 2, expected: 1"],
  ];
  for (const [qs, detail] of cases) {
    test(`400 for ?${qs.slice(0, 60)}`, async () => {
      const res = await app.handle(get(`/query?${qs}`));
      expect(res.status).toBe(400);
      const body = (await res.json()) as { message: string; detail: string };
      expect(body.message).toBe("invalid query");
      expect(body.detail).toContain(detail);
    });
  }

  test("end_time is optional and defaults to now (as the original)", async () => {
    const n = unique();
    const recent = new Date(Date.now() - 60_000).toISOString();
    await write([fbRecord({ namespace: n, log: "recent", time: recent })]);
    const rows = await query({ namespace: n, start: new Date(Date.now() - 3_600_000).toISOString() });
    expect(rows.map((r) => r.log)).toEqual(["recent"]);
  });
});

describe("GET /query results", () => {
  test("an empty result is an empty log_rows array", async () => {
    expect(await query({ namespace: unique(), start: "2018-05-03T00:00:00Z", end: "2018-05-04T00:00:00Z" })).toEqual([]);
  });

  test("ascending time order across day (and year) borders, bounds inclusive", async () => {
    const n = unique();
    const times = [
      "2018-12-31T23:59:59.999999999Z",
      "2019-01-01T00:00:00Z",
      "2019-01-01T23:59:59.123456789Z",
      "2019-01-02T00:00:00.000000001Z",
      "2019-01-03T00:00:00Z",
    ];
    await write([...times].reverse().map((time) => fbRecord({ namespace: n, log: time, time })));
    expect(
      (await query({ namespace: n, start: "2018-12-31T00:00:00Z", end: "2019-01-04T00:00:00Z" })).map((r) => r.time),
    ).toEqual(times);
    // Inclusive on both ends, offsets honoured.
    const inner = await query({ namespace: n, start: "2019-01-01T01:00:00+01:00", end: "2019-01-03T00:00:00Z" });
    expect(inner.map((r) => r.log)).toEqual(times.slice(1));
  });

  test("lines with equal timestamps are all there, in the order they arrived within a batch", async () => {
    const n = unique();
    const time = "2018-05-03T12:00:00.5Z";
    const words = ["delta", "alpha", "charlie", "bravo", "alpha"];
    await write(words.map((log) => fbRecord({ namespace: n, log, time })));
    const rows = await query({ namespace: n, start: "2018-05-03T12:00:00Z", end: "2018-05-03T12:00:01Z" });
    expect(rows.map((r) => r.log)).toEqual(words);
    expect(new Set(rows.map((r) => r.time))).toEqual(new Set(["2018-05-03T12:00:00.5Z"]));
  });

  test("lines within one millisecond stay distinct and ordered by their nanoseconds", async () => {
    const n = unique();
    const records = Array.from({ length: 100 }, (_, i) =>
      fbRecord({ namespace: n, log: `n${i}`, time: `2018-05-03T12:00:00.123${String(999_999 - i * 1000).padStart(6, "0")}Z` }),
    );
    await write(records);
    const rows = await query({ namespace: n, start: "2018-05-03T12:00:00Z", end: "2018-05-03T12:00:01Z" });
    expect(rows.length).toBe(100);
    expect(rows.map((r) => r.log)).toEqual(records.map((_, i) => `n${99 - i}`));
  });

  test("any line text comes back exactly through the JSON answer", async () => {
    const n = unique();
    const pool = ['"', "\\", "\n", "\t", "\u0000", "\u001f", "\u007f", "\u2028", "é", "日本", "🚀", "a", " ", "{", "}", "/", "<"];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const texts = Array.from({ length: 300 }, () =>
      Array.from({ length: Math.floor(random() * 12) }, () => pool[Math.floor(random() * pool.length)]).join(""),
    );
    texts.push("plain ascii with nothing to escape");
    await write(
      texts.map((log, i) => fbRecord({ namespace: n, log, time: new Date(Date.UTC(2018, 4, 3, 12) + i).toISOString() })),
    );
    const rows = await query({ namespace: n, start: "2018-05-03T00:00:00Z", end: "2018-05-04T00:00:00Z" });
    expect(rows.map((r) => r.log)).toEqual(texts);
  });

  test("a result much larger than a store page streams completely", async () => {
    const n = unique();
    const total = 3_210;
    for (let start = 0; start < total; start += 1000) {
      await write(
        Array.from({ length: Math.min(1000, total - start) }, (_, j) => {
          const i = start + j;
          return fbRecord({
            namespace: n,
            log: `#${i} "q" \\ é`,
            time: new Date(Date.UTC(2018, 4, 3, 12) + i * 10).toISOString(),
          });
        }),
      );
    }
    const rows = await query({ namespace: n, start: "2018-05-03T00:00:00Z", end: "2018-05-04T00:00:00Z" });
    expect(rows.length).toBe(total);
    expect(rows[0]!.log).toBe('#0 "q" \\ é');
    expect(rows[total - 1]!.log).toBe(`#${total - 1} "q" \\ é`);
  });
});

describe("GET /query when the store fails while streaming", () => {
  test("the answer is cut (never a shortened document), the error is logged as JSON and counted, stderr stays empty", async () => {
    const proc = Bun.spawn(["bun", "tests/http/fixtures/midstream-failure.ts"], {
      cwd: join(import.meta.dir, "../.."),
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, LOG_LEVEL: "info" },
    });
    const timer = setTimeout(() => proc.kill(), 30_000);
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    clearTimeout(timer);
    expect(await proc.exited).toBe(0);
    expect(stderr).toBe("");
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const report = lines.find((l) => l.report)!.report as { status: number; outcome: string; received: number; counted: number };
    expect(report.status).toBe(200);
    expect(report.outcome).toStartWith("cut:");
    expect(report.received).toBeGreaterThan(0);
    expect(report.counted).toBe(1);
    expect(lines.some((l) => l.msg === "query failed while streaming")).toBe(true);
  }, 40_000);
});

describe("GET /query bounds beyond what a store holds", () => {
  test("a range wider than 1970..2262 means all lines, never a 500", async () => {
    const n = unique();
    await write([fbRecord({ namespace: n, log: "inside", time: "2018-05-03T12:00:00Z" })]);
    for (const [start, end] of [
      ["1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"],
      ["1000-01-01T00:00:00Z", "3000-01-01T00:00:00Z"],
      ["0001-01-01T00:00:00Z", "2018-05-04T00:00:00Z"],
    ]) {
      expect((await query({ namespace: n, start: start!, end: end! })).map((r) => r.log)).toEqual(["inside"]);
    }
  });
});
