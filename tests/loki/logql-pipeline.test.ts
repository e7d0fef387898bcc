// The per-line pipeline of LogQL, stage by stage, with the answers Loki's pkg/logql/log gives:
// parsed labels, collisions (`_extracted`), first-parser-wins, __error__ / __error_details__,
// templates, drop/keep, and detected_level.
import { describe, expect, test } from "bun:test";
import { detectLevel, parseLogQL, planLogSelector } from "../../src/loki/logql/index.ts";

const TS = 1_700_000_000_123_456_789n;
const STREAM = { app: "api", namespace: "prod" };

function run(q: string, line: string, labels: Record<string, string> = STREAM, metadata?: Record<string, string>) {
  const plan = planLogSelector(parseLogQL(`{app="api"} ${q}`));
  const r = plan.pipeline.process(line, TS, labels, metadata);
  return r === null
    ? null
    : { line: r.line, labels: Object.fromEntries(Object.entries(r.labels).sort(([a], [b]) => (a < b ? -1 : 1))) };
}

describe("line filters", () => {
  test("contains, regex, negations, or", () => {
    expect(run('|= "GET"', "GET /x")?.line).toBe("GET /x");
    expect(run('|= "get"', "GET /x")).toBeNull();
    expect(run('!= "GET"', "GET /x")).toBeNull();
    expect(run('|~ "(?i)get\\\\s+/x"', "GET /x")).not.toBeNull();
    expect(run('!~ "^GET"', "GET /x")).toBeNull();
    expect(run('|= "a" or "GET"', "GET /x")).not.toBeNull();
    expect(run('|= "a" or "b"', "GET /x")).toBeNull();
    // `!= "a" or "b"`: neither may appear.
    expect(run('!= "x" or "b"', "GET /x")).toBeNull();
    expect(run('!= "a" or "b"', "GET /x")).not.toBeNull();
    expect(run('|= ""', "anything")).not.toBeNull();
  });

  test("Go regex syntax: named groups, \\z, and . matching \\r but not \\n", () => {
    expect(run('|~ "(?P<verb>GET) /x\\\\z"', "GET /x")).not.toBeNull();
    expect(run('|~ "a.b"', "a\rb")).not.toBeNull();
    expect(run('|~ "a.b"', "a\nb")).toBeNull();
    expect(run('|~ "(?s)a.b"', "a\nb")).not.toBeNull();
  });

  test("pattern filters", () => {
    expect(run('|> "<_> GET <_>"', "1.2.3.4 GET /x")).not.toBeNull();
    expect(run('|> "<_> POST <_>"', "1.2.3.4 GET /x")).toBeNull();
    expect(run('!> "<_> GET <_>"', "1.2.3.4 GET /x")).toBeNull();
  });
});

