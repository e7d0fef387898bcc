// LogQL parsing (Grafana's lezer grammar walked into a typed tree): the tree for each construct,
// Loki's operator precedence, its validation rules, positioned syntax errors, and constructs that
// are refused by name rather than answered wrongly.
import { describe, expect, test } from "bun:test";
import { isLogQuery, LogQLParseError, LogQLUnsupportedError, parseLogQL, planLogSelector } from "../../src/loki/logql/index.ts";

function parseError(q: string): string {
  try {
    parseLogQL(q);
  } catch (error) {
    if (error instanceof LogQLParseError) return error.message;
    throw error;
  }
  throw new Error(`${q} parsed`);
}

function unsupported(q: string): string {
  try {
    parseLogQL(q);
  } catch (error) {
    if (error instanceof LogQLUnsupportedError) return error.message;
    throw error;
  }
  throw new Error(`${q} parsed`);
}

describe("selectors and pipelines", () => {
  test("stream selector with the four operators", () => {
    const e = parseLogQL('{app="x", ns!="y", pod=~"a.+", c!~`b\\d`}');
    expect(isLogQuery(e)).toBe(true);
    expect(e).toEqual({
      kind: "log",
      matchers: [
        { name: "app", op: "=", value: "x" },
        { name: "ns", op: "!=", value: "y" },
        { name: "pod", op: "=~", value: "a.+" },
        { name: "c", op: "!~", value: "b\\d" },
      ],
      stages: [],
    });
  });

  test("Go string escapes in double quotes, none in backticks", () => {
    const e = parseLogQL('{app="a\\"b\\\\c\\n"} |= `x\\y`');
    expect(e.kind === "log" && e.matchers[0]!.value).toBe('a"b\\c\n');
    expect(e.kind === "log" && e.stages[0]).toEqual({ kind: "line_filter", op: "|=", values: ["x\\y"] });
  });

  test("line filters chained, with or, and pattern filters", () => {
    const e = parseLogQL('{a="b"} |= "x" or "y" != "z" |~ "(?i)err" !~ "a" or "b" |> "<_> GET <_>" !> "x <_>"');
    expect(e.kind === "log" && e.stages).toEqual([
      { kind: "line_filter", op: "|=", values: ["x", "y"] },
      { kind: "line_filter", op: "!=", values: ["z"] },
      { kind: "line_filter", op: "|~", values: ["(?i)err"] },
      { kind: "line_filter", op: "!~", values: ["a", "b"] },
      { kind: "line_filter", op: "|>", values: ["<_> GET <_>"] },
      { kind: "line_filter", op: "!>", values: ["x <_>"] },
    ]);
  });

  test("parsers with their parameters and flags", () => {
    const e = parseLogQL(
      '{a="b"} | json | json x="a.b", y="c[0]" | logfmt --strict --keep-empty | logfmt x, y="z" | regexp "(?P<x>\\\\w+)" | pattern "<ip> <_>" | unpack',
    );
    expect(e.kind === "log" && e.stages).toEqual([
      { kind: "json" },
      {
        kind: "json",
        params: [
          { name: "x", expr: "a.b" },
          { name: "y", expr: "c[0]" },
        ],
      },
      { kind: "logfmt", strict: true, keepEmpty: true },
      {
        kind: "logfmt",
        strict: false,
        keepEmpty: false,
        params: [
          { name: "x", expr: "x" },
          { name: "y", expr: "z" },
        ],
      },
      { kind: "regexp", pattern: "(?P<x>\\w+)" },
      { kind: "pattern", pattern: "<ip> <_>" },
      { kind: "unpack" },
    ]);
  });

  test("label filters: string, number, duration, bytes", () => {
    const e = parseLogQL('{a="b"} | x="1" | n > 5 | n2 == -1.5 | d >= 1m30s | s < 20MB | k <= 1KiB');
    expect(e.kind === "log" && e.stages.map((s) => (s.kind === "label_filter" ? s.filter : s))).toEqual([
      { kind: "string", matcher: { name: "x", op: "=", value: "1" } },
      { kind: "number", name: "n", op: ">", value: 5 },
      { kind: "number", name: "n2", op: "==", value: -1.5 },
      { kind: "duration", name: "d", op: ">=", value: 90e9 },
      { kind: "bytes", name: "s", op: "<", value: 20_000_000 },
      { kind: "bytes", name: "k", op: "<=", value: 1024 },
    ]);
  });

  test("label filter and binds tighter than or; parentheses group", () => {
    const e = parseLogQL('{a="b"} | x="1" or y="2" and z="3" | (x="1" or y="2") and z="3"');
    const [f1, f2] = e.kind === "log" ? e.stages.map((s) => (s.kind === "label_filter" ? s.filter : undefined)) : [];
    expect(f1).toMatchObject({ kind: "or", left: { kind: "string" }, right: { kind: "and" } });
    expect(f2).toMatchObject({ kind: "and", left: { kind: "or" }, right: { kind: "string" } });
  });

  test("a comma after `or` joins the right operand, as Loki's yacc grammar shifts", () => {
    // x="1", y="2" or z="3" → x="1" and (y="2" or z="3")
    const e = parseLogQL('{a="b"} | x="1", y="2" or z="3"');
    const f = e.kind === "log" && e.stages[0]!.kind === "label_filter" ? e.stages[0]!.filter : undefined;
    expect(f).toMatchObject({ kind: "and", left: { kind: "string" }, right: { kind: "or" } });
  });

  test("formatters, drop, keep, decolorize", () => {
    const e = parseLogQL(
      '{a="b"} | line_format "{{.a}}" | label_format x=y, z="{{.q}}" | drop c, d="e" | keep a, b=~"x" | decolorize',
    );
    expect(e.kind === "log" && e.stages).toEqual([
      { kind: "line_format", template: "{{.a}}" },
      {
        kind: "label_format",
        items: [
          { dst: "x", src: "y" },
          { dst: "z", template: "{{.q}}" },
        ],
      },
      { kind: "drop", items: [{ name: "c" }, { name: "d", matcher: { name: "d", op: "=", value: "e" } }] },
      { kind: "keep", items: [{ name: "a" }, { name: "b", matcher: { name: "b", op: "=~", value: "x" } }] },
      { kind: "decolorize" },
    ]);
  });
});

