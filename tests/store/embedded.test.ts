// The embedded store: the contract suite on a real database file, plus what only it has.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SELECT_PAGE } from "../../src/store/sqlite-schema.ts";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { StoreBusyError, StoreUnavailableError, type LogEntry, type StoreOperation } from "../../src/store/store.ts";
import { entry, ns, queryAll, unique } from "../helpers.ts";
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

const shared = tempDir();
// Small pages so that the contract's large result crosses many page borders.
storeContract("embedded (bun:sqlite file)", async () => new EmbeddedStore({ dataDir: shared, pageBytes: 64 * 1024 }));

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
    const rows = db
      .query("SELECT s.pod_id, s.docker_id, s.host, s.labels FROM lines l JOIN sources s ON s.id = l.source_id ORDER BY l.ts")
      .values();
    db.close();
    expect(rows).toEqual([
      ["uid-1", "c1", "node-a", '{"app":"x","tier":"web"}'],
      ["uid-1", "c2", "node-a", '{"app":"x","tier":"web"}'],
    ]);
  });

  test("the query uses the (container, time) index and sorts only rows of equal time", async () => {
    const store = new EmbeddedStore({ dataDir: ":memory:" });
    // The plan is part of the design: a full scan here would make /query slow on big data.
    const db = (store as unknown as { db: Database }).db;
    const plan = (db.query(`EXPLAIN QUERY PLAN ${SELECT_PAGE}`).all(1, 0, 5, -1, 0, 100) as { detail: string }[])
      .map((p) => p.detail)
      .join(" | ");
    expect(plan).toContain("USING INDEX lines_by_time (container_id=? AND ts>? AND ts<?)");
    expect(plan).toContain("USE TEMP B-TREE FOR LAST 2 TERMS OF ORDER BY");
    expect(plan).not.toContain("SCAN");
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
    expect((db.query("SELECT count(*) AS n FROM lines").get() as { n: number }).n).toBe(20_000);
    db.close();
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

  test("a line SQLite refuses costs only itself, also when its batch was committed with others", async () => {
    const dir = tempDir();
    const store = new EmbeddedStore({ dataDir: dir });
    await store.write([]); // the writer has created the schema
    // A real refusal by SQLite itself: a trigger that aborts one line.
    const admin = new Database(join(dir, "logs.sqlite"));
    admin.run(
      "CREATE TRIGGER refuse_poison BEFORE INSERT ON lines WHEN NEW.log = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned line'); END",
    );
    admin.close();
    const n = unique();
    const lines = (prefix: string, from: number, poisonAt = -1): LogEntry[] =>
      Array.from({ length: 120 }, (_, i) =>
        entry({ namespace: n, timeNs: BigInt(from + i), log: i === poisonAt ? "poison" : `${prefix}${i}` }),
      );
    // Sent together, so that the writer commits them in one group.
    const [good, bad, other] = await Promise.all([
      store.write(lines("g", 1000)),
      store.write(lines("b", 2000, 70)),
      store.write(lines("o", 3000)),
    ]);
    expect(good).toEqual({ deduplicated: 0, rejected: [] });
    expect(other).toEqual({ deduplicated: 0, rejected: [] });
    expect(bad.deduplicated).toBe(0);
    expect(bad.rejected).toEqual([{ index: 70, detail: expect.stringContaining("poisoned line") }]);
    const rows = await queryAll(store, {
      tenant: "",
      namespace: n,
      pod: "pod-a",
      container: "main",
      startNs: 0n,
      endNs: 10_000n,
    });
    expect(rows.length).toBe(359);
    expect(rows.some((r) => r.log === "poison")).toBe(false);
    await store.close();
  });

  test("a retention sweep that fails is logged and counted, and queries go on", async () => {
    const dir = tempDir();
    const n = unique();
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const plain = new EmbeddedStore({ dataDir: dir });
    await plain.write([entry({ namespace: n, timeNs: nowNs - 86_400_000_000_000n, log: "recent" })]);
    await plain.close();
    const admin = new Database(join(dir, "logs.sqlite"));
    admin.run("CREATE TRIGGER keep_lines BEFORE DELETE ON lines BEGIN SELECT RAISE(ABORT, 'deletes refused'); END");
    admin.close();
    const errors: [StoreOperation, string][] = [];
    const store = new EmbeddedStore({
      dataDir: dir,
      retentionSeconds: 3600,
      observer: { error: (operation, error) => errors.push([operation, (error as Error).message]) },
    });
    const rows = await queryAll(store, { tenant: "", namespace: n, pod: "pod-a", container: "main", startNs: 0n, endNs: nowNs });
    expect(rows.map((r) => r.log)).toEqual(["recent"]);
    expect(errors).toEqual([["retention", expect.stringContaining("deletes refused")]]);
    expect(await store.health()).toEqual({ healthy: true, detail: "" });
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