describe("parsers", () => {
  test("json: nested keys flattened with _, raw numbers, booleans, nulls and arrays skipped", () => {
    const r = run(
      "| json",
      '{"msg":"hi","lat":1.50,"ok":true,"nil":null,"arr":[1,2],"req":{"method":"GET","h":{"x-id":"7"}},"2x":"d"}',
    );
    expect(r!.labels).toEqual({ ...STREAM, _2x: "d", lat: "1.50", msg: "hi", ok: "true", req_h_x_id: "7", req_method: "GET" });
  });

  test("json: a key naming a stream label gets _extracted; the first parser wins", () => {
    const r = run("| json | logfmt", '{"app":"other","namespace":"n2","level":"warn"}');
    expect(r!.labels).toEqual({ ...STREAM, app_extracted: "other", namespace_extracted: "n2", level: "warn" });
    const r2 = run('| json | label_format level="x" | json', '{"level":"warn"}');
    expect(r2!.labels.level).toBe("x");
  });

  test("json: structured metadata collides too", () => {
    const r = run("| json", '{"trace_id":"t2"}', STREAM, { trace_id: "t1" });
    expect(r!.labels).toEqual({ ...STREAM, trace_id: "t1", trace_id_extracted: "t2" });
  });

  test("json errors: JSONParserErr with details, the line kept, the fields before the error kept", () => {
    const r = run("| json", "not json");
    expect(r!.line).toBe("not json");
    expect(r!.labels.__error__).toBe("JSONParserErr");
    expect(r!.labels.__error_details__).toBeString();
    const partial = run("| json", '{"a":"1", "b":');
    expect(partial!.labels).toMatchObject({ a: "1", __error__: "JSONParserErr" });
    expect(run('| json | __error__=""', "not json")).toBeNull();
    expect(run('| json | __error__!=""', "not json")).not.toBeNull();
    expect(run("| json | drop __error__, __error_details__", "not json")!.labels).toEqual(STREAM);
  });

  test("json with parameters: paths, arrays, missing fields become empty", () => {
    const r = run(
      '| json m="req.method", first="items[0]", q="[\\"a.b\\"]", none="nope"',
      '{"req":{"method":"GET"},"items":["x","y"],"a.b":"dot"}',
    );
    expect(r!.labels).toEqual({ ...STREAM, m: "GET", first: "x", q: "dot", none: "" });
  });

  test("logfmt: quoted values, empty values dropped unless --keep-empty, --strict errors", () => {
    expect(run("| logfmt", 'level=info msg="hello world" empty= flag')!.labels).toEqual({
      ...STREAM,
      level: "info",
      msg: "hello world",
    });
    expect(run("| logfmt --keep-empty", "a= b=1")!.labels).toEqual({ ...STREAM, a: "", b: "1" });
    expect(run("| logfmt", 'a=1 b="unterminated')!.labels).toEqual({ ...STREAM, a: "1" });
    const strict = run("| logfmt --strict", "a=1 =x b=2")!.labels;
    expect(strict.__error__).toBe("LogfmtParserErr");
    expect(strict.__error_details__).toBe("logfmt syntax error at pos 5 : unexpected '='");
    expect(strict.a).toBe("1");
    expect(strict.b).toBeUndefined();
  });

  test("logfmt with parameters", () => {
    expect(run('| logfmt lvl="level", msg', "level=warn msg=hi other=1")!.labels).toEqual({ ...STREAM, lvl: "warn", msg: "hi" });
  });

  test("regexp with Go named groups; pattern; unpack", () => {
    expect(run('| regexp "(?P<method>\\\\w+) (?P<path>\\\\S+)"', "GET /api 200")!.labels).toEqual({
      ...STREAM,
      method: "GET",
      path: "/api",
    });
    expect(run('| regexp "(?P<app>\\\\w+)"', "GET")!.labels).toEqual({ ...STREAM, app_extracted: "GET" });
    expect(run('| pattern "<ip> - <_> \\"<method> <path> <_>\\" <status>"', '1.2.3.4 - - "GET /x HTTP/1.1" 200')!.labels).toEqual(
      {
        ...STREAM,
        ip: "1.2.3.4",
        method: "GET",
        path: "/x",
        status: "200",
      },
    );
    const u = run("| unpack", '{"_entry":"the line","pod":"p1","n":3}');
    expect(u).toEqual({ line: "the line", labels: { ...STREAM, pod: "p1" } });
    expect(run("| unpack", "[1]")!.labels.__error__).toBe("JSONParserErr");
  });
});

describe("label filters", () => {
  const line = '{"status":"503","latency":"250ms","size":"2KB","name":"api-7"}';
  test("numeric, duration, bytes and string comparisons", () => {
    expect(run("| json | status >= 500", line)).not.toBeNull();
    expect(run("| json | status < 500", line)).toBeNull();
    expect(run("| json | status == 503", line)).not.toBeNull();
    expect(run("| json | latency > 200ms", line)).not.toBeNull();
    expect(run("| json | latency > 1s", line)).toBeNull();
    expect(run("| json | size >= 2KB and size < 2KiB", line)).not.toBeNull();
    expect(run('| json | name=~"api-.*"', line)).not.toBeNull();
    expect(run('| json | name=~"api"', line)).toBeNull();
    expect(run('| json | status < 500 or name="api-7"', line)).not.toBeNull();
    expect(run('| json | (status < 500 or name="x"), latency > 1ms', line)).toBeNull();
    expect(run("| json | missing > 1", line)).toBeNull();
    expect(run('| json | missing != "x"', line)).not.toBeNull();
  });

  test("a value that does not convert keeps the line with LabelFilterErr", () => {
    const r = run("| json | name > 5", line);
    expect(r!.labels.__error__).toBe("LabelFilterErr");
    expect(r!.labels.__error_details__).toBe('strconv.ParseFloat: parsing "api-7": invalid syntax');
    expect(run("| json | latency > 5", line)!.labels.__error__).toBe("LabelFilterErr");
  });
});