describe("metric expressions", () => {
  test("range aggregation with unwrap, conversion, post filter, grouping; offset", () => {
    const e = parseLogQL('quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(latency) | __error__="" [5m]) by (path)');
    expect(e).toMatchObject({
      kind: "range",
      op: "quantile_over_time",
      param: 0.99,
      rangeNs: 300_000_000_000n,
      offsetNs: 0n,
      unwrap: { label: "latency", conversion: "duration", postFilters: [{ kind: "string" }] },
      grouping: { without: false, labels: ["path"] },
    });
    expect(isLogQuery(e)).toBe(false);
    expect(parseLogQL('count_over_time({a="b"} |= "x" [5m] offset 1h)')).toMatchObject({
      rangeNs: 300_000_000_000n,
      offsetNs: 3_600_000_000_000n,
    });
  });

  test("the pipeline may follow the range", () => {
    const e = parseLogQL('count_over_time({a="b"}[1m] |= "x")');
    expect(e).toMatchObject({ kind: "range", selector: { stages: [{ kind: "line_filter", values: ["x"] }] } });
  });

  test("vector aggregation with by/without before or after, and topk's parameter", () => {
    expect(parseLogQL('sum by (a, b) (rate({x="y"}[1m]))')).toMatchObject({
      kind: "vector_agg",
      op: "sum",
      grouping: { without: false, labels: ["a", "b"] },
    });
    expect(parseLogQL('sum(rate({x="y"}[1m])) without (a)')).toMatchObject({ grouping: { without: true, labels: ["a"] } });
    expect(parseLogQL('topk(3, rate({x="y"}[1m]))')).toMatchObject({ op: "topk", param: 3 });
  });

  test("binary operators follow Loki's precedence, not the lezer grammar's", () => {
    // lezer ranks + above *: the tree is rebuilt with Loki's (yacc) precedence.
    expect(parseLogQL("1 + 2 * 3")).toEqual({ kind: "literal", value: 7 });
    expect(parseLogQL("(1 + 2) * 3")).toEqual({ kind: "literal", value: 9 });
    expect(parseLogQL("2 ^ 3 ^ 2")).toEqual({ kind: "literal", value: 512 });
    expect(parseLogQL("10 - 2 - 3")).toEqual({ kind: "literal", value: 5 });
    expect(parseLogQL("1 > bool 2")).toEqual({ kind: "literal", value: 0 });
    const e = parseLogQL('rate({a="b"}[1m]) * 2 + 1 > 3 or vector(1)');
    expect(e).toMatchObject({
      kind: "binop",
      op: "or",
      left: { op: ">", left: { op: "+", left: { op: "*" } } },
      right: { kind: "vector" },
    });
  });

  test("vector matching modifiers", () => {
    const e = parseLogQL('sum by (a,b) (rate({x="y"}[1m])) / on (a) group_left (b) sum by (a) (rate({x="y"}[1m]))');
    expect(e).toMatchObject({
      kind: "binop",
      op: "/",
      matching: { on: true, labels: ["a"], card: "many-to-one", include: ["b"] },
    });
  });

  test("label_replace", () => {
    expect(parseLogQL('label_replace(rate({a="b"}[1m]), "dst", "$1", "src", "(.*)-x")')).toMatchObject({
      kind: "label_replace",
      dst: "dst",
      replacement: "$1",
      src: "src",
      regex: "(.*)-x",
    });
  });
});

