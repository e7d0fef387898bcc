// POST /write and GET /write through app.handle, over a real embedded store.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { fbRecord, get, post, queryUrl, unique } from "../helpers.ts";

const store = new EmbeddedStore({ dataDir: ":memory:" });
const app = createApp(store);
afterAll(() => store.close());

async function rows(namespace: string, start = "2018-05-03T00:00:00Z", end = "2018-05-04T00:00:00Z") {
  const res = await app.handle(get(queryUrl({ namespace, start, end })));
  expect(res.status).toBe(200);
  return ((await res.json()) as { log_rows: { time: string; log: string; stream: string }[] }).log_rows;
}

describe("POST /write", () => {
  test("stores a Fluent Bit batch and /query returns it", async () => {
    const n = unique();
    const body = JSON.stringify([
      fbRecord({ namespace: n, log: "first", date: 1525349097.094408, time: "2018-05-03T12:04:57.094408152Z" }),
      fbRecord({ namespace: n, log: "second", stream: "stderr", date: 1525349098.5, time: "2018-05-03T12:04:58.5Z" }),
    ]);
    const res = await app.handle(post(body));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 2, rejected: 0, deduplicated: 0 });
    expect(await rows(n)).toEqual([
      { time: "2018-05-03T12:04:57.094408152Z", log: "first", stream: "stdout" },
      { time: "2018-05-03T12:04:58.5Z", log: "second", stream: "stderr" },
    ]);
  });

  test("POST / does the same, for Fluent Bit's default URI", async () => {
    const n = unique();
    const res = await app.handle(
      post(JSON.stringify([fbRecord({ namespace: n, log: "at the root", time: "2018-05-03T12:00:00Z" })]), undefined, "/"),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 1, rejected: 0, deduplicated: 0 });
    expect((await rows(n)).map((r) => r.log)).toEqual(["at the root"]);
  });

  test("timestamp rule: date is authoritative, time refines it to the nanosecond when they agree to the microsecond", async () => {
    const n = unique();
    const body = JSON.stringify([
      // Agree to the microsecond: the runtime's nanoseconds win.
      fbRecord({ namespace: n, log: "agree", date: 1525349097.094408, time: "2018-05-03T12:04:57.094408152Z" }),
      // Disagree (a static or skewed `time`): the event time wins, to the microsecond.
      fbRecord({ namespace: n, log: "disagree", date: 1525349099.000125, time: "2018-05-03T12:04:57.094408152Z" }),
      // No date: time is used.
      { ...fbRecord({ namespace: n, log: "time only", time: "2018-05-03T12:05:00.000000007Z" }) },
      // Date and no time.
      { ...fbRecord({ namespace: n, log: "date only", date: 1525349101.25 }), time: undefined },
    ]);
    const res = await app.handle(post(body));
    expect(await res.json()).toEqual({ accepted: 4, rejected: 0, deduplicated: 0 });
    expect((await rows(n)).map((r) => [r.log, r.time])).toEqual([
      ["agree", "2018-05-03T12:04:57.094408152Z"],
      ["disagree", "2018-05-03T12:04:59.000125Z"],
      ["time only", "2018-05-03T12:05:00.000000007Z"],
      ["date only", "2018-05-03T12:05:01.25Z"],
    ]);
  });

  test("a resent batch (Fluent Bit retry, byte-identical) is stored once", async () => {
    const n = unique();
    const body = JSON.stringify(
      Array.from({ length: 10 }, (_, i) =>
        fbRecord({ namespace: n, log: `line ${i}`, time: `2018-05-03T12:00:00.00000000${i}Z` }),
      ),
    );
    for (let i = 0; i < 3; i++) expect((await app.handle(post(body))).status).toBe(200);
    expect((await rows(n)).length).toBe(10);
  });

  test("invalid records are rejected one by one; their valid neighbours are stored (200)", async () => {
    const n = unique();
    const good = (log: string) => fbRecord({ namespace: n, log, time: "2018-05-03T12:00:00Z" });
    const noNamespace = fbRecord({ namespace: "" });
    const noPod = fbRecord({ namespace: n, pod: "" });
    const noContainer = fbRecord({ namespace: n, container: "" });
    const noTime = { ...fbRecord({ namespace: n }), time: undefined };
    const badTime = fbRecord({ namespace: n, time: "yesterday" });
    const badLog = { ...fbRecord({ namespace: n }), log: { nested: true } };
    const body = JSON.stringify([good("a"), noNamespace, noPod, 42, noContainer, noTime, badTime, badLog, good("b")]);
    const res = await app.handle(post(body));
    expect(res.status).toBe(200);
    const result = (await res.json()) as { accepted: number; rejected: number; errors: { index: number; reason: string }[] };
    expect(result.accepted).toBe(2);
    expect(result.rejected).toBe(7);
    expect(result.errors.map((e) => [e.index, e.reason])).toEqual([
      [1, "missing_namespace"],
      [2, "missing_pod"],
      [3, "not_an_object"],
      [4, "missing_container"],
      [5, "missing_timestamp"],
      [6, "invalid_timestamp"],
      [7, "invalid_field"],
    ]);
    expect((await rows(n)).map((r) => r.log)).toEqual(["a", "b"]);
    const metrics = await (await app.handle(get("/metrics"))).text();
    expect(metrics).toContain('logserver_ingest_records_rejected_total{reason="missing_pod"}');
  });

  test("a body that is not JSON is a 400 with {message, detail}", async () => {
    for (const body of ["[{]", "not json at all", '"a string"', "42"]) {
      const res = await app.handle(post(body));
      expect(res.status).toBe(400);
      const error = (await res.json()) as { message: string; detail: string };
      expect(error.message).toBe("failed to parse request");
      expect(error.detail.length).toBeGreaterThan(0);
    }
  });

  test("an empty array or empty body stores nothing and succeeds", async () => {
    for (const body of ["[]", "", "  \n"]) {
      const res = await app.handle(post(body));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ accepted: 0, rejected: 0, deduplicated: 0 });
    }
  });

  test("a store that cannot write answers 503 with Retry-After, never 400", async () => {
    const closed = new EmbeddedStore({ dataDir: ":memory:" });
    await closed.close();
    const down = createApp(closed);
    const res = await down.handle(post(JSON.stringify([fbRecord({ namespace: unique() })])));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await res.json()).toMatchObject({ message: "data store is not available" });
  });
});

