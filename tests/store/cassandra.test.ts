// The Cassandra store against a real node: the contract suite unchanged, then what only
// Cassandra has (schema, partitions, TTL, an outage). `bun run test` starts a node when none
// answers at CASSANDRA_HOSTS (default 127.0.0.1:9042); run alone, start one with
// `bun run cassandra:start`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import cassandra from "cassandra-driver";
import { cassandraAnswers, runningPid, startCassandra, stopCassandra } from "../../scripts/cassandra.ts";
import { createApp } from "../../src/app.ts";
import {
  BUCKET_SECONDS,
  CassandraStore,
  compactionWindowHours,
  indexTtlFor,
  isSchemaMissing,
  isTransient,
  retentionSchema,
  schemaStatements,
  streamDayTtlFor,
  type CassandraStoreOptions,
} from "../../src/store/cassandra.ts";
import { parseRetentionRules, RetentionPolicy } from "../../src/store/retention.ts";
import { StoreUnavailableError } from "../../src/store/store.ts";
import { entry, fbRecord, get, ns, post, queryAll, queryUrl, unique } from "../helpers.ts";
import { cassandraEndpoint, cassandraTestOptions, cassandraUnavailable, failCassandraSuite } from "../stores.ts";
import { storeContract } from "./contract.ts";

const { host, port } = cassandraEndpoint();
const keyspace = `kils_test_${process.pid}`;

function options(over: Partial<CassandraStoreOptions> = {}): CassandraStoreOptions {
  return cassandraTestOptions(keyspace, over);
}

let cql: cassandra.Client;

// Without a node (`bun run test` found none: CASSANDRA_UNAVAILABLE), one failing test says why.
const unavailable = cassandraUnavailable();
if (unavailable) failCassandraSuite("cassandra store (real node)", unavailable);
else cassandraSuites();

