// Request building: which /query and /tail parameters each kubectl flag becomes, and how error answers read.
import { describe, expect, test } from "bun:test";
import { parseLogsArgs, type LogsOptions } from "../../src/cli/args.ts";
import {
  authHeaders,
  describeErrorAnswer,
  endpoint,
  EPOCH,
  queryParams,
  SELECTOR_FOLLOW_TAIL,
  serverName,
  tailParams,
} from "../../src/cli/request.ts";

const opts = (argv: string[], env: Record<string, string> = {}): LogsOptions => {
  const o = parseLogsArgs(argv, env);
  if (o === "help") throw new Error("help");
  return o;
};
/** The parameters as [name, value] pairs, repeats kept, in order. */
const pairs = (p: URLSearchParams) => [...p.entries()];

describe("GET /query", () => {
  test("a pinned container, all lines: the seed parameters only", () => {
    expect(pairs(queryParams(opts(["-n", "shop", "web-1", "-c", "nginx"])))).toEqual([
      ["namespace", "shop"],
      ["pod_name", "web-1"],
      ["container_name", "nginx"],
      ["start_time", EPOCH],
    ]);
  });

  test("a pod without -c leaves container_name out (every container)", () => {
    expect(pairs(queryParams(opts(["web-1"])))).toEqual([
      ["namespace", "default"],
      ["pod_name", "web-1"],
      ["start_time", EPOCH],
    ]);
  });

  test("a selector, with -c across its pods", () => {
    expect(pairs(queryParams(opts(["-l", "app=web", "-c", "nginx"])))).toEqual([
      ["namespace", "default"],
      ["container_name", "nginx"],
      ["selector", "app=web"],
      ["start_time", EPOCH],
    ]);
  });

  test("--since, --since-time, --tail", () => {
    expect(pairs(queryParams(opts(["p", "--since=1h"])))).toContainEqual(["since", "1h"]);
    expect(queryParams(opts(["p", "--since=1h"])).has("start_time")).toBe(false);
    expect(queryParams(opts(["p", "--since-time=2018-05-03T12:04:57Z"])).getAll("start_time")).toEqual(["2018-05-03T12:04:57Z"]);
    const tail = queryParams(opts(["p", "--tail=5"]));
    expect(tail.get("tail")).toBe("5");
    expect(tail.has("start_time")).toBe(false); // the contract: tail alone reads from 0
    const both = queryParams(opts(["p", "--tail=5", "--since=2d"]));
    expect([both.get("tail"), both.get("since")]).toEqual(["5", "2d"]);
  });

  test("--tail -1 means all lines: no tail, the epoch as start", () => {
    const p = queryParams(opts(["p", "--tail", "-1"]));
    expect(p.has("tail")).toBe(false);
    expect(p.get("start_time")).toBe(EPOCH);
    expect(queryParams(opts(["p", "--tail=-1", "--since=1h"])).has("start_time")).toBe(false);
  });

  test("--grep becomes repeated regexp", () => {
    expect(queryParams(opts(["p", "--grep", "a,b", "--grep", "c&d"])).getAll("regexp")).toEqual(["a,b", "c&d"]);
  });
});

describe("GET /tail", () => {
  const startOf = (argv: string[]) => {
    const p = tailParams(opts(argv));
    return { tail: p.get("tail"), since: p.get("since"), start_time: p.get("start_time") };
  };

  test("the first lines: --tail, else --since, else --since-time, else all of a pod, else the last 10 of a selector", () => {
    expect(startOf(["p", "-f", "--tail=3", "--since=1h"])).toEqual({ tail: "3", since: null, start_time: null });
    expect(startOf(["p", "-f", "--since=1h"])).toEqual({ tail: null, since: "1h", start_time: null });
    expect(startOf(["p", "-f", "--since-time=2018-05-03T12:04:57Z"])).toEqual({
      tail: null,
      since: null,
      start_time: "2018-05-03T12:04:57Z",
    });
    expect(startOf(["p", "-f"])).toEqual({ tail: null, since: null, start_time: EPOCH });
    expect(startOf(["-l", "app=web", "-f"])).toEqual({ tail: String(SELECTOR_FOLLOW_TAIL), since: null, start_time: null });
    expect(startOf(["-l", "app=web", "-f", "--tail=-1"])).toEqual({ tail: null, since: null, start_time: EPOCH });
    expect(startOf(["-l", "app=web", "-f", "--tail=0"])).toEqual({ tail: "0", since: null, start_time: null });
  });

  test("a resumed stream starts at the last line's time, whatever the flags asked first", () => {
    const p = tailParams(opts(["-n", "shop", "p", "-c", "nginx", "-f", "--tail=3", "--grep=x"]), "2018-05-03T12:04:57.1Z");
    expect(pairs(p)).toEqual([
      ["namespace", "shop"],
      ["pod_name", "p"],
      ["container_name", "nginx"],
      ["regexp", "x"],
      ["start_time", "2018-05-03T12:04:57.1Z"],
    ]);
  });
});

describe("URLs and headers", () => {
  test("the endpoint sits under the server's path prefix, parameters encoded", () => {
    const o = opts(["-l", 'app=~"a|b,c"', "--server", "https://logs.example/k8s"]);
    const url = endpoint(o, "query", queryParams(o));
    expect(url.origin + url.pathname).toBe("https://logs.example/k8s/query");
    expect(url.searchParams.get("selector")).toBe('app=~"a|b,c"');
    expect(url.search).toContain("selector=app%3D%7E%22a%7Cb%2Cc%22");
    const tail = endpoint(opts(["p", "--server", "http://h:1/"]), "tail", new URLSearchParams());
    expect(tail.href).toBe("http://h:1/tail");
  });

  test("credentials: basic for --user, bearer for --token, none otherwise", () => {
    expect(authHeaders(opts(["p", "--user", "ann:pa:ss"]))).toEqual({
      authorization: `Basic ${Buffer.from("ann:pa:ss").toString("base64")}`,
    });
    expect(authHeaders(opts(["p", "--token", "t0k"]))).toEqual({ authorization: "Bearer t0k" });
    expect(authHeaders(opts(["p"]))).toEqual({});
    expect(authHeaders(opts(["p", "--token", "t0k", "--tenant", "team-a"]))).toEqual({
      authorization: "Bearer t0k",
      "x-scope-orgid": "team-a",
    });
    expect(authHeaders(opts(["p", "--tenant", "team-a"]))).toEqual({ "x-scope-orgid": "team-a" });
  });

  test("the server as errors name it carries no credentials", () => {
    expect(serverName(opts(["p", "--server", "http://ann:secret@h:8080/x/"]))).toBe("http://h:8080/x");
  });
});

describe("error answers", () => {
  const answer = (status: number, body: string, statusText = "") => new Response(body, { status, statusText });

  test("the contract's JSON: message: detail", async () => {
    expect(await describeErrorAnswer(answer(400, '{"message":"invalid query parameter","detail":"regexp: bad"}'))).toBe(
      "invalid query parameter: regexp: bad",
    );
    expect(await describeErrorAnswer(answer(401, '{"message":"unauthorized","detail":""}'))).toBe("unauthorized");
  });

  test("anything else: the status and the first line of the body, cut short", async () => {
    expect(await describeErrorAnswer(answer(502, "<html>\n<body>Bad Gateway</body>", "Bad Gateway"))).toBe(
      "the server answered 502 Bad Gateway: <html>",
    );
    expect(await describeErrorAnswer(answer(503, ""))).toBe("the server answered 503");
    expect((await describeErrorAnswer(answer(500, "x".repeat(10_000)))).length).toBeLessThan(300);
  });
});
