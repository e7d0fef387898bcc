// Every http-output capture from a real Fluent Bit 5.1.1 is POSTed, with its own headers, to a
// real server on each store, and must come back through /query exactly: record count, line
// bytes, stream and timestamps to the nanosecond. Lines and streams are read here from the
// captured bytes, independently of the server's decoders; the timestamps are written out below
// (EXPECTED_TIMES), so a change to the timestamp rule fails this test.
import { afterAll, describe, expect, test } from "bun:test";
import { unpackMultiple } from "msgpackr";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
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
  time: string;
  log: string;
  stream: string;
}

/** RFC 3339 "...Z" with any fraction → ns, to order rows as the server does. */
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

/** What Fluent Bit sent, per the capture, with the timestamps written out in EXPECTED_TIMES. */
function expectedOf(c: Capture): Expected[] {
  const body = plainBody(c);
  const key = (r: { kubernetes: Record<string, string> }) =>
    `${r.kubernetes.namespace_name}/${r.kubernetes.pod_name}/${r.kubernetes.container_name}`;
  let records: Record<string, unknown>[];
  if (c.headers["content-type"] === "application/msgpack") {
    // [[EventTime, metadata], record]: only the record is read here.
    records = (unpackMultiple(body) as [unknown, Record<string, unknown>][]).map(([, r]) => r);
  } else {
    const text = new TextDecoder().decode(body);
    records = (
      c.headers["content-type"] === "application/x-ndjson"
        ? text
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l))
        : JSON.parse(text)
    ) as Record<string, unknown>[];
  }
  const times = EXPECTED_TIMES[c.name];
  if (times === undefined) throw new Error(`no expected times for ${c.name}`);
  expect(times.length).toBe(records.length);
  return records.map((r, i) => ({ key: key(r as never), time: times[i]!, log: r.log as string, stream: r.stream as string }));
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
          expect(await res.json()).toMatchObject({ accepted: c.records, rejected: 0 });
          const e = expectedOf(c);
          expect(e.length).toBe(c.records);
          expected.push(...e);
        }
        for (const key of new Set(expected.map((e) => e.key))) {
          const mine = expected
            .filter((e) => e.key === key)
            .sort((a, b) => {
              const d = nsOf(a.time) - nsOf(b.time);
              return d < 0n ? -1 : d > 0n ? 1 : 0;
            });
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
          expect(rows).toEqual(mine.map(({ time, log, stream }) => ({ time, log, stream })));
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
      expect(rows.map((r) => r.time)).toEqual(expected.map((e) => e.time));
    }, 60_000);
  });
}

/**
 * The time each captured record must be stored at, in record order, as the server prints it
 * (RFC 3339, nanoseconds, trailing zeros dropped). Worked out by hand from the captures with the
 * rule in src/ingest/fluentbit.ts: in every JSON capture the record's `date` (epoch seconds to
 * the microsecond, as printed) and its `time` (the container runtime's, to the nanosecond)
 * differ by more than a microsecond, so the date is the time; msgpack captures carry an
 * EventTime with nanoseconds, which is the time as it is.
 */