function cassandraSuites(): void {
  beforeAll(async () => {
    if (!(await cassandraAnswers(host, port))) {
      throw new Error(
        `no Cassandra answers at ${host}:${port}: run the suite with \`bun run test\`, or start a node with \`bun run cassandra:start\``,
      );
    }
    cql = new cassandra.Client({
      contactPoints: [host!],
      localDataCenter: "datacenter1",
      protocolOptions: { port, maxVersion: 4 },
      encoding: { useBigIntAsLong: true },
      refreshSchemaDelay: 50,
      queryOptions: { prepare: true },
      // This suite stops and restarts the node: reconnect within seconds.
      policies: { reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(500) },
    });
    await cql.connect();
  }, 60_000);

  afterAll(async () => {
    if (!cql) return;
    let spaces: cassandra.types.ResultSet | undefined;
    for (let i = 0; !spaces && i < 60; i++)
      spaces = await cql
        .execute("SELECT keyspace_name FROM system_schema.keyspaces")
        .catch(() => Bun.sleep(500).then(() => undefined));
    if (!spaces) throw new Error("the test keyspaces could not be dropped: Cassandra does not answer");
    for (const row of spaces.rows) {
      const name = row.keyspace_name as string;
      if (name.startsWith(`kils_test_${process.pid}`)) await cql.execute(`DROP KEYSPACE IF EXISTS ${name}`);
    }
    await cql.shutdown();
  }, 120_000);

  // Small pages, so that the contract's large result crosses page borders inside partitions. A
  // test that asks for a retention gets a keyspace of its own.
  let retentionKeyspaces = 0;
  storeContract(
    "cassandra (real node)",
    (o) =>
      CassandraStore.connect(
        options({
          pageBytes: 64 * 1024,
          ...(o && { keyspace: `${keyspace}_retention_${++retentionKeyspaces}`, retention: o.retention }),
        }),
      ),
    { timeout: 60_000 },
  );

  describe("cassandra store", () => {
    let store: CassandraStore;
    beforeAll(async () => {
      store = await CassandraStore.connect(options());
    }, 60_000);
    afterAll(() => store?.close());

    test("creates the keyspace with SimpleStrategy and the replication factor given", async () => {
      const ks = `${keyspace}_simple`;
      const s = await CassandraStore.connect(options({ keyspace: ks, replicationFactors: { cluster: 1 } }));
      await s.close();
      const rs = await cql.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [ks]);
      expect(rs.rows[0]!.replication).toEqual({ class: "org.apache.cassandra.locator.SimpleStrategy", replication_factor: "1" });
      const tables = await cql.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [ks]);
      expect(tables.rows.map((r) => r.table_name).sort()).toEqual([
        "log_buckets",
        "log_counts",
        "log_days",
        "log_lines",
        "log_sources",
        "log_stream_days",
        "log_streams",
      ]);
    }, 60_000);

    test("creates the keyspace with NetworkTopologyStrategy and per-datacenter factors", async () => {
      const ks = `${keyspace}_nts`;
      const s = await CassandraStore.connect(
        options({ keyspace: ks, replicationStrategy: "NetworkTopologyStrategy", replicationFactors: { datacenter1: 1 } }),
      );
      await s.write([entry({ namespace: "nts", timeNs: ns("2024-01-01T00:00:00Z"), log: "replicated" })]);
      const rows = await queryAll(s, {
        tenant: "",
        namespace: "nts",
        pod: "pod-a",
        container: "main",
        startNs: 0n,
        endNs: ns("2025-01-01T00:00:00Z"),
      });
      await s.close();
      expect(rows.map((r) => r.log)).toEqual(["replicated"]);
      const rs = await cql.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [ks]);
      expect(rs.rows[0]!.replication).toEqual({
        class: "org.apache.cassandra.locator.NetworkTopologyStrategy",
        datacenter1: "1",
      });
    }, 60_000);

    test("schema creation is safe across restarts and concurrent starts", async () => {
      const ks = `${keyspace}_race`;
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => CassandraStore.connect(options({ keyspace: ks }))));
      const n = unique();
      await a!.write([entry({ namespace: n, timeNs: ns("2024-01-01T00:00:00Z"), log: "from a" })]);
      const q = { tenant: "", namespace: n, pod: "pod-a", container: "main", startNs: 0n, endNs: ns("2025-01-01T00:00:00Z") };
      expect((await queryAll(b!, q)).map((r) => r.log)).toEqual(["from a"]);
      await Promise.all([a!.close(), b!.close(), c!.close()]);
      const again = await CassandraStore.connect(options({ keyspace: ks }));
      expect((await queryAll(again, q)).map((r) => r.log)).toEqual(["from a"]);
      await again.close();
    }, 90_000);

    test("--retention becomes a per-line TTL (less a back-filled line's age) and fits the TWCS windows", async () => {
      const ks = `${keyspace}_ttl`;
      const week = 7 * 86_400;
      const s = await CassandraStore.connect(options({ keyspace: ks, retentionSeconds: week }));
      const n = unique();
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const day = 86_400n * 1_000_000_000n;
      await s.write([
        entry({ namespace: n, timeNs: nowNs, log: "fresh" }),
        entry({ namespace: n, timeNs: nowNs - 6n * day, log: "six days old" }),
      ]);
      await s.close();
      const rs = await cql.execute(
        `SELECT log, TTL(log) AS ttl FROM ${ks}.log_lines WHERE namespace = ? AND pod_name = 'pod-a' AND container_name = 'main' ALLOW FILTERING`,
        [n],
      );
      const ttl = Object.fromEntries(rs.rows.map((r) => [r.log as string, r.ttl as number]));
      expect(ttl.fresh).toBeGreaterThan(week - 120);
      expect(ttl.fresh).toBeLessThanOrEqual(week);
      expect(ttl["six days old"]).toBeGreaterThan(86_400 - 120);
      expect(ttl["six days old"]).toBeLessThanOrEqual(86_400);
      const table = await cql.execute(
        "SELECT default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'log_lines'",
        [ks],
      );
      expect(table.rows[0]!.default_time_to_live).toBe(week);
      const counts = await cql.execute(
        "SELECT default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'log_counts'",
        [ks],
      );
      expect(counts.rows[0]!.default_time_to_live).toBe(week);
      expect(counts.rows[0]!.compaction).toMatchObject({ compaction_window_size: String(compactionWindowHours(week)) });
      expect(table.rows[0]!.compaction).toMatchObject({
        class: "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
        compaction_window_unit: "HOURS",
        compaction_window_size: String(compactionWindowHours(week)),
      });
      expect(compactionWindowHours(week)).toBe(7);
    }, 60_000);

    test("--retention-rules: each line's TTL is its namespace's, index rows live a day longer, 0 never expires", async () => {
      const ks = `${keyspace}_rules`;
      const [hour, day, week] = [3600, 86_400, 7 * 86_400];
      const s = await CassandraStore.connect(
        options({
          keyspace: ks,
          retentionSeconds: week,
          retentionRules: parseRetentionRules("short-ns=1h,long-ns=30d,keep-ns=0"),
        }),
      );
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const namespaces = ["short-ns", "long-ns", "keep-ns", "other-ns"];
      await s.write([
        ...namespaces.map((namespace) => entry({ namespace, timeNs: nowNs, log: namespace })),
        entry({ namespace: "short-ns", timeNs: nowNs - 1_800_000_000_000n, log: "short-ns, 30m old" }),
      ]);
      await s.close();
      const ttls = async (table: string, column: string, key: string) => {
        const rs = await cql.execute(`SELECT ${key} AS k, TTL(${column}) AS ttl FROM ${ks}.${table} ALLOW FILTERING`);
        return Object.fromEntries(rs.rows.map((r) => [r.k as string, r.ttl as number | null]));
      };
      const near = (ttl: number | null | undefined, expected: number) => {
        expect(ttl).toBeGreaterThan(expected - 120);
        expect(ttl).toBeLessThanOrEqual(expected);
      };
      const lines = await ttls("log_lines", "log", "log");
      near(lines["short-ns"], hour);
      near(lines["short-ns, 30m old"], hour / 2);
      near(lines["long-ns"], 30 * day);
      near(lines["other-ns"], week);
      // USING TTL 0: no expiry (null), whatever a table default would say.
      expect(lines["keep-ns"]).toBeNull();
      // Per-minute counts expire with the lines they count (one row each here: one minute).
      const counts = await ttls("log_counts", "lines", "namespace");
      near(counts["long-ns"], 30 * day);
      near(counts["other-ns"], week);
      expect(counts["keep-ns"]).toBeNull();
      for (const [table, column] of [
        ["log_sources", "host"],
        ["log_streams", "last_ts"],
        ["log_streams", "first_ts"],
      ] as const) {
        const index = await ttls(table, column, "namespace");
        near(index["short-ns"], indexTtlFor(hour));
        near(index["long-ns"], indexTtlFor(30 * day));
        near(index["other-ns"], indexTtlFor(week));
        expect(index["keep-ns"]).toBeNull();
        expect(indexTtlFor(hour)).toBe(hour + day);
      }
      // Bucket and day rows have no column but their key, whose TTL CQL does not show: they are
      // written with the TTL of the source row above (indexTtlFor). The day list of a tenant is
      // shared by its namespaces: it lives as long as the longest of them (here: forever).
      const policy = new RetentionPolicy(week, parseRetentionRules("short-ns=1h,tenant-a/*=30d,-/keep=0"));
      expect(streamDayTtlFor(policy, "")).toBe(0);
      expect(streamDayTtlFor(policy, "tenant-a")).toBe(31 * day);
      expect(streamDayTtlFor(policy, "tenant-b")).toBe(week + day);
      // Every statement states its TTL: the tables' defaults are 0, the TWCS windows a 24th of
      // the longest finite retention, and expired cells are purged from shared windows.
      const tables = await cql.execute(
        "SELECT table_name, default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ?",
        [ks],
      );
      for (const row of tables.rows) expect([row.table_name, row.default_time_to_live]).toEqual([row.table_name, 0]);
      const lineTable = tables.rows.find((r) => r.table_name === "log_lines")!;
      expect(lineTable.compaction).toMatchObject({
        compaction_window_size: String(compactionWindowHours(30 * day)),
        unchecked_tombstone_compaction: "true",
      });
      expect(retentionSchema(policy)).toMatchObject({ linesTtl: 0, indexTtl: 0, windowHours: 30 });
    }, 60_000);

    test("reads and listings stop at each namespace's retention before any TTL has removed a line", async () => {
      const ks = `${keyspace}_clamp`;
      const minute = 60_000_000_000n;
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      // Written without a retention: no TTL at all.
      const plain = await CassandraStore.connect(options({ keyspace: ks }));
      await plain.write([
        entry({ namespace: "short-ns", timeNs: nowNs - 120n * minute, log: "short, 2h" }),
        entry({ namespace: "short-ns", timeNs: nowNs - 10n * minute, log: "short, 10m" }),
        entry({ namespace: "other-ns", timeNs: nowNs - 120n * minute, log: "other, 2h" }),
      ]);
      await plain.close();
      const s = await CassandraStore.connect(options({ keyspace: ks, retentionRules: parseRetentionRules("short-ns=1h") }));
      try {
        const read = async (namespace: string) =>
          (await queryAll(s, { tenant: "", namespace, pod: "pod-a", container: "main", startNs: 0n, endNs: nowNs })).map(
            (r) => r.log,
          );
        expect(await read("short-ns")).toEqual(["short, 10m"]);
        expect(await read("other-ns")).toEqual(["other, 2h"]);
        const streams = await s.streams("", nowNs - 180n * minute, nowNs);
        expect(Object.fromEntries(streams.map((x) => [x.namespace, x.firstNs >= nowNs - 60n * minute]))).toEqual({
          "short-ns": true,
          "other-ns": false,
        });
        expect((await s.streams("", nowNs - 180n * minute, nowNs - 90n * minute)).map((x) => x.namespace)).toEqual(["other-ns"]);
        // Still stored: the read, not a TTL, left it out.
        const stored = await cql.execute(`SELECT log FROM ${ks}.log_lines WHERE namespace = 'short-ns' ALLOW FILTERING`);
        expect(stored.rows.length).toBe(2);
      } finally {
        await s.close();
      }
      // The rules were applied to the existing tables; without them, the plain settings come back.
      const compaction = async () =>
        (
          await cql.execute("SELECT compaction FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'log_lines'", [
            ks,
          ])
        ).rows[0]!.compaction as Record<string, string>;
      expect(await compaction()).toMatchObject({ compaction_window_size: "1", unchecked_tombstone_compaction: "true" });
      await (await CassandraStore.connect(options({ keyspace: ks }))).close();
      expect(await compaction()).toMatchObject({ compaction_window_size: "24" });
      expect((await compaction()).unchecked_tombstone_compaction).not.toBe("true");
    }, 60_000);

    test("with a retention, a long-lived source row is written again before it expires", async () => {
      const ks = `${keyspace}_refresh`;
      const s = await CassandraStore.connect(options({ keyspace: ks, retentionSeconds: 7 * 86_400 }));
      const n = unique();
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const sources = async () =>
        (
          await cql.execute(
            `SELECT host FROM ${ks}.log_sources WHERE namespace = ? AND pod_name = 'pod-a' AND container_name = 'main'`,
            [n],
          )
        ).rows.length;
      await s.write([entry({ namespace: n, timeNs: nowNs, log: "day 0" })]);
      expect(await sources()).toBe(1);
      // As if the row had expired and the store had remembered writing it two days ago. (Deleted
      // just past its own write time: the clocks of two clients need not agree to the microsecond.)
      const written = await cql.execute(
        `SELECT WRITETIME(host) AS at FROM ${ks}.log_sources WHERE namespace = ? AND pod_name = 'pod-a' AND container_name = 'main'`,
        [n],
      );
      await cql.execute(
        `DELETE FROM ${ks}.log_sources USING TIMESTAMP ? WHERE namespace = ? AND pod_name = 'pod-a' AND container_name = 'main'`,
        [(written.rows[0]!.at as bigint) + 1n, n],
        { prepare: true },
      );
      expect(await sources()).toBe(0);
      const known = (s as unknown as { knownIndex: Map<string, number> }).knownIndex;
      for (const key of known.keys()) known.set(key, Date.now() - 2 * 86_400_000);
      await s.write([entry({ namespace: n, timeNs: nowNs + 1n, log: "day 2" })]);
      expect(await sources()).toBe(1);
      await s.close();
    }, 60_000);

    test("lines of one millisecond, and of one nanosecond, are distinct rows", async () => {
      const n = unique();
      const base = ns("2024-05-05T05:05:05.005Z");
      await store.write([
        ...Array.from({ length: 10 }, (_, i) => entry({ namespace: n, timeNs: base + BigInt(i), log: `ns ${i}` })),
        entry({ namespace: n, timeNs: base, log: "same ns, same text" }),
        entry({ namespace: n, timeNs: base, log: "same ns, same text" }),
      ]);
      expect(await rowsInPartition(n, bucketStartMs(base))).toBe(12);
    }, 30_000);

    test("a resent batch leaves the row count unchanged", async () => {
      const n = unique();
      const base = ns("2024-05-05T05:05:05Z");
      const batch = Array.from({ length: 500 }, (_, i) =>
        entry({ namespace: n, timeNs: base + BigInt(i) * 1_000_000n, log: `line ${i % 7}` }),
      );
      await store.write(batch);
      await store.write(batch);
      expect(await rowsInPartition(n, bucketStartMs(base))).toBe(500);
    }, 30_000);

    test("a chatty container is split into 30-second partitions, and a query crossing them is ordered", async () => {
      const n = unique();
      // 2,000 lines/s for 3 s, starting 1 s before a bucket border, written in shuffled batches.
      const start = ns("2024-06-30T23:59:59Z");
      const lines = Array.from({ length: 6000 }, (_, i) =>
        entry({ namespace: n, timeNs: start + BigInt(i) * 500_000n, log: `l${i}` }),
      );
      const shuffled = [...lines].sort(() => Math.random() - 0.5);
      for (let i = 0; i < shuffled.length; i += 1000) await store.write(shuffled.slice(i, i + 1000));
      const buckets = await cql.execute(
        `SELECT day, bucket FROM ${keyspace}.log_buckets WHERE namespace = ? AND pod_name = 'pod-a' AND container_name = 'main' AND day IN ?`,
        [n, [19904, 19905]],
      );
      const listed = buckets.rows.map((r) => [r.day as number, new Date(Number(r.bucket)).toISOString()]);
      expect(listed).toEqual([
        [19904, "2024-06-30T23:59:30.000Z"],
        [19905, "2024-07-01T00:00:00.000Z"],
      ]);
      const counts = await Promise.all(buckets.rows.map((r) => rowsInPartition(n, r.bucket as bigint)));
      expect(counts).toEqual([2000, 4000]);
      const rows = await queryAll(store, {
        tenant: "",
        namespace: n,
        pod: "pod-a",
        container: "main",
        startNs: ns("2024-06-30T23:59:59.5Z"),
        endNs: ns("2024-07-01T00:00:01.5Z"),
      });
      expect(rows.map((r) => r.log)).toEqual(lines.slice(1000, 5001).map((e) => e.log));
    }, 60_000);

    test("short ranges (read directly) and long ranges (through the index) find the same lines", async () => {
      const n = unique();
      const start = ns("2024-08-08T08:00:00Z");
      // One line every 20 s for 20 minutes: 40 buckets, each with a line or none.
      const lines = Array.from({ length: 60 }, (_, i) =>
        entry({ namespace: n, timeNs: start + BigInt(i) * 20n * 1_000_000_000n, log: `t+${i * 20}s` }),
      );
      await store.write(lines);
      const q = (from: number, to: number) =>
        queryAll(store, {
          tenant: "",
          namespace: n,
          pod: "pod-a",
          container: "main",
          startNs: start + BigInt(from) * 1_000_000_000n,
          endNs: start + BigInt(to) * 1_000_000_000n,
        });
      const short = await q(60, 180); // 3 minutes: 7 buckets
      const long = await q(0, 1200); // 20 minutes: 41 buckets
      expect(short.map((r) => r.log)).toEqual(lines.slice(3, 10).map((e) => e.log));
      expect(long.map((r) => r.log)).toEqual(lines.map((e) => e.log));
    }, 30_000);

    test("a full write queue is refused as busy (503 with Retry-After), never as bad input", async () => {
      const small = await CassandraStore.connect(options({ writeBufferSize: 100, writeConcurrency: 1 }));
      const app = createApp(small);
      const n = unique();
      const body = (k: number) =>
        JSON.stringify(
          Array.from({ length: 80 }, (_, i) =>
            fbRecord({ namespace: n, log: `b${k} l${i}`, time: `2024-03-03T03:03:0${k}.${String(i).padStart(3, "0")}Z` }),
          ),
        );
      // Three batches of 80 lines arrive together; the buffer holds 100 lines.
      const responses = await Promise.all([1, 2, 3].map((k) => app.handle(post(body(k)))));
      await small.close();
      expect(responses.map((r) => r.status)).toEqual([200, 503, 503]);
      for (const r of responses.slice(1)) {
        expect(r.headers.get("retry-after")).toBe("1");
        expect(await r.json()).toMatchObject({ message: "data store is busy" });
      }
    }, 60_000);

    test("a line larger than a Cassandra request is rejected unsent, never a 503 retried forever; its neighbours are stored", async () => {
      // 17 MB: over the native protocol's 16 MiB frame. Sent, it is refused, and the requests
      // sharing its connection can time out with it: the store does not send it.
      const huge = "h".repeat(17 * 1024 * 1024);
      const app = createApp(store, { maxLineSize: 32 * 1024 * 1024, maxBodySize: 64 * 1024 * 1024 });
      const n = unique();
      const records = ["before", huge, "after"].map((log, i) => fbRecord({ namespace: n, log, time: `2024-03-04T04:04:0${i}Z` }));
      const res = await app.handle(post(JSON.stringify(records)));
      expect(res.status).toBe(200);
      const body = (await res.json()) as { accepted: number; rejected: number; errors: unknown[] };
      expect(body).toMatchObject({ accepted: 2, rejected: 1 });
      expect(body.errors).toEqual([
        { index: 1, reason: "store_rejected", detail: expect.stringContaining("larger than Cassandra takes in one request") },
      ]);
      const rows = await queryAll(store, {
        tenant: "",
        namespace: n,
        pod: "web-1",
        container: "nginx",
        startNs: ns("2024-03-04T00:00:00Z"),
        endNs: ns("2024-03-05T00:00:00Z"),
      });
      expect(rows.map((r) => r.log)).toEqual(["before", "after"]);
    }, 60_000);

    test("a keyspace from before the counts and the metadata column gets both when the store starts", async () => {
      const old = `${keyspace}_before_counts`;
      for (const statement of schemaStatements(options({ keyspace: old }))) {
        if (statement.includes(".log_counts")) continue;
        await cql.execute(statement.replace(", metadata text", ""));
      }
      const before = await cql.execute(
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = 'log_lines'",
        [old],
      );
      expect(before.rows.map((r) => r.column_name)).not.toContain("metadata");
      const own = await CassandraStore.connect(options({ keyspace: old }));
      try {
        const n = unique();
        const at = ns("2024-03-01T10:00:00Z");
        await own.write([entry({ namespace: n, timeNs: at, log: "with metadata", metadata: { trace: "t" } })]);
        const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
        const rows = [];
        for await (const page of own.read(ref, { startNs: at, endNs: at, direction: "forward", withSource: true }))
          rows.push(...page);
        expect(rows.map((r) => [r.log, r.podId, r.dockerId, r.metadata])).toEqual([
          ["with metadata", "pod-id-1", "docker-1", { trace: "t" }],
        ]);
        const counts = [];
        for await (const page of own.counts(ref, at - 60_000_000_000n, at)) counts.push(...page);
        // A line exactly on a minute counts in the minute it ends.
        expect(counts).toEqual([{ minuteNs: at - 60_000_000_000n, stream: "stdout", level: "", lines: 1, bytes: 13 }]);
      } finally {
        await own.close();
      }
    }, 60_000);

    test("what Cassandra itself refuses as invalid costs only those lines (a schema that takes ASCII only)", async () => {
      // A real refusal: the lines table of this keyspace was made with `log ascii`, so Cassandra
      // answers "Invalid byte for ascii" to any other text, batch or single row.
      const mismatched = `${keyspace}_ascii`;
      for (const statement of schemaStatements(options({ keyspace: mismatched }))) {
        await cql.execute(statement.replace("stream text, log text", "stream text, log ascii"));
      }
      const own = await CassandraStore.connect(options({ keyspace: mismatched }));
      try {
        const n = unique();
        const logs = ["plain 1", "café", "plain 2", "plain 3", "naïve", "plain 4"];
        const result = await own.write(logs.map((log, i) => entry({ namespace: n, timeNs: BigInt(i + 1), log })));
        expect(result.rejected.map((r) => r.index)).toEqual([1, 4]);
        for (const r of result.rejected) expect(r.detail).toContain("Invalid byte for ascii");
        const rows = await queryAll(own, { tenant: "", namespace: n, pod: "pod-a", container: "main", startNs: 0n, endNs: 100n });
        expect(rows.map((r) => r.log)).toEqual(["plain 1", "plain 2", "plain 3", "plain 4"]);
      } finally {
        await own.close();
      }
    }, 60_000);

    test("errors are told apart: outages and overload may pass (503), invalid data never will", () => {
      const { errors, types } = cassandra;
      const response = (code: number) => new errors.ResponseError(code, "x");
      for (const passing of [
        new errors.NoHostAvailableError({}),
        new errors.OperationTimedOutError("timed out"),
        new errors.BusyConnectionError("127.0.0.1:9042", 2048, 1),
        response(types.responseErrorCodes.unavailableException),
        response(types.responseErrorCodes.overloaded),
        response(types.responseErrorCodes.writeTimeout),
        response(types.responseErrorCodes.readTimeout),
        response(types.responseErrorCodes.unauthorized),
        // Abstract in the driver's types, thrown as such by the driver for a shut-down client.
        new (errors.DriverError as unknown as new (message: string) => Error)("the client is shut down"),
      ]) {
        expect(isTransient(passing), passing.message).toBe(true);
      }
      for (const permanent of [
        response(types.responseErrorCodes.invalid),
        response(types.responseErrorCodes.syntaxError),
        new errors.ArgumentError("bad value"),
        new TypeError("Expected Number"),
        new SyntaxError("Failed to parse String to BigInt"),
      ]) {
        expect(isTransient(permanent), permanent.message).toBe(false);
      }
      // A table or keyspace that is gone is created again by the store: 503 until then, never a rejection.
      for (const missing of [
        new errors.ResponseError(types.responseErrorCodes.invalid, "unconfigured table log_lines"),
        new errors.ResponseError(types.responseErrorCodes.invalid, "Keyspace kils does not exist"),
        response(types.responseErrorCodes.unprepared),
      ]) {
        expect(isSchemaMissing(missing), missing.message).toBe(true);
        expect(isTransient(missing), missing.message).toBe(true);
      }
      expect(isSchemaMissing(response(types.responseErrorCodes.invalid))).toBe(false);
    });

    test("a keyspace dropped under a running store: health 503, then the store creates it again and takes writes", async () => {
      const ks = `${keyspace}_gone`;
      const store = await CassandraStore.connect(options({ keyspace: ks }));
      try {
        const app = createApp(store);
        const n = unique();
        const record = (log: string) => JSON.stringify([fbRecord({ namespace: n, log, time: "2024-02-02T02:02:02Z" })]);
        expect((await app.handle(post(record("before")))).status).toBe(200);
        await cql.execute(`DROP KEYSPACE ${ks}`);
        // Whether the probe or a write meets the missing tables first, neither is a rejection.
        const health = await app.handle(get("/write"));
        expect(health.status).toBe(503);
        expect(((await health.json()) as { detail: string }).detail).toMatch(/does not exist|unconfigured table/i);
        let status = 0;
        for (let i = 0; status !== 200 && i < 60; i++) {
          const res = await app.handle(post(record("after")));
          status = res.status;
          if (status !== 200) {
            expect(status).toBe(503);
            await Bun.sleep(500);
          } else expect(((await res.json()) as { rejected: number }).rejected).toBe(0);
        }
        expect(status).toBe(200);
        expect((await app.handle(get("/write"))).status).toBe(200);
        const res = await app.handle(get(queryUrl({ namespace: n, start: "2024-02-02T00:00:00Z", end: "2024-02-03T00:00:00Z" })));
        expect(((await res.json()) as { log_rows: { log: string }[] }).log_rows.map((r) => r.log)).toEqual(["after"]);
      } finally {
        await store.close();
      }
    }, 120_000);
  });

  // Last: this stops and restarts the node, which only works for a node this harness runs.
  describe("cassandra outage and recovery", () => {
    const ours = runningPid() !== undefined;
    test.skipIf(!ours)(
      "health turns 503 within seconds of the node going away, writes get 503, and both recover without a restart",
      async () => {
        const store = await CassandraStore.connect(options());
        const app = createApp(store);
        const n = unique();
        // Distinct times: two one-line batches at one nanosecond would come back in id order.
        const times: Record<string, string> = { before: "2024-02-02T02:02:02Z", during: "2024-02-02T02:02:03Z" };
        const record = (log: string) => JSON.stringify([fbRecord({ namespace: n, log, time: times[log] })]);
        expect((await app.handle(post(record("before")))).status).toBe(200);

        await stopCassandra({ log: () => {} });
        try {
          await outageAndRecovery(app, store, n, record);
        } finally {
          // Whatever happened, leave a running node for the rest of the suite.
          if (!(await cassandraAnswers(host, port))) await startCassandra({ port, skipSync: true, log: () => {} });
          await store.close();
        }
      },
      180_000,
    );
  });
}

