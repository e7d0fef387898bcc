// The Server-Sent Events reader, against the HTML standard's interpretation rules: events split
// across chunks, CRLF / LF / CR line ends, comments, multi-line data, fields without values.
import { describe, expect, test } from "bun:test";
import { SseParser, type SseEvent } from "../../src/cli/sse.ts";

const feed = (chunks: string[]): SseEvent[] => {
  const p = new SseParser();
  return chunks.flatMap((c) => p.push(c));
};

/** The events with type and data only (most tests do not care about ids). */
const brief = (events: SseEvent[]) => events.map(({ type, data }) => ({ type, data }));

const CONTRACT_STREAM = [
  ": heartbeat",
  "",
  "event: line",
  'data: {"time":"2018-05-03T12:04:57Z","log":"a: b","stream":"stdout"}',
  "",
  "event: dropped",
  'data: {"dropped":123}',
  "",
  ": heartbeat",
  "",
].join("\n");

const CONTRACT_EVENTS = [
  { type: "line", data: '{"time":"2018-05-03T12:04:57Z","log":"a: b","stream":"stdout"}' },
  { type: "dropped", data: '{"dropped":123}' },
];

describe("SseParser", () => {
  test("the contract's events; comments dispatch nothing", () => {
    expect(brief(feed([CONTRACT_STREAM]))).toEqual(CONTRACT_EVENTS);
  });

  test("LF, CRLF and CR line ends give the same events", () => {
    expect(brief(feed([CONTRACT_STREAM.replaceAll("\n", "\r\n")]))).toEqual(CONTRACT_EVENTS);
    expect(brief(feed([CONTRACT_STREAM.replaceAll("\n", "\r")]))).toEqual(CONTRACT_EVENTS);
  });

  test("cut at every offset, with each line-end style (a CRLF cut between CR and LF included)", () => {
    for (const eol of ["\n", "\r\n", "\r"]) {
      const text = CONTRACT_STREAM.replaceAll("\n", eol);
      const wrongAt: number[] = [];
      for (let i = 0; i <= text.length; i++) {
        if (!Bun.deepEquals(brief(feed([text.slice(0, i), text.slice(i)])), CONTRACT_EVENTS)) wrongAt.push(i);
      }
      expect({ eol, wrongAt }).toEqual({ eol, wrongAt: [] });
      expect(brief(feed([...text]))).toEqual(CONTRACT_EVENTS);
    }
  });

  test("a CRLF split across chunks is one line end, not an extra blank line", () => {
    // If the LF after a chunk-ending CR counted as a blank line, the first data line would dispatch alone.
    expect(brief(feed(["data: a\r", "\ndata: b\r\n\r\n"]))).toEqual([{ type: "message", data: "a\nb" }]);
  });

  test("multi-line data joins with \\n; one space after the colon is dropped, no more", () => {
    expect(brief(feed(["event: line\ndata: one\ndata:two\ndata:   three\ndata\n\n"]))).toEqual([
      { type: "line", data: "one\ntwo\n  three\n" },
    ]);
  });

  test("no event field: message; no data: nothing dispatched, and the type does not leak on", () => {
    expect(brief(feed(["event: dropped\n\ndata: x\n\n"]))).toEqual([{ type: "message", data: "x" }]);
  });

  test("comments between fields of one event do not end it", () => {
    expect(brief(feed(["event: line\n: keep-alive\ndata: x\n:another\n\n"]))).toEqual([{ type: "line", data: "x" }]);
  });

  test("an event without its closing blank line is not dispatched (yet)", () => {
    const p = new SseParser();
    expect(p.push("event: line\ndata: x\n")).toEqual([]);
    expect(brief(p.push("\n"))).toEqual([{ type: "line", data: "x" }]);
  });

  test("id is remembered across events; retry and unknown fields are ignored", () => {
    const events = feed(["id: 7\nretry: 5000\nfoo: bar\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"]);
    expect(events).toEqual([
      { type: "message", data: "a", id: "7" },
      { type: "message", data: "b", id: "7" },
      { type: "message", data: "c", id: "" },
    ]);
  });

  test("a data value holding colons and JSON is kept whole", () => {
    expect(brief(feed(['data: {"log":"a: b :c","x":"::"}\n\n']))).toEqual([
      { type: "message", data: '{"log":"a: b :c","x":"::"}' },
    ]);
  });
});