describe("errors", () => {
  test("syntax errors name the position and the token, in Loki's words", () => {
    expect(parseError('{app="x"} |= "a" | foo bar')).toMatch(/^parse error at line 1, col 2\d: syntax error: unexpected /);
    expect(parseError('{app="x"')).toBe("parse error at line 1, col 9: syntax error: unexpected $end");
    expect(parseError("sum(")).toBe("parse error at line 1, col 5: syntax error: unexpected $end");
    expect(parseError("foo")).toBe("parse error at line 1, col 1: syntax error: unexpected foo");
    expect(parseError('{app="x"}\n| json |')).toMatch(/^parse error at line 2, col \d+: syntax error/);
  });

  test("Loki's validation rules", () => {
    expect(parseError('{a=~".*"}')).toContain(
      "queries require at least one regexp or equality matcher that does not have an empty-compatible value",
    );
    expect(parseError('{a!="x"}')).toContain("queries require at least one");
    expect(parseError('count_over_time({a="b"}[1m]) by (x)')).toBe(
      "parse error : grouping not allowed for count_over_time aggregation",
    );
    expect(parseError('sum_over_time({a="b"}[1m])')).toBe("parse error : invalid aggregation sum_over_time without unwrap");
    expect(parseError('count_over_time({a="b"} | unwrap x [1m])')).toBe(
      "parse error : invalid aggregation count_over_time with unwrap",
    );
    expect(parseError('quantile_over_time({a="b"} | unwrap x [1m])')).toBe(
      "parse error : parameter required for operation quantile_over_time",
    );
    expect(parseError('topk(rate({a="b"}[1m]))')).toBe("parse error : parameter required for operation topk");
    expect(parseError('{a="b"} | label_format x=y, x=z')).toContain("multiple label name 'x' not allowed");
    expect(parseError('{a="b"} | regexp "(\\\\w+)"')).toContain("at least one named capture must be supplied");
    expect(parseError('{a="b"} | pattern "foo"')).toContain("at least one capture is required");
    expect(parseError('{a=~"("}')).toContain("parse error at line 1, col 5: error parsing regexp");
    expect(parseError("vector(1) and 1")).toContain("unexpected literal for right leg of logical/set binary operation (and)");
    expect(parseError('rate({a="b"}[1m]) + bool 1')).toContain("bool modifier can only be used on comparison operators");
  });

  test("constructs the grammar accepts but this implementation does not evaluate are named", () => {
    expect(unsupported('{a="b"} |= ip("1.1.1.1")')).toContain("ip() line filter");
    expect(unsupported('{a="b"} | addr = ip("10.0.0.0/8")')).toContain("ip() label filter");
    expect(unsupported('approx_topk(2, rate({a="b"}[1m]))')).toContain("approx_topk");
    expect(unsupported('{a="b"} | line_format "{{ fromJson .a }}"')).toContain('template function "fromJson"');
    expect(unsupported('{a="b"} | line_format "{{ range .a }}x{{ end }}"')).toContain('template action "range"');
    expect(unsupported('{a="b"} | label_format x="{{ nosuchfn .a }}"')).toContain('"nosuchfn"');
  });
});

describe("planLogSelector", () => {
  test("leading single-value line filters are a safe pre-filter, translated to JavaScript regexes", () => {
    const plan = planLogSelector(
      parseLogQL('{a="b"} |= "x" != "y" |~ "(?i)err.r" |= "p" or "q" | json |= "z" | line_format "{{.m}}" |= "after"'),
    );
    expect(plan.matchers).toEqual([{ name: "a", op: "=", value: "b" }]);
    expect(plan.lineFilters).toEqual([
      { op: "contains", value: "x" },
      { op: "not_contains", value: "y" },
      { op: "regexp", value: "err[^\\n]r", ignoreCase: true },
      { op: "contains", value: "z" },
    ]);
  });

  test("for a metric query, the selector inside its range aggregation", () => {
    const plan = planLogSelector(parseLogQL('sum by (x) (count_over_time({a="b"} |= "needle" [1m]))'));
    expect(plan.matchers).toEqual([{ name: "a", op: "=", value: "b" }]);
    expect(plan.lineFilters).toEqual([{ op: "contains", value: "needle" }]);
  });
});