describe("GET /write (health probe)", () => {
  test("200 healthy when the store is usable", async () => {
    const res = await app.handle(get("/write"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ healthy: true, detail: "" });
  });

  test("503 with a detail when the store is not usable", async () => {
    const closed = new EmbeddedStore({ dataDir: ":memory:" });
    await closed.close();
    const res = await createApp(closed).handle(get("/write"));
    expect(res.status).toBe(503);
    const body = (await res.json()) as { healthy: boolean; detail: string };
    expect(body.healthy).toBe(false);
    expect(body.detail).toContain("closed");
  });
});

describe("unknown routes", () => {
  test("404 with the JSON error shape", async () => {
    for (const req of [get("/nope"), post("[]", {}, "/query"), new Request("http://localhost/write", { method: "DELETE" })]) {
      const res = await app.handle(req);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ message: "not found" });
    }
  });
});

describe("POST /write: what the store makes of the lines", () => {
  test("lines met again from another batch are counted as deduplicated, and in /metrics; a retry is not", async () => {
    const n = unique();
    const at = (i: number) => `2018-05-03T12:00:${String(i).padStart(2, "0")}Z`;
    const batch = (from: number, to: number) =>
      JSON.stringify(
        Array.from({ length: to - from }, (_, k) => fbRecord({ namespace: n, log: `l${from + k}`, time: at(from + k) })),
      );
    const send = async (body: string) => (await app.handle(post(body))).json();
    expect(await send(batch(0, 10))).toEqual({ accepted: 10, rejected: 0, deduplicated: 0 });
    expect(await send(batch(0, 10))).toEqual({ accepted: 10, rejected: 0, deduplicated: 0 }); // a retry
    expect(await send(batch(5, 15))).toEqual({ accepted: 5, rejected: 0, deduplicated: 5 }); // cut differently
    expect((await rows(n)).map((r) => r.log)).toEqual(Array.from({ length: 15 }, (_, i) => `l${i}`));
    const metrics = await (await app.handle(get("/metrics"))).text();
    expect(metrics).toMatch(/^logserver_ingest_records_deduplicated_total\{format="json"\} 5$/m);
  });

  test("lines the store refuses for good are rejected records; their neighbours are stored", async () => {
    const dir = mkdtempSync(join(tmpdir(), "logserver-write-"));
    const own = new EmbeddedStore({ dataDir: dir });
    await own.write([]);
    const admin = new Database(join(dir, "logs.sqlite"));
    // The store refuses the chunks of one container (a chunk holds one container's lines).
    admin.run(
      `CREATE TRIGGER refuse_poison BEFORE INSERT ON chunks
       WHEN NEW.container_id IN (SELECT id FROM containers WHERE pod = 'poison')
       BEGIN SELECT RAISE(ABORT, 'poisoned chunk'); END`,
    );
    admin.close();
    const ownApp = createApp(own);
    const n = unique();
    const records = ["a", "poison", "b", "not an object", "c"].map((log, i) =>
      log === "not an object"
        ? 42
        : fbRecord({ namespace: n, log, pod: log === "poison" ? "poison" : undefined, time: `2018-05-03T12:00:0${i}Z` }),
    );
    const res = await ownApp.handle(post(JSON.stringify(records)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      accepted: 3,
      rejected: 2,
      deduplicated: 0,
      errors: [
        { index: 1, reason: "store_rejected", detail: expect.stringContaining("poisoned chunk") },
        { index: 3, reason: "not_an_object", detail: "record is not an object" },
      ],
    });
    const read = await ownApp.handle(get(queryUrl({ namespace: n, start: "2018-05-03T00:00:00Z", end: "2018-05-04T00:00:00Z" })));
    expect(((await read.json()) as { log_rows: { log: string }[] }).log_rows.map((r) => r.log)).toEqual(["a", "b", "c"]);
    const metrics = await (await ownApp.handle(get("/metrics"))).text();
    expect(metrics).toContain('logserver_ingest_records_rejected_total{reason="store_rejected"} 1');
    await own.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a full write queue is 503 with Retry-After (Fluent Bit keeps the batch)", async () => {
    const small = new EmbeddedStore({ dataDir: ":memory:", writeBufferSize: 5 });
    const smallApp = createApp(small);
    const n = unique();
    const body = (k: number) =>
      JSON.stringify(
        Array.from({ length: 4 }, (_, i) => fbRecord({ namespace: n, log: `${k}-${i}`, time: `2018-05-03T12:00:0${i}Z` })),
      );
    const answers = await Promise.all([smallApp.handle(post(body(1))), smallApp.handle(post(body(2)))]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 503]);
    const busy = answers.find((r) => r.status === 503)!;
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(await busy.json()).toMatchObject({ message: "data store is busy" });
    await small.close();
  });
});
