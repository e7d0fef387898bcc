// The HTTP server around the app (src/server.ts), over real TCP: what a raw client can send that
// app.handle never sees. Hosts the router cannot read, bodies larger than Bun's own cap, timeouts
// and the in-flight budget.
import { afterAll, describe, expect, test } from "bun:test";
import * as zlib from "node:zlib";
import { createApp } from "../../src/app.ts";
import { routable, serve } from "../../src/server.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { fbRecord, queryUrl, unique } from "../helpers.ts";

const store = new EmbeddedStore({ dataDir: ":memory:" });
const servers: { stop: (force?: boolean) => unknown }[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop(true);
  await store.close();
});

function start(config: Parameters<typeof createApp>[1] = {}) {
  const server = serve(createApp(store, config), {
    hostname: "127.0.0.1",
    port: 0,
    bodyTimeoutSeconds: config.bodyTimeoutSeconds ?? 60,
  });
  servers.push(server);
  return { port: server.port!, url: `http://127.0.0.1:${server.port}` };
}

/**
 * One raw HTTP exchange: resolves with the first response once it is complete (its
 * Content-Length read), or with what came before the server closed or `waitMs` passed.
 */
function raw(port: number, text: string | Uint8Array, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const timer = setTimeout(() => resolve(out), waitMs);
    const done = () => {
      clearTimeout(timer);
      resolve(out);
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => void s.write(text),
        data: (s, d) => {
          out += new TextDecoder().decode(d);
          const head = out.indexOf("\r\n\r\n");
          const length = /content-length: (\d+)/i.exec(out.slice(0, head))?.[1];
          if (head !== -1 && length !== undefined && Buffer.byteLength(out.slice(head + 4)) >= Number(length)) {
            s.end();
            done();
          }
        },
        close: done,
        error: done,
      },
    });
  });
}

const status = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
const body = (answer: string) => JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;

