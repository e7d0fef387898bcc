// Every http-output capture from a real Fluent Bit 5.1.1 is POSTed, with its own headers, to a
// real server on each store, and must come back through /query exactly: record count, line
// bytes, stream and timestamps to the nanosecond. Expected values are derived here from the
// captured bytes, independently of the server's decoders.
import { afterAll, describe, expect, test } from "bun:test";
import { unpackMultiple } from "msgpackr";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
// @ts-ignore: no type declarations
import SnappyJS from "snappyjs";
import type { LogStore } from "../../src/store/store.ts";
import { serve, storesUnderTest } from "../stores.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/fluent-bit");
const CAPTURES = ["http-json", "http-json_lines", "http-json-gzip", "http-json-snappy", "http-msgpack"];

interface Capture {
  name: string;
  /** The request line's path: Fluent Bit's default URI is "/". */
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  records: number;
}

function loadCaptures(folder: string): Capture[] {
  const dir = join(FIXTURES, folder);
  const counts = new Map<string, number>();
  const listing = readdirSync(dir).includes("bodies.txt") ? readFileSync(join(dir, "bodies.txt"), "utf8") : "";
  for (const line of listing.trim().split("\n")) {
    const m = /^(body-\d+\.bin):.*, (\d+) records$/.exec(line);
    if (m) counts.set(m[1]!, Number(m[2]));
  }
  return readdirSync(dir)
    .filter((f) => /^body-\d+\.bin$/.test(f))
    .sort()
    .map((file) => {
      const headers: Record<string, string> = {};
      const raw = readFileSync(join(dir, file.replace("body", "headers").replace(".bin", ".txt")), "utf8");
      const path = raw.split(" ")[1]!;
      for (const line of raw.split(/\r?\n/).slice(1)) {
        const i = line.indexOf(":");
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      delete headers.host;
      delete headers["content-length"];
      delete headers.connection;
      return {
        name: `${folder}/${file}`,
        path,
        headers,
        body: new Uint8Array(readFileSync(join(dir, file))),
        records: counts.get(file) ?? -1,
      };
    });
}

interface Expected {
  key: string;
  ns: bigint;
  log: string;
  stream: string;
}

/** RFC 3339 "...Z" with any fraction → ns, test-local. */
function nsOf(text: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(text);
  if (!m) throw new Error(`unexpected time format: ${text}`);
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0").slice(0, 9));
}

function plainBody(c: Capture): Uint8Array {
  const encoding = c.headers["content-encoding"];
  if (encoding === "gzip") return new Uint8Array(gunzipSync(c.body));
  if (encoding === "snappy") return SnappyJS.uncompress(c.body) as Uint8Array;
  return c.body;
}

/** What Fluent Bit sent, per the capture, after the timestamp rule. */
function expectedOf(c: Capture): Expected[] {
  const body = plainBody(c);
  const key = (r: { kubernetes: Record<string, string> }) =>
    `${r.kubernetes.namespace_name}/${r.kubernetes.pod_name}/${r.kubernetes.container_name}`;
  if (c.headers["content-type"] === "application/msgpack") {
    return (unpackMultiple(body) as [[{ seconds: number; nanoseconds: number }, object], Record<string, unknown>][]).map(
      ([[t], r]) => ({
        key: key(r as never),
        // EventTime carries nanoseconds: it is exact, nothing to refine.
        ns: BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanoseconds),
        log: r.log as string,
        stream: r.stream as string,
      }),
    );
  }
  const text = new TextDecoder().decode(body);
  const records = (
    c.headers["content-type"] === "application/x-ndjson"
      ? text
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      : JSON.parse(text)
  ) as Record<string, unknown>[];
  // The date's decimal digits as sent (not through a float), in record order.
  const dates = [...text.matchAll(/"date":(\d+)(?:\.(\d+))?/g)].map(
    (m) => BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0")),
  );
  expect(dates.length).toBe(records.length);
  return records.map((r, i) => {
    const date = dates[i]!;
    const time = nsOf(r.time as string);
    const agree = time - date < 1000n && date - time < 1000n;
    return { key: key(r as never), ns: agree ? time : date, log: r.log as string, stream: r.stream as string };
  });
}

for (const s of storesUnderTest("fixtures")) {
  describe(`Fluent Bit captures on the ${s.name} store`, () => {
    const opened: LogStore[] = [];
    const servers: { stop: () => Promise<void> }[] = [];
    afterAll(async () => {
      for (const server of servers) await server.stop();
      for (const store of opened) await store.close();
      await s.cleanup();
    }, 60_000);

    for (const folder of CAPTURES) {
      test(`${folder}: every record comes back exactly`, async () => {
        // A store of its own: captures of different runs share pod names.
        const store = await s.open(folder);
        opened.push(store);
        const server = serve(store);
        servers.push(server);
        const captures = loadCaptures(folder);
        const expected: Expected[] = [];
        for (const c of captures) {
          const res = await fetch(`${server.url}${c.path}`, { method: "POST", headers: c.headers, body: c.body });
          expect(res.status).toBe(200);
          expect(await res.json()).toEqual({ accepted: c.records, rejected: 0 });
          const e = expectedOf(c);
          expect(e.length).toBe(c.records);
          expected.push(...e);
        }
        for (const key of new Set(expected.map((e) => e.key))) {
          const mine = expected.filter((e) => e.key === key).sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
          const [namespace, pod, container] = key.split("/");
          const q = new URLSearchParams({
            namespace: namespace!,
            pod_name: pod!,
            container_name: container!,
            start_time: "2026-05-03T00:00:00Z",
            end_time: "2026-05-04T00:00:00Z",
          });
          const res = await fetch(`${server.url}/query?${q}`);
          const rows = ((await res.json()) as { log_rows: { time: string; log: string; stream: string }[] }).log_rows;
          expect(rows.map((r) => ({ ns: nsOf(r.time), log: r.log, stream: r.stream }))).toEqual(
            mine.map(({ ns, log, stream }) => ({ ns, log, stream })),
          );
        }
        expect(expected.length).toBe(captures.reduce((n, c) => n + c.records, 0));
      }, 60_000);
    }

    test("a chunk answered 503 and resent byte-identical is stored once", async () => {
      const [c] = loadCaptures("retry-http-503-then-200");
      const store = await s.open("retry");
      opened.push(store);
      const server = serve(store);
      servers.push(server);
      const down = await s.open("retry_down");
      await down.close();
      const unavailable = serve(down);
      servers.push(unavailable);
      const first = await fetch(`${unavailable.url}/write`, { method: "POST", headers: c!.headers, body: c!.body });
      expect(first.status).toBe(503);
      expect(first.headers.get("retry-after")).not.toBeNull();
      for (let attempt = 0; attempt < 3; attempt++) {
        const res = await fetch(`${server.url}/write`, { method: "POST", headers: c!.headers, body: c!.body });
        expect(res.status).toBe(200);
      }
      const expected = expectedOf(c!);
      expect(expected.length).toBeGreaterThan(1);
      const q = new URLSearchParams({
        namespace: "default",
        pod_name: "web-5mfwh",
        container_name: "nginx",
        start_time: "2026-05-03T00:00:00Z",
        end_time: "2026-05-04T00:00:00Z",
      });
      const rows = ((await (await fetch(`${server.url}/query?${q}`)).json()) as { log_rows: { time: string }[] }).log_rows;
      expect(rows.map((r) => nsOf(r.time))).toEqual(expected.map((e) => e.ns));
    }, 60_000);
  });
}