const EXPECTED_TIMES: Record<string, string[]> = {
  "http-json/body-1.bin": [
    "2026-05-03T12:04:57.095091Z",
    "2026-05-03T12:04:57.130833Z",
    "2026-05-03T12:04:57.18085Z",
    "2026-05-03T12:04:57.23087Z",
    "2026-05-03T12:04:57.280967Z",
    "2026-05-03T12:04:57.331063Z",
    "2026-05-03T12:04:57.380961Z",
    "2026-05-03T12:04:57.431086Z",
    "2026-05-03T12:04:57.480958Z",
    "2026-05-03T12:04:57.531057Z",
    "2026-05-03T12:04:57.580985Z",
    "2026-05-03T12:04:57.631118Z",
    "2026-05-03T12:04:57.68099Z",
    "2026-05-03T12:04:57.732042Z",
    "2026-05-03T12:04:57.780966Z",
    "2026-05-03T12:04:57.831034Z",
    "2026-05-03T12:04:57.88092Z",
  ],
  "http-json/body-2.bin": [
    "2026-05-03T12:04:58.123948Z",
    "2026-05-03T12:04:58.159665Z",
    "2026-05-03T12:04:58.259671Z",
    "2026-05-03T12:04:58.359808Z",
    "2026-05-03T12:04:58.459838Z",
    "2026-05-03T12:04:58.559806Z",
    "2026-05-03T12:04:58.659863Z",
    "2026-05-03T12:04:58.76079Z",
    "2026-05-03T12:04:58.859758Z",
  ],
  "http-json/body-3.bin": [
    "2026-05-03T12:04:57.931049Z",
    "2026-05-03T12:04:57.980823Z",
    "2026-05-03T12:04:58.030862Z",
    "2026-05-03T12:04:58.080823Z",
    "2026-05-03T12:04:58.13092Z",
    "2026-05-03T12:04:58.180819Z",
    "2026-05-03T12:04:58.230806Z",
    "2026-05-03T12:04:58.280953Z",
    "2026-05-03T12:04:58.330833Z",
    "2026-05-03T12:04:58.380836Z",
    "2026-05-03T12:04:58.430891Z",
    "2026-05-03T12:04:58.480818Z",
    "2026-05-03T12:04:58.530903Z",
    "2026-05-03T12:04:58.580909Z",
    "2026-05-03T12:04:58.630827Z",
    "2026-05-03T12:04:58.680812Z",
    "2026-05-03T12:04:58.730829Z",
    "2026-05-03T12:04:58.780799Z",
    "2026-05-03T12:04:58.830905Z",
    "2026-05-03T12:04:58.880793Z",
  ],
  "http-json_lines/body-1.bin": ["2026-05-03T12:04:58.123795Z"],
  "http-json_lines/body-2.bin": ["2026-05-03T12:04:57.094759Z"],
  "http-json_lines/body-3.bin": [
    "2026-05-03T12:04:57.130256Z",
    "2026-05-03T12:04:57.180225Z",
    "2026-05-03T12:04:57.230226Z",
    "2026-05-03T12:04:57.280205Z",
    "2026-05-03T12:04:57.330297Z",
    "2026-05-03T12:04:57.3803Z",
    "2026-05-03T12:04:57.430208Z",
    "2026-05-03T12:04:57.480219Z",
    "2026-05-03T12:04:57.530244Z",
    "2026-05-03T12:04:57.580191Z",
    "2026-05-03T12:04:57.630218Z",
    "2026-05-03T12:04:57.680214Z",
    "2026-05-03T12:04:57.730226Z",
    "2026-05-03T12:04:57.780359Z",
    "2026-05-03T12:04:57.830391Z",
    "2026-05-03T12:04:57.880454Z",
    "2026-05-03T12:04:57.930403Z",
    "2026-05-03T12:04:57.980377Z",
    "2026-05-03T12:04:58.030465Z",
    "2026-05-03T12:04:58.080357Z",
  ],
  "http-json-gzip/body-1.bin": [
    "2026-05-03T12:04:57.094762Z",
    "2026-05-03T12:04:57.121174Z",
    "2026-05-03T12:04:57.171201Z",
    "2026-05-03T12:04:57.221148Z",
    "2026-05-03T12:04:57.271169Z",
    "2026-05-03T12:04:57.32126Z",
    "2026-05-03T12:04:57.371286Z",
    "2026-05-03T12:04:57.421181Z",
    "2026-05-03T12:04:57.471229Z",
    "2026-05-03T12:04:57.521179Z",
    "2026-05-03T12:04:57.571189Z",
    "2026-05-03T12:04:57.621189Z",
    "2026-05-03T12:04:57.671157Z",
    "2026-05-03T12:04:57.721136Z",
    "2026-05-03T12:04:57.771182Z",
    "2026-05-03T12:04:57.821148Z",
    "2026-05-03T12:04:57.871173Z",
    "2026-05-03T12:04:57.921151Z",
  ],
  "http-json-gzip/body-2.bin": [
    "2026-05-03T12:04:58.12378Z",
    "2026-05-03T12:04:58.200153Z",
    "2026-05-03T12:04:58.30013Z",
    "2026-05-03T12:04:58.400213Z",
    "2026-05-03T12:04:58.500168Z",
    "2026-05-03T12:04:58.600148Z",
    "2026-05-03T12:04:58.700115Z",
    "2026-05-03T12:04:58.800142Z",
    "2026-05-03T12:04:58.900122Z",
  ],
  "http-json-gzip/body-3.bin": [
    "2026-05-03T12:04:57.971313Z",
    "2026-05-03T12:04:58.021174Z",
    "2026-05-03T12:04:58.071179Z",
    "2026-05-03T12:04:58.121176Z",
    "2026-05-03T12:04:58.17125Z",
    "2026-05-03T12:04:58.221168Z",
    "2026-05-03T12:04:58.27116Z",
    "2026-05-03T12:04:58.321139Z",
    "2026-05-03T12:04:58.37115Z",
    "2026-05-03T12:04:58.421137Z",
    "2026-05-03T12:04:58.471221Z",
    "2026-05-03T12:04:58.521142Z",
    "2026-05-03T12:04:58.571365Z",
    "2026-05-03T12:04:58.621295Z",
    "2026-05-03T12:04:58.671227Z",
    "2026-05-03T12:04:58.721141Z",
    "2026-05-03T12:04:58.771171Z",
    "2026-05-03T12:04:58.821166Z",
    "2026-05-03T12:04:58.871171Z",
    "2026-05-03T12:04:58.921178Z",
  ],
  "http-json-snappy/body-1.bin": [
    "2026-05-03T12:04:58.12379Z",
    "2026-05-03T12:04:58.159497Z",
    "2026-05-03T12:04:58.259465Z",
    "2026-05-03T12:04:58.359492Z",
    "2026-05-03T12:04:58.459531Z",
    "2026-05-03T12:04:58.559554Z",
    "2026-05-03T12:04:58.659539Z",
    "2026-05-03T12:04:58.759573Z",
    "2026-05-03T12:04:58.859515Z",
    "2026-05-03T12:04:58.959526Z",
  ],
  "http-json-snappy/body-2.bin": [
    "2026-05-03T12:04:57.09481Z",
    "2026-05-03T12:04:57.130522Z",
    "2026-05-03T12:04:57.180506Z",
    "2026-05-03T12:04:57.230554Z",
    "2026-05-03T12:04:57.280599Z",
    "2026-05-03T12:04:57.330635Z",
    "2026-05-03T12:04:57.380588Z",
    "2026-05-03T12:04:57.430673Z",
    "2026-05-03T12:04:57.480524Z",
    "2026-05-03T12:04:57.530676Z",
    "2026-05-03T12:04:57.580507Z",
    "2026-05-03T12:04:57.630679Z",
    "2026-05-03T12:04:57.680598Z",
    "2026-05-03T12:04:57.730698Z",
    "2026-05-03T12:04:57.780592Z",
    "2026-05-03T12:04:57.83067Z",
    "2026-05-03T12:04:57.880566Z",
    "2026-05-03T12:04:57.930661Z",
    "2026-05-03T12:04:57.980583Z",
  ],
  "http-json-snappy/body-3.bin": [
    "2026-05-03T12:04:58.030793Z",
    "2026-05-03T12:04:58.080613Z",
    "2026-05-03T12:04:58.130595Z",
    "2026-05-03T12:04:58.180609Z",
    "2026-05-03T12:04:58.230738Z",
    "2026-05-03T12:04:58.280625Z",
    "2026-05-03T12:04:58.330681Z",
    "2026-05-03T12:04:58.380639Z",
    "2026-05-03T12:04:58.430699Z",
    "2026-05-03T12:04:58.480687Z",
    "2026-05-03T12:04:58.530753Z",
    "2026-05-03T12:04:58.580762Z",
    "2026-05-03T12:04:58.630705Z",
    "2026-05-03T12:04:58.680646Z",
    "2026-05-03T12:04:58.730524Z",
    "2026-05-03T12:04:58.780509Z",
    "2026-05-03T12:04:58.830655Z",
    "2026-05-03T12:04:58.880591Z",
    "2026-05-03T12:04:58.930683Z",
    "2026-05-03T12:04:58.980729Z",
  ],
  "http-msgpack/body-1.bin": ["2026-05-03T12:04:57.094766552Z", "2026-05-03T12:04:57.13884515Z"],
  "http-msgpack/body-2.bin": ["2026-05-03T12:04:58.123779272Z"],
  "http-msgpack/body-3.bin": [
    "2026-05-03T12:04:57.190614107Z",
    "2026-05-03T12:04:57.238899963Z",
    "2026-05-03T12:04:57.289065876Z",
    "2026-05-03T12:04:57.338858224Z",
    "2026-05-03T12:04:57.38909078Z",
    "2026-05-03T12:04:57.438929394Z",
    "2026-05-03T12:04:57.488858761Z",
    "2026-05-03T12:04:57.538966088Z",
    "2026-05-03T12:04:57.589053672Z",
    "2026-05-03T12:04:57.638860343Z",
    "2026-05-03T12:04:57.688923952Z",
    "2026-05-03T12:04:57.740921681Z",
    "2026-05-03T12:04:57.788977778Z",
    "2026-05-03T12:04:57.838925632Z",
    "2026-05-03T12:04:57.888937651Z",
    "2026-05-03T12:04:57.938847769Z",
    "2026-05-03T12:04:57.988889723Z",
    "2026-05-03T12:04:58.038898943Z",
    "2026-05-03T12:04:58.088915425Z",
    "2026-05-03T12:04:58.138907868Z",
  ],
  "retry-http-503-then-200/body-1.bin": [
    "2026-05-03T12:04:57.094625Z",
    "2026-05-03T12:04:57.244649Z",
    "2026-05-03T12:04:57.444627Z",
    "2026-05-03T12:04:57.644647Z",
    "2026-05-03T12:04:57.844641Z",
  ],
};
