// The in-flight budget: shares taken and given back, waits in arrival order, refusals on time;
// and the sizes bodies state, by which decoded bodies are charged.
import { describe, expect, test } from "bun:test";
import * as zlib from "node:zlib";
import SnappyJS from "snappyjs";
import { ByteBudget, Lease, OverloadedError } from "../../src/ingest/budget.ts";
import { decodedSizeHint } from "../../src/ingest/ingest.ts";

describe("ByteBudget", () => {
  test("grants within the limit, refuses beyond it once the wait is over", async () => {
    const budget = new ByteBudget(100);
    expect(await budget.take(60, 0)).toBe(true);
    expect(await budget.take(40, 0)).toBe(true);
    expect(budget.inUse).toBe(100);
    const t0 = performance.now();
    expect(await budget.take(1, 50)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    budget.give(100);
    expect(budget.inUse).toBe(0);
  });

  test("a waiter is granted as soon as room is given back, in arrival order", async () => {
    const budget = new ByteBudget(100);
    await budget.take(100, 0);
    const order: string[] = [];
    const a = budget.take(70, 5_000).then((ok) => order.push(`a:${ok}`));
    const b = budget.take(20, 5_000).then((ok) => order.push(`b:${ok}`));
    // A later small share does not jump the queue while others wait.
    expect(await budget.take(1, 0)).toBe(false);
    budget.give(100);
    await Promise.all([a, b]);
    expect(order).toEqual(["a:true", "b:true"]);
    expect(budget.inUse).toBe(90);
  });

  test("a share larger than the whole budget passes alone, counting what its holder has", async () => {
    const budget = new ByteBudget(100);
    const lease = new Lease(budget, 0);
    await lease.grow(80, "the body");
    await lease.grow(500, "the decoded body"); // nobody else holds any
    expect(budget.inUse).toBe(580);
    const other = new Lease(budget, 20);
    await expect(other.grow(1, "another body")).rejects.toBeInstanceOf(OverloadedError);
    lease.release();
    expect(budget.inUse).toBe(0);
    await other.grow(1, "another body");
    other.release();
  });

  test("a waiter that times out at the head of the queue lets those behind it through", async () => {
    const budget = new ByteBudget(100);
    await budget.take(50, 0);
    const big = budget.take(80, 30);
    const small = budget.take(40, 1_000);
    expect(await big).toBe(false);
    expect(await small).toBe(true);
    expect(budget.inUse).toBe(90);
  });

  test("shrink gives back part of a share, never more than held", async () => {
    const budget = new ByteBudget(100);
    const lease = new Lease(budget, 0);
    await lease.grow(60, "x");
    lease.shrink(20);
    expect(budget.inUse).toBe(40);
    lease.shrink(1_000);
    expect(budget.inUse).toBe(0);
    lease.release();
    expect(budget.inUse).toBe(0);
  });
});

describe("decodedSizeHint: what a body says it decompresses to", () => {
  const text = new TextEncoder().encode("x".repeat(100_000));
  const max = 64 * 1024 * 1024;

  test("gzip, zstd and snappy state their size; deflate and br do not; identity is itself", () => {
    expect(decodedSizeHint(text, null, max)).toBe(100_000);
    expect(decodedSizeHint(zlib.gzipSync(text), "gzip", max)).toBe(100_000);
    expect(decodedSizeHint(zlib.zstdCompressSync(text), "zstd", max)).toBe(100_000);
    expect(decodedSizeHint(SnappyJS.compress(text), "snappy", max)).toBe(100_000);
    expect(decodedSizeHint(zlib.deflateSync(text), "deflate", max)).toBe(max);
    expect(decodedSizeHint(zlib.brotliCompressSync(text), "br", max)).toBe(max);
    expect(decodedSizeHint(zlib.gzipSync(text), "gzip, gzip", max)).toBe(max);
  });

  test("a stated size beyond the cap is the cap; a cut zstd frame tells nothing", () => {
    expect(decodedSizeHint(zlib.gzipSync(text), "gzip", 1000)).toBe(1000);
    const zstd = zlib.zstdCompressSync(text);
    expect(decodedSizeHint(zstd.subarray(0, zstd.length - 3), "zstd", max)).toBe(max);
  });
});
