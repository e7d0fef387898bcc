import { describe, expect, test } from "bun:test";
import { formatRfc3339Nano, MAX_TIME_NS, parseRfc3339 } from "../src/time.ts";

describe("parseRfc3339", () => {
  test("keeps nanoseconds and any number of fraction digits", () => {
    expect(parseRfc3339("2018-05-03T12:04:57.094408152Z")).toBe(1525349097094408152n);
    expect(parseRfc3339("2018-05-03T12:04:57Z")).toBe(1525349097000000000n);
    expect(parseRfc3339("2018-05-03T12:04:57.1Z")).toBe(1525349097100000000n);
    expect(parseRfc3339("2018-05-03T12:04:57.0944081529999Z")).toBe(1525349097094408152n);
  });
  test("honours offsets", () => {
    expect(parseRfc3339("2018-05-03T14:04:57.5+02:00")).toBe(parseRfc3339("2018-05-03T12:04:57.5Z"));
    expect(parseRfc3339("2018-05-02T23:04:57-13:00")).toBe(parseRfc3339("2018-05-03T12:04:57Z"));
  });
  test("rejects what is not a valid instant", () => {
    for (const bad of [
      "",
      "yesterday",
      "2018-05-03",
      "2018-13-01T00:00:00Z",
      "2018-02-30T00:00:00Z",
      "2019-02-29T00:00:00Z",
      "2018-05-03T24:00:00Z",
      "2018-05-03T12:60:00Z",
      "2018-05-03T12:04:57",
      "2018-05-03T12:04:57.Z",
      "1525349097",
    ]) {
      expect(parseRfc3339(bad)).toBeUndefined();
    }
    expect(parseRfc3339("2020-02-29T00:00:00Z")).toBe(1582934400000000000n);
  });
  test("a time without zone is UTC only when allowed (java_sql_timestamp)", () => {
    expect(parseRfc3339("2026-05-03 12:04:57.094408", { allowNoZone: true })).toBe(1777809897094408000n);
    expect(parseRfc3339("2026-05-03 12:04:57.094408")).toBeUndefined();
  });
});

describe("formatRfc3339Nano", () => {
  test("prints as Go's RFC3339Nano: nanoseconds kept, trailing zeros dropped", () => {
    expect(formatRfc3339Nano(1525349097094408152n)).toBe("2018-05-03T12:04:57.094408152Z");
    expect(formatRfc3339Nano(1525651200000000000n)).toBe("2018-05-07T00:00:00Z");
    expect(formatRfc3339Nano(1525651200100000000n)).toBe("2018-05-07T00:00:00.1Z");
    expect(formatRfc3339Nano(1525651200000000001n)).toBe("2018-05-07T00:00:00.000000001Z");
    expect(formatRfc3339Nano(0n)).toBe("1970-01-01T00:00:00Z");
  });
  test("round-trips with the parser", () => {
    for (let i = 0; i < 1000; i++) {
      const v = BigInt(Math.floor(Math.random() * 4e9)) * 1_000_000_000n + BigInt(Math.floor(Math.random() * 1e9));
      expect(parseRfc3339(formatRfc3339Nano(v))).toBe(v);
    }
  });
});

describe("MAX_TIME_NS", () => {
  test("is the largest signed 64-bit nanosecond count, 2262-04-11T23:47:16.854775807Z", () => {
    expect(MAX_TIME_NS).toBe(9223372036854775807n);
    expect(BigInt.asIntN(64, MAX_TIME_NS)).toBe(MAX_TIME_NS);
    expect(BigInt.asIntN(64, MAX_TIME_NS + 1n)).toBe(-9223372036854775808n);
    expect(formatRfc3339Nano(MAX_TIME_NS)).toBe("2262-04-11T23:47:16.854775807Z");
    expect(parseRfc3339("2262-04-11T23:47:16.854775807Z")).toBe(MAX_TIME_NS);
  });
});
