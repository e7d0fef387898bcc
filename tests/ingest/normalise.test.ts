// Decoding and normalisation without a server: the per-record rules (timestamp range, msgpack
// extension values) through decodeRecords and normalise, the two steps on the ingest hot path.
import { describe, expect, test } from "bun:test";
import { pack } from "msgpackr";
import { decodeRecords, endOfMsgpackValue, type DecodedRecords } from "../../src/ingest/formats.ts";
import { normalise } from "../../src/ingest/fluentbit.ts";
import { decodeWriteRequest } from "../../src/ingest/ingest.ts";
import { parseRetentionRules, RetentionPolicy } from "../../src/store/retention.ts";
import { formatRfc3339Nano, MAX_TIME_NS, nowNs } from "../../src/time.ts";
import { fbRecord, post } from "../helpers.ts";
import { concat, eventTime, msgpackEntry, msgpackExt, msgpackLegacyEntry, packWith } from "./vectors.ts";

const OPTIONS = { dateKey: "date", maxLineSize: 1024 * 1024 };

function judge(decoded: DecodedRecords) {
  return normalise(decoded, OPTIONS);
}

function judgeRecords(records: unknown[]) {
  return judge({ format: "json", records, unreadable: [] });
}

/** A record without its `time` key: the envelope (or the date key) carries the time. */
function untimed(over: Parameters<typeof fbRecord>[0] = {}): Record<string, unknown> {
  const { time: _time, ...rest } = fbRecord(over);
  return rest;
}

/** uint64 (0xcf) or int64 (0xd3) msgpack integer, big-endian. */
function msgpackInt64(value: bigint, signed: boolean): Uint8Array {
  const b = new Uint8Array(9);
  b[0] = signed ? 0xd3 : 0xcf;
  const view = new DataView(b.buffer);
  if (signed) view.setBigInt64(1, value);
  else view.setBigUint64(1, value);
  return b;
}

describe("timestamps outside signed 64-bit nanoseconds are rejected, never wrapped", () => {
  // The stores keep int64 ns: one nanosecond past MAX_TIME_NS would read back in 1677, 2^64 in 1970.
  test("record times (RFC 3339) past 2262-04-11T23:47:16.854775807Z", () => {
    const late = [
      "2262-04-11T23:47:16.854775808Z",
      "2262-04-12T00:00:00Z",
      "3000-01-01T00:00:00Z",
      "9999-12-31T23:59:59.999999999Z",
    ];
    const batch = judgeRecords(late.map((time) => fbRecord({ time })));
    expect(batch.entries).toEqual([]);
    expect(batch.rejections.map((r) => [r.index, r.reason])).toEqual(late.map((_, i) => [i, "timestamp_out_of_range"]));
  });

  test("the bounds themselves are kept, a nanosecond outside is not", () => {
    const batch = judgeRecords([
      fbRecord({ log: "last", time: "2262-04-11T23:47:16.854775807Z" }),
      fbRecord({ log: "epoch", time: "1970-01-01T00:00:00Z" }),
      fbRecord({ log: "before", time: "1969-12-31T23:59:59.999999999Z" }),
      { ...untimed({ log: "date" }), date: MAX_TIME_NS },
      { ...untimed({ log: "date+1" }), date: MAX_TIME_NS + 1n },
    ]);
    expect(batch.entries.map((e) => [e.log, e.timeNs])).toEqual([
      ["last", 9223372036854775807n],
      ["epoch", 0n],
      ["date", 9223372036854775807n],
    ]);
    expect(batch.rejections.map((r) => [r.index, r.reason])).toEqual([
      [2, "timestamp_out_of_range"],
      [4, "timestamp_out_of_range"],
    ]);
  });

  test("date keys of 2^63 and 2^64 (numbers, bigints, text) and epoch seconds past 2262", () => {
    const dates: unknown[] = [2 ** 64, 2 ** 63, 2n ** 64n, 2n ** 63n, "18446744073709551616", 99_999_999_999, 99_999_999_999.5];
    const batch = judgeRecords(dates.map((date) => ({ ...untimed({ log: String(date) }), date })));
    expect(batch.entries).toEqual([]);
    expect(batch.rejections.map((r) => r.reason)).toEqual(dates.map(() => "timestamp_out_of_range"));
  });

  test("through decodeRecords: a JSON body with a date of 2^64 and a time in the year 3000", () => {
    const body =
      `[${JSON.stringify({ ...untimed({ log: "two-to-the-64" }), date: "__D__" }).replace('"__D__"', "18446744073709551616")},` +
      `${JSON.stringify(fbRecord({ log: "year-3000", time: "3000-01-01T00:00:00Z" }))},` +
      `${JSON.stringify(fbRecord({ log: "year-2262", time: "2262-04-12T00:00:00Z" }))},` +
      `${JSON.stringify(fbRecord({ log: "kept", time: "2026-05-03T12:04:57.094408152Z" }))}]`;
    const batch = judge(decodeRecords(new TextEncoder().encode(body), "application/json"));
    expect(batch.entries.map((e) => [e.log, e.timeNs])).toEqual([["kept", 1777809897094408152n]]);
    expect(batch.rejections.map((r) => [r.index, r.reason])).toEqual([
      [0, "timestamp_out_of_range"],
      [1, "timestamp_out_of_range"],
      [2, "timestamp_out_of_range"],
    ]);
  });

  test("through decodeRecords: msgpack uint64 and int64 event times, and a bigint date key", () => {
    const body = concat(
      msgpackLegacyEntry(msgpackInt64(2n ** 64n - 1n, false), untimed({ log: "uint64-max" })),
      msgpackLegacyEntry(msgpackInt64(2n ** 63n, false), untimed({ log: "uint64-2^63" })),
      msgpackLegacyEntry(msgpackInt64(MAX_TIME_NS, true), untimed({ log: "int64-max" })),
      msgpackLegacyEntry(msgpackInt64(-1n, true), untimed({ log: "int64-minus-one" })),
      // A bare record (no envelope): its date key is the event time.
      pack({ ...untimed({ log: "bigint-date" }), date: 2n ** 63n }),
      msgpackEntry(1777809897, 5, untimed({ log: "kept" })),
    );
    const batch = judge(decodeRecords(body, "application/msgpack"));
    expect(batch.entries.map((e) => [e.log, e.timeNs])).toEqual([
      ["int64-max", 9223372036854775807n],
      ["kept", 1777809897000000005n],
    ]);
    expect(batch.rejections.map((r) => [r.index, r.reason])).toEqual([
      [0, "timestamp_out_of_range"],
      [1, "timestamp_out_of_range"],
      [3, "invalid_timestamp"],
      [4, "timestamp_out_of_range"],
    ]);
  });
});

