// `logs -f` in-process, where the clock and the signals can be controlled: which lines a resumed
// stream skips, giving up after the server stayed away, a silent (dead) connection, a server that
// answers 5xx while it starts, Ctrl-C, and a reader that went away (EPIPE).
import { afterEach, describe, expect, test } from "bun:test";
import { PrintedLines } from "../../src/cli/follow.ts";
import { DEFAULT_TIMING, type FollowTiming, type LogsIo } from "../../src/cli/io.ts";
import { runLogs } from "../../src/cli/logs.ts";
import type { LogRow } from "../../src/cli/rows.ts";
import { line, startStandIn } from "./contract-server.ts";

const row = (time: string, log: string, pod = "p"): LogRow => ({
  time,
  log,
  stream: "stdout",
  namespace: "ns",
  pod_name: pod,
  container_name: "c",
});

describe("PrintedLines", () => {
  test("before any resume, every line is printed, identical ones included", () => {
    const p = new PrintedLines();
    expect([row("2018-01-01T00:00:01Z", "a"), row("2018-01-01T00:00:01Z", "a")].map((r) => p.admit(r))).toEqual([true, true]);
    expect(p.resume()).toBe("2018-01-01T00:00:01Z");
  });

  test("a resumed stream skips what was printed at the last time, counted, and nothing after it", () => {
    const p = new PrintedLines();
    for (const r of [
      row("2018-01-01T00:00:00Z", "old"),
      row("2018-01-01T00:00:01Z", "a"),
      row("2018-01-01T00:00:01Z", "a"),
      row("2018-01-01T00:00:01Z", "b"),
    ]) {
      p.admit(r);
    }
    expect(p.resume()).toBe("2018-01-01T00:00:01Z");
    const replay = [
      row("2018-01-01T00:00:01.000000000Z", "a"), // the same instant spelled otherwise: still the same time
      row("2018-01-01T00:00:01Z", "b"),
      row("2018-01-01T00:00:01Z", "a"),
      row("2018-01-01T00:00:01Z", "a"), // a third "a": new
      row("2018-01-01T00:00:01Z", "a", "other-pod"), // another pod's line: new
      row("2018-01-01T00:00:02Z", "b"),
      row("2018-01-01T00:00:02Z", "b"), // past the resume point nothing is skipped
    ];
    expect(replay.map((r) => p.admit(r))).toEqual([false, false, false, true, true, true, true]);
  });

  test("lines older than the resume point are skipped; two resumes in a row skip all printed at that time", () => {
    const p = new PrintedLines();
    p.admit(row("2018-01-01T00:00:05Z", "x"));
    p.resume();
    expect(p.admit(row("2018-01-01T00:00:04Z", "late"))).toBe(false);
    expect(p.admit(row("2018-01-01T00:00:05Z", "y"))).toBe(true);
    expect(p.resume()).toBe("2018-01-01T00:00:05Z");
    expect(
      [row("2018-01-01T00:00:05Z", "x"), row("2018-01-01T00:00:05Z", "y"), row("2018-01-01T00:00:05Z", "z")].map((r) =>
        p.admit(r),
      ),
    ).toEqual([false, false, true]);
  });

  test("nothing printed: nothing to resume from", () => {
    expect(new PrintedLines().resume()).toBeUndefined();
  });
});

/** In-process client: collected output, a Ctrl-C button, a fast clock. */
function client(timing: Partial<FollowTiming> = {}, stdout?: (text: string) => Promise<void>) {
  let out = "";
  let err = "";
  let stop: (() => void) | undefined;
  const io: LogsIo = {
    stdout: stdout ?? (async (t) => void (out += t)),
    stderr: (t) => void (err += t),
    onInterrupt: (s) => {
      stop = s;
      return () => (stop = undefined);
    },
    fetch: (url, init) => fetch(url, init),
    timing: { ...DEFAULT_TIMING, ...timing },
  };
  return {
    io,
    out: () => out,
    err: () => err,
    interrupt: () => stop?.(),
    async until(done: () => boolean, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        if (Date.now() > deadline)
          throw new Error(`not within ${timeoutMs} ms; stdout: ${JSON.stringify(out)} stderr: ${JSON.stringify(err)}`);
        await Bun.sleep(10);
      }
    },
  };
}

/** Settles within `ms` or fails: no test waits for ever on the client. */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

let servers: { stop(force?: boolean): unknown }[] = [];
afterEach(async () => {
  for (const s of servers) await s.stop(true);
  servers = [];
});

const T = "2018-05-03T12:00:01Z";
const sse = (body: ReadableStream<Uint8Array> | string) =>
  new Response(body, { headers: { "content-type": "text/event-stream" } });
const lineEvent = (time: string, log: string) => `event: line\ndata: ${JSON.stringify(row(time, log))}\n\n`;

