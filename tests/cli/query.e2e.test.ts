// `logs` without -f, end to end: the client as a real process (bun src/main.ts logs ...) against the
// stand-in server of contract-server.ts, which tells what it was asked and pages on cue (see
// server.e2e.test.ts for the client against the real server).
import { afterAll, describe, expect, test } from "bun:test";
import { runCli, runCliCounting, startCli } from "./cli-process.ts";
import { line, startStandIn, type StoredLine } from "./contract-server.ts";

const lines: StoredLine[] = [
  line({ time: "2018-05-03T12:00:00Z", log: "nginx starting\n" }),
  line({ time: "2018-05-03T12:00:01.5Z", log: "sidecar up", container_name: "sidecar", stream: "stderr" }),
  line({ time: "2018-05-03T12:00:02.000000001Z", log: 'GET /{"a":[1,2]} "quoted" \\ back\tslash é 🎉' }),
  line({ time: "2018-05-03T12:00:03Z", log: "other pod", pod_name: "web-2", labels: { app: "web" } }),
  line({ time: "2018-05-03T12:00:04Z", log: "db line", pod_name: "db-0", container_name: "postgres", labels: { app: "db" } }),
  line({ time: "2018-05-03T12:00:05Z", log: "elsewhere", namespace: "other" }),
];

const server = startStandIn({ lines });
const paged = startStandIn({ lines, pageSize: 2 });
const secured = startStandIn({ lines, token: "s3cret", user: "ann:pw" });
afterAll(async () => {
  await Promise.all([server.stop(), paged.stop(), secured.stop()]);
});

/** The parameters of the last request the server saw. */
const lastParams = (s: { requests: URL[] }) => Object.fromEntries(s.requests.at(-1)!.searchParams);

describe("logs (GET /query)", () => {
  test("one container: the text only, one line each, a line's own newline kept single", async () => {
    const r = await runCli(["-n", "shop", "web-1", "-c", "nginx"], { server: server.url });
    expect(r).toEqual({ code: 0, stdout: 'nginx starting\nGET /{"a":[1,2]} "quoted" \\ back\tslash é 🎉\n', stderr: "" });
    expect(lastParams(server)).toEqual({
      namespace: "shop",
      pod_name: "web-1",
      container_name: "nginx",
      start_time: "1970-01-01T00:00:00Z",
    });
  });

  test("a pod's containers with --prefix --timestamps, as kubectl prints them", async () => {
    const r = await runCli(["--namespace=shop", "pod/web-1", "--prefix", "--timestamps"], { server: server.url });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      [
        "[pod/web-1/nginx] 2018-05-03T12:00:00Z nginx starting",
        "[pod/web-1/sidecar] 2018-05-03T12:00:01.5Z sidecar up",
        '[pod/web-1/nginx] 2018-05-03T12:00:02.000000001Z GET /{"a":[1,2]} "quoted" \\ back\tslash é 🎉',
        "",
      ].join("\n"),
    );
    expect(lastParams(server)).not.toHaveProperty("container_name");
  });

  test("-l with --tail: the last N lines of the selected pods, in time order", async () => {
    const r = await runCli(["-n", "shop", "-l", "app=web", "--tail=2", "--prefix"], { server: server.url });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe('[pod/web-1/nginx] GET /{"a":[1,2]} "quoted" \\ back\tslash é 🎉\n[pod/web-2/nginx] other pod\n');
    expect(lastParams(server)).toEqual({ namespace: "shop", selector: "app=web", tail: "2" });
  });

  test("--grep and --since-time reach the server", async () => {
    const r = await runCli(["-n", "shop", "-l", "app=web", "--grep", "o.h", "--since-time", "2018-05-03T12:00:01Z"], {
      server: server.url,
    });
    expect(r).toEqual({ code: 0, stdout: "other pod\n", stderr: "" });
    expect(lastParams(server)).toMatchObject({ regexp: "o.h", start_time: "2018-05-03T12:00:01Z" });
  });

  test("next_cursor is followed until the answer has none: every line once, in order", async () => {
    const before = paged.requests.length;
    const r = await runCli(["-n", "shop", "-l", "app=web", "--server", paged.url], { server: "http://127.0.0.1:1" });
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")).toEqual(["nginx starting", "sidecar up", expect.stringContaining("GET /"), "other pod", ""]);
    const cursors = paged.requests.slice(before).map((u) => u.searchParams.get("cursor"));
    expect(cursors).toEqual([null, "2"]);
  });

  test("lines are printed while the answer is still arriving", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = startStandIn({ lines, beforeRow: (i) => (i === 2 ? held : undefined) });
    try {
      const cli = startCli(["-n", "shop", "web-1"], { server: slow.url });
      await cli.waitFor(({ stdout }) => stdout === "nginx starting\nsidecar up\n");
      release();
      expect(await cli.exited).toBe(0);
      expect(cli.stdout()).toEndWith('sidecar up\nGET /{"a":[1,2]} "quoted" \\ back\tslash é 🎉\n');
    } finally {
      release();
      await slow.stop();
    }
  });

  test("a large answer streams through whole", async () => {
    const many = Array.from({ length: 20_000 }, (_, i) =>
      line({ time: new Date(Date.UTC(2018, 4, 3) + i).toISOString(), log: `line ${i} {"n":${i}} ${"x".repeat(i % 50)}` }),
    );
    const big = startStandIn({ lines: many });
    try {
      const r = await runCli(["-n", "shop", "web-1", "-c", "nginx"], { server: big.url, timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      const out = r.stdout.split("\n");
      expect(out.length).toBe(many.length + 1);
      expect(out[19_999]).toBe(`line 19999 {"n":19999} ${"x".repeat(19_999 % 50)}`);
    } finally {
      await big.stop();
    }
  });

  test("an answer far larger than memory allows passes through: the client never holds it whole", async () => {
    // 660 MB of rows, generated as they are sent (the stand-in keeps its lines in memory).
    const rowCount = 1_200_000;
    const filler = "z".repeat(480);
    const encoder = new TextEncoder();
    const huge = Bun.serve({
      port: 0,
      fetch() {
        let i = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            let chunk = i === 0 ? '{"log_rows":[' : "";
            for (const end = Math.min(i + 128, rowCount); i < end; i++) {
              chunk += `${i > 0 ? "," : ""}{"time":"2018-05-03T12:00:00.${String(i).padStart(9, "0")}Z","log":"${i} {\\"x\\":[${i}]} ${filler}","stream":"stdout"}`;
            }
            if (i === rowCount) {
              c.enqueue(encoder.encode(chunk + "]}"));
              c.close();
            } else c.enqueue(encoder.encode(chunk));
          },
        });
        return new Response(body, { headers: { "content-type": "application/json" } });
      },
    });
    try {
      const r = await runCliCounting(["web-1", "-c", "c", "--server", huge.url.href], {
        server: huge.url.href,
        timeoutMs: 90_000,
      });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      let printedBytes = 0; // each row's text and a newline
      for (let i = 0; i < rowCount; i++) printedBytes += `${i} {"x":[${i}]} ${filler}\n`.length;
      expect(r.stdoutBytes).toBe(printedBytes);
      expect(r.stdoutEnd).toEndWith(`\n${rowCount - 1} {"x":[${rowCount - 1}]} ${filler}\n`);
      // The client's modules take about 40 MB, and garbage comes and goes: 130 to 250 MB seen on
      // a quiet machine, up to 440 MB on a loaded one (the collector runs behind). The answer is
      // over 660 MB (twice that as JavaScript strings), which a client that held it whole would
      // exceed.
      expect(r.maxRss).toBeGreaterThan(0);
      expect(r.maxRss).toBeLessThan(600 * 1024 * 1024);
    } finally {
      await huge.stop(true);
    }
  }, 70_000);

  test("an answer cut mid-way: the lines before it, then one error line, exit 1", async () => {
    const cut = startStandIn({ lines, cutAfterRows: 1 });
    try {
      const r = await runCli(["-n", "shop", "web-1"], { server: cut.url });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("nginx starting\n");
      expect(r.stderr).toMatch(/^error: the answer of http:\/\/127\.0\.0\.1:\d+\/query was cut off: [^\n]+\n$/);
    } finally {
      await cut.stop();
    }
  });
});