/** Start (epoch ms) of the data partition that holds a time. */
function bucketStartMs(timeNs: bigint): bigint {
  return (timeNs / (BigInt(BUCKET_SECONDS) * 1_000_000_000n)) * BigInt(BUCKET_SECONDS) * 1000n;
}

/** Rows of one data partition of pod-a/main in the test keyspace, counted by Cassandra. */
async function rowsInPartition(namespace: string, bucket: bigint): Promise<number> {
  const rs = await cql.execute(
    `SELECT count(*) AS n FROM ${keyspace}.log_lines WHERE namespace = ? AND pod_name = 'pod-a' AND container_name = 'main' AND bucket = ?`,
    [namespace, bucket],
  );
  return Number(rs.rows[0]!.n);
}

async function outageAndRecovery(
  app: ReturnType<typeof createApp>,
  store: CassandraStore,
  n: string,
  record: (log: string) => string,
) {
  const down = Date.now();
  let health = await app.handle(get("/write"));
  while (health.status !== 503 && Date.now() - down < 15_000) {
    await Bun.sleep(250);
    health = await app.handle(get("/write"));
  }
  expect(health.status).toBe(503);
  expect(((await health.json()) as { healthy: boolean }).healthy).toBe(false);
  const refused = await app.handle(post(record("during")));
  expect(refused.status).toBe(503);
  expect(refused.headers.get("retry-after")).not.toBeNull();
  await expect(store.write([entry({ namespace: n, timeNs: 1n })])).rejects.toBeInstanceOf(StoreUnavailableError);

  await startCassandra({ port, skipSync: true, log: () => {} });
  const up = Date.now();
  health = await app.handle(get("/write"));
  while (health.status !== 200 && Date.now() - up < 60_000) {
    await Bun.sleep(500);
    health = await app.handle(get("/write"));
  }
  expect(health.status).toBe(200);
  // The retried batch now succeeds, and nothing was lost or doubled.
  let retried = await app.handle(post(record("during")));
  for (let i = 0; retried.status !== 200 && i < 20; i++) {
    await Bun.sleep(500);
    retried = await app.handle(post(record("during")));
  }
  expect(retried.status).toBe(200);
  const res = await app.handle(get(queryUrl({ namespace: n, start: "2024-02-02T00:00:00Z", end: "2024-02-03T00:00:00Z" })));
  expect(((await res.json()) as { log_rows: { log: string }[] }).log_rows.map((r) => r.log)).toEqual(["before", "during"]);
}
