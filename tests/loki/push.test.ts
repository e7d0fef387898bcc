// POST /loki/api/v1/push over real HTTP, on each store: JSON (plain and gzip), snappy protobuf
// built with the protobuf library, Fluent Bit's loki output replayed from captures, the label
// mapping, resends, partial rejection, the caps, tenancy and access, store trouble.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import SnappyJS from "snappyjs";
import { createApp } from "../../src/app.ts";
import { encodePushRequest } from "../../src/loki/push.proto.ts";
import { WriteNotifier } from "../../src/query/follow.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { StoreBusyError, StoreUnavailableError, type LogEntry, type LogStore, type StreamInfo } from "../../src/store/store.ts";
import { queryAll, unique } from "../helpers.ts";
import { serve, storesUnderTest } from "../stores.ts";

const PUSH = "/loki/api/v1/push";
const FIXTURES = join(import.meta.dir, "../fixtures/fluent-bit/loki-json");
const DAY_START = 1777766400_000_000_000n; // 2026-05-03T00:00:00Z
const DAY_END = DAY_START + 86_400_000_000_000n;
const T = (offsetMs: number) => String(1777809897_000_000_000n + BigInt(offsetMs) * 1_000_000n);

const dir = mkdtempSync(join(tmpdir(), "logserver-loki-push-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A store that records what it is asked to write, and can be made to fail. */
function recording(store: LogStore) {
  const written: LogEntry[][] = [];
  const control = { failWith: undefined as Error | undefined };
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === "write") {
        return async (entries: LogEntry[]) => {
          if (control.failWith) throw control.failWith;
          written.push(entries);
          return target.write(entries);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { wrapped, written, control };
}

const json = (streams: unknown) => JSON.stringify({ streams });

function post(base: string, body: string | Uint8Array, headers: Record<string, string> = { "content-type": "application/json" }) {
  return fetch(`${base}${PUSH}`, { method: "POST", headers, body });
}

const protobuf = (request: Parameters<typeof encodePushRequest>[0]) => SnappyJS.compress(encodePushRequest(request));
const PROTOBUF = { "content-type": "application/x-protobuf" };

/** Nanoseconds as a protobuf Timestamp. */
const ts = (ns: string) => ({ seconds: BigInt(ns) / 1_000_000_000n, nanos: Number(BigInt(ns) % 1_000_000_000n) });

for (const s of storesUnderTest("loki-push")) {
  describe(`POST /loki/api/v1/push on the ${s.name} store`, () => {
    let store: LogStore;
    let rec: ReturnType<typeof recording>;
    let url = "";
    const servers: { stop: () => Promise<void> }[] = [];
    const server = (config: Parameters<typeof serve>[1] = {}) => {
      const srv = serve(rec.wrapped, config);
      servers.push(srv);
      return srv.url;
    };
    beforeAll(async () => {
      store = await s.open();
      rec = recording(store);
      url = server();
    }, 60_000);
    afterAll(async () => {
      for (const srv of servers) await srv.stop();
      await store.close();
      await s.cleanup();
    }, 60_000);

    const lines = async (namespace: string, pod: string, container: string, tenant = "") =>
      (await queryAll(store, { tenant, namespace, pod, container, startNs: 0n, endNs: DAY_END * 2n })).map((r) => [
        String(r.timeNs),
        r.log,
        r.stream,
      ]);
    const streamsWhere = async (match: (s: StreamInfo) => boolean, tenant = "") =>
      (await store.streams(tenant, DAY_START, DAY_END)).filter(match);

    test("JSON: 204 with no body; lines stored under their namespace, pod and container, with host, stream and labels", async () => {
      const n = unique("json");
      const res = await post(
        url,
        json([
          {
            stream: { namespace: n, pod: "web-1", container: "nginx", node_name: "worker1", stream: "stderr", app: "web" },
            values: [
              [T(0), "first"],
              [T(1), "second", { trace_id: "abc" }],
            ],
          },
        ]),
      );
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      expect(await lines(n, "web-1", "nginx")).toEqual([
        [T(0), "first", "stderr"],
        [T(1), "second", "stderr"],
      ]);
      const [info] = await streamsWhere((x) => x.namespace === n);
      expect(info).toMatchObject({ pod: "web-1", container: "nginx", host: "worker1", labels: { app: "web" } });
    });

    test("gzip JSON", async () => {
      const n = unique("gzip");
      const body = gzipSync(json([{ stream: { namespace: n, pod: "p", container: "c" }, values: [[T(5), "zipped"]] }]));
      const res = await post(url, body, { "content-type": "application/json", "content-encoding": "gzip" });
      expect(res.status).toBe(204);
      expect(await lines(n, "p", "c")).toEqual([[T(5), "zipped", ""]]);
    });

    test("protobuf in snappy's block format, structured metadata included: ids to podId and dockerId, the rest to metadata", async () => {
      const n = unique("proto");
      const body = protobuf({
        streams: [
          {
            labels: `{namespace="${n}", pod="api-1", container="api", stream="stdout", tier="backend"}`,
            entries: [
              {
                timestamp: ts(T(7)),
                line: "proto line é 🚀",
                structuredMetadata: [
                  { name: "pod_uid", value: "0b1c2d3e" },
                  { name: "container_id", value: "containerd://a1b2" },
                  { name: "trace_id", value: "0242ac120002" },
                ],
              },
              { timestamp: ts(T(8)), line: "plain" },
            ],
          },
        ],
      });
      const res = await post(url, body, PROTOBUF);
      expect(res.status).toBe(204);
      expect(await lines(n, "api-1", "api")).toEqual([
        [T(7), "proto line é 🚀", "stdout"],
        [T(8), "plain", "stdout"],
      ]);
      const entries = rec.written.flat().filter((e) => e.namespace === n);
      expect(entries[0]).toMatchObject({
        podId: "0b1c2d3e",
        dockerId: "containerd://a1b2",
        metadata: { trace_id: "0242ac120002" },
        labels: { tier: "backend" },
      });
      expect(entries[1]!.metadata).toBeUndefined();
      // A sender that also says Content-Encoding: snappy means the same compression, once.
      const again = await post(url, body, { ...PROTOBUF, "content-encoding": "snappy" });
      expect(again.status).toBe(204);
      expect((await lines(n, "api-1", "api")).length).toBe(2);
    });

    test("Fluent Bit's loki output, replayed from captures: every line, to the nanosecond; replayed again, nothing added", async () => {
      const bodies = readdirSync(FIXTURES).filter((f) => /^body-\d+\.bin$/.test(f));
      const expected = new Map<string, [string, string, string][]>();
      for (const file of bodies) {
        const body = readFileSync(join(FIXTURES, file));
        const parsed = JSON.parse(body.toString()) as { streams: { stream: Record<string, string>; values: string[][] }[] };
        for (const st of parsed.streams) {
          const key = `${st.stream.namespace}/${st.stream.pod}/${st.stream.container}`;
          const list = expected.get(key) ?? [];
          for (const [t, line] of st.values) list.push([t!, line!, ""]);
          expected.set(key, list);
        }
      }
      for (let round = 0; round < 2; round++) {
        for (const file of bodies) {
          const raw = readFileSync(join(FIXTURES, file.replace("body", "headers").replace(".bin", ".txt")), "utf8");
          const headers: Record<string, string> = {};
          for (const line of raw.split(/\r?\n/).slice(1)) {
            const i = line.indexOf(":");
            const name = line.slice(0, i).trim().toLowerCase();
            if (i > 0 && !["host", "content-length", "connection"].includes(name)) headers[name] = line.slice(i + 1).trim();
          }
          expect(raw.split(" ")[1]).toBe(PUSH);
          const res = await post(url, new Uint8Array(readFileSync(join(FIXTURES, file))), headers);
          expect({ file, status: res.status }).toEqual({ file, status: 204 });
        }
      }
      expect([...expected.keys()].sort()).toEqual(["default/web-5mfwh/nginx", "payments/api-7d9c8b-xk2lp/api"]);
      for (const [key, want] of expected) {
        const [ns, pod, container] = key.split("/") as [string, string, string];
        want.sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1));
        expect(await lines(ns, pod, container)).toEqual(want);
      }
      // The line is the record as JSON (line_format json), its text intact.
      const record = JSON.parse((await lines("payments", "api-7d9c8b-xk2lp", "api"))[0]![1]!) as { log: string };
      expect(record.log).toContain(
        'payment "declined" for user caf\u00e9 \u2013 na\u00efve \u2713 \u65e5\u672c\u8a9e \u{1f680}\n',
      );
      const [web] = await streamsWhere((x) => x.namespace === "default" && x.pod === "web-5mfwh");
      expect(web!.labels).toEqual({ job: "fluent-bit", app: "web" });
    });

    test("label conventions: Alloy/Promtail, Fluent Bit and OpenTelemetry names; a stream without them kept whole, found by its labels", async () => {
      const n = unique("conv");
      const job = unique("job");
      const res = await post(
        url,
        json([
          { stream: { namespace: `${n}-a`, pod: "p", container: "c", job: "alloy" }, values: [[T(1), "alloy"]] },
          { stream: { namespace_name: `${n}-f`, pod_name: "p", container_name: "c", host: "w1" }, values: [[T(2), "fluent"]] },
          {
            stream: { k8s_namespace_name: `${n}-o`, k8s_pod_name: "p", k8s_container_name: "c", k8s_node_name: "w2" },
            values: [[T(3), "otel"]],
          },
          { stream: { job, unit: "kubelet.service", hostname: "node-9" }, values: [[T(4), "no kubernetes here"]] },
        ]),
      );
      expect(res.status).toBe(204);
      expect(await lines(`${n}-a`, "p", "c")).toEqual([[T(1), "alloy", ""]]);
      expect(await lines(`${n}-f`, "p", "c")).toEqual([[T(2), "fluent", ""]]);
      expect(await lines(`${n}-o`, "p", "c")).toEqual([[T(3), "otel", ""]]);
      const [f] = await streamsWhere((x) => x.namespace === `${n}-f`);
      expect(f).toMatchObject({ host: "w1", labels: {} });
      const [o] = await streamsWhere((x) => x.namespace === `${n}-o`);
      expect(o).toMatchObject({ host: "w2", labels: {} });
      // The stream without Kubernetes labels: found through the index by its labels.
      const found = await streamsWhere((x) => x.labels.job === job);
      expect(found).toHaveLength(1);
      const container = `{hostname="node-9",job="${job}",unit="kubelet.service"}`;
      expect(found[0]).toMatchObject({ namespace: "", pod: "", container, host: "node-9" });
      expect(found[0]!.labels).toEqual({ job, unit: "kubelet.service", hostname: "node-9" });
      expect(await lines("", "", container)).toEqual([[T(4), "no kubernetes here", ""]]);
    });

    test("a resent batch adds nothing, JSON or protobuf", async () => {
      const n = unique("resend");
      const body = json([
        { stream: { namespace: n, pod: "p", container: "c" }, values: [0, 1, 2].map((i) => [T(i), `line ${i}`]) },
      ]);
      for (let i = 0; i < 3; i++) expect((await post(url, body)).status).toBe(204);
      expect((await lines(n, "p", "c")).length).toBe(3);
      const proto = protobuf({
        streams: [{ labels: `{namespace="${n}", pod="p", container="d"}`, entries: [{ timestamp: ts(T(9)), line: "once" }] }],
      });
      for (let i = 0; i < 3; i++) expect((await post(url, proto, PROTOBUF)).status).toBe(204);
      expect(await lines(n, "p", "d")).toEqual([[T(9), "once", ""]]);
    });

    test("bad entries beside good ones: the good are stored, the answer is 400 naming the bad (as Loki)", async () => {
      const n = unique("partial");
      const small = server({ maxLineSize: 50 });
      const res = await post(
        small,
        json([
          {
            stream: { namespace: n, pod: "p", container: "c" },
            values: [
              [T(1), "good one"],
              ["yesterday", "bad timestamp"],
              [T(2), "x".repeat(51)],
              [T(3), "good two"],
            ],
          },
          { stream: { namespace: n, "pod-name": "p" }, values: [[T(4), "bad labels"]] },
        ]),
      );
      expect(res.status).toBe(400);
      const error = (await res.json()) as { message: string; detail: string };
      expect(error.message).toBe("log lines rejected");
      expect(error.detail).toStartWith("2 of 5 lines stored; 3 rejected: ");
      expect(error.detail).toContain("invalid_timestamp");
      expect(error.detail).toContain("line_too_long");
      expect(error.detail).toContain('invalid_labels: stream {namespace="');
      expect(error.detail).toContain('label name "pod-name" is not valid');
      expect(await lines(n, "p", "c")).toEqual([
        [T(1), "good one", ""],
        [T(3), "good two", ""],
      ]);
      // Nothing valid at all: 400 too, and nothing stored.
      const none = await post(
        small,
        json([{ stream: { namespace: n, pod: "p", container: "z" }, values: [[T(1), "y".repeat(60)]] }]),
      );
      expect(none.status).toBe(400);
      expect(((await none.json()) as { detail: string }).detail).toStartWith("0 of 1 lines stored");
      expect(await lines(n, "p", "z")).toEqual([]);
    });

    test("over the caps: 413 on the wire and after decompression, JSON and protobuf", async () => {
      const n = unique("big");
      const body = json([{ stream: { namespace: n, pod: "p", container: "c" }, values: [[T(1), "z".repeat(5000)]] }]);
      const capped = server({ maxBodySize: 1000, maxDecompressedSize: 2000 });
      const wire = await post(capped, body);
      expect(wire.status).toBe(413);
      expect(((await wire.json()) as { detail: string }).detail).toContain("--max-body-size");
      const zipped = await post(capped, gzipSync(body), { "content-type": "application/json", "content-encoding": "gzip" });
      expect(zipped.status).toBe(413);
      expect(((await zipped.json()) as { detail: string }).detail).toContain("--max-decompressed-size");
      const proto = protobuf({
        streams: [
          { labels: `{namespace="${n}", pod="p", container="c"}`, entries: [{ timestamp: ts(T(1)), line: "z".repeat(5000) }] },
        ],
      });
      expect(proto.byteLength).toBeLessThan(1000);
      expect((await post(capped, proto, PROTOBUF)).status).toBe(413);
      expect(await lines(n, "p", "c")).toEqual([]);
    });

    test("bodies that cannot be read: 400 naming the problem; an unknown encoding 415", async () => {
      const cases: [string | Uint8Array, Record<string, string>, number, string][] = [
        ["{not json", { "content-type": "application/json" }, 400, "body is not valid JSON"],
        ['{"values":[]}', { "content-type": "application/json; charset=utf-8" }, 400, "body is not a Loki push request"],
        ["", { "content-type": "application/json" }, 400, "request body is empty"],
        [SnappyJS.compress(new Uint8Array([0x0a, 0x05, 0x01])), PROTOBUF, 400, "body is not a protobuf PushRequest"],
        [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), PROTOBUF, 400, "body is not snappy-compressed protobuf"],
        ['{"streams":[]}', {}, 400, "body is not snappy-compressed protobuf"],
        [
          '{"streams":[]}',
          { "content-type": "application/json", "content-encoding": "lz4" },
          415,
          "unsupported Content-Encoding",
        ],
      ];
      for (const [body, headers, status, message] of cases) {
        const res = await post(url, body, headers);
        const error = (await res.json()) as { message: string; detail: string };
        expect({ message, status: res.status, said: error.message.startsWith(message) }).toEqual({ message, status, said: true });
        expect(error.detail.length).toBeGreaterThan(0);
      }
      // An empty list of streams is nothing to do.
      expect((await post(url, '{"streams":[]}')).status).toBe(204);
    });

    test("tenancy: with --tenancy header X-Scope-OrgID is required and picks the tenant; without tenancy it is ignored", async () => {
      const n = unique("tenant");
      const tenanted = server({ tenancy: "header" });
      const body = (log: string) => json([{ stream: { namespace: n, pod: "p", container: "c" }, values: [[T(1), log]] }]);
      const missing = await post(tenanted, body("nobody"));
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as { detail: string }).detail).toContain("X-Scope-OrgID");
      const res = await post(tenanted, body("for team-p"), { "content-type": "application/json", "x-scope-orgid": "team-p" });
      expect(res.status).toBe(204);
      expect(await lines(n, "p", "c", "team-p")).toEqual([[T(1), "for team-p", ""]]);
      expect(await lines(n, "p", "c")).toEqual([]);
      const ignored = await post(url, body("default"), { "content-type": "application/json", "x-scope-orgid": "team-q" });
      expect(ignored.status).toBe(204);
      expect(await lines(n, "p", "c")).toEqual([[T(1), "default", ""]]);
      expect(await lines(n, "p", "c", "team-q")).toEqual([]);
    });

    test("access: no credentials 401, a read-only user 403, a writer 204 into its tenant", async () => {
      const hash = (secret: string) => Bun.password.hash(secret, { algorithm: "argon2id", memoryCost: 1024, timeCost: 1 });
      const path = join(dir, `auth-${unique()}.yaml`);
      writeFileSync(
        path,
        `users:
  - name: writer
    password_hash: "${await hash("pw-w")}"
    tenant: team-w
    roles: [write]
  - name: reader
    password_hash: "${await hash("pw-r")}"
    tenant: team-w
    roles: [read]
`,
      );
      const guarded = server({ authFile: path });
      const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;
      const n = unique("auth");
      const body = json([{ stream: { namespace: n, pod: "p", container: "c" }, values: [[T(1), "authorised"]] }]);
      expect((await post(guarded, body)).status).toBe(401);
      const forbidden = await post(guarded, body, { "content-type": "application/json", authorization: basic("reader", "pw-r") });
      expect(forbidden.status).toBe(403);
      expect(((await forbidden.json()) as { message: string }).message).toBe("forbidden");
      const ok = await post(guarded, body, { "content-type": "application/json", authorization: basic("writer", "pw-w") });
      expect(ok.status).toBe(204);
      expect(await lines(n, "p", "c", "team-w")).toEqual([[T(1), "authorised", ""]]);
    });

    test("store trouble is 503 with Retry-After; over the tenant's rate 429 with Retry-After; nothing refused is stored", async () => {
      const n = unique("trouble");
      const body = json([
        {
          stream: { namespace: n, pod: "p", container: "c" },
          values: [
            [T(1), "a"],
            [T(2), "b"],
          ],
        },
      ]);
      for (const failure of [new StoreUnavailableError("store down", 5), new StoreBusyError("queue full", 1)]) {
        rec.control.failWith = failure;
        try {
          const res = await post(url, body);
          expect(res.status).toBe(503);
          expect(res.headers.get("retry-after")).toBe(String(failure.retryAfterSeconds));
        } finally {
          rec.control.failWith = undefined;
        }
      }
      expect(await lines(n, "p", "c")).toEqual([]);
      const limited = server({ tenantIngestLinesPerSecond: 1 });
      expect((await post(limited, body)).status).toBe(204);
      const over = await post(limited, json([{ stream: { namespace: n, pod: "p", container: "d" }, values: [[T(3), "c"]] }]));
      expect(over.status).toBe(429);
      expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await lines(n, "p", "d")).toEqual([]);
    });

    test("retention: a line older than its namespace's retention is refused (400), the others stored", async () => {
      const n = unique("retention");
      const kept = server({ retentionSeconds: 86_400 });
      const now = BigInt(Date.now()) * 1_000_000n;
      const res = await post(
        kept,
        json([
          {
            stream: { namespace: n, pod: "p", container: "c" },
            values: [
              [String(now - 3n * 86_400_000_000_000n), "too old"],
              [String(now), "fresh"],
            ],
          },
        ]),
      );
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toContain("older_than_retention");
      expect((await lines(n, "p", "c")).map((l) => l[1])).toEqual(["fresh"]);
    });

    test("metrics count Loki pushes by format, and rejections by reason", async () => {
      expect((await post(url, json([{ stream: { "a-b": "c" }, values: [[T(1), "x"]] }]))).status).toBe(400);
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/logserver_ingest_records_accepted_total\{format="loki_json"\} [1-9]/);
      expect(text).toMatch(/logserver_ingest_records_accepted_total\{format="loki_protobuf"\} [1-9]/);
      expect(text).toMatch(/logserver_ingest_records_rejected_total\{reason="invalid_labels"\} [1-9]/);
      expect(text).toMatch(/logserver_ingest_decoded_bytes_total\{format="loki_protobuf"\} [1-9]/);
    });
  });
}

describe("followers", () => {
  test("a push wakes tail followers, as /write does", async () => {
    const store = new EmbeddedStore({ dataDir: ":memory:" });
    try {
      const notifier = new WriteNotifier();
      let woken = 0;
      notifier.subscribe(
        () => woken++,
        () => {},
      );
      const app = createApp(store, {}, { notifier });
      const res = await app.handle(
        new Request(`http://localhost${PUSH}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: json([{ stream: { job: "wake" }, values: [[T(1), "hello"]] }]),
        }),
      );
      expect(res.status).toBe(204);
      expect(woken).toBe(1);
    } finally {
      await store.close();
    }
  });
});