describe("credentials and errors", () => {
  test("--token sends a bearer token, --user basic auth, the environment either", async () => {
    for (const [args, env] of [
      [["--token", "s3cret"], {}],
      [["--user", "ann:pw"], {}],
      [[], { KUBE_INSIGHT_TOKEN: "s3cret" }],
      [[], { KUBE_INSIGHT_USER: "ann:pw" }],
    ] as [string[], Record<string, string>][]) {
      const r = await runCli(["-n", "other", "web-1", ...args], { server: secured.url, env });
      expect({ args, env, ...r }).toEqual({ args, env, code: 0, stdout: "elsewhere\n", stderr: "" });
    }
  });

  test("a refusal is one line, error: <message>: <detail>, exit 1", async () => {
    const r = await runCli(["-n", "shop", "web-1", "--token", "wrong"], { server: secured.url });
    expect(r).toEqual({ code: 1, stdout: "", stderr: "error: unauthorized: missing or wrong credentials\n" });
  });

  test("a 400 naming the parameter", async () => {
    const r = await runCli(["-n", "shop", "web-1", "--grep", "("], { server: server.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: invalid query parameter: regexp: [^\n]+\n$/);
  });

  test("no server: one line naming it, exit 1", async () => {
    const r = await runCli(["web-1"], { server: "http://127.0.0.1:1" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: cannot connect to http:\/\/127\.0\.0\.1:1: [^\n]+\n$/);
  });

  test("a bad flag: exit 2, the error and the usage on stderr, no request", async () => {
    const before = server.requests.length;
    const r = await runCli(["web-1", "--tail=many"], { server: server.url });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toStartWith('error: invalid argument "many" for --tail');
    expect(r.stderr).toContain("usage: kube-insight-logserver logs");
    expect(server.requests.length).toBe(before);
  });

  test("no POD and no -l: kubectl's error, exit 2", async () => {
    const r = await runCli(["-n", "shop"], { server: server.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith("error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'\n");
  });

  test("logs --help: the client's usage on stdout, exit 0", async () => {
    const r = await runCli(["--help"], { server: server.url });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("usage: kube-insight-logserver logs");
    expect(r.stdout).toContain("--since-time");
    expect(r.stderr).toBe("");
  });
});