describe("msgpack extension values of unknown types", () => {
  // The listed ones, and msgpackr's private types, which it would otherwise read its own way.
  const TYPES = [1, 5, 127, -2, -128, 66, 98, 101, 105, 112, 115, 116, 120];
  const LENGTHS = [1, 3, 8, 16];

  /** Three entries; the one at `bad` carries the extension as its event time, log or label. */
  function batchWith(role: "time" | "log" | "label", ext: Uint8Array, bad: number): Uint8Array {
    return concat(
      ...[0, 1, 2].map((i) => {
        if (i !== bad) return msgpackEntry(1777809897, i, untimed({ log: `good-${i}` }));
        if (role === "time") return concat(new Uint8Array([0x92, 0x92]), ext, pack({}), pack(untimed({ log: "bad" })));
        const record =
          role === "log"
            ? { ...untimed(), log: "__EXT__" }
            : untimed({ log: "labelled", labels: { app: "web", odd: "__EXT__" } });
        return concat(new Uint8Array([0x92, 0x92]), eventTime(1777809897, i), pack({}), packWith(record, "__EXT__", ext));
      }),
    );
  }

  for (const type of TYPES) {
    test(`type ${type}: as the event time, the log or a label, first, middle or last`, () => {
      for (const [k, bad] of [0, 1, 2].entries()) {
        const length = LENGTHS[(k + TYPES.indexOf(type)) % LENGTHS.length]!;
        const ext = msgpackExt(type, length);
        const goods = [0, 1, 2].filter((i) => i !== bad).map((i) => `good-${i}`);

        const asTime = judge(decodeRecords(batchWith("time", ext, bad), "application/msgpack"));
        expect(asTime.entries.map((e) => e.log)).toEqual(goods);
        expect(asTime.rejections).toEqual([
          {
            index: bad,
            reason: "invalid_timestamp",
            detail: `event time is not a timestamp: <msgpack ext type ${type}, ${length} bytes>`,
          },
        ]);

        const asLog = judge(decodeRecords(batchWith("log", ext, bad), "application/msgpack"));
        expect(asLog.entries.map((e) => e.log)).toEqual(goods);
        expect(asLog.rejections).toEqual([
          { index: bad, reason: "invalid_field", detail: `log is a msgpack ext type ${type}, not a string` },
        ]);

        const asLabel = judge(decodeRecords(batchWith("label", ext, bad), "application/msgpack"));
        expect(asLabel.rejections).toEqual([]);
        expect(asLabel.entries.map((e) => e.log)).toEqual([0, 1, 2].map((i) => (i === bad ? "labelled" : `good-${i}`)));
        expect(asLabel.entries[bad]!.labels).toEqual({ app: "web", odd: `<msgpack ext type ${type}, ${length} bytes>` });
      }
    });
  }

  test("kept as text in other metadata and nested label values; a record that is one is not an object", () => {
    const ext = msgpackExt(7, 2);
    const record = { ...untimed({ log: "meta" }), kubernetes: { ...(untimed().kubernetes as object), host: "__EXT__" } };
    const nested = untimed({ log: "nested", labels: { deep: { x: "__EXT__" } } });
    const body = concat(
      concat(new Uint8Array([0x92, 0x92]), eventTime(1777809897, 1), pack({}), packWith(record, "__EXT__", ext)),
      concat(new Uint8Array([0x92, 0x92]), eventTime(1777809897, 2), pack({}), packWith(nested, "__EXT__", ext)),
      concat(new Uint8Array([0x92, 0x92]), eventTime(1777809897, 3), pack({}), ext),
    );
    const batch = judge(decodeRecords(body, "application/msgpack"));
    expect(batch.entries.map((e) => [e.log, e.host, e.labels])).toEqual([
      ["meta", "<msgpack ext type 7, 2 bytes>", { app: "web" }],
      ["nested", "worker1", { deep: '{"x":"<msgpack ext type 7, 2 bytes>"}' }],
    ]);
    expect(batch.rejections.map((r) => [r.index, r.reason])).toEqual([[2, "not_an_object"]]);
  });

  test("msgpackr's record definition (fixext 1 or 2 of type 114) costs only its own entry", () => {
    for (const ext of [new Uint8Array([0xd4, 0x72, 0x01]), new Uint8Array([0xd5, 0x72, 0x01, 0x02])]) {
      const body = concat(
        msgpackEntry(1777809897, 1, untimed({ log: "before" })),
        concat(
          new Uint8Array([0x92, 0x92]),
          eventTime(1777809897, 2),
          pack({}),
          packWith({ ...untimed(), log: "__EXT__" }, "__EXT__", ext),
        ),
        msgpackEntry(1777809897, 3, untimed({ log: "after" })),
      );
      const decoded = decodeRecords(body, "application/msgpack");
      expect(decoded.unreadable.length).toBe(1);
      expect(decoded.unreadable[0]).toStartWith(
        `msgpack entry at bytes ${msgpackEntry(1, 1, untimed({ log: "before" })).length}..`,
      );
      const batch = judge(decoded);
      expect(batch.entries.map((e) => e.log)).toEqual(["before", "after"]);
      expect(batch.rejections.map((r) => r.reason)).toEqual(["unreadable"]);
    }
  });
});