describe("formatters", () => {
  const line = '{"level":"warn","msg":"disk  full","user":"ana","n":"3"}';
  test("line_format: fields, functions, pipelines, if/else, __line__, __timestamp__", () => {
    expect(run('| json | line_format "{{.level}}"', line)!.line).toBe("warn");
    expect(run('| json | line_format "{{.nope}}"', line)!.line).toBe("");
    expect(run('| json | line_format "{{ .level | ToUpper }}: {{.msg}}"', line)!.line).toBe("WARN: disk  full");
    expect(
      run('| json | line_format `{{ if eq .level "warn" }}W{{ else if eq .level "error" }}E{{ else }}-{{ end }}`', line)!.line,
    ).toBe("W");
    expect(run('| json | line_format `{{ if ne .level "warn" }}x{{ else }}y{{ end }}`', line)!.line).toBe("y");
    expect(
      run("| json | line_format `{{ title .user }} {{ upper .user }} {{ .user | trunc 2 }} {{ substr 1 3 .user }}`", line)!.line,
    ).toBe("Ana ANA an na");
    expect(
      run(
        '| json | line_format `{{ replace " " "_" .msg }} {{ regexReplaceAll "(\\\\w+)\\\\s+(\\\\w+)" .msg "${2}-$1" }}`',
        line,
      )!.line,
    ).toBe("disk__full full-disk");
    expect(
      run('| json | line_format `{{ .missing | default "none" }} {{ len .user }} {{ printf "%s=%d" .user 3 }}`', line)!.line,
    ).toBe("none 3 ana=3");
    expect(
      run('| json | line_format `{{ contains "full" .msg }} {{ hasPrefix "di" .msg }} {{ hasSuffix "x" .msg }}`', line)!.line,
    ).toBe("true true false");
    expect(
      run("| json | line_format `{{ add .n 2 }} {{ mul 2 3 }} {{ addf 0.1 0.2 }} {{ div 7 2 }} {{ divf 1 4 }}`", line)!.line,
    ).toBe("5 6 0.3 3 0.25");
    expect(run("| line_format `[{{ __line__ }}]`", "raw")!.line).toBe("[raw]");
    expect(run("| line_format `{{ __timestamp__ | unixEpoch }} {{ __timestamp__ | unixEpochMillis }}`", "x")!.line).toBe(
      "1700000000 1700000000123",
    );
    expect(run('| line_format `{{ __timestamp__ | date "2006-01-02T15:04:05.000Z07:00" }}`', "x")!.line).toBe(
      "2023-11-14T22:13:20.123Z",
    );
    expect(run('| line_format `{{- " a " -}}  {{ "b" }}`', "x")!.line).toBe(" a b");
    expect(
      run(
        '| line_format `{{ TrimSpace "  x " }}|{{ trimPrefix "a" "abc" }}|{{ trimSuffix "c" "abc" }}|{{ alignRight 4 "ab" }}`',
        "x",
      )!.line,
    ).toBe("x|bc|ab|  ab");
  });

  test("a template error keeps the line with TemplateFormatErr", () => {
    const r = run("| json | line_format `{{ eq .n 3 }}`", line);
    expect(r!.line).toBe(line);
    expect(r!.labels.__error__).toBe("TemplateFormatErr");
    expect(r!.labels.__error_details__).toContain("incompatible types for comparison");
  });

  test("label_format: rename dst=src, templates, several at once", () => {
    expect(run("| json | label_format severity=level", line)!.labels).toEqual({
      ...STREAM,
      severity: "warn",
      msg: "disk  full",
      user: "ana",
      n: "3",
    });
    const r = run("| json | label_format who=`{{.user}}@{{.app}}`, level=`{{ .level | ToUpper }}`", line)!.labels;
    expect(r.who).toBe("ana@api");
    expect(r.level).toBe("WARN");
    // Renaming over a stream label replaces it.
    expect(run("| label_format namespace=app", "x")!.labels).toEqual({ namespace: "api" });
  });

  test("drop and keep, by name and by matcher; decolorize", () => {
    expect(run('| json | drop msg, n, user="bob"', line)!.labels).toEqual({ ...STREAM, level: "warn", user: "ana" });
    expect(run('| json | drop user=~"a.*"', line)!.labels.user).toBeUndefined();
    expect(run('| json | keep level, user="bob"', line)!.labels).toEqual({ level: "warn" });
    expect(run("| json | keep app, level", "not json")!.labels).toMatchObject({ app: "api", __error__: "JSONParserErr" });
    expect(run("| decolorize", "\u001b[31mred\u001b[0m plain")!.line).toBe("red plain");
  });
});

describe("detectLevel", () => {
  test("from labels first, then structured metadata, then the line", () => {
    expect(detectLevel("error here", { level: "WARNING" })).toBe("warn");
    expect(detectLevel("error here", { lvl: "notice" })).toBe("notice");
    expect(detectLevel("x", {}, { severity: "ERR" })).toBe("error");
    expect(detectLevel("x", {}, { severity_number: "17" })).toBe("error");
  });

  test("json and logfmt level fields, then level words as whole words", () => {
    expect(detectLevel('{"level":"dbg","msg":"error"}')).toBe("debug");
    expect(detectLevel('{"log":{"level":"Fatal"}}')).toBe("fatal");
    expect(detectLevel('{"msg":"an error occurred"}')).toBe("error");
    expect(detectLevel("ts=1 lvl=info msg=x")).toBe("info");
    expect(detectLevel("ts=1 msg=x")).toBe("unknown");
    expect(detectLevel("2024-01-01 [WARN] disk low, error soon")).toBe("warn");
    expect(detectLevel("E0101 something failed: err=timeout")).toBe("error");
    expect(detectLevel("terror informational")).toBe("unknown");
    expect(detectLevel("nothing to see")).toBe("unknown");
  });
});
