// The embedded store: the contract suite on a real database file, plus what only it has.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRetentionRules, RetentionPolicy } from "../../src/store/retention.ts";
import { selectChunksSql } from "../../src/store/sqlite-schema.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { lineIds, sequenceNumbers } from "../../src/store/lines.ts";
import {
  StoreBusyError,
  StoreUnavailableError,
  type LogEntry,
  type OrderedRow,
  type StoreOperation,
} from "../../src/store/store.ts";
import { collect, entry, ns, queryAll, storedLines, unique } from "../helpers.ts";
import { ChunkGone, type ChunkRef } from "../../src/store/chunk-merge.ts";
import { linesOf } from "../../src/store/chunk.ts";
import { storeContract } from "./contract.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "logserver-embedded-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A numeric PRAGMA of a database (freelist_count, page_count, ...). */
function pragmaOf(db: Database, name: string): number {
  return Object.values(db.query(`PRAGMA ${name}`).get() as object)[0] as number;
}

const shared = tempDir();
// Small pages so that the contract's large result crosses many page borders.
// A test that asks for a retention gets a database of its own.
storeContract(
  "embedded (bun:sqlite file)",
  async (o) => new EmbeddedStore({ dataDir: o ? tempDir() : shared, pageBytes: 64 * 1024, retention: o?.retention }),
);