describe("msgpack bytes that are no value", () => {
  test("0xc1 between entries is one unreadable part per run, not a record", () => {
    const before = msgpackEntry(1777809897, 1, untimed({ log: "before" }));
    const body = concat(
      before,
      new Uint8Array([0xc1, 0xc1]),
      msgpackEntry(1777809897, 2, untimed({ log: "after" })),
      new Uint8Array([0xc1]),
    );
    const decoded = decodeRecords(body, "application/msgpack");
    expect(decoded.unreadable).toEqual([
      `byte ${before.length} is 0xc1, which msgpack never uses`,
      `byte ${body.length - 1} is 0xc1, which msgpack never uses`,
    ]);
    const batch = judge(decoded);
    expect(batch.entries.map((e) => e.log)).toEqual(["before", "after"]);
    expect(batch.rejections.map((r) => [r.index, r.reason])).toEqual([
      [-1, "unreadable"],
      [-1, "unreadable"],
    ]);
  });
});

describe("endOfMsgpackValue", () => {
  test("finds the end of every kind of value, at any depth, and -1 when it is cut short", () => {
    const values: unknown[] = [
      0,
      -1,
      127,
      -32,
      255,
      65535,
      2 ** 32,
      -(2 ** 40),
      2n ** 64n - 1n,
      1.5,
      "",
      "x".repeat(31),
      "x".repeat(32),
      "x".repeat(300),
      "x".repeat(70_000),
      new Uint8Array(10),
      new Uint8Array(300),
      new Uint8Array(70_000),
      [],
      Array.from({ length: 20 }, (_, i) => i),
      Array.from({ length: 70_000 }, () => null),
      { a: 1, b: [true, false, null] },
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, { v: i }])),
    ];
    for (const value of values) {
      const packed = pack(value);
      const padded = concat(new Uint8Array([0xc0]), packed, new Uint8Array([0xc0, 0xc0]));
      expect(endOfMsgpackValue(padded, 1)).toBe(1 + packed.length);
      for (const cut of [1, Math.floor(packed.length / 2), packed.length - 1]) {
        if (cut >= 1 && cut < packed.length) expect(endOfMsgpackValue(packed.subarray(0, cut), 0)).toBe(-1);
      }
    }
    for (const length of [1, 2, 4, 8, 16, 3, 200]) {
      const ext = msgpackExt(5, length);
      expect(endOfMsgpackValue(ext, 0)).toBe(ext.length);
      expect(endOfMsgpackValue(ext.subarray(0, ext.length - 1), 0)).toBe(-1);
    }
    const deep = concat(new Uint8Array(200_000).fill(0x91), new Uint8Array([0xc0]));
    expect(endOfMsgpackValue(deep, 0)).toBe(deep.length);
    expect(endOfMsgpackValue(new Uint8Array([0x92, 0xc1, 0x01]), 0)).toBe(-1);
  });
});

