// The Cassandra store against a real node: the contract suite unchanged, then what only
// Cassandra has (schema, chunks and their compaction, TTL, a keyspace from before chunks, an
// outage). `bun run test` starts a node when none
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
import { decodeChunk, linesOf, MAX_CHUNK_TEXT_BYTES, windowOf, WINDOW_NS, type ChunkLine } from "../../src/store/chunk.ts";
import { lineIds, sequenceNumbers, sourceKey } from "../../src/store/lines.ts";
import { StoreUnavailableError, type LogEntry, type OrderedRow, type StreamRead, type StreamRef } from "../../src/store/store.ts";
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
  // Again with compaction racing every write and read: a window is merged as soon as it holds
  // two chunks, while the suite writes, resends and reads it.
  storeContract(
    "cassandra (real node), compacting all the time",
    (o) =>
      CassandraStore.connect(
        options({
          keyspace: `${keyspace}_busy${o ? `_retention_${++retentionKeyspaces}` : ""}`,
          pageBytes: 64 * 1024,
          compactAfterMs: 0,
          compactChunks: 2,
          ...(o && { retention: o.retention }),
        }),
      ),
    { timeout: 60_000 },
  );

  describe("cassandra store", () => {
    let store: CassandraStore;
    beforeAll(async () => {
      // No compaction by itself: tests look at chunks as written, and compact when they mean to.
      store = await CassandraStore.connect(options({ compactAfterMs: -1 }));
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
        "log_chunks",
        "log_counts",
        "log_days",
        "log_lines",
        "log_sources",
        "log_stream_days",
        "log_streams",
        "log_windows",
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

    test("--retention becomes a TTL per chunk (less the age of its last line) and fits the TWCS windows", async () => {
      const ks = `${keyspace}_ttl`;
      const week = 7 * 86_400;
      const s = await CassandraStore.connect(options({ keyspace: ks, retentionSeconds: week }));
      const n = unique();
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const day = 86_400n * 1_000_000_000n;
      // Two lines of one window six days ago, almost a window apart: the chunk lives as long as
      // its last line may.
      const old = windowOf(nowNs - 6n * day);
      await s.write([
        entry({ namespace: n, timeNs: nowNs, log: "fresh" }),
        entry({ namespace: n, timeNs: old + 1_000_000_000n, log: "six days old, first" }),
        entry({ namespace: n, timeNs: old + WINDOW_NS - 1_000_000_000n, log: "six days old, last" }),
      ]);
      await s.close();
      const chunks = await chunkRows(ks, n);
      const ttl = Object.fromEntries(chunks.map((c) => [c.lines.map((l) => l.log).join(" + "), c.ttl]));
      expect(Object.keys(ttl).sort()).toEqual(["fresh", "six days old, first + six days old, last"]);
      const lastAge = Number((nowNs - (old + WINDOW_NS - 1_000_000_000n)) / 1_000_000_000n);
      expect(ttl.fresh).toBeGreaterThan(week - 120);
      expect(ttl.fresh).toBeLessThanOrEqual(week);
      // From the last line's time: the first line's would be 298 s less.
      expect(ttl["six days old, first + six days old, last"]).toBeGreaterThan(week - lastAge - 60);
      expect(ttl["six days old, first + six days old, last"]).toBeLessThanOrEqual(week - lastAge);
      for (const table of ["log_chunks", "log_lines", "log_counts"]) {
        const settings = await cql.execute(
          "SELECT default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
          [ks, table],
        );
        expect(settings.rows[0]!.default_time_to_live).toBe(week);
        expect(settings.rows[0]!.compaction).toMatchObject({
          class: "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
          compaction_window_unit: "HOURS",
          compaction_window_size: String(compactionWindowHours(week)),
        });
      }
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
      // A chunk per namespace and window: short-ns' two lines are in two windows.
      const lines: Record<string, number | null> = {};
      for (const namespace of namespaces) for (const c of await chunkRows(ks, namespace)) lines[c.lines[0]!.log] = c.ttl;
      expect(Object.keys(lines).length).toBe(5);
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
      // Window and day rows have no column but their key, whose TTL CQL does not show: they are
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
      for (const name of ["log_chunks", "log_lines"]) {
        expect(tables.rows.find((r) => r.table_name === name)!.compaction).toMatchObject({
          compaction_window_size: String(compactionWindowHours(30 * day)),
          unchecked_tombstone_compaction: "true",
        });
      }
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
        const stored = (await chunkRows(ks, "short-ns")).flatMap((c) => c.lines.map((l) => l.log));
        expect(stored.sort()).toEqual(["short, 10m", "short, 2h"]);
      } finally {
        await s.close();
      }
      // The rules were applied to the existing tables; without them, the plain settings come back.
      const compaction = async () =>
        (
          await cql.execute("SELECT compaction FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'log_chunks'", [
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

    test("lines of one millisecond, and of one nanosecond, are distinct lines of one chunk", async () => {
      const n = unique();
      const base = ns("2024-05-05T05:05:05.005Z");
      await store.write([
        ...Array.from({ length: 10 }, (_, i) => entry({ namespace: n, timeNs: base + BigInt(i), log: `ns ${i}` })),
        entry({ namespace: n, timeNs: base, log: "same ns, same text" }),
        entry({ namespace: n, timeNs: base, log: "same ns, same text" }),
      ]);
      const chunks = await chunkRows(keyspace, n);
      expect(chunks.length).toBe(1);
      expect(chunks[0]!.lines.length).toBe(12);
      expect(new Set(chunks[0]!.lines.map((l) => `${l.timeNs}/${l.id}`)).size).toBe(12);
    }, 30_000);

    test("a resent batch writes the same chunk rows again: rows and their bytes unchanged", async () => {
      const n = unique();
      const base = ns("2024-05-05T05:05:05Z");
      // 2 windows; over a MiB of text in the first: more than one chunk per window.
      const batch = Array.from({ length: 2_500 }, (_, i) =>
        entry({ namespace: n, timeNs: base + BigInt(i) * 150_000_000n, log: `line ${i % 7} ${"x".repeat(600)}` }),
      );
      await store.write(batch);
      const first = await chunkRows(keyspace, n);
      expect(new Set(first.map((c) => c.window)).size).toBe(2);
      expect(first.length).toBeGreaterThan(2);
      await store.write(batch);
      await store.write(structuredClone(batch));
      const again = await chunkRows(keyspace, n);
      expect(again.map((c) => [c.window, c.firstNs, c.key, c.data])).toEqual(
        first.map((c) => [c.window, c.firstNs, c.key, c.data]),
      );
      expect(again.reduce((sum, c) => sum + c.lines.length, 0)).toBe(2_500);
    }, 30_000);

    test("a chatty container's lines are cut into chunks of one 5-minute window, listed by day, and read in order", async () => {
      const n = unique();
      // 2,000 lines/s for 3 s, starting 1 s before a window border (and midnight), written in
      // shuffled batches.
      const start = ns("2024-06-30T23:59:59Z");
      const lines = Array.from({ length: 6000 }, (_, i) =>
        entry({ namespace: n, timeNs: start + BigInt(i) * 500_000n, log: `l${i}` }),
      );
      const shuffled = [...lines].sort(() => Math.random() - 0.5);
      for (let i = 0; i < shuffled.length; i += 1000) await store.write(shuffled.slice(i, i + 1000));
      const windows = await cql.execute(
        `SELECT day, window FROM ${keyspace}.log_windows WHERE namespace = ? AND pod_name = 'pod-a' AND container_name = 'main' AND day IN ?`,
        [n, [19904, 19905]],
      );
      const listed = windows.rows.map((r) => [
        r.day as number,
        new Date(Number((r.window as bigint) / 1_000_000n)).toISOString(),
      ]);
      expect(listed).toEqual([
        [19904, "2024-06-30T23:55:00.000Z"],
        [19905, "2024-07-01T00:00:00.000Z"],
      ]);
      // A chunk per batch and window, each within its window.
      const chunks = await chunkRows(keyspace, n);
      expect(chunks.length).toBe(12);
      for (const c of chunks) {
        expect(windowOf(c.firstNs)).toBe(c.window);
        expect(windowOf(c.lastNs)).toBe(c.window);
      }
      const perWindow = (w: bigint) => chunks.filter((c) => c.window === w).reduce((sum, c) => sum + c.lines.length, 0);
      expect([perWindow(windowOf(start)), perWindow(windowOf(start) + WINDOW_NS)]).toEqual([2000, 4000]);
      const range = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
      const rows = await queryAll(store, {
        ...range,
        startNs: ns("2024-06-30T23:59:59.5Z"),
        endNs: ns("2024-07-01T00:00:01.5Z"),
      });
      expect(rows.map((r) => r.log)).toEqual(lines.slice(1000, 5001).map((e) => e.log));
      const backward = [];
      for await (const page of store.read(range, { startNs: start, endNs: start + 3_000_000_000n, direction: "backward" }))
        backward.push(...page);
      expect(backward.map((r) => r.log)).toEqual(lines.map((e) => e.log).reverse());
    }, 60_000);

    test("short ranges (read directly) and long ranges (through the index) find the same lines", async () => {
      const n = unique();
      const start = ns("2024-08-08T08:00:00Z");
      // One line every 20 s for 20 minutes: 4 windows.
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
      const short = await q(60, 180); // 3 minutes: 1 window
      const long = await q(0, 1200); // 20 minutes: 5 windows (the last holds the range's end only)
      expect(short.map((r) => r.log)).toEqual(lines.slice(3, 10).map((e) => e.log));
      expect(long.map((r) => r.log)).toEqual(lines.map((e) => e.log));
    }, 30_000);

    describe("compaction", () => {
      /** What reads give, every way: forward, backward, filtered, paged. */
      const views = async (s: CassandraStore, ref: StreamRef) => ({
        forward: await readAll(s, ref),
        backward: await readAll(s, ref, { direction: "backward" }),
        filtered: await readAll(s, ref, { contains: ["needle"] }),
        paged: await paged(s, ref, "forward", 333),
        pagedBackward: await paged(s, ref, "backward", 333),
      });

      test("merges a window's chunks into few: reads the same before and after, inputs gone, a resend after it shows no line twice", async () => {
        const n = unique();
        const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
        const base = ns("2024-05-07T07:00:00Z");
        // 4,000 lines over 6 minutes (two windows), two to a nanosecond, two streams, two
        // sources, metadata on some; sent in 80 batches of 50, and lines 1000-2000 again cut
        // differently (chunks that overlap).
        const lines = Array.from({ length: 4000 }, (_, i) =>
          entry({
            namespace: n,
            timeNs: base + BigInt(Math.floor(i / 2)) * 180_000_000n,
            log: `line ${i} ${i % 11 ? "hay" : "needle"}`,
            stream: i % 3 ? "stdout" : "stderr",
            level: i % 5 ? "info" : "error",
            podId: i < 2000 ? "uid-1" : "uid-2",
            metadata: i % 7 ? undefined : { trace: `t${i}` },
          }),
        );
        for (let i = 0; i < lines.length; i += 50) await store.write(lines.slice(i, i + 50));
        for (let i = 1000; i < 2000; i += 73) await store.write(lines.slice(i, Math.min(i + 73, 2000)));
        const before = await views(store, ref);
        expect(before.forward.map((r) => r.log)).toEqual(lines.map((e) => e.log));
        expect(before.backward).toEqual([...before.forward].reverse());
        expect(before.paged).toEqual(before.forward);
        expect(before.pagedBackward).toEqual(before.backward);
        expect(before.filtered).toEqual(before.forward.filter((r) => r.log.includes("needle")));
        expect(before.forward[7]!.metadata).toEqual({ trace: "t7" });
        expect(before.forward.at(-1)!.podId).toBe("uid-2");
        const inputs = await chunkRows(keyspace, n);
        expect(inputs.length).toBeGreaterThan(90);

        await store.compactNow();
        const outputs = await chunkRows(keyspace, n);
        // One chunk per window (each holds less than a MiB of text), every line once.
        expect(outputs.map((c) => c.window)).toEqual([windowOf(base), windowOf(base) + WINDOW_NS]);
        expect(outputs.reduce((sum, c) => sum + c.lines.length, 0)).toBe(4000);
        const kept = new Set(outputs.map((c) => c.key));
        expect(inputs.filter((c) => kept.has(c.key))).toEqual([]);
        // Born when their earliest line was: the first batch.
        expect(outputs[0]!.born).toBe(inputs.reduce((min, c) => (c.born < min ? c.born : min), inputs[0]!.born));
        expect(await views(store, ref)).toEqual(before);

        // Resent after compaction, byte-identical and cut differently: no line twice, none moved.
        await store.write(lines.slice(1950, 2000));
        await store.write(lines.slice(1900, 2150));
        expect((await chunkRows(keyspace, n)).length).toBeGreaterThan(2);
        expect(await views(store, ref)).toEqual(before);
        await store.compactNow();
        expect((await chunkRows(keyspace, n)).map((c) => c.lines.length)).toEqual(outputs.map((c) => c.lines.length));
        expect(await views(store, ref)).toEqual(before);
        // Nothing left to do: a compaction now writes and deletes nothing.
        expect(await store.compactWindow(ref, base)).toEqual({ windows: 0, inputs: 0, outputs: 0 });
      }, 120_000);

      test("a large window becomes full chunks that do not overlap", async () => {
        const n = unique();
        const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
        const base = ns("2024-05-07T08:00:00Z");
        // 3.5 chunks' worth of text in one window, in batches of 200: three full chunks, and a last
        // one under half full.
        const lines = Array.from({ length: Math.ceil((3.5 * MAX_CHUNK_TEXT_BYTES) / 505) }, (_, i) =>
          entry({ namespace: n, timeNs: base + BigInt(i) * 30_000_000n, log: `${i} ${"abcdefghij".repeat(50)}` }),
        );
        for (let i = 0; i < lines.length; i += 200) await store.write(lines.slice(i, i + 200));
        const before = await readAll(store, ref);
        await store.compactNow();
        const outputs = await chunkRows(keyspace, n);
        expect(outputs.length).toBeGreaterThanOrEqual(4);
        expect(outputs.length).toBeLessThanOrEqual(5);
        for (let k = 1; k < outputs.length; k++) expect(outputs[k]!.firstNs).toBeGreaterThan(outputs[k - 1]!.lastNs);
        for (const c of outputs.slice(0, -1))
          expect(c.lines.reduce((sum, l) => sum + l.log.length, 0)).toBeGreaterThanOrEqual(MAX_CHUNK_TEXT_BYTES);
        expect(await readAll(store, ref)).toEqual(before);
        // Later writes to the window merge with its last, partly filled chunk only.
        const more = Array.from({ length: 100 }, (_, i) =>
          entry({ namespace: n, timeNs: base + 250_000_000_000n + BigInt(i), log: `more ${i}` }),
        );
        await store.write(more.slice(0, 50));
        await store.write(more.slice(50));
        const stats = await store.compactWindow(ref, base);
        expect(stats).toEqual({ windows: 1, inputs: 3, outputs: 1 });
        const after = await chunkRows(keyspace, n);
        expect(after.slice(0, -1).map((c) => c.key)).toEqual(outputs.slice(0, -1).map((c) => c.key));
        expect((await readAll(store, ref)).map((r) => r.log)).toEqual([...lines, ...more].map((e) => e.log));
      }, 120_000);

      test("runs by itself once a window is quiet, or once it holds many small chunks", async () => {
        const quiet = await CassandraStore.connect(options({ compactAfterMs: 100 }));
        const busy = await CassandraStore.connect(options({ compactAfterMs: 3_600_000, compactChunks: 10 }));
        try {
          const n = unique();
          const base = ns("2024-05-07T09:00:00Z");
          const batch = (k: number, pod: string) =>
            Array.from({ length: 20 }, (_, i) =>
              entry({ namespace: n, pod, timeNs: base + BigInt(k * 20 + i) * 1_000_000n, log: `${k}/${i}` }),
            );
          for (let k = 0; k < 10; k++) await quiet.write(batch(k, "quiet"));
          for (let k = 0; k < 10; k++) await busy.write(batch(k, "busy"));
          const chunksOf = async (pod: string) => (await chunkRows(keyspace, n)).filter((c) => c.pod === pod).length;
          let chunks = { quiet: 10, busy: 10 };
          for (let i = 0; i < 200 && (chunks.quiet > 1 || chunks.busy > 1); i++) {
            await Bun.sleep(100);
            chunks = { quiet: await chunksOf("quiet"), busy: await chunksOf("busy") };
          }
          expect(chunks).toEqual({ quiet: 1, busy: 1 });
          for (const pod of ["quiet", "busy"]) {
            const rows = await queryAll(quiet, {
              tenant: "",
              namespace: n,
              pod,
              container: "main",
              startNs: 0n,
              endNs: base + WINDOW_NS,
            });
            expect(rows.length).toBe(200);
          }
        } finally {
          await quiet.close();
          await busy.close();
        }
      }, 60_000);

      test("a server started again compacts the windows a stopped one left uncompacted", async () => {
        const n = unique();
        // Ten minutes ago, one window: as a server's last writes before a crash or a quick restart.
        const base = windowOf(BigInt(Date.now()) * 1_000_000n - 600_000_000_000n) + 1_000_000_000n;
        const batch = (k: number) =>
          Array.from({ length: 20 }, (_, i) =>
            entry({ namespace: n, timeNs: base + BigInt(k * 20 + i) * 1_000_000n, log: `${k}/${i}` }),
          );
        const stopped = await CassandraStore.connect(options({ compactAfterMs: -1 }));
        for (let k = 0; k < 6; k++) await stopped.write(batch(k));
        await stopped.close();
        expect((await chunkRows(keyspace, n)).length).toBe(6);
        const again = await CassandraStore.connect(options({ compactAfterMs: 100, recoverWindows: true }));
        try {
          let chunks = 6;
          for (let i = 0; i < 300 && chunks > 1; i++) {
            await Bun.sleep(100);
            chunks = (await chunkRows(keyspace, n)).length;
          }
          expect(chunks).toBe(1);
          const rows = await queryAll(again, {
            tenant: "",
            namespace: n,
            pod: "pod-a",
            container: "main",
            startNs: 0n,
            endNs: base + WINDOW_NS,
          });
          expect(rows.map((r) => r.log)).toEqual(Array.from({ length: 6 }, (_, k) => batch(k).map((e) => e.log)).flat());
        } finally {
          await again.close();
        }
      }, 60_000);

      test("two stores compacting the same window at once, while lines arrive, end with every line once", async () => {
        const a = await CassandraStore.connect(options({ compactAfterMs: -1 }));
        const b = await CassandraStore.connect(options({ compactAfterMs: -1 }));
        try {
          const n = unique();
          const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
          const base = ns("2024-05-07T10:00:00Z");
          const lines = Array.from({ length: 6000 }, (_, i) =>
            entry({ namespace: n, timeNs: base + BigInt(i) * 40_000_000n, log: `line ${i} ${"y".repeat(i % 50)}` }),
          );
          // Three rounds: both stores write a third of the lines each (so both compact the
          // window), then compact at once while another batch, overlapping, arrives.
          for (let round = 0; round < 3; round++) {
            const part = lines.slice(round * 2000, (round + 1) * 2000);
            for (let i = 0; i < part.length; i += 100) await (i % 200 ? a : b).write(part.slice(i, i + 100));
            const late = lines.slice(Math.max(0, round * 2000 - 150), round * 2000 + 250);
            await Promise.all([a.compactNow(), b.compactNow(), a.write(late), b.compactWindow(ref, base)]);
            const written = lines.slice(0, (round + 1) * 2000).map((e) => e.log);
            expect((await readAll(a, ref)).map((r) => r.log)).toEqual(written);
            expect(await readAll(b, ref)).toEqual(await readAll(a, ref));
          }
          // Whatever the two left (outputs that overlap, the late batch), one more compaction
          // leaves chunks that do not overlap, every line stored once.
          await a.compactWindow(ref, base);
          const chunks = await chunkRows(keyspace, n);
          for (let k = 1; k < chunks.length; k++) expect(chunks[k]!.firstNs).toBeGreaterThan(chunks[k - 1]!.lastNs);
          expect(chunks.reduce((sum, c) => sum + c.lines.length, 0)).toBe(6000);
          expect((await readAll(b, ref)).map((r) => r.log)).toEqual(lines.map((e) => e.log));
        } finally {
          await a.close();
          await b.close();
        }
      }, 120_000);

      test("a read whose chunks are compacted away under it reads on from its last row, every line once", async () => {
        const n = unique();
        const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
        const base = ns("2024-05-07T10:30:00Z");
        const lines = Array.from({ length: 2000 }, (_, i) =>
          entry({ namespace: n, timeNs: base + BigInt(i) * 1_000_000n, log: `l${i}` }),
        );
        for (let i = 0; i < lines.length; i += 100) await store.write(lines.slice(i, i + 100));
        for (const direction of ["forward", "backward"] as const) {
          // A limited read fetches one chunk at first: the others it listed are still to fetch
          // when compaction replaces them.
          const read = store.read(ref, { startNs: base, endNs: base + WINDOW_NS, direction, limitHint: 50 });
          const it = read[Symbol.asyncIterator]();
          const rows: OrderedRow[] = [];
          const first = await it.next();
          if (!first.done) rows.push(...first.value);
          expect(rows.length).toBeLessThan(100);
          await store.compactWindow(ref, base);
          expect((await chunkRows(keyspace, n)).length).toBe(1);
          for (let guard = 0; guard < 1000; guard++) {
            const next = await it.next();
            if (next.done) break;
            rows.push(...next.value);
          }
          const expected = lines.map((e) => e.log);
          expect(rows.map((r) => r.log)).toEqual(direction === "forward" ? expected : expected.reverse());
        }
      }, 60_000);

      test("close stops it: a store closed during a compaction closes, and its window reads whole", async () => {
        const s = await CassandraStore.connect(options({ compactAfterMs: -1 }));
        const n = unique();
        const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
        const base = ns("2024-05-07T11:00:00Z");
        const lines = Array.from({ length: 3000 }, (_, i) =>
          entry({ namespace: n, timeNs: base + BigInt(i) * 1_000_000n, log: `l${i}` }),
        );
        for (let i = 0; i < lines.length; i += 100) await s.write(lines.slice(i, i + 100));
        const compacting = s.compactNow().catch(() => {});
        await s.close();
        await compacting;
        expect((await queryAll(store, { ...ref, startNs: 0n, endNs: base + WINDOW_NS })).map((r) => r.log)).toEqual(
          lines.map((e) => e.log),
        );
      }, 60_000);
    });

    test("a keyspace with lines from before chunks reads them merged with chunks written since, a line in both once", async () => {
      const ks = `${keyspace}_legacy`;
      // The tables of a keyspace from before chunks; the store adds the new ones.
      for (const statement of schemaStatements(options({ keyspace: ks }))) {
        if (!statement.includes(".log_chunks") && !statement.includes(".log_windows")) await cql.execute(statement);
      }
      const n = unique();
      const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
      const base = ns("2024-05-08T08:00:00Z");
      // 10 s apart over 10 minutes: two windows, twenty 30-second buckets; two lines share a nanosecond.
      const lines = Array.from({ length: 60 }, (_, i) =>
        entry({
          namespace: n,
          timeNs: base + BigInt(i === 21 ? 20 : i) * 10_000_000_000n,
          log: `line ${i}`,
          podId: i < 30 ? "old-uid" : "pod-id-1",
          metadata: i === 5 || i === 35 ? { trace: `t${i}` } : undefined,
        }),
      );
      // Lines 0-39 as the store wrote them before chunks: a row per line.
      await writeLegacyLines(ks, lines.slice(0, 40));
      const s = await CassandraStore.connect(options({ keyspace: ks, compactAfterMs: -1 }));
      try {
        expect((s as unknown as { legacy: boolean }).legacy).toBe(true);
        // Lines 30-59 written since: 30-39 are in both, with other order numbers (another batch).
        await s.write(lines.slice(30));
        const forward = await readAll(s, ref);
        expect(forward.map((r) => r.log)).toEqual(lines.map((e) => e.log));
        expect(forward.map((r) => r.podId)).toEqual(lines.map((e) => e.podId));
        expect(forward[5]!.metadata).toEqual({ trace: "t5" });
        expect(forward[35]!.metadata).toEqual({ trace: "t35" });
        // Of a line in both, the copy stored first (log_lines').
        const legacySeqs = sequenceNumbers(lines.slice(0, 40));
        expect(forward.slice(30, 40).map((r) => r.seq)).toEqual(legacySeqs.slice(30, 40));
        expect(await readAll(s, ref, { direction: "backward" })).toEqual([...forward].reverse());
        expect(await paged(s, ref, "forward", 7)).toEqual(forward);
        expect(await paged(s, ref, "backward", 7)).toEqual([...forward].reverse());
        // A short range (read directly) and a limited backward read see both tables as well.
        const short = await readAll(s, ref, { startNs: base + 280_000_000_000n, endNs: base + 320_000_000_000n });
        expect(short.map((r) => r.log)).toEqual(["line 28", "line 29", "line 30", "line 31", "line 32"]);
        const last = (await readAll(s, ref, { direction: "backward", limitHint: 25 })).slice(0, 25);
        expect(last.map((r) => r.log)).toEqual(
          lines
            .slice(35)
            .map((e) => e.log)
            .reverse(),
        );
        // Chunks hold what was written since only.
        expect((await chunkRows(ks, n)).flatMap((c) => c.lines.map((l) => l.log))).toEqual(lines.slice(30).map((e) => e.log));
        await s.compactNow();
        expect(await readAll(s, ref)).toEqual(forward);
      } finally {
        await s.close();
      }
      // A keyspace whose log_lines holds nothing reads chunks only.
      expect((store as unknown as { legacy: boolean }).legacy).toBe(false);
    }, 60_000);

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

    test("what Cassandra itself refuses for good costs only the lines it refuses alone (a chunk table whose pod_name takes ASCII only)", async () => {
      // A real refusal: log_chunks of this keyspace was made with `pod_name ascii`, so Cassandra
      // answers "Invalid byte for ascii" to a chunk of any other pod name. (Chunks are blobs:
      // Cassandra cannot refuse a line's text any more, only what the chunk's key holds.)
      const mismatched = `${keyspace}_ascii`;
      for (const statement of schemaStatements(options({ keyspace: mismatched }))) {
        await cql.execute(
          statement.replace(
            "pod_name text, container_name text, window bigint,",
            "pod_name ascii, container_name text, window bigint,",
          ),
        );
      }
      const own = await CassandraStore.connect(options({ keyspace: mismatched }));
      try {
        const n = unique();
        const pods = ["web", "wéb", "web", "web", "wéb", "web"];
        const result = await own.write(
          pods.map((pod, i) => entry({ namespace: n, pod, timeNs: BigInt(i + 1), log: `${pod} ${i}` })),
        );
        // Both lines of the refused chunk were tried alone, and refused alone: no 503 to retry forever.
        expect(result.rejected.map((r) => r.index)).toEqual([1, 4]);
        for (const r of result.rejected) expect(r.detail).toContain("Invalid byte for ascii");
        const rows = await queryAll(own, { tenant: "", namespace: n, pod: "web", container: "main", startNs: 0n, endNs: 100n });
        expect(rows.map((r) => r.log)).toEqual(["web 0", "web 2", "web 3", "web 5"]);
      } finally {
        await own.close();
      }
    }, 60_000);

    test("a chunk over the request limit is cut until each part fits; a line that cannot fit alone is rejected", async () => {
      // Incompressible text, and a request limit of 128 KiB: a batch's chunks of 300 KB of text are
      // halved until each part fits, and a line whose compressed form is over the limit is refused
      // unsent.
      const small = await CassandraStore.connect(options({ maxRequestBytes: 128 * 1024, compactAfterMs: -1 }));
      try {
        const n = unique();
        const noise = (k: number, bytes: number) =>
          Buffer.from(crypto.getRandomValues(new Uint8Array(bytes)))
            .toString("base64")
            .slice(0, bytes) + k;
        const base = ns("2024-05-06T06:00:00Z");
        const lines = Array.from({ length: 16 }, (_, i) =>
          entry({ namespace: n, timeNs: base + BigInt(i), log: noise(i, 60 * 1024) }),
        );
        // Under the limit alone, over it with its metadata (which no check before the chunk sees).
        lines.push(
          entry({ namespace: n, timeNs: base + 100n, log: noise(99, 200 * 1024), metadata: { big: noise(98, 200 * 1024) } }),
        );
        const result = await small.write(lines);
        expect(result.rejected.map((r) => r.index)).toEqual([16]);
        expect(result.rejected[0]!.detail).toContain("larger than Cassandra takes in one request");
        const chunks = await chunkRows(keyspace, n);
        expect(chunks.length).toBeGreaterThan(4);
        for (const c of chunks) expect(c.data.length).toBeLessThanOrEqual(128 * 1024);
        const rows = await queryAll(small, {
          tenant: "",
          namespace: n,
          pod: "pod-a",
          container: "main",
          startNs: base,
          endNs: base + 1000n,
        });
        expect(rows.map((r) => r.log)).toEqual(lines.slice(0, 16).map((e) => e.log));
        // The same batch again cuts the same chunks.
        await small.write(lines);
        expect((await chunkRows(keyspace, n)).map((c) => c.key)).toEqual(chunks.map((c) => c.key));
      } finally {
        await small.close();
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

/** Every row of a stream's read, with pod id, container id and metadata. */
async function readAll(s: CassandraStore, ref: StreamRef, range: Partial<StreamRead> = {}): Promise<OrderedRow[]> {
  const out: OrderedRow[] = [];
  const read: StreamRead = {
    startNs: 0n,
    endNs: ns("2030-01-01T00:00:00Z"),
    direction: "forward",
    withSource: true,
    ...range,
  };
  for await (const page of s.read(ref, read)) out.push(...page);
  return out;
}

/** The same rows, read in pages of `limit` rows from a cursor, as a client pages. */
async function paged(s: CassandraStore, ref: StreamRef, direction: "forward" | "backward", limit: number): Promise<OrderedRow[]> {
  const out: OrderedRow[] = [];
  let after: OrderedRow | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page: OrderedRow[] = [];
    const read: StreamRead = {
      startNs: 0n,
      endNs: ns("2030-01-01T00:00:00Z"),
      direction,
      after,
      limitHint: limit,
      withSource: true,
    };
    for await (const p of s.read(ref, read)) {
      page.push(...p);
      if (page.length >= limit) break;
    }
    if (page.length === 0) return out;
    out.push(...page.slice(0, limit));
    after = out.at(-1);
  }
  throw new Error("paging did not end");
}
/** Start (epoch ms) of the 30-second partition of log_lines that holds a time. */
function bucketStartMs(timeNs: bigint): bigint {
  return (timeNs / (BigInt(BUCKET_SECONDS) * 1_000_000_000n)) * BigInt(BUCKET_SECONDS) * 1000n;
}

/**
 * Writes a batch as the store wrote it before chunks, with its statements: a log_lines row per
 * line, the bucket and day index, the sources.
 */
async function writeLegacyLines(ks: string, entries: LogEntry[]): Promise<void> {
  const ids = lineIds(entries);
  const seqs = sequenceNumbers(entries);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const bucket = bucketStartMs(e.timeNs);
    const day = Number(bucket / 86_400_000n);
    const source = BigInt.asIntN(64, Bun.hash.wyhash(sourceKey(e)));
    const names = [e.namespace, e.pod, e.container];
    await cql.execute(
      `INSERT INTO ${ks}.log_lines (namespace, pod_name, container_name, bucket, ts, id, seq, stream, log, source, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        ...names,
        bucket,
        e.timeNs,
        ids[i],
        BigInt(seqs[i]!),
        e.stream,
        e.log,
        source,
        e.metadata ? JSON.stringify(e.metadata) : null,
      ],
      { prepare: true },
    );
    await cql.execute(
      `INSERT INTO ${ks}.log_buckets (namespace, pod_name, container_name, day, bucket) VALUES (?, ?, ?, ?, ?)`,
      [...names, day, bucket],
      {
        prepare: true,
      },
    );
    await cql.execute(
      `INSERT INTO ${ks}.log_days (namespace, pod_name, container_name, day) VALUES (?, ?, ?, ?)`,
      [...names, day],
      {
        prepare: true,
      },
    );
    await cql.execute(
      `INSERT INTO ${ks}.log_sources (namespace, pod_name, container_name, source, pod_id, docker_id, host, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [...names, source, e.podId, e.dockerId, e.host, e.labels],
      { prepare: true },
    );
  }
}

/** A row of log_chunks, its lines decoded. */
interface ChunkRow {
  pod: string;
  window: bigint;
  firstNs: bigint;
  lastNs: bigint;
  key: bigint;
  born: bigint;
  /** Seconds left to live; null: none. */
  ttl: number | null;
  data: Buffer;
  lines: ChunkLine[];
}

/** The chunks of a namespace in a keyspace, by pod, window, first time and key. */
async function chunkRows(ks: string, namespace: string): Promise<ChunkRow[]> {
  const rs = await cql.execute(
    `SELECT pod_name, window, first_ts, last_ts, chunk, born, data, TTL(data) AS ttl FROM ${ks}.log_chunks WHERE namespace = ? ALLOW FILTERING`,
    [namespace],
    { prepare: true },
  );
  const rows = rs.rows.map((r): ChunkRow => {
    const chunk = decodeChunk(r.data as Buffer);
    return {
      pod: r.pod_name as string,
      window: r.window as bigint,
      firstNs: r.first_ts as bigint,
      lastNs: r.last_ts as bigint,
      key: r.chunk as bigint,
      born: r.born as bigint,
      ttl: r.ttl as number | null,
      data: r.data as Buffer,
      lines: linesOf(chunk),
    };
  });
  const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
  return rows.sort(
    (a, b) =>
      (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0) || cmp(a.window, b.window) || cmp(a.firstNs, b.firstNs) || cmp(a.key, b.key),
  );
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
