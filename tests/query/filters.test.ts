// Line filters: what each keeps, and the literal a regex is certain to need (which a store may
// filter with first: a wrong literal would lose lines, so it is checked against real matches).
import { describe, expect, test } from "bun:test";
import { FilterError, lineFilter, requiredLiteral, requiredTexts } from "../../src/query/filters.ts";

describe("requiredLiteral", () => {
  const cases: [string, string | undefined][] = [
    ["needle-[0-9a-f]{4}\\b", "needle-"],
    ["GET /api/v1", "GET /api/v1"],
    ["\\bERROR\\b", "ERROR"],
    ["a\\.b\\.c", "a.b.c"],
    ["^GET \\/x", "GET /x"],
    ["x?abcd", "abcd"],
    ["abcd?", "abc"],
    ["(abc)+def", "def"],
    ["err(or)?", "err"],
    ["a{2}bcd", "bcd"],
    ["[abc]xyz", "xyz"],
    ["foo.*bar", "foo"],
    ["abc|def", undefined],
    ["(?i)error", undefined],
    ["ab", undefined],
    ["[0-9]+ms", undefined],
  ];
  for (const [source, literal] of cases) {
    test(`${source} needs ${JSON.stringify(literal)}`, () => expect(requiredLiteral(source)).toBe(literal));
  }

  test("every line a regex matches contains its literal (seeded random lines)", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = "abcdefxyz0123456789 .-/ERORGT";
    const lines = Array.from({ length: 20_000 }, () =>
      Array.from({ length: 5 + Math.floor(random() * 30) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""),
    );
    for (const [source] of cases) {
      const literal = requiredLiteral(source);
      if (literal === undefined) continue;
      const re = new RegExp(source.replace(/^\(\?i\)/, ""));
      for (const line of [...lines, ...lines.map((l) => `${l}${literal}${l}`)]) {
        if (re.test(line)) expect(line.includes(literal), `${source} matched ${JSON.stringify(line)}`).toBe(true);
      }
    }
  });
});

describe("lineFilter", () => {
  test("contains and not, regex and not, case-insensitive, all ANDed", () => {
    const keep = lineFilter([
      { op: "contains", value: "GET", ignoreCase: false },
      { op: "not_contains", value: "health", ignoreCase: true },
      { op: "regexp", value: "(?i)status=5\\d\\d", ignoreCase: false },
      { op: "not_regexp", value: "retry", ignoreCase: false },
    ])!;
    expect(keep("GET /x STATUS=503")).toBe(true);
    expect(keep("GET /Health status=500")).toBe(false);
    expect(keep("GET /x status=200")).toBe(false);
    expect(keep("GET /x status=500 retry")).toBe(false);
    expect(keep("POST /x status=500")).toBe(false);
  });

  test("an invalid regex is a FilterError naming it", () => {
    expect(() => lineFilter([{ op: "regexp", value: "(open", ignoreCase: false }])).toThrow(FilterError);
  });

  test("what a store may filter with: contains, and the literal of a case-sensitive regex", () => {
    expect(
      requiredTexts([
        { op: "contains", value: "GET", ignoreCase: false },
        { op: "contains", value: "Error", ignoreCase: true },
        { op: "regexp", value: "took=\\d+ms", ignoreCase: false },
        { op: "regexp", value: "needle", ignoreCase: true },
        { op: "not_contains", value: "x", ignoreCase: false },
      ]),
    ).toEqual(["GET", "took="]);
  });
});
