// Our own vectors for every Fluent Bit http-output format, date format and encoding, the body
// caps and the optional credentials, end to end through a real server on each store.
import { describe, expect, test } from "bun:test";
import * as zlib from "node:zlib";
import SnappyJS from "snappyjs";
import { fbRecord, unique } from "../helpers.ts";
import { servedStore, storesUnderTest } from "../stores.ts";
import { concat, eventTime, msgpackEntry, msgpackLegacyEntry, readBack, write } from "./vectors.ts";

const TIME = "2026-05-03T12:04:57.094408152Z";

/** A record without its `time` key (msgpack entries carry the time in their envelope). */
function untimed(record: Record<string, unknown>): Record<string, unknown> {
  const { time: _time, ...rest } = record;
  return rest;
}
const T_SECONDS = 1777809897;

for (const s of storesUnderTest("formats")) {
  describe(`ingest on the ${s.name} store`, () => {
    const served = servedStore(s);
    const server = served.server;

    describe("formats", () => {
      test("json_lines (application/x-ndjson), LF or CRLF, last line with or without newline", async () => {
        const n = unique();
        const lines = ["a", "b", "c"].map((log, i) =>
          JSON.stringify(fbRecord({ namespace: n, log, time: `2026-05-03T12:00:0${i}Z` })),
        );
        const body = `${lines[0]}\n${lines[1]}\r\n${lines[2]}`;
        const res = await write(served.url, body, { "content-type": "application/x-ndjson" });
        expect(res).toMatchObject({ status: 200, json: { accepted: 3, rejected: 0 } });
        expect((await readBack(served.url, n)).map((r) => r.log)).toEqual(["a", "b", "c"]);
      });

      test("json_stream: objects back to back with no separator, sent as application/json", async () => {
        const n = unique();
        const objects = ["x", "y", "z", "u", "v"].map((log, i) =>
          JSON.stringify(fbRecord({ namespace: n, log: `${log} {braces} "quotes" \\`, time: `2026-05-03T12:00:0${i}Z` })),
        );
        const res = await write(served.url, objects.slice(0, 3).join(""));
        expect(res).toMatchObject({ status: 200, json: { accepted: 3, rejected: 0 } });
        // Whitespace around and between them; lines not sent before (a resent line is stored once).
        const res2 = await write(served.url, ` ${objects[3]}\n\t${objects[4]}  `);
        expect(res2).toMatchObject({ status: 200, json: { accepted: 2, rejected: 0 } });
        expect((await readBack(served.url, n)).map((r) => r.log)).toEqual([
          'x {braces} "quotes" \\',
          'y {braces} "quotes" \\',
          'z {braces} "quotes" \\',
          'u {braces} "quotes" \\',
          'v {braces} "quotes" \\',
        ]);
      });

      test("json_stream: a broken object costs only itself", async () => {
        const n = unique();
        const good = (log: string, i: number) => JSON.stringify(fbRecord({ namespace: n, log, time: `2026-05-03T12:00:0${i}Z` }));
        const res = await write(served.url, `${good("one", 1)}\n{"log": "broken\n${good("two", 2)}`);
        expect(res.status).toBe(200);
        expect(res.json).toMatchObject({ accepted: 2, rejected: 1 });
        expect((res.json.errors as { reason: string }[])[0]!.reason).toBe("unreadable");
        expect((await readBack(served.url, n)).map((r) => r.log)).toEqual(["one", "two"]);
      });

      test("json_stream: a stray scalar between objects costs only itself", async () => {
        // [between the objects, the reason it is refused]: a whole scalar is a value that is not
        // a record; a broken literal is unreadable text. Either way the next object is kept.
        const cases: [string, string][] = [
          ["42", "not_an_object"],
          ['"str"', "not_an_object"],
          [' "with \\"escapes\\" and {braces}" ', "not_an_object"],
          [" true ", "not_an_object"],
          ["null", "not_an_object"],
          ["-1.5e3", "not_an_object"],
          ["nul", "unreadable"],
          ["}", "unreadable"],
        ];
        for (const [between, reason] of cases) {
          const n = unique();
          const good = (log: string, i: number) =>
            JSON.stringify(fbRecord({ namespace: n, log, time: `2026-05-03T12:00:0${i}Z` }));
          const res = await write(served.url, `${good("before", 1)}${between}${good("after", 2)}`);
          expect(res.status, between).toBe(200);
          expect(res.json, between).toMatchObject({ accepted: 2, rejected: 1 });
          expect(
            (res.json.errors as { reason: string }[]).map((e) => e.reason),
            between,
          ).toEqual([reason]);
          expect(
            (await readBack(served.url, n)).map((r) => r.log),
            between,
          ).toEqual(["before", "after"]);
        }
      });

      test("msgpack: [[EventTime, {metadata}], record] keeps the EventTime's nanoseconds", async () => {
        const n = unique();
        const body = concat(
          msgpackEntry(T_SECONDS, 94408152, untimed(fbRecord({ namespace: n, log: "first" }))),
          msgpackEntry(T_SECONDS, 999999999, untimed(fbRecord({ namespace: n, log: "second", stream: "stderr" })), {
            otlp: { x: 1 },
          }),
        );
        const res = await write(served.url, body, { "content-type": "application/msgpack" });
        expect(res).toMatchObject({ status: 200, json: { accepted: 2, rejected: 0 } });
        expect(await readBack(served.url, n)).toEqual([
          { time: "2026-05-03T12:04:57.094408152Z", log: "first", stream: "stdout" },
          { time: "2026-05-03T12:04:57.999999999Z", log: "second", stream: "stderr" },
        ]);
      });

      test("msgpack: the older [time, record] form with integer, float and EventTime times", async () => {
        const n = unique();
        const rec = (log: string) => untimed(fbRecord({ namespace: n, log }));
        const body = concat(
          msgpackLegacyEntry(T_SECONDS, rec("integer")),
          msgpackLegacyEntry(T_SECONDS + 0.25, rec("float")),
          msgpackLegacyEntry(eventTime(T_SECONDS + 1, 7), rec("eventtime")),
        );
        const res = await write(served.url, body, { "content-type": "application/x-msgpack" });
        expect(res).toMatchObject({ status: 200, json: { accepted: 3, rejected: 0 } });
        expect((await readBack(served.url, n)).map((r) => [r.log, r.time])).toEqual([
          ["integer", "2026-05-03T12:04:57Z"],
          ["float", "2026-05-03T12:04:57.25Z"],
          ["eventtime", "2026-05-03T12:04:58.000000007Z"],
        ]);
      });

      test("msgpack: the record's time refines an event time of lower precision; without Content-Type the body is sniffed", async () => {
        const n = unique();
        const body = concat(msgpackLegacyEntry(T_SECONDS, fbRecord({ namespace: n, log: "refined", time: TIME })));
        const res = await write(served.url, body, {});
        expect(res).toMatchObject({ status: 200, json: { accepted: 1 } });
        expect((await readBack(served.url, n))[0]!.time).toBe(TIME);
      });

      test("msgpack: a log sent as binary is read as UTF-8", async () => {
        const n = unique();
        const record = { ...fbRecord({ namespace: n }), log: new TextEncoder().encode("bytes: é ✓") };
        const res = await write(served.url, msgpackEntry(T_SECONDS, 5, record), { "content-type": "application/msgpack" });
        expect(res).toMatchObject({ status: 200, json: { accepted: 1 } });
        expect((await readBack(served.url, n))[0]!.log).toBe("bytes: é ✓");
      });
    });

    describe("date key and date formats", () => {
      // Fluent Bit's json_date_format: double, epoch, epoch_ms, iso8601, java_sql_timestamp.
      const cases: [string, unknown, string, string][] = [
        // [name, date value, record time, expected]
        ["double, agreeing to the microsecond", 1777809897.094408, TIME, TIME],
        ["double, disagreeing", 1777809897.5, TIME, "2026-05-03T12:04:57.5Z"],
        ["iso8601, agreeing", "2026-05-03T12:04:57.094408Z", TIME, TIME],
        ["iso8601, disagreeing", "2026-05-03T12:05:00.000001Z", TIME, "2026-05-03T12:05:00.000001Z"],
        ["epoch seconds, agreeing to the second", 1777809897, TIME, TIME],
        ["epoch seconds, disagreeing", 1777809890, TIME, "2026-05-03T12:04:50Z"],
        ["epoch_ms, agreeing to the millisecond", 1777809897094, TIME, TIME],
        ["epoch_ms, disagreeing", 1777809897123, TIME, "2026-05-03T12:04:57.123Z"],
        ["java_sql_timestamp, agreeing", "2026-05-03 12:04:57.094408", TIME, TIME],
        ["java_sql_timestamp, disagreeing", "2026-05-03 12:04:57.100000", TIME, "2026-05-03T12:04:57.1Z"],
        ["double as text", "1777809897.250000", "not a time", "2026-05-03T12:04:57.25Z"],
      ];
      for (const [name, date, time, expected] of cases) {
        test(name, async () => {
          const n = unique();
          const res = await write(served.url, JSON.stringify([fbRecord({ namespace: n, date, time })]));
          expect(res).toMatchObject({ status: 200, json: { accepted: 1, rejected: 0 } });
          expect((await readBack(served.url, n))[0]!.time).toBe(expected);
        });
      }

      test("no date key: the record's time is used", async () => {
        const n = unique();
        await write(served.url, JSON.stringify([fbRecord({ namespace: n, time: "2026-05-03T12:04:57.000000001+02:00" })]));
        expect((await readBack(served.url, n))[0]!.time).toBe("2026-05-03T10:04:57.000000001Z");
      });

      test("a renamed date key (--date-key), and --date-key false", async () => {
        const n = unique();
        const renamed = server({ dateKey: "@timestamp" });
        const rec = { ...fbRecord({ namespace: n, log: "renamed", time: TIME }), "@timestamp": 1777809999.5, date: 1 };
        expect((await write(renamed, JSON.stringify([rec]))).json).toMatchObject({ accepted: 1 });
        expect((await readBack(served.url, n))[0]!.time).toBe("2026-05-03T12:06:39.5Z");
        const none = server({ dateKey: "" });
        const m = unique();
        expect((await write(none, JSON.stringify([fbRecord({ namespace: m, date: 5, time: TIME })]))).json).toMatchObject({
          accepted: 1,
        });
        expect((await readBack(served.url, m))[0]!.time).toBe(TIME);
      });
    });

    describe("encodings", () => {
      const json = (n: string, log: string) =>
        new TextEncoder().encode(JSON.stringify([fbRecord({ namespace: n, log, time: TIME })]));
      const encoders: [string, (b: Uint8Array) => Uint8Array][] = [
        ["gzip", (b) => zlib.gzipSync(b)],
        ["x-gzip", (b) => zlib.gzipSync(b)],
        ["zstd", (b) => zlib.zstdCompressSync(b)],
        ["snappy", (b) => SnappyJS.compress(b)],
        ["deflate", (b) => zlib.deflateSync(b)],
        ["br", (b) => zlib.brotliCompressSync(b)],
        ["identity", (b) => b],
        ["none", (b) => b],
        ["GZIP", (b) => zlib.gzipSync(b)],
      ];
      for (const [encoding, encode] of encoders) {
        test(`Content-Encoding: ${encoding}`, async () => {
          const n = unique();
          const res = await write(served.url, encode(json(n, `via ${encoding}`)), {
            "content-type": "application/json",
            "content-encoding": encoding,
          });
          expect(res).toMatchObject({ status: 200, json: { accepted: 1 } });
          expect((await readBack(served.url, n))[0]!.log).toBe(`via ${encoding}`);
        });
      }

      test("deflate without the zlib wrapper (raw), and msgpack inside gzip", async () => {
        const n = unique();
        expect(
          (
            await write(served.url, zlib.deflateRawSync(json(n, "raw")), {
              "content-type": "application/json",
              "content-encoding": "deflate",
            })
          ).status,
        ).toBe(200);
        const mp = msgpackEntry(T_SECONDS, 1, untimed(fbRecord({ namespace: n, log: "mp" })));
        expect(
          (await write(served.url, zlib.gzipSync(mp), { "content-type": "application/msgpack", "content-encoding": "gzip" }))
            .status,
        ).toBe(200);
        expect((await readBack(served.url, n)).map((r) => r.log).sort()).toEqual(["mp", "raw"]);
      });

      test("an unknown encoding is 415 naming it", async () => {
        const res = await write(served.url, "xx", { "content-type": "application/json", "content-encoding": "lz4" });
        expect(res.status).toBe(415);
        expect(res.json).toMatchObject({ message: "unsupported Content-Encoding: lz4" });
        expect(res.json.detail).toContain("gzip");
      });

      test("a body that is not what its encoding says is 400", async () => {
        for (const encoding of ["gzip", "zstd", "snappy", "deflate", "br"]) {
          const res = await write(served.url, "this is not compressed at all", {
            "content-type": "application/json",
            "content-encoding": encoding,
          });
          expect(res.status).toBe(400);
          expect(res.json.message as string).toContain(encoding);
        }
      });
    });

    describe("size caps", () => {
      test("a body over --max-body-size is 413, declared or streamed", async () => {
        const small = server({ maxBodySize: 1000 });
        const big = JSON.stringify([fbRecord({ namespace: unique(), log: "x".repeat(2000) })]);
        const declared = await write(small, big);
        expect(declared.status).toBe(413);
        expect(declared.json.detail).toContain("--max-body-size");
        const chunks = new TextEncoder().encode(big);
        const stream = new ReadableStream<Uint8Array>({
          start(c) {
            for (let i = 0; i < chunks.length; i += 300) c.enqueue(chunks.subarray(i, i + 300));
            c.close();
          },
        });
        const res = await fetch(`${small}/write`, {
          method: "POST",
          body: stream,
          headers: { "content-type": "application/json" },
          duplex: "half",
        } as RequestInit);
        expect(res.status).toBe(413);
      });

      test("decompression bombs stop at --max-decompressed-size (413), for every encoding", async () => {
        const capped = server({ maxDecompressedSize: 1024 * 1024 });
        const zeros = new Uint8Array(64 * 1024 * 1024);
        const bombs: [string, Uint8Array][] = [
          ["gzip", zlib.gzipSync(zeros)],
          ["zstd", zlib.zstdCompressSync(zeros)],
          ["deflate", zlib.deflateSync(zeros)],
          ["br", zlib.brotliCompressSync(zeros)],
          ["snappy", SnappyJS.compress(zeros.subarray(0, 8 * 1024 * 1024))],
        ];
        for (const [encoding, bomb] of bombs) {
          expect(bomb.byteLength).toBeLessThan(1024 * 1024);
          const res = await write(capped, bomb, { "content-type": "application/json", "content-encoding": encoding });
          expect(res.status).toBe(413);
          expect(res.json.detail).toContain("--max-decompressed-size");
        }
      });

      test("a snappy header that declares a huge size is refused before allocating", async () => {
        // varint 0xffffffff: 4 GiB declared, 6 bytes sent.
        const res = await write(served.url, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]), {
          "content-type": "application/json",
          "content-encoding": "snappy",
        });
        expect(res.status).toBe(413);
      });

      test("memory stays bounded under a 1 GiB gzip bomb", async () => {
        const chunk = zlib.gzipSync(new Uint8Array(64 * 1024 * 1024));
        const bomb = concat(...Array.from({ length: 16 }, () => chunk)); // 1 GiB, multi-member
        Bun.gc(true);
        const before = process.memoryUsage.rss();
        let peak = before;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
        const res = await write(served.url, bomb, { "content-type": "application/json", "content-encoding": "gzip" });
        clearInterval(sampler);
        peak = Math.max(peak, process.memoryUsage.rss());
        expect(res.status).toBe(413);
        // The default cap is 64 MiB: growth stays near it, nowhere near the bomb's 1 GiB.
        expect(peak - before).toBeLessThan(300 * 1024 * 1024);
      });
    });

    describe("credentials", () => {
      const auth = { authBasic: "fluent:s3cret: with spaces", authToken: "tok-123" };
      const basic = (cred: string) => `Basic ${Buffer.from(cred).toString("base64")}`;
      const body = (n: string) => JSON.stringify([fbRecord({ namespace: n, time: TIME })]);

      test("writes and queries need valid basic or bearer credentials; health and metrics stay open", async () => {
        const protectedUrl = server(auth);
        const n = unique();
        for (const header of [
          undefined,
          basic("fluent:wrong"),
          basic("fluent"),
          "Bearer nope",
          "Bearer",
          "Digest x",
          basic("fluent:s3cret: with spaces "),
        ]) {
          const headers: Record<string, string> = { "content-type": "application/json" };
          if (header) headers.authorization = header;
          const res = await write(protectedUrl, body(n), headers);
          expect(res.status).toBe(401);
          expect(res.json).toMatchObject({ message: "unauthorized" });
          expect(res.headers.get("www-authenticate")).toContain("Basic");
        }
        expect(
          (await write(protectedUrl, body(n), { "content-type": "application/json", authorization: basic(auth.authBasic) }))
            .status,
        ).toBe(200);
        expect(
          (await write(protectedUrl, body(n), { "content-type": "application/json", authorization: "Bearer tok-123" })).status,
        ).toBe(200);
        const q = `${protectedUrl}/query?namespace=${n}&pod_name=web-1&container_name=nginx&start_time=2026-05-03T00:00:00Z`;
        expect((await fetch(q)).status).toBe(401);
        expect((await fetch(q, { headers: { authorization: "Bearer tok-123" } })).status).toBe(200);
        expect((await fetch(`${protectedUrl}/write`)).status).toBe(200);
        expect((await fetch(`${protectedUrl}/metrics`)).status).toBe(200);
      });

      test("--auth-protect-all also guards the health probe, metrics and docs", async () => {
        const all = server({ ...auth, authProtectAll: true });
        for (const path of ["/write", "/metrics", "/swagger", "/swagger/json"]) {
          expect((await fetch(`${all}${path}`)).status).toBe(401);
          expect((await fetch(`${all}${path}`, { headers: { authorization: "Bearer tok-123" } })).status).toBe(200);
        }
      });
    });
  });
}