describe("records older than their namespace's retention are rejected, one by one", () => {
  const HOUR = 3_600_000_000_000n;
  const now = 1_750_000_000_000_000_000n;
  const ago = (hours: bigint) => formatRfc3339Nano(now - hours * HOUR);
  // Default 1d; kube-system 1h everywhere; team-a's namespaces 30d in tenant-a; audit forever.
  const retention = new RetentionPolicy(86_400, parseRetentionRules("tenant-a/team-*=30d,kube-system=1h,audit=0"));
  const judgeAt = (records: unknown[], tenant = "") =>
    normalise({ format: "json", records, unreadable: [] }, { ...OPTIONS, tenant, retention, nowNs: now });

  test("each record against the rule of its own namespace", () => {
    const { entries, rejections } = judgeAt([
      fbRecord({ namespace: "kube-system", time: ago(2n), log: "kube-system 2h" }),
      fbRecord({ namespace: "kube-system", time: ago(0n), log: "kube-system now" }),
      fbRecord({ namespace: "default", time: ago(2n), log: "default 2h" }),
      fbRecord({ namespace: "default", time: ago(25n), log: "default 25h" }),
      fbRecord({ namespace: "audit", time: ago(24n * 3650n), log: "audit 10y" }),
      fbRecord({ namespace: "team-a", time: ago(48n), log: "team-a 2d" }),
    ]);
    expect(entries.map((e) => e.log)).toEqual(["kube-system now", "default 2h", "audit 10y"]);
    expect(rejections).toEqual([
      { index: 0, reason: "older_than_retention", detail: "timestamp is older than the retention period of its namespace (1h)" },
      { index: 3, reason: "older_than_retention", detail: "timestamp is older than the retention period of its namespace (1d)" },
      { index: 5, reason: "older_than_retention", detail: "timestamp is older than the retention period of its namespace (1d)" },
    ]);
  });

  test("a rule naming a tenant holds for that tenant's records only", () => {
    const records = [fbRecord({ namespace: "team-a", time: ago(48n), log: "team-a 2d" })];
    expect(judgeAt(records, "tenant-a").entries.map((e) => e.log)).toEqual(["team-a 2d"]);
    expect(judgeAt(records, "tenant-b").rejections.map((r) => r.reason)).toEqual(["older_than_retention"]);
  });

  test("without a retention nothing is too old", () => {
    const { entries } = normalise(
      { format: "json", records: [fbRecord({ namespace: "kube-system", time: "2001-01-01T00:00:00Z" })], unreadable: [] },
      { ...OPTIONS, retention: new RetentionPolicy(0), nowNs: now },
    );
    expect(entries.length).toBe(1);
  });

  test("a write request is judged by the route's policy, or by retentionSeconds and retentionRules without one", async () => {
    const limits = { maxBodySize: 1 << 20, maxDecompressedSize: 1 << 20, dateKey: "date", maxLineSize: 1 << 20 };
    const hour = (h: bigint) => formatRfc3339Nano(nowNs() - h * HOUR);
    const body = JSON.stringify([
      fbRecord({ namespace: "kube-system", time: hour(2n), log: "kube-system 2h" }),
      fbRecord({ namespace: "default", time: hour(2n), log: "default 2h" }),
    ]);
    const policy = await decodeWriteRequest(post(body), { ...limits, retention }, "");
    const fallback = await decodeWriteRequest(
      post(body),
      { ...limits, retentionSeconds: 86_400, retentionRules: parseRetentionRules("kube-system=1h") },
      "",
    );
    const plain = await decodeWriteRequest(post(body), { ...limits, retentionSeconds: 3600 }, "");
    expect(policy.entries.map((e) => e.log)).toEqual(["default 2h"]);
    expect(fallback.entries.map((e) => e.log)).toEqual(["default 2h"]);
    expect(plain.entries.map((e) => e.log)).toEqual([]);
    expect(plain.rejections.map((r) => r.index)).toEqual([0, 1]);
  });
});