describe("logs -f, reconnecting", () => {
  test("gives up, exit 1, when the server stays away past the bound", async () => {
    const s = startStandIn({ lines: [line({ time: T, log: "x" })] });
    servers.push(s);
    const c = client({ retryEveryMs: 50, giveUpAfterMs: 1000 });
    const run = runLogs(["-f", "-n", "shop", "web-1", "--server", s.url], {}, c.io);
    await c.until(() => c.out() === "x\n");
    const t0 = Date.now();
    await s.stop();
    expect(await within(run, 5000)).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(c.err()).toMatch(
      /^error: lost the connection to http:\/\/127\.0\.0\.1:\d+ and could not reconnect within 1s: cannot connect to [^\n]+\n$/,
    );
  });

  test("a silent connection (no heartbeat) counts as dropped: reconnects from the last line", async () => {
    const urls: URL[] = [];
    const server = Bun.serve({
      port: 0,
      idleTimeout: 0,
      fetch(req) {
        urls.push(new URL(req.url));
        // One line, then silence while the connection stays open, as a dead peer behind a NAT.
        return sse(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode(lineEvent(T, "once"))) }));
      },
    });
    servers.push(server);
    const c = client({ idleTimeoutMs: 300, retryEveryMs: 50 });
    const run = runLogs(["-f", "web-1", "--server", server.url.href], {}, c.io);
    await c.until(() => urls.length >= 3);
    c.interrupt();
    expect(await within(run, 2000)).toBe(0);
    expect(c.out()).toBe("once\n"); // replays skipped
    expect(urls[1]!.searchParams.get("start_time")).toBe(T);
    expect(c.err()).toBe("");
  });

  test("5xx while the server starts is retried; a 4xx after it is not", async () => {
    let n = 0;
    const server = Bun.serve({
      port: 0,
      idleTimeout: 0,
      fetch() {
        n++;
        if (n === 1) return sse(lineEvent(T, "first")); // then the stream ends
        if (n <= 3) return Response.json({ message: "store unavailable", detail: "starting" }, { status: 503 });
        if (n === 4) return sse(lineEvent(T, "first") + lineEvent("2018-05-03T12:00:02Z", "second"));
        return Response.json({ message: "unauthorized", detail: "token revoked" }, { status: 401 });
      },
    });
    servers.push(server);
    const c = client({ retryEveryMs: 20 });
    const code = await within(runLogs(["-f", "web-1", "--server", server.url.href], {}, c.io), 5000);
    expect({ code, out: c.out(), err: c.err(), n }).toEqual({
      code: 1,
      out: "first\nsecond\n",
      err: "error: unauthorized: token revoked\n",
      n: 5,
    });
  });

  test("an answer that is not an event stream is refused", async () => {
    const server = Bun.serve({ port: 0, fetch: () => Response.json({ log_rows: [] }) });
    servers.push(server);
    const c = client();
    expect(await within(runLogs(["-f", "web-1", "--server", server.url.href], {}, c.io), 5000)).toBe(1);
    expect(c.err()).toMatch(/^error: http:\/\/localhost:\d+\/tail answered application\/json[^\n]*, not an event stream\n$/);
  });

  test("a line event the client cannot read ends it with an error", async () => {
    const server = Bun.serve({ port: 0, fetch: () => sse('event: line\ndata: {"log":"no time"}\n\n') });
    servers.push(server);
    const c = client();
    expect(await within(runLogs(["-f", "web-1", "--server", server.url.href], {}, c.io), 5000)).toBe(1);
    expect(c.err()).toMatch(/^error: unexpected event from http:\/\/localhost:\d+\/tail: a row has no time or log/);
  });
});

describe("a reader that went away", () => {
  const epipe = async () => {
    throw Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
  };

  test("logs: EPIPE on stdout ends quietly with 0", async () => {
    const s = startStandIn({ lines: [line({ time: T, log: "x" })] });
    servers.push(s);
    const c = client({}, epipe);
    expect(await within(runLogs(["-n", "shop", "web-1", "--server", s.url], {}, c.io), 5000)).toBe(0);
    expect(c.err()).toBe("");
  });

  test("logs -f: EPIPE on stdout ends quietly with 0, no reconnecting", async () => {
    const s = startStandIn({ lines: [line({ time: T, log: "x" })] });
    servers.push(s);
    const c = client({}, epipe);
    expect(await within(runLogs(["-f", "-n", "shop", "web-1", "--server", s.url], {}, c.io), 5000)).toBe(0);
    expect(c.err()).toBe("");
    expect(s.requests.length).toBe(1);
  });

  test("other output failures are an error line, exit 1", async () => {
    const s = startStandIn({ lines: [line({ time: T, log: "x" })] });
    servers.push(s);
    const c = client({}, async () => {
      throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    });
    expect(await within(runLogs(["-n", "shop", "web-1", "--server", s.url], {}, c.io), 5000)).toBe(1);
    expect(c.err()).toBe("error: cannot write the output: no space left on device\n");
  });
});
