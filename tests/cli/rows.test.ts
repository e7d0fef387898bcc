// The incremental /query answer reader: rows split out of {"log_rows":[...],"next_cursor":"..."}
// whatever the chunk boundaries, strings and escapes respected, broken answers refused.
import { describe, expect, test } from "bun:test";
import { AnswerError, parseRow, RowSplitter, type LogRow } from "../../src/cli/rows.ts";

/** Feeds `chunks` one by one; returns the parsed rows and what end() says. */
function split(chunks: string[]): { rows: unknown[]; nextCursor?: string } {
  const s = new RowSplitter();
  const rows: unknown[] = [];
  for (const c of chunks) for (const r of s.push(c)) rows.push(JSON.parse(r));
  return { rows, ...s.end() };
}

/** A text cut at the given offsets. */
const cutAt = (text: string, offsets: number[]) => {
  const out: string[] = [];
  let from = 0;
  for (const o of [...offsets].sort((a, b) => a - b)) {
    out.push(text.slice(from, o));
    from = o;
  }
  out.push(text.slice(from));
  return out;
};

// Everything that could fool a splitter that does not follow strings: braces, brackets, commas,
// quotes, backslashes (also right before a closing quote), escapes of all kinds, newlines, non-BMP.
const NASTY = [
  "plain",
  "{",
  "}",
  "},{",
  '"},{"time":"x"',
  "[1,2]",
  '],"next_cursor":"fake"}',
  'say \\"hi\\"',
  "\\",
  "ends with backslash \\",
  '\\\\"',
  "\u0000\u001f control",
  "line\nbreak\r\nand\ttab",
  "é ü 中文 \u2028 \u2029",
  "emoji 🎉 and 𝄞",
  '{"nested":{"a":[1,{"b":"}"}]}}',
  "",
];

const rowsOf = (logs: string[]): LogRow[] =>
  logs.map((log, i) => ({
    time: `2018-05-03T12:04:57.${String(i).padStart(9, "0")}Z`,
    log,
    stream: i % 2 ? "stderr" : "stdout",
  }));

