// `logs -f`, end to end: the client as a real process against the stand-in server of
// contract-server.ts, for what the real one cannot be made to do on cue (see server.e2e.test.ts for
// the real one). Restarts are real: the stand-in stops listening and cuts its connections, then
// listens again on the same port.
import { afterEach, describe, expect, test } from "bun:test";
import { startCli, type RunningCli } from "./cli-process.ts";
import { line, startStandIn, type StandIn } from "./contract-server.ts";

const T1 = "2018-05-03T12:00:01Z";
const T2 = "2018-05-03T12:00:02.5Z";

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  cleanup = [];
});

function standIn(...args: Parameters<typeof startStandIn>): StandIn {
  const s = startStandIn(...args);
  cleanup.push(() => s.stop());
  return s;
}
function cli(args: string[], server: string, timeoutMs = 20_000): RunningCli {
  const c = startCli(args, { server, timeoutMs });
  cleanup.push(() => c.interrupt(1000));
  return c;
}

/** Waits (bounded) until the stand-in has served `n` /tail requests in all. */
async function tailRequests(s: StandIn, n: number, timeoutMs = 5000): Promise<URL[]> {
  const deadline = Date.now() + timeoutMs;
  const tails = () => s.requests.filter((u) => u.pathname === "/tail");
  while (tails().length < n || s.openStreams() < 1) {
    if (Date.now() > deadline)
      throw new Error(`${tails().length} /tail requests (${s.openStreams()} open) within ${timeoutMs} ms, expected ${n}`);
    await Bun.sleep(20);
  }
  return tails();
}

describe("logs -f (GET /tail)", () => {
  test("first lines, live lines, a dropped warning; after the stream closes, resumes without repeating a line; Ctrl-C exits 0", async () => {
    const s = standIn({
      lines: [
        line({ time: T1, log: "a" }),
        line({ time: T2, log: "b" }),
        line({ time: T2, log: "c" }),
        line({ time: T2, log: "c" }), // two identical lines of one nanosecond are two lines
      ],
    });
    const c = cli(["-f", "-n", "shop", "web-1", "-c", "nginx", "--timestamps"], s.url);
    await c.waitFor(({ stdout }) => stdout.split("\n").length === 5);
    expect(c.stdout()).toBe(`${T1} a\n${T2} b\n${T2} c\n${T2} c\n`);
    const [first] = await tailRequests(s, 1);
    expect(Object.fromEntries(first!.searchParams)).toEqual({
      namespace: "shop",
      pod_name: "web-1",
      container_name: "nginx",
      start_time: "1970-01-01T00:00:00Z", // all of a pod's lines first, as kubectl -f
    });

    s.dropped(42);
    await c.waitFor(({ stderr }) => stderr.includes("\n"));
    expect(c.stderr()).toBe("warning: 42 lines dropped: the client reads too slowly\n");

    // The server goes away mid-stream; meanwhile a third identical "c" is written at T2.
    s.closeStreams();
    s.push(line({ time: T2, log: "c" }));
    const requests = await tailRequests(s, 2);
    expect(Object.fromEntries(requests[1]!.searchParams)).toEqual({
      namespace: "shop",
      pod_name: "web-1",
      container_name: "nginx",
      start_time: T2,
    });
    s.push(line({ time: "2018-05-03T12:00:03Z", log: "d" }));
    await c.waitFor(({ stdout }) => stdout.includes(" d\n"));
    // The replay from T2 brought b, c, c, c: only the third c is new.
    expect(c.stdout()).toBe(`${T1} a\n${T2} b\n${T2} c\n${T2} c\n${T2} c\n2018-05-03T12:00:03Z d\n`);

    expect(await c.interrupt()).toBe(0);
    expect(c.stderr()).toBe("warning: 42 lines dropped: the client reads too slowly\n");
  });

  test("a server restart: refused connections are retried every second until it listens again", async () => {
    const s = standIn({ lines: [line({ time: T1, log: "before" })] });
    const c = cli(["-f", "-n", "shop", "-l", "app=web", "--prefix"], s.url);
    await c.waitFor(({ stdout }) => stdout === "[pod/web-1/nginx] before\n");
    expect((await tailRequests(s, 1))[0]!.searchParams.get("tail")).toBe("10"); // kubectl's -f -l default

    await s.stop();
    s.push(line({ time: T2, log: "written while the server was down", pod_name: "web-2" }));
    await Bun.sleep(2500); // a few refused attempts
    s.start();
    await c.waitFor(({ stdout }) => stdout.includes("down"), 5000);
    s.push(line({ time: "2018-05-03T12:00:03Z", log: "after" }));
    await c.waitFor(({ stdout }) => stdout.includes("after"));
    expect(c.stdout()).toBe(
      "[pod/web-1/nginx] before\n[pod/web-2/nginx] written while the server was down\n[pod/web-1/nginx] after\n",
    );
    const resumed = s.requests.filter((u) => u.pathname === "/tail").at(-1)!;
    expect(resumed.searchParams.get("start_time")).toBe(T1);
    expect(resumed.searchParams.has("tail")).toBe(false);
    expect(await c.interrupt()).toBe(0);
    expect(c.stderr()).toBe("");
  });

  test("Ctrl-C while the server is away ends the retrying at once, exit 0", async () => {
    const s = standIn({ lines: [line({ time: T1, log: "only" })] });
    const c = cli(["-f", "-n", "shop", "web-1"], s.url);
    await c.waitFor(({ stdout }) => stdout === "only\n");
    await s.stop();
    await Bun.sleep(1500);
    const t0 = Date.now();
    expect(await c.interrupt(3000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(c.stdout()).toBe("only\n");
    expect(c.stderr()).toBe("");
  });

  test("--tail and --since choose the first lines", async () => {
    const s = standIn({ lines: Array.from({ length: 5 }, (_, i) => line({ time: `2018-05-03T12:00:0${i}Z`, log: `l${i}` })) });
    const c = cli(["-f", "-n", "shop", "web-1", "--tail=2"], s.url);
    await c.waitFor(({ stdout }) => stdout === "l3\nl4\n");
    expect(await c.interrupt()).toBe(0);
    const since = cli(["-f", "-n", "shop", "web-1", "--since=1h"], s.url);
    await tailRequests(s, 2);
    expect(s.requests.at(-1)!.searchParams.get("since")).toBe("1h");
    expect(await since.interrupt()).toBe(0);
    expect(since.stdout()).toBe(""); // 2018 is more than an hour ago
  });

  test("no server at the start: one error line, exit 1 (no retrying before the first answer)", async () => {
    const c = cli(["-f", "web-1"], "http://127.0.0.1:1");
    expect(await c.exited).toBe(1);
    expect(c.stderr()).toMatch(/^error: cannot connect to http:\/\/127\.0\.0\.1:1: [^\n]+\n$/);
  });

  test("a refusal: one error line, exit 1", async () => {
    const s = standIn({ token: "right" });
    const c = cli(["-f", "web-1", "--token", "wrong"], s.url);
    expect(await c.exited).toBe(1);
    expect(c.stderr()).toBe("error: unauthorized: missing or wrong credentials\n");
  });
});
