// scripts/cassandra.ts without starting anything: the cluster's layout, tokens and commit log.
import { describe, expect, test } from "bun:test";
import { commitlogYaml, nodePaths, paths, tokenOf } from "../../scripts/cassandra.ts";

describe("the local Cassandra cluster's layout", () => {
  test("node 1 keeps the single node's folders; the others live beside it, one address each", () => {
    expect(nodePaths(1).yaml).toBe(paths.yaml);
    expect(nodePaths(1).address).toBe("127.0.0.1");
    expect(nodePaths(3).address).toBe("127.0.0.3");
    expect(nodePaths(3).dir).toBe(`${paths.base}/node3`);
    expect(new Set([1, 2, 3].map((n) => nodePaths(n).run)).size).toBe(3);
  });

  test("tokens: node 1 at 0 as the single node always was, the others evenly spaced on the ring", () => {
    expect(tokenOf(1, 1)).toBe("0");
    expect([1, 2, 3].map((n) => tokenOf(n, 3))).toEqual(["0", "6148914691236517205", "-6148914691236517206"]);
    const t = [1, 2, 3, 4].map((n) => BigInt(tokenOf(n, 4)));
    for (const v of t) expect(v >= -(1n << 63n) && v < 1n << 63n).toBe(true);
    expect(new Set(t).size).toBe(4);
  });

  test("the commit log is synced before a write is acknowledged unless periodic is asked for", () => {
    expect(commitlogYaml("group")).toBe("commitlog_sync: group\ncommitlog_sync_group_window: 15ms");
    expect(commitlogYaml("batch")).toBe("commitlog_sync: batch");
    expect(commitlogYaml("periodic")).toContain("commitlog_sync_period: 10000ms");
  });
});