describe("requests with a Host the router cannot read", () => {
  const { port } = start();
  const record = (n: string) => JSON.stringify([fbRecord({ namespace: n, log: "via odd host", time: "2026-05-03T12:00:00Z" })]);

  // (An HTTP/1.1 request with no Host at all is refused by Bun itself with a 400, as RFC 9112 says.)
  for (const host of ["evil.example:99999", "a b", "x", "log", "log:80", "[::1"]) {
    test(`Host: ${JSON.stringify(host)} is routed by its path and answered in JSON`, async () => {
      const header = `Host: ${host}\r\n`;
      const health = await raw(port, `GET /write HTTP/1.1\r\n${header}Connection: close\r\n\r\n`);
      expect(status(health)).toBe(200);
      expect(body(health)).toEqual({ healthy: true, detail: "" });
      const wrong = await raw(port, `GET /zzzz/write HTTP/1.1\r\n${header}Connection: close\r\n\r\n`);
      expect(status(wrong)).toBe(404);
      expect(body(wrong)).toMatchObject({ message: "not found", detail: "no route for GET /zzzz/write" });
      const n = unique();
      const payload = record(n);
      const posted = await raw(
        port,
        `POST /write HTTP/1.1\r\n${header}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`,
      );
      expect(status(posted)).toBe(200);
      expect(body(posted)).toMatchObject({ accepted: 1, rejected: 0 });
      const read = await raw(
        port,
        `GET ${queryUrl({ namespace: n, start: "2026-05-03T00:00:00Z", end: "2026-05-04T00:00:00Z" })} HTTP/1.1\r\n${header}Connection: close\r\n\r\n`,
      );
      expect(status(read)).toBe(200);
      expect(read).toContain("via odd host");
    });
  }

  test("a chunked body with a trailer section: Bun answers its own bare 400, and the lines are stored once", async () => {
    // Bun's parser does not take a trailer section (oven-sh/bun#32887, unreleased): it answers
    // 400 itself, before the app's answer, while the app reads and stores the body. Nothing is
    // lost (Fluent Bit drops a batch answered 400, which is stored), nothing doubled by a resend.
    // When Bun takes trailers, this answer becomes the app's 200 and this test must change.
    const n = unique();
    const payload = record(n);
    const chunked = `${payload.length.toString(16)}\r\n${payload}\r\n0\r\nX-Checksum: 1\r\n\r\n`;
    const request = `POST /write HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n${chunked}`;
    const stored = async () => {
      const url = queryUrl({ namespace: n, start: "2026-05-03T00:00:00Z", end: "2026-05-04T00:00:00Z" });
      for (let i = 0; i < 50; i++) {
        const read = await raw(port, `GET ${url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        const count = read.split("via odd host").length - 1;
        if (count > 0) return count;
        await Bun.sleep(20);
      }
      return 0;
    };
    const answer = await raw(port, request);
    expect(answer).toBe("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    expect(await stored()).toBe(1);
    await raw(port, request); // a client that resends it
    expect(await stored()).toBe(1);
  });

  test("HTTP/1.0 without a Host header is served", async () => {
    const answer = await raw(port, "GET /write HTTP/1.0\r\n\r\n");
    expect(status(answer)).toBe(200);
    expect(answer).not.toContain("<html");
  });

  test("routable() leaves ordinary requests untouched (no copy on the hot path)", () => {
    for (const url of [
      "http://localhost:8080/write",
      "http://kube-insight-logserver.logging.svc:8080/write?x=1",
      "http://10.0.0.1/q",
      "https://[::1]:8443/write",
    ]) {
      const request = new Request(url);
      expect(routable(request)).toBe(request);
    }
  });
});

describe("limits and timeouts answered by the app, not by Bun", () => {
  test("a body over 32 MiB on the wire gets the JSON 413, not Bun's empty one", async () => {
    const { url } = start();
    const big = new Uint8Array(40 * 1024 * 1024).fill(0x20);
    const res = await fetch(`${url}/write`, { method: "POST", body: big, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ message: "request body too large" });
    // And a chunked one (no Content-Length), stopped at the cap.
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 40; i++) c.enqueue(new Uint8Array(1024 * 1024).fill(0x20));
        c.close();
      },
    });
    const chunked = await fetch(`${url}/write`, { method: "POST", body: chunks, duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ message: "request body too large" });
  }, 30_000);

  test("a request silent for longer than the idle timeout (a CPU profile) is not cut", async () => {
    // Body timeout 1 s: the server's idle timeout is 11 s; the profile is silent for 12 s.
    const { url } = start({ bodyTimeoutSeconds: 1, enableProfiling: true });
    const res = await fetch(`${url}/debug/profile?seconds=12`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toContain(".cpuprofile");
  }, 30_000);

  test("a body that stalls completely gets the app's 408 before any idle reset", async () => {
    const { port } = start({ bodyTimeoutSeconds: 1 });
    const t0 = Date.now();
    const answer = await raw(
      port,
      "POST /write HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
      10_000,
    );
    expect(status(answer)).toBe(408);
    expect(body(answer)).toMatchObject({ message: "request body too slow" });
    expect(answer.toLowerCase()).toContain("connection: close");
    expect(Date.now() - t0).toBeLessThan(9_000);
  }, 20_000);
});

describe("the in-flight budget (--max-inflight-bytes)", () => {
  test("a request that would exceed it waits, then gets 429 with Retry-After; it passes once the budget frees", async () => {
    const { url, port } = start({ maxInflightBytes: 1024 * 1024 });
    const n = unique();
    const payload = JSON.stringify([fbRecord({ namespace: n, log: "x".repeat(700_000), time: "2026-05-03T12:00:00Z" })]);
    // A slow client holds its share: it declares 700 KB and sends the first bytes only.
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: () => {} } });
    socket.write(
      `POST /write HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n[`,
    );
    await Bun.sleep(200);
    const refused = await fetch(`${url}/write`, {
      method: "POST",
      body: payload,
      headers: { "content-type": "application/json" },
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({ message: "too many requests" });
    expect(refused.headers.get("connection")).toBe("close");
    socket.end(); // the slow client gives up; its share comes back
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      if (i > 0) await Bun.sleep(100);
      // Refused before its body is read, a request may also see its connection closed under it.
      const res = await fetch(`${url}/write`, {
        method: "POST",
        body: payload,
        headers: { "content-type": "application/json" },
      }).catch(() => undefined);
      status = res?.status ?? 0;
    }
    expect(status).toBe(200);
    const rows = await (
      await fetch(`${url}${queryUrl({ namespace: n, start: "2026-05-03T00:00:00Z", end: "2026-05-04T00:00:00Z" })}`)
    ).json();
    expect((rows as { log_rows: unknown[] }).log_rows.length).toBe(1);
  }, 30_000);

  test("a compressed body is charged what it says it decompresses to", async () => {
    const { url } = start({ maxInflightBytes: 4 * 1024 * 1024, maxDecompressedSize: 64 * 1024 * 1024 });
    const n = unique();
    const records = Array.from({ length: 20 }, (_, i) =>
      fbRecord({ namespace: n, log: `${i} ${"y".repeat(50_000)}`, time: "2026-05-03T12:00:00Z" }),
    );
    const gz = zlib.gzipSync(JSON.stringify(records)); // ~1 MB of JSON in a few KB
    const res = await fetch(`${url}/write`, {
      method: "POST",
      body: gz,
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ accepted: 20, rejected: 0 });
  });
});