describe("RowSplitter", () => {
  test("the contract's answer, with and without next_cursor", () => {
    const rows = rowsOf(["a", "b"]);
    expect(split([JSON.stringify({ log_rows: rows })])).toEqual({ rows });
    expect(split([JSON.stringify({ log_rows: rows, next_cursor: "opaque==" })])).toEqual({ rows, nextCursor: "opaque==" });
    expect(split(['{"log_rows":[]}'])).toEqual({ rows: [] });
    expect(split(['{"log_rows":[],"next_cursor":null}'])).toEqual({ rows: [] });
  });

  test("whitespace anywhere JSON allows it", () => {
    const text =
      ' {\n "log_rows" : [\n  {"time": "t1", "log": "a"} ,\n\t{"time":"t2","log":"b"}\n ] ,\r\n "next_cursor" : "c" }\n';
    expect(split([text])).toEqual({
      rows: [
        { time: "t1", log: "a" },
        { time: "t2", log: "b" },
      ],
      nextCursor: "c",
    });
  });

  test("keys in another order, and rows holding nested values", () => {
    const rows = [{ time: "t", log: "x", labels: { a: ["}", { b: "]" }] } }];
    expect(split([JSON.stringify({ next_cursor: "k", other: [1, { log_rows: [] }], log_rows: rows })])).toEqual({
      rows,
      nextCursor: "k",
    });
  });

  test('strings holding { } , \\" \\\\ unicode escapes and newlines, cut at every single offset', () => {
    const rows = rowsOf(NASTY);
    const text = JSON.stringify({ log_rows: rows, next_cursor: 'cur"sor{' });
    // Hand-written escapes too: JSON.stringify never writes \u0041 or \/ itself.
    const escaped = '{"log_rows":[{"time":"t","log":"\\u007b\\u0022\\u005c\\/\\ud83c\\udf89\\b\\f"}]}';
    const wrongAt: number[] = [];
    for (let i = 0; i <= text.length; i++) {
      if (!Bun.deepEquals(split(cutAt(text, [i])), { rows, nextCursor: 'cur"sor{' })) wrongAt.push(i);
    }
    expect(wrongAt).toEqual([]);
    for (let i = 0; i <= escaped.length; i++)
      expect(split(cutAt(escaped, [i])).rows).toEqual([{ time: "t", log: '{"\\/🎉\b\f' }]);
  });

  test("one character per chunk", () => {
    const rows = rowsOf(NASTY);
    const text = JSON.stringify({ log_rows: rows });
    expect(split([...text])).toEqual({ rows });
  });

  test("random rows, random cuts (seeded, reproducible)", () => {
    const random = mulberry32(9);
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    for (let round = 0; round < 200; round++) {
      const logs = Array.from({ length: Math.floor(random() * 12) }, () =>
        Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(NASTY)).join(pick(["", " ", "\n", "\\"])),
      );
      const rows = rowsOf(logs);
      const cursor = random() < 0.5 ? undefined : pick(NASTY);
      const text = JSON.stringify(cursor === undefined ? { log_rows: rows } : { log_rows: rows, next_cursor: cursor });
      const cuts = Array.from({ length: Math.floor(random() * 8) }, () => Math.floor(random() * (text.length + 1)));
      expect({ round, ...split(cutAt(text, cuts)) }).toEqual({
        round,
        rows,
        ...(cursor !== undefined && { nextCursor: cursor }),
      });
    }
  });

  test("rows come out as soon as they are complete, before the answer ends", () => {
    const s = new RowSplitter();
    expect(s.push('{"log_rows":[{"time":"t1","log":"a"},{"time":"t2","lo')).toEqual(['{"time":"t1","log":"a"}']);
    expect(s.push('g":"b"}')).toEqual(['{"time":"t2","log":"b"}']);
    expect(s.push("]}")).toEqual([]);
    expect(s.end()).toEqual({});
  });

  test("a long row across many chunks keeps only that row", () => {
    const s = new RowSplitter();
    const long = "x".repeat(100_000);
    s.push('{"log_rows":[{"time":"t","log":"');
    for (let i = 0; i < 100; i++) expect(s.push(long.slice(i * 1000, (i + 1) * 1000))).toEqual([]);
    const [row] = s.push('"}]}');
    expect(JSON.parse(row!).log).toBe(long);
    expect(s.end()).toEqual({});
  });

  describe("broken answers are refused", () => {
    const refuse = (chunks: string[], message: RegExp) => {
      expect(() => split(chunks)).toThrow(message);
      try {
        split(chunks);
      } catch (e) {
        expect(e).toBeInstanceOf(AnswerError);
      }
    };
    test("cut off in a row, between rows, before the end", () => {
      refuse(['{"log_rows":[{"time":"t","log":"a'], /ended early/);
      refuse(['{"log_rows":[{"time":"t","log":"a"},'], /ended early/);
      refuse(['{"log_rows":[{"time":"t","log":"a"}]'], /ended early/);
      refuse([""], /no log_rows/);
    });
    test("not the contract's shape", () => {
      refuse(['{"message":"oops","detail":""}'], /no log_rows/);
      refuse(['{"log_rows":[{"time":"t"}{"time":"u"}]}'], /unexpected "\{" in log_rows/);
      refuse(['{"log_rows":[{"time":"t"},]}'], /unexpected "]"/);
      refuse(['{"log_rows":[,{"time":"t"}]}'], /unexpected ","/);
      refuse(['{"log_rows":[1]}'], /unexpected "1"/);
      refuse(['{"log_rows":[]}garbage'], /not valid JSON/);
      refuse(['{"log_rows":[],"next_cursor":5}'], /next_cursor is not a string/);
    });
  });
});

describe("parseRow", () => {
  test("a row with time and log, the rest as sent", () => {
    expect(parseRow('{"time":"t","log":"x","stream":"stdout","pod_name":"p"}')).toEqual({
      time: "t",
      log: "x",
      stream: "stdout",
      pod_name: "p",
    });
  });
  test("a row the client cannot print is an AnswerError", () => {
    expect(() => parseRow('{"log":"x"}')).toThrow(AnswerError);
    expect(() => parseRow('{"time":"t","log":5}')).toThrow(/no time or log/);
    expect(() => parseRow("{oops}")).toThrow(/not valid JSON/);
  });
});

/** A small seeded PRNG, so that a failing round can be replayed. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
