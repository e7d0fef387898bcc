// The embedded store: the contract suite on a real database file, plus what only it has.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedStore } from "../../src/store/sqlite.ts";
import { StoreUnavailableError } from "../../src/store/store.ts";
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
storeContract("embedded (bun:sqlite file)", async () => new EmbeddedStore({ dataDir: shared, pageSize: 1000 }));

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

  test("the query uses the (container, time) index", () => {
    const store = new EmbeddedStore({ dataDir: ":memory:" });
    // The plan is part of the design: a full scan here would make /query slow on big data.
    const db = (store as unknown as { db: Database }).db;
    const plan = db
      .query(
        "EXPLAIN QUERY PLAN SELECT rowid, ts, stream, log FROM lines WHERE container_id = 1 AND ts >= 0 AND ts <= 5 ORDER BY ts, rowid",
      )
      .all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join(" | ")).toContain("USING INDEX lines_by_time");
    store.close();
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
    const rows = await queryAll(kept, { namespace: n, pod: "pod-a", container: "main", startNs: 0n, endNs: nowNs });
    expect(rows.map((r) => r.log)).toEqual(["recent"]);
    await kept.close();
  });
});
