// Malformed, oversized and hostile input, end to end through a real server on each store: every
// request gets a clear answer ({message, detail} on 4xx), valid neighbours are kept, and the
// server keeps serving.
import { describe, expect, test } from "bun:test";
import { pack } from "msgpackr";
import * as zlib from "node:zlib";
import { fbRecord, unique } from "../helpers.ts";
import { servedStore, storesUnderTest } from "../stores.ts";
import { concat, msgpackEntry, readBack, write } from "./vectors.ts";

const TIME = "2026-05-03T12:04:57.094408152Z";

for (const s of storesUnderTest("hostile")) {
  describe(`hostile input on the ${s.name} store`, () => {
    const served = servedStore(s);
    const server = served.server;

    /** After every hostile request the server must still answer. */
    async function stillServing() {
      const res = await fetch(`${served.url}/write`);
      expect(res.status).toBe(200);
    }

    test("invalid UTF-8 inside a line is stored with replacement characters, not refused", async () => {
      const n = unique();
      const prefix = new TextEncoder().encode(`[${JSON.stringify(fbRecord({ namespace: n, log: "@@", time: TIME }))}]`);
      const at = prefix.indexOf(0x40); // the first '@'
      const body = concat(prefix.subarray(0, at), new Uint8Array([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]), prefix.subarray(at + 2));
      const res = await write(served.url, body);
      expect(res).toMatchObject({ status: 200, json: { accepted: 1, rejected: 0 } });
      const line = (await readBack(served.url, n))[0]!.log;
      expect(line).toContain("\uFFFD");
      expect(line).toContain("(");
    });

    test("huge and odd numbers in timestamps are rejected records, not errors", async () => {
      const n = unique();
      const body = `[${JSON.stringify(fbRecord({ namespace: n, log: "ok", time: TIME }))},
        ${JSON.stringify(fbRecord({ namespace: n })).replace("{", '{"date":1e400,')},
        ${JSON.stringify(fbRecord({ namespace: n, date: 1e30 }))},
        ${JSON.stringify(fbRecord({ namespace: n, date: -5 }))},
        ${JSON.stringify(fbRecord({ namespace: n, date: 123456789012345678901234567890 }))},
        ${JSON.stringify({ ...fbRecord({ namespace: n }), time: "99999-01-01T00:00:00Z" })},
        ${JSON.stringify({ ...fbRecord({ namespace: n }), time: 12345 })}]`;
      const res = await write(served.url, body);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ accepted: 1, rejected: 6 });
      expect((await readBack(served.url, n)).map((r) => r.log)).toEqual(["ok"]);
    });

    test("deep nesting: a 200,000-deep JSON body, a deep label and a deep msgpack body", async () => {
      const deepJson = "[".repeat(200_000) + "]".repeat(200_000);
      const a = await write(served.url, deepJson);
      expect(a.status).toBe(200);
      expect(a.json).toMatchObject({ accepted: 0, rejected: 1 });
      const n = unique();
      const deepLabel = `[${JSON.stringify(fbRecord({ namespace: n, log: "neighbour", time: TIME }))},${JSON.stringify(fbRecord({ namespace: n, labels: { x: "__DEEP__" } })).replace('"__DEEP__"', "[".repeat(100_000) + "]".repeat(100_000))}]`;
      const b = await write(served.url, deepLabel);
      expect(b.status).toBe(200);
      expect(b.json).toMatchObject({ accepted: 1, rejected: 1 });
      const deepMsgpack = new Uint8Array(200_001).fill(0x91);
      deepMsgpack[200_000] = 0xc0;
      const c = await write(served.url, deepMsgpack, { "content-type": "application/msgpack" });
      expect(c.status).toBe(400);
      expect(c.json).toMatchObject({ message: "failed to parse request" });
      expect((await readBack(served.url, n)).map((r) => r.log)).toEqual(["neighbour"]);
      await stillServing();
    });

    test("null fields", async () => {
      const n = unique();
      const k8s = (over: Record<string, unknown>) => ({ ...(fbRecord({ namespace: n }).kubernetes as object), ...over });
      const records = [
        null,
        { ...fbRecord({ namespace: n }), kubernetes: null },
        { ...fbRecord({ namespace: n }), kubernetes: k8s({ namespace_name: null }) },
        { ...fbRecord({ namespace: n }), log: null },
        { ...fbRecord({ namespace: n }), time: null },
        {
          ...fbRecord({ namespace: n, log: "kept", time: TIME }),
          stream: null,
          kubernetes: k8s({ labels: null, host: null, pod_id: null, docker_id: null }),
        },
      ];
      const res = await write(served.url, JSON.stringify(records));
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ accepted: 1, rejected: 5 });
      expect((res.json.errors as { reason: string }[]).map((e) => e.reason)).toEqual([
        "not_an_object",
        "missing_namespace",
        "missing_namespace",
        "missing_log",
        "missing_timestamp",
      ]);
      expect(await readBack(served.url, n)).toEqual([{ time: TIME, log: "kept", stream: "" }]);
    });

    test("non-string labels, prototype-like keys and duplicate keys", async () => {
      const n = unique();
      const labels = { count: 3, on: true, nested: { a: [1, 2] }, none: null, __proto__x: "p", constructor: "c" };
      const rec = JSON.stringify(fbRecord({ namespace: n, log: "first", time: TIME, labels }));
      const withProto = rec.replace('"__proto__x"', '"__proto__"');
      const duplicate = rec.replace('"log":"first"', '"log":"first","log":"second"');
      const res = await write(served.url, `[${withProto},${duplicate}]`);
      expect(res).toMatchObject({ status: 200, json: { accepted: 2, rejected: 0 } });
      expect((await readBack(served.url, n)).map((r) => r.log)).toEqual(["first", "second"]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    test("names longer than Kubernetes allows are rejected records", async () => {
      const n = unique();
      const res = await write(
        served.url,
        JSON.stringify([fbRecord({ namespace: n, pod: "p".repeat(70_000) }), fbRecord({ namespace: n, log: "ok", time: TIME })]),
      );
      expect(res).toMatchObject({ status: 200, json: { accepted: 1, rejected: 1 } });
      expect((res.json.errors as { reason: string }[])[0]!.reason).toBe("invalid_field");
    });

    test("a 10 MB single line: rejected over --max-line-size, stored whole under a larger cap", async () => {
      const n = unique();
      const line = "0123456789abcdef".repeat(655_360); // 10 MiB
      const body = JSON.stringify([
        fbRecord({ namespace: n, log: line, time: TIME }),
        fbRecord({ namespace: n, log: "small", time: "2026-05-03T12:05:00Z" }),
      ]);
      const res = await write(served.url, body);
      expect(res).toMatchObject({ status: 200, json: { accepted: 1, rejected: 1 } });
      expect((res.json.errors as { reason: string; detail: string }[])[0]).toMatchObject({ reason: "line_too_long" });
      const roomy = server({ maxLineSize: 12 * 1024 * 1024, maxBodySize: 32 * 1024 * 1024 });
      const big = await write(roomy, body);
      expect(big).toMatchObject({ status: 200, json: { accepted: 2, rejected: 0 } });
      const rows = await readBack(served.url, n);
      expect(rows.map((r) => r.log.length)).toEqual([line.length, 5]);
      expect(rows[0]!.log === line).toBe(true);
    }, 60_000);

    test("an empty array, an empty body, whitespace", async () => {
      for (const body of ["[]", "", " \n\t "]) {
        expect(await write(served.url, body)).toMatchObject({ status: 200, json: { accepted: 0, rejected: 0 } });
      }
    });

    test("a slow client gets 408 once --body-timeout passes, and the server stays responsive", async () => {
      const slow = server({ bodyTimeoutSeconds: 1 });
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await Bun.sleep(300);
          controller.enqueue(new TextEncoder().encode(" "));
        },
      });
      const pending = fetch(`${slow}/write`, {
        method: "POST",
        body: stream,
        headers: { "content-type": "application/json" },
        duplex: "half",
      } as RequestInit);
      await stillServing();
      const res = await pending;
      expect(res.status).toBe(408);
      expect(await res.json()).toMatchObject({ message: "request body too slow" });
    }, 20_000);

    test("truncated bodies: gzip cut short is 400; msgpack cut short keeps the whole entries before the cut", async () => {
      const n = unique();
      const gz = zlib.gzipSync(JSON.stringify([fbRecord({ namespace: n, time: TIME })]));
      const a = await write(served.url, gz.subarray(0, gz.length - 10), {
        "content-type": "application/json",
        "content-encoding": "gzip",
      });
      expect(a.status).toBe(400);
      expect(a.json.message).toBe("body is not valid gzip data");
      const entries = concat(
        msgpackEntry(1777809897, 1, fbRecord({ namespace: n, log: "whole" })),
        msgpackEntry(1777809898, 2, fbRecord({ namespace: n, log: "cut" })),
      );
      const b = await write(served.url, entries.subarray(0, entries.length - 20), { "content-type": "application/msgpack" });
      expect(b.status).toBe(200);
      expect(b.json).toMatchObject({ accepted: 1, rejected: 1 });
      expect((b.json.errors as { reason: string }[])[0]!.reason).toBe("unreadable");
      expect((await readBack(served.url, n)).map((r) => r.log)).toEqual(["whole"]);
    });

    test("bodies that are not what they claim", async () => {
      const cases: [string | Uint8Array, Record<string, string>][] = [
        [new Uint8Array([0xc1, 0xc1, 0xc1]), { "content-type": "application/msgpack" }],
        ['[{"log": "x"}]', { "content-type": "application/msgpack" }],
        [pack([1, 2, 3]).subarray(0, 2), { "content-type": "application/json" }],
        ["<xml>no</xml>", { "content-type": "text/xml" }],
        ["{not json", { "content-type": "application/x-ndjson" }],
      ];
      for (const [body, headers] of cases) {
        const res = await write(served.url, body, headers);
        expect([200, 400]).toContain(res.status);
        if (res.status === 400) {
          expect(typeof res.json.message).toBe("string");
          expect(typeof res.json.detail).toBe("string");
        } else {
          expect(res.json.accepted).toBe(0);
        }
      }
      await stillServing();
    });

    test("random bodies, content types and encodings never crash the server or get a 5xx", async () => {
      let seed = 42;
      const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
      const types = ["application/json", "application/x-ndjson", "application/msgpack", "", "text/plain"];
      const encodings = ["", "gzip", "zstd", "snappy", "deflate", "br"];
      const seeds = [JSON.stringify([fbRecord({ namespace: "fuzz", time: TIME })]), "[", "{", "\u0000", "[[[[{"];
      for (let i = 0; i < 200; i++) {
        const base = new TextEncoder().encode(seeds[i % seeds.length]!);
        const body = new Uint8Array(Math.floor(random() * 300) + base.length);
        body.set(base);
        for (let j = base.length; j < body.length; j++) body[j] = Math.floor(random() * 256);
        // Flip a few bytes of the valid prefix too.
        for (let k = 0; k < 3; k++) body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
        const headers: Record<string, string> = {};
        const type = types[Math.floor(random() * types.length)]!;
        const encoding = encodings[Math.floor(random() * encodings.length)]!;
        if (type) headers["content-type"] = type;
        if (encoding) headers["content-encoding"] = encoding;
        const res = await write(served.url, body, headers);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(Object.keys(res.json).sort()).toEqual(["detail", "message"]);
      }
      await stillServing();
    }, 60_000);

    test("20,000 records in one body are all stored", async () => {
      const n = unique();
      const base = Date.UTC(2026, 4, 3, 12);
      const records = Array.from({ length: 20_000 }, (_, i) =>
        fbRecord({ namespace: n, log: `r${i}`, time: new Date(base + i).toISOString() }),
      );
      const res = await write(served.url, JSON.stringify(records));
      expect(res).toMatchObject({ status: 200, json: { accepted: 20_000, rejected: 0 } });
      const rows = await readBack(served.url, n);
      expect(rows.length).toBe(20_000);
      expect(rows[19_999]!.log).toBe("r19999");
    }, 60_000);
  });
}