describe("embedded store", () => {
  test("uses WAL mode and keeps lines across a reopen", async () => {
    const dir = tempDir();
    const n = unique();
    const first = new EmbeddedStore({ dataDir: dir });
    await first.write([entry({ namespace: n, timeNs: ns("2024-01-01T00:00:00Z"), log: "persisted" })]);
    await first.close();
    const db = new Database(join(dir, "logs.sqlite"), { readonly: true });
    expect((db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
    db.close();
    const second = new EmbeddedStore({ dataDir: dir });
    const rows = await queryAll(second, {
      tenant: "",
      namespace: n,
      pod: "pod-a",
      container: "main",
      startNs: 0n,
      endNs: ns("2025-01-01T00:00:00Z"),
    });
    expect(rows.map((r) => r.log)).toEqual(["persisted"]);
    await second.close();
  });

  test("keeps the metadata of every line: pod id, docker id, host, labels", async () => {
    const dir = tempDir();
    const n = unique();
    const store = new EmbeddedStore({ dataDir: dir });
    await store.write([
      entry({ namespace: n, timeNs: 1n, podId: "uid-1", dockerId: "c1", host: "node-a", labels: { app: "x", tier: "web" } }),
      entry({ namespace: n, timeNs: 2n, podId: "uid-1", dockerId: "c2", host: "node-a", labels: { app: "x", tier: "web" } }),
    ]);
    await store.close();
    const db = new Database(join(dir, "logs.sqlite"), { readonly: true });
    const rows = storedLines(db).map((l) => [l.source.podId, l.source.dockerId, l.source.host, l.source.labels]);
    db.close();
    expect(rows).toEqual([
      ["uid-1", "c1", "node-a", '{"app":"x","tier":"web"}'],
      ["uid-1", "c2", "node-a", '{"app":"x","tier":"web"}'],
    ]);
  });

  test("a read lists a container's chunks through the (container, window) index, in order, without sorting", async () => {
    const store = new EmbeddedStore({ dataDir: ":memory:" });
    // The plan is part of the design: a full scan here would make /query slow on big data.
    const db = (store as unknown as { db: Database }).db;
    for (const direction of ["forward", "backward"] as const) {
      const plan = (
        db.query(`EXPLAIN QUERY PLAN ${selectChunksSql(direction)}`).all(1, 0, 5, 0, 100, 256) as { detail: string }[]
      )
        .map((p) => p.detail)
        .join(" | ");
      expect(plan).toContain("USING INDEX chunks_by_window (container_id=? AND win>? AND win<?)");
      expect(plan).not.toContain("TEMP B-TREE");
      expect(plan).not.toContain("SCAN");
    }
    await store.close();
  });

  test("syncs every commit by default (an acknowledged batch survives power loss); normal when asked", async () => {
    const full = new EmbeddedStore({ dataDir: ":memory:" });
    expect(await full.writerSettings()).toEqual({ synchronous: "full", journal: "wal" });
    await full.close();
    const normal = new EmbeddedStore({ dataDir: ":memory:", sync: "normal" });
    expect(await normal.writerSettings()).toEqual({ synchronous: "normal", journal: "wal" });
    await normal.close();
  });

  test("after close the data file alone holds every line: the log is checkpointed", async () => {
    const dir = tempDir();
    const n = unique();
    const store = new EmbeddedStore({ dataDir: dir });
    const base = ns("2024-01-01T00:00:00Z");
    for (let b = 0; b < 20; b++) {
      await store.write(
        Array.from({ length: 1000 }, (_, i) => entry({ namespace: n, timeNs: base + BigInt(b * 1000 + i), log: `l${b}-${i}` })),
      );
    }
    // A query leaves its statement behind, as a server's queries do.
    expect(
      (await queryAll(store, { tenant: "", namespace: n, pod: "pod-a", container: "main", startNs: 0n, endNs: base * 2n }))
        .length,
    ).toBe(20_000);
    await store.close();
    const wal = join(dir, "logs.sqlite-wal");
    expect(!existsSync(wal) || statSync(wal).size === 0).toBe(true);
    const alone = tempDir();
    copyFileSync(join(dir, "logs.sqlite"), join(alone, "logs.sqlite"));
    const db = new Database(join(alone, "logs.sqlite"), { readonly: true });
    expect(storedLines(db).length).toBe(20_000);
    db.close();
  });

  test("compaction gives the pages it frees back to the file system, in a small store too", async () => {
    const dir = tempDir();
    const n = unique();
    const store = new EmbeddedStore({ dataDir: dir, compactAfterMs: -1 });
    const base = ns("2024-01-01T00:00:00Z");
    // 100 writes of 100 lines to one window: 100 small chunks, about 1 MB before compaction.
    for (let b = 0; b < 100; b++) {
      await store.write(
        Array.from({ length: 100 }, (_, i) =>
          entry({
            namespace: n,
            timeNs: base + BigInt(b * 100 + i) * 1000n,
            log: `request ${b * 100 + i} took ${(b * 7 + i) % 97} ms`,
          }),
        ),
      );
    }
    await store.compactNow();
    await store.close();
    const db = new Database(join(dir, "logs.sqlite"), { readonly: true });
    const free = pragmaOf(db, "freelist_count");
    expect(storedLines(db).length).toBe(10_000);
    db.close();
    // Compaction freed about 50 pages (200 KB); a store with under 1 MB of them used to keep them.
    expect(free).toBeLessThan(16);
  });

  test("a store at rest gives back the pages its last compactions freed, under a quarter of the file too", async () => {
    const dir = tempDir();
    const n = unique();
    const store = new EmbeddedStore({ dataDir: dir, compactAfterMs: -1 });
    const base = ns("2024-01-01T00:00:00Z");
    // 96 hexadecimal digits a line: text that compresses to about half.
    const text = (i: number) =>
      Array.from({ length: 6 }, (_, k) => Bun.hash.wyhash(`${i}/${k}`).toString(16).padStart(16, "0")).join("");
    const write = (w: number, from: number, count: number) =>
      store.write(
        Array.from({ length: count }, (_, i) =>
          entry({ namespace: n, timeNs: base + BigInt(w) * 300_000_000_000n + BigInt(from + i), log: text(from + i) }),
        ),
      );
    // Nine windows of one large chunk each (nothing to compact), then a window of 20 small chunks.
    for (let w = 0; w < 9; w++) await write(w, 0, 2500);
    for (let b = 0; b < 20; b++) await write(9, b * 200, 200);
    await store.compactNow();
    const db = new Database(join(dir, "logs.sqlite"), { readonly: true });
    // Compaction freed pages, too few for the running store to give back (it reuses them).
    const freed = pragmaOf(db, "freelist_count");
    expect(freed).toBeGreaterThan(16);
    expect(freed * 4).toBeLessThan(pragmaOf(db, "page_count"));
    db.close();
    await store.close();
    const after = new Database(join(dir, "logs.sqlite"), { readonly: true });
    expect(pragmaOf(after, "freelist_count")).toBe(0);
    expect(storedLines(after).length).toBe(26_500);
    after.close();
  });

  test("a full write queue is refused as busy, and the store takes writes again once it drains", async () => {
    const store = new EmbeddedStore({ dataDir: ":memory:", writeBufferSize: 1000 });
    const n = unique();
    const batch = (k: number) =>
      Array.from({ length: 600 }, (_, i) => entry({ namespace: n, timeNs: BigInt(k * 1000 + i + 1), log: `${k}:${i}` }));
    const results = await Promise.allSettled([store.write(batch(0)), store.write(batch(1)), store.write(batch(2))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected"]);
    const refused = (results[1] as PromiseRejectedResult).reason;
    expect(refused).toBeInstanceOf(StoreBusyError);
    expect(refused.message).toContain("--embedded-write-buffer-size 1000");
    // A batch larger than the whole buffer still goes through alone.
    await store.write([...batch(1), ...batch(2)]);
    const rows = await queryAll(store, {
      tenant: "",
      namespace: n,
      pod: "pod-a",
      container: "main",
      startNs: 0n,
      endNs: 10_000n,
    });
    expect(rows.length).toBe(1800);
    await store.close();
  });

  test("a chunk SQLite refuses costs only its own lines, also when its batch was committed with others", async () => {
    const dir = tempDir();
    const store = new EmbeddedStore({ dataDir: dir });
    await store.write([]); // the writer has created the schema
    // A real refusal by SQLite itself: a trigger that aborts the chunks of one container.
    const admin = new Database(join(dir, "logs.sqlite"));
    admin.run(
      `CREATE TRIGGER refuse_poison BEFORE INSERT ON chunks
       WHEN NEW.container_id IN (SELECT id FROM containers WHERE pod = 'poison')
       BEGIN SELECT RAISE(ABORT, 'poisoned chunk'); END`,
    );
    admin.close();
    const n = unique();
    const lines = (pod: string, from: number): LogEntry[] =>
      Array.from({ length: 120 }, (_, i) => entry({ namespace: n, pod, timeNs: BigInt(from + i), log: `${pod}${i}` }));
    // Sent together, so that the writer commits them in one group; the bad batch holds lines of
    // a good container too.
    const [good, bad, other] = await Promise.all([
      store.write(lines("pod-a", 1000)),
      store.write([...lines("pod-b", 2000), ...lines("poison", 2000)]),
      store.write(lines("pod-a", 3000)),
    ]);
    expect(good).toEqual({ deduplicated: 0, rejected: [] });
    expect(other).toEqual({ deduplicated: 0, rejected: [] });
    expect(bad.deduplicated).toBe(0);
    expect(bad.rejected.map((r) => r.index)).toEqual(Array.from({ length: 120 }, (_, i) => 120 + i));
    expect(bad.rejected[0]!.detail).toContain("poisoned chunk");
    const read = async (pod: string) =>
      (await queryAll(store, { tenant: "", namespace: n, pod, container: "main", startNs: 0n, endNs: 10_000n })).length;
    expect([await read("pod-a"), await read("pod-b"), await read("poison")]).toEqual([240, 120, 0]);
    await store.close();
  });

  test("a retention sweep that fails is logged and counted, and queries go on, stopping at the retention", async () => {
    const dir = tempDir();
    const n = unique();
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const minute = 60_000_000_000n;
    const plain = new EmbeddedStore({ dataDir: dir });
    await plain.write([
      entry({ namespace: n, timeNs: nowNs - 24n * 60n * minute, log: "a day old" }),
      entry({ namespace: n, timeNs: nowNs - 10n * minute, log: "recent" }),
    ]);
    await plain.close();
    const admin = new Database(join(dir, "logs.sqlite"));
    admin.run("CREATE TRIGGER keep_lines BEFORE DELETE ON chunks BEGIN SELECT RAISE(ABORT, 'deletes refused'); END");
    admin.close();
    const errors: [StoreOperation, string][] = [];
    const store = new EmbeddedStore({
      dataDir: dir,
      retentionSeconds: 3600,
      observer: { error: (operation, error) => errors.push([operation, (error as Error).message]) },
    });
    // The sweep that started with the store.
    expect(await store.sweep()).toBe(0);
    expect(errors).toEqual([["retention", expect.stringContaining("deletes refused")]]);
    // The old line is still stored, and past retention: neither read nor listed.
    expect(countRows(dir, "SELECT sum(lines) FROM chunks")).toBe(2);
    const rows = await queryAll(store, { tenant: "", namespace: n, pod: "pod-a", container: "main", startNs: 0n, endNs: nowNs });
    expect(rows.map((r) => r.log)).toEqual(["recent"]);
    const [listed] = (await store.streams("", 0n, nowNs)).filter((s) => s.namespace === n);
    expect(listed!.firstNs).toBeGreaterThanOrEqual(nowNs - 60n * minute);
    expect(await store.health()).toEqual({ healthy: true, detail: "" });
    await store.close();
  });

  test("a sweep deletes by each namespace's rule the lines past it, and the index rows and containers left without lines", async () => {
    const dir = tempDir();
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const minute = 60_000_000_000n;
    const hour = 60n * minute;
    const day = 24n * hour;
    const at = (tenant: string, namespace: string, pod: string, ago: bigint, log: string) =>
      entry({ tenant, namespace, pod, timeNs: nowNs - ago, log });
    const plain = new EmbeddedStore({ dataDir: dir });
    await plain.write([
      at("", "short", "pod-a", 3n * hour, "short, 3h"),
      at("", "short", "pod-a", 2n * hour, "short, 2h"),
      at("", "short", "pod-a", 10n * minute, "short, 10m"),
      at("", "short", "pod-gone", 2n * hour, "gone, 2h"),
      at("", "plain", "pod-a", 2n * day, "plain, 2d"),
      at("", "plain", "pod-a", 2n * hour, "plain, 2h"),
      at("", "keep", "pod-a", 400n * day, "keep, 400d"),
      at("tenant-a", "short", "pod-a", 2n * hour, "tenant-a short, 2h"),
      at("tenant-a", "plain", "pod-a", 2n * day, "tenant-a plain, 2d"),
    ]);
    await plain.close();
    // Default 1d; short 1h in every tenant but tenant-a, where everything is kept 30d; keep forever.
    const retention = new RetentionPolicy(86_400, parseRetentionRules("tenant-a/*=30d,short=1h,keep=0"));
    const store = new EmbeddedStore({ dataDir: dir, retention });
    expect(await store.sweep()).toBe(4);
    const db = new Database(join(dir, "logs.sqlite"), { readonly: true });
    const kept = storedLines(db)
      .map((l) => l.log)
      .join(" | ");
    db.close();
    expect(kept).toBe("keep, 400d | plain, 2h | short, 10m | tenant-a plain, 2d | tenant-a short, 2h");
    // The container of only expired lines is gone, with its stream rows; no stream row is left
    // past its retention or without a container.
    expect(countRows(dir, "SELECT count(*) FROM containers WHERE pod = 'pod-gone'")).toBe(0);
    expect(countRows(dir, "SELECT count(*) FROM streams WHERE container_id NOT IN (SELECT id FROM containers)")).toBe(0);
    // The per-minute counts go with their lines: those of the lines kept are left, nothing else.
    expect(countRows(dir, "SELECT count(*) FROM counts WHERE container_id NOT IN (SELECT id FROM containers)")).toBe(0);
    expect(countRows(dir, "SELECT sum(lines) FROM counts")).toBe(5);
    const streams = (tenant: string, namespace: string) =>
      countRows(
        dir,
        `SELECT count(*) || ':' || min(s.first_ts) FROM streams s JOIN containers c ON c.id = s.container_id
         WHERE c.tenant = '${tenant}' AND c.namespace = '${namespace}'`,
      ) as string;
    const [plainRows, plainFirst] = streams("", "plain").split(":");
    expect(plainRows).toBe("1");
    expect(BigInt(plainFirst!)).toBeGreaterThanOrEqual(nowNs - day);
    const [, shortFirst] = streams("", "short").split(":");
    expect(BigInt(shortFirst!)).toBeGreaterThanOrEqual(nowNs - hour);
    expect(streams("tenant-a", "plain")).toBe(`1:${nowNs - 2n * day}`);
    expect(streams("", "keep")).toBe(`1:${nowNs - 400n * day}`);
    // Nothing more to delete; what is kept reads as before.
    expect(await store.sweep()).toBe(0);
    const read = (tenant: string, namespace: string) =>
      queryAll(store, { tenant, namespace, pod: "pod-a", container: "main", startNs: 0n, endNs: nowNs }).then((rows) =>
        rows.map((r) => r.log),
      );
    expect(await read("", "short")).toEqual(["short, 10m"]);
    expect(await read("tenant-a", "short")).toEqual(["tenant-a short, 2h"]);
    // A container removed by a sweep takes lines again.
    await store.write([at("", "short", "pod-gone", 1n * minute, "gone, back")]);
    expect(
      (
        await queryAll(store, { tenant: "", namespace: "short", pod: "pod-gone", container: "main", startNs: 0n, endNs: nowNs })
      ).map((r) => r.log),
    ).toEqual(["gone, back"]);
    await store.close();
  });

  test("a sweep of many lines goes in slices, and writes made meanwhile are kept", async () => {
    const dir = tempDir();
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const hour = 3_600_000_000_000n;
    const plain = new EmbeddedStore({ dataDir: dir });
    const old = nowNs - 2n * hour;
    for (let i = 0; i < 50_000; i += 10_000) {
      await plain.write(
        Array.from({ length: 10_000 }, (_, k) => entry({ namespace: "bulk", timeNs: old + BigInt(i + k), log: `old ${i + k}` })),
      );
    }
    await plain.close();
    const store = new EmbeddedStore({ dataDir: dir, retention: new RetentionPolicy(0, parseRetentionRules("bulk=1h")) });
    // Written while the sweep (started with the store) is under way.
    const fresh = Array.from({ length: 100 }, (_, k) =>
      entry({ namespace: "bulk", timeNs: nowNs - BigInt(k + 1), log: `new ${k}` }),
    );
    const [deleted] = await Promise.all([store.sweep(), store.write(fresh)]);
    expect(deleted).toBe(50_000);
    expect(countRows(dir, "SELECT sum(lines) FROM chunks")).toBe(100);
    const rows = await queryAll(store, {
      tenant: "",
      namespace: "bulk",
      pod: "pod-a",
      container: "main",
      startNs: 0n,
      endNs: nowNs,
    });
    expect(rows.length).toBe(100);
    await store.close();
  }, 60_000);

  test("counts only the lines a batch really stored: resends cut differently, alone or committed together", async () => {
    const store = new EmbeddedStore({ dataDir: tempDir() });
    const n = unique();
    const base = ns("2024-03-01T10:00:00Z");
    // 400 lines over 4 minutes; batches of more than 50 rows, so that multi-row statements meet
    // stored rows partly.
    const lines = Array.from({ length: 400 }, (_, i) =>
      entry({
        namespace: n,
        timeNs: base + BigInt(i) * 600_000_000n,
        log: `line ${i} ${"é".repeat(i % 3)}`,
        stream: i % 5 ? "stdout" : "stderr",
        level: ["info", "warn", "error"][i % 3],
      }),
    );
    await store.write(lines.slice(0, 130));
    await Promise.all([store.write(lines.slice(70, 260)), store.write(lines.slice(0, 130)), store.write(lines.slice(100, 330))]);
    await store.write(lines.slice(37, 400));
    await store.write(lines);
    const counts = [];
    for await (const page of store.counts(
      { tenant: "", namespace: n, pod: "pod-a", container: "main" },
      base - 60n * 1_000_000_000n, // the minute that ends at base holds the line at base
      base + 10n * 60n * 1_000_000_000n,
    ))
      counts.push(...page);
    const lineCount = new Map<string, number>();
    const byteCount = new Map<string, number>();
    for (const e of lines) {
      const key = `${((e.timeNs - 1n) / 60_000_000_000n) * 60_000_000_000n}/${e.stream}/${e.level}`; // (m, m + 1 min]
      lineCount.set(key, (lineCount.get(key) ?? 0) + 1);
      byteCount.set(key, (byteCount.get(key) ?? 0) + Buffer.byteLength(e.log));
    }
    expect(Object.fromEntries(counts.map((c) => [`${c.minuteNs}/${c.stream}/${c.level}`, [c.lines, c.bytes]]))).toEqual(
      Object.fromEntries([...lineCount].map(([k, v]) => [k, [v, byteCount.get(k)!]])),
    );
    expect(counts.reduce((sum, c) => sum + c.lines, 0)).toBe(400);
    await store.close();
  });

  test("a database from before chunks, counts, tenants and the metadata column has its lines moved into chunks when opened", async () => {
    const dir = tempDir();
    const base = ns("2024-03-01T10:00:00Z");
    // The schema of the first releases, by hand: a row per line, no tenant, no counts.
    const old = new Database(join(dir, "logs.sqlite"), { create: true });
    old.run(`CREATE TABLE containers (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, pod TEXT NOT NULL,
             container TEXT NOT NULL, UNIQUE (namespace, pod, container))`);
    old.run(`CREATE TABLE sources (id INTEGER PRIMARY KEY, pod_id TEXT NOT NULL, docker_id TEXT NOT NULL, host TEXT NOT NULL,
             labels TEXT NOT NULL, UNIQUE (pod_id, docker_id, host, labels))`);
    old.run(`CREATE TABLE lines (container_id INTEGER NOT NULL, ts INTEGER NOT NULL, id INTEGER NOT NULL, stream TEXT NOT NULL,
             log TEXT NOT NULL, source_id INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0)`);
    old.run("CREATE UNIQUE INDEX lines_by_time ON lines (container_id, ts, id)");
    old.run("INSERT INTO containers VALUES (1, 'old-ns', 'pod-a', 'main'), (2, 'old-ns', 'pod-b', 'main')");
    old.run(`INSERT INTO sources VALUES (1, 'uid-1', 'docker-1', 'node-1', '{"app":"old"}')`);
    // pod-a: three lines; pod-b: 120,000 lines (more than one slice of the move), 3 per nanosecond.
    const insert = old.prepare("INSERT INTO lines VALUES (?, ?, ?, ?, ?, 1, ?)");
    const few = [
      entry({ namespace: "old-ns", timeNs: base, log: "ünï" }),
      entry({ namespace: "old-ns", timeNs: base + 61n * 1_000_000_000n, log: "two", stream: "stderr" }),
      entry({ namespace: "old-ns", timeNs: base + 62n * 1_000_000_000n, log: "three", stream: "stderr" }),
    ];
    const many = Array.from({ length: 120_000 }, (_, i) =>
      entry({ namespace: "old-ns", pod: "pod-b", timeNs: base + BigInt(Math.floor(i / 3)) * 1_000_000n, log: `bulk ${i}` }),
    );
    old.transaction(() => {
      for (const [cid, batch] of [
        [1, few],
        [2, many],
      ] as const) {
        const ids = lineIds(batch);
        const seqs = sequenceNumbers(batch);
        batch.forEach((e, i) => insert.run(cid, e.timeNs, ids[i]!, e.stream, e.log, seqs[i]!));
      }
    })();
    old.close();

    const store = new EmbeddedStore({ dataDir: dir });
    const ref = (pod: string) => ({ tenant: "", namespace: "old-ns", pod, container: "main" });
    // Every line is in chunks now, and the table of lines is gone.
    const db = new Database(join(dir, "logs.sqlite"), { readonly: true });
    expect(db.query("SELECT name FROM sqlite_master WHERE name = 'lines'").get()).toBeNull();
    expect(storedLines(db).length).toBe(120_003);
    db.close();
    // Counts built from the lines: their level was not kept. The line exactly on a minute counts in
    // the minute it ends, (m, m + 1 min].
    const counts = [];
    for await (const page of store.counts(ref("pod-a"), 0n, base + 3600n * 1_000_000_000n)) counts.push(...page);
    expect(counts).toEqual([
      { minuteNs: base - 60n * 1_000_000_000n, stream: "stdout", level: "", lines: 1, bytes: 5 },
      { minuteNs: base + 60n * 1_000_000_000n, stream: "stderr", level: "", lines: 2, bytes: 8 },
    ]);
    // Read back as they were, in order, with their source; a resend (cut differently: taken for a
    // resend, counted) adds nothing.
    expect(await store.write(many.slice(50_000, 70_000))).toEqual({ deduplicated: 20_000, rejected: [] });
    await store.write([entry({ namespace: "old-ns", timeNs: base + 1n, log: "new", metadata: { trace: "t1" } })]);
    const rows = [];
    for await (const page of store.read(ref("pod-a"), {
      startNs: base,
      endNs: base + 1n,
      direction: "forward",
      withSource: true,
    }))
      rows.push(...page);
    expect(rows.map((r) => [r.log, r.metadata, r.podId])).toEqual([
      ["ünï", undefined, "uid-1"],
      ["new", { trace: "t1" }, "pod-id-1"],
    ]);
    const bulk = await queryAll(store, { ...ref("pod-b"), startNs: 0n, endNs: base * 2n });
    expect(bulk.map((r) => r.log)).toEqual(many.map((e) => e.log));
    expect((await store.streams("", 0n, base * 2n)).map((s) => s.pod).sort()).toEqual(["pod-a", "pod-b"]);
    await store.close();
  }, 60_000);

  test("compaction merges a window's small chunks into one, in one transaction; reads are the same before and after", async () => {
    const dir = tempDir();
    const n = unique();
    const base = ns("2024-03-01T10:00:00Z");
    const store = new EmbeddedStore({ dataDir: dir, compactAfterMs: -1 });
    const lines = Array.from({ length: 2000 }, (_, i) =>
      entry({ namespace: n, timeNs: base + BigInt(Math.floor(i / 2)) * 100_000_000n, log: `line ${i % 37} of ${i}` }),
    );
    // Batches of 100, and the same lines resent cut differently: one chunk per batch, no line twice.
    for (let i = 0; i < 2000; i += 100) await store.write(lines.slice(i, i + 100));
    for (let i = 50; i < 2000; i += 300) await store.write(lines.slice(i, i + 300));
    const chunks = () => countRows(dir, "SELECT count(*) || '/' || sum(lines) FROM chunks");
    expect(chunks()).toBe("20/2000");
    const ref = { tenant: "", namespace: n, pod: "pod-a", container: "main" };
    const before = await queryAll(store, { ...ref, startNs: 0n, endNs: base * 2n });
    expect(before.map((r) => r.log)).toEqual(lines.map((e) => e.log));
    await store.compactNow();
    expect(chunks()).toBe("1/2000");
    expect(await queryAll(store, { ...ref, startNs: 0n, endNs: base * 2n })).toEqual(before);
    // A resend after compaction adds nothing either.
    await store.write(lines.slice(1000, 1500));
    expect(chunks()).toBe("1/2000");
    await store.close();
    // Compaction on by default: a store closed right after its writes holds them merged.
    const dir2 = tempDir();
    const again = new EmbeddedStore({ dataDir: dir2 });
    for (let i = 0; i < 2000; i += 100) await again.write(lines.slice(i, i + 100));
    await again.close();
    expect(countRows(dir2, "SELECT count(*) || '/' || sum(lines) FROM chunks")).toBe("1/2000");
  });

  test("a batch of several pods' lines interleaved is one chunk per container, each line with its own source", async () => {
    const dir = tempDir();
    const n = unique();
    const base = ns("2024-03-01T10:00:00Z");
    const store = new EmbeddedStore({ dataDir: dir, compactAfterMs: -1 });
    // Four pods taking turns line by line (runs of one line); pod-0's lines from two container ids.
    const lines = Array.from({ length: 400 }, (_, i) =>
      entry({
        namespace: n,
        pod: `pod-${i % 4}`,
        dockerId: i % 8 === 0 ? "docker-a" : "docker-b",
        timeNs: base + BigInt(i) * 1_000_000n,
        log: `line ${i}`,
      }),
    );
    await store.write(lines);
    expect(countRows(dir, "SELECT count(*) || '/' || sum(lines) FROM chunks")).toBe("4/400");
    for (let pod = 0; pod < 4; pod++) {
      const ref = { tenant: "", namespace: n, pod: `pod-${pod}`, container: "main" };
      const rows = (await collect(
        store.read(ref, { startNs: 0n, endNs: base * 2n, direction: "forward", withSource: true }),
      )) as OrderedRow[];
      const own = lines.filter((_, i) => i % 4 === pod);
      expect(rows.map((r) => r.log)).toEqual(own.map((e) => e.log));
      expect(rows.map((r) => r.dockerId)).toEqual(own.map((e) => e.dockerId));
    }
    await store.close();
  });

  test("a listing longer than a statement's page lists whole windows: compaction between its pages loses no line", async () => {
    const dir = tempDir();
    const base = ns("2024-03-01T10:00:00Z");
    const store = new EmbeddedStore({ dataDir: dir, compactAfterMs: -1 });
    const internals = store as unknown as {
      selectContainer: { get(...key: string[]): { id: number } };
      chunksOf(cid: number, startNs: bigint, endNs: bigint, direction: string): Generator<ChunkRef>;
    };
    for (const direction of ["forward", "backward"]) {
      const n = unique();
      // 600 one-line chunks in one window: more than a page of the listing (256 chunks).
      const lines = Array.from({ length: 600 }, (_, i) =>
        entry({ namespace: n, timeNs: base + BigInt(i) * 1_000_000n, log: `line ${i}` }),
      );
      for (const e of lines) await store.write([e]);
      const cid = internals.selectContainer.get("", n, "pod-a", "main").id;
      // As a read does: chunks loaded as they are listed; compaction merges them all once 256 are
      // loaded, before the listing goes on. The read must then meet a chunk gone (and list again
      // from the last line it gave): with a page that ended inside the window, the listing went on
      // after the merged chunk (which sorts where the first input did) and missed 344 lines.
      const seen = new Set<string>();
      let gone = false;
      let loaded = 0;
      for (const ref of internals.chunksOf(cid, 0n, base * 2n, direction)) {
        try {
          for (const l of linesOf(await ref.load())) seen.add(l.log);
        } catch (error) {
          if (!(error instanceof ChunkGone)) throw error;
          gone = true;
          break;
        }
        if (++loaded === 256) await store.compactNow();
      }
      expect({ gone, seen: seen.size }).toEqual({ gone: true, seen: 256 });
      const rows = await queryAll(store, {
        tenant: "",
        namespace: n,
        pod: "pod-a",
        container: "main",
        startNs: 0n,
        endNs: base * 2n,
      });
      expect(rows.map((r) => r.log)).toEqual(lines.map((e) => e.log));
    }
    await store.close();
  });

  test("a writer thread that dies makes the store unhealthy and writes fail as unavailable, not hang", async () => {
    const store = new EmbeddedStore({ dataDir: ":memory:" });
    const n = unique();
    await store.write([entry({ namespace: n, timeNs: 1n })]);
    (store as unknown as { writer: Worker }).writer.terminate();
    for (let i = 0; i < 50 && (await store.health()).healthy; i++) await Bun.sleep(20);
    expect(await store.health()).toMatchObject({ healthy: false, detail: "embedded store writer thread stopped" });
    await expect(store.write([entry({ namespace: n, timeNs: 2n })])).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  test("retention deletes lines older than the period", async () => {
    const dir = tempDir();
    const n = unique();
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const day = 86_400n * 1_000_000_000n;
    const plain = new EmbeddedStore({ dataDir: dir });
    await plain.write([
      entry({ namespace: n, timeNs: nowNs - 10n * day, log: "old" }),
      entry({ namespace: n, timeNs: nowNs - day, log: "recent" }),
    ]);
    await plain.close();
    // Opening with a retention sweeps at once, then periodically.
    const kept = new EmbeddedStore({ dataDir: dir, retentionSeconds: 7 * 86_400 });
    const rows = await queryAll(kept, { tenant: "", namespace: n, pod: "pod-a", container: "main", startNs: 0n, endNs: nowNs });
    expect(rows.map((r) => r.log)).toEqual(["recent"]);
    await kept.close();
  });
});

/** The one value of a query on the store's database file (read-only, beside the open store). */
function countRows(dir: string, sql: string): number | string {
  const db = new Database(join(dir, "logs.sqlite"), { readonly: true });
  try {
    return (db.query(sql).values() as [number | string][])[0]![0];
  } finally {
    db.close();
  }
}
