// Malformed, oversized and hostile input, end to end through a real server on each store: every
// request gets a clear answer ({message, detail} on 4xx), valid neighbours are kept, and the
// server keeps serving.
import { describe, expect, test } from "bun:test";
import { pack } from "msgpackr";
import * as zlib from "node:zlib";
import { fbRecord, unique } from "../helpers.ts";
import { servedStore, storesUnderTest } from "../stores.ts";
import { concat, eventTime, msgpackEntry, msgpackExt, packWith, readBack, write } from "./vectors.ts";

const TIME = "2026-05-03T12:04:57.094408152Z";

/** A record without its `time` key: the msgpack envelope carries the time. */
function untimed(record: Record<string, unknown>): Record<string, unknown> {
  const { time: _time, ...rest } = record;
  return rest;
}

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

    test("non-string labels, prototype-like keys and duplicate keys are stored as data", async () => {
      const n = unique();
      const labels = { count: 3, on: true, nested: { a: [1, 2] }, none: null, __proto__x: "p", constructor: "c" };
      const rec = JSON.stringify(fbRecord({ namespace: n, log: "first", time: TIME, labels }));
      const withProto = rec.replace('"__proto__x"', '"__proto__"');
      const strings = JSON.stringify(
        fbRecord({
          namespace: n,
          log: "strings",
          time: "2026-05-03T12:04:58Z",
          labels: { app: "web", __proto__x: "q", toString: "t" },
        }),
      ).replace('"__proto__x"', '"__proto__"');
      const duplicate = rec.replace('"log":"first"', '"log":"first","log":"second"').replace(TIME, "2026-05-03T12:04:59Z");
      const res = await write(served.url, `[${withProto},${strings},${duplicate}]`);
      expect(res).toMatchObject({ status: 200, json: { accepted: 3, rejected: 0 } });
      expect((await readBack(served.url, n)).map((r) => r.log)).toEqual(["first", "strings", "second"]);
      // Read back from the store itself: every key is a label, with its value as text.
      const stored = await s.labelsOf({ namespace: n, pod: "web-1", container: "nginx" });
      const pairs = (m: Record<string, string>) => JSON.stringify(Object.entries(m).sort());
      const common = [
        ["constructor", "c"],
        ["count", "3"],
        ["nested", '{"a":[1,2]}'],
        ["on", "true"],
      ];
      expect(stored.map(pairs).sort()).toEqual(
        [
          [["__proto__", "p"], ...common],
          [
            ["__proto__", "q"],
            ["app", "web"],
            ["toString", "t"],
          ],
          [["__proto__x", "p"], ...common],
        ]
          .map((p) => JSON.stringify(p.sort()))
          .sort(),
      );
    });

    test("a msgpack label named __proto__ is kept as data (renamed __proto_ by msgpackr)", async () => {
      const n = unique();
      const labels: Record<string, unknown> = { app: "web" };
      Object.defineProperty(labels, "__proto__", { value: "p", enumerable: true });
      const body = msgpackEntry(1777809897, 1, fbRecord({ namespace: n, log: "packed", labels }));
      const res = await write(served.url, body, { "content-type": "application/msgpack" });
      expect(res).toMatchObject({ status: 200, json: { accepted: 1, rejected: 0 } });
      // msgpackr's own guard against prototype pollution renames the key; Kubernetes label keys
      // cannot start with "_", so no real label meets it.
      const stored = await s.labelsOf({ namespace: n, pod: "web-1", container: "nginx" });
      expect(stored.map((m) => Object.entries(m).sort())).toEqual([
        [
          ["__proto_", "p"],
          ["app", "web"],
        ],
      ]);
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
      const n = unique();
      // 0xc1 is the one byte msgpack never uses: the body holds no value at all, so nothing can
      // be kept and the client must hear the body is bad (400), not that three records lacked a
      // namespace (msgpackr reads 0xc1 as a marker object).
      const a = await write(served.url, new Uint8Array([0xc1, 0xc1, 0xc1]), { "content-type": "application/msgpack" });
      expect(a.status).toBe(400);
      expect(a.json).toEqual({ message: "failed to parse request", detail: "byte 0 is 0xc1, which msgpack never uses" });

      // The Content-Type decides the format. Read as msgpack, every byte of this ASCII text is a
      // positive fixint, so the body is 14 well-formed msgpack values; none is a record, so each
      // is refused on its own (not_an_object) and the answer says so: 200, 0 accepted, 14 rejected.
      const jsonText = `[{"log": "x"}]`;
      const b = await write(served.url, jsonText, { "content-type": "application/msgpack" });
      expect(b.status).toBe(200);
      expect(b.json).toMatchObject({ accepted: 0, rejected: jsonText.length });
      expect(new Set((b.json.errors as { reason: string }[]).map((e) => e.reason))).toEqual(new Set(["not_an_object"]));

      // Claimed JSON and not JSON (half a msgpack array, then markup): no record can be found in
      // it, so the whole body is refused as unparsable.
      for (const [body, type] of [
        [pack([1, 2, 3]).subarray(0, 2), "application/json"],
        ["<xml>no</xml>", "text/xml"],
      ] as const) {
        const res = await write(served.url, body, { "content-type": type });
        expect(res.status).toBe(400);
        expect(res.json.message).toBe("failed to parse request");
        expect(res.json.detail).toStartWith("body is not valid JSON: ");
      }

      // json_lines whose only line is broken: one unreadable part and no record, which is a bad
      // body (400) rather than a batch of zero (a broken line among good ones costs only itself).
      const e = await write(served.url, "{not json", { "content-type": "application/x-ndjson" });
      expect(e.status).toBe(400);
      expect(e.json.message).toBe("failed to parse request");
      expect(e.json.detail).toStartWith("value at character 0 is not valid JSON: ");

      expect(await readBack(served.url, n)).toEqual([]);
      await stillServing();
    });

    test("msgpack extension values of unknown types cost only their own record", async () => {
      for (const type of [1, 5, 127, -2, -128]) {
        for (const bad of [0, 1, 2]) {
          for (const role of ["time", "log", "label"] as const) {
            const n = unique();
            const rec = (log: string, labels?: unknown) => untimed(fbRecord({ namespace: n, log, labels }));
            const ext = msgpackExt(type, 3);
            const entries = [0, 1, 2].map((i) => {
              if (i !== bad) return msgpackEntry(1777809897, i, rec(`good-${i}`));
              if (role === "time") return concat(new Uint8Array([0x92, 0x92]), ext, pack({}), pack(rec("bad")));
              const record = role === "log" ? rec("__EXT__") : rec("labelled", { app: "web", odd: "__EXT__" });
              return concat(new Uint8Array([0x92, 0x92]), eventTime(1777809897, i), pack({}), packWith(record, "__EXT__", ext));
            });
            const res = await write(served.url, concat(...entries), { "content-type": "application/msgpack" });
            const where = `type ${type}, entry ${bad}, as the ${role}`;
            expect(res.status, where).toBe(200);
            const stored = (await readBack(served.url, n)).map((r) => r.log);
            if (role === "label") {
              // Kept, the label as text: all three are stored.
              expect(res.json, where).toMatchObject({ accepted: 3, rejected: 0 });
              expect(stored, where).toEqual([0, 1, 2].map((i) => (i === bad ? "labelled" : `good-${i}`)));
            } else {
              expect(res.json, where).toMatchObject({ accepted: 2, rejected: 1 });
              expect(res.json.errors, where).toMatchObject([
                { index: bad, reason: role === "time" ? "invalid_timestamp" : "invalid_field" },
              ]);
              expect(stored, where).toEqual([0, 1, 2].filter((i) => i !== bad).map((i) => `good-${i}`));
            }
          }
        }
      }
      await stillServing();
    }, 60_000);

    test("truncated zstd, gzip, deflate, raw deflate and br bodies are 400, never a partial body", async () => {
      const n = unique();
      // Enough lines for several compressed blocks, so that cuts fall between and inside blocks.
      const lines = Array.from({ length: 2500 }, (_, i) =>
        JSON.stringify(fbRecord({ namespace: n, log: `line ${i} ${"x".repeat(i % 97)} ${(i * 7919) % 10007}`, time: TIME })),
      );
      const body = new TextEncoder().encode(lines.join("\n"));
      const encoders: [string, (b: Uint8Array) => Uint8Array][] = [
        ["zstd", (b) => zlib.zstdCompressSync(b)],
        ["deflate", (b) => zlib.deflateSync(b)],
        ["deflate", (b) => zlib.deflateRawSync(b)],
        ["br", (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } })],
        ["gzip", (b) => zlib.gzipSync(b)],
      ];
      for (const [encoding, encode] of encoders) {
        const whole = encode(body);
        for (const cut of [1, 2, 3, 4, 9, 100, Math.floor(whole.length / 2), whole.length - 6]) {
          const res = await write(served.url, whole.subarray(0, whole.length - cut), {
            "content-type": "application/x-ndjson",
            "content-encoding": encoding,
          });
          expect(res.status, `${encoding} without its last ${cut} bytes`).toBe(400);
          expect(res.json.message).toBe(`body is not valid ${encoding} data`);
        }
      }
      expect(await readBack(served.url, n)).toEqual([]);
    }, 60_000);

    test("a zstd frame missing its last block, or with bytes after it, is 400", async () => {
      const n = unique();
      const line = (log: string) => new TextEncoder().encode(`${JSON.stringify(fbRecord({ namespace: n, log, time: TIME }))}\n`);
      const rawBlock = (data: Uint8Array, last: boolean) => {
        const header = (data.length << 3) | (last ? 1 : 0); // block type 0: raw
        return concat(new Uint8Array([header & 0xff, (header >> 8) & 0xff, header >> 16]), data);
      };
      // The same two lines in each frame, but for their log ("a"/"b" prefixes): identical lines
      // would be stored once.
      const frames: [string, (size: number) => Uint8Array][] = [
        // No content size in the header (descriptor 0x00, window descriptor 0x58: 8 MiB window):
        // only the missing last-block flag tells the frame is cut short.
        ["without content size", () => new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58])],
        // Single segment with a 2-byte content size (stored minus 256).
        ["with content size", (size) => new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x60, (size - 256) & 0xff, (size - 256) >> 8])],
      ];
      const headers = { "content-type": "application/x-ndjson", "content-encoding": "zstd" };
      for (const [name, frameHeader] of frames) {
        const first = line(`first ${name}`);
        const second = line(`second ${name}`);
        const header = frameHeader(first.length + second.length);
        const whole = concat(header, rawBlock(first, false), rawBlock(second, true));
        // The hand-built frame is valid zstd.
        const text = new TextDecoder();
        expect(text.decode(zlib.zstdDecompressSync(whole))).toBe(text.decode(concat(first, second)));
        const cut = await write(served.url, concat(header, rawBlock(first, false)), headers);
        expect(cut.status, name).toBe(400);
        expect(cut.json.message).toBe("body is not valid zstd data");
        const trailing = await write(served.url, concat(whole, new TextEncoder().encode("garbage")), headers);
        expect(trailing.status, name).toBe(400);
        expect(trailing.json.message).toBe("body is not valid zstd data");
        const ok = await write(served.url, whole, headers);
        expect(ok, name).toMatchObject({ status: 200, json: { accepted: 2, rejected: 0 } });
      }
      // The two whole frames, and nothing of the refused ones.
      expect((await readBack(served.url, n)).map((r) => r.log).sort()).toEqual(
        frames.flatMap(([name]) => [`first ${name}`, `second ${name}`]).sort(),
      );
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
