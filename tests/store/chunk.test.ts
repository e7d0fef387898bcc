// The chunk format and the merge every store reads chunks through, without a store: a round trip
// keeps every field, overlapping chunks (resends cut differently) read as one ordered list with
// each line once, backward is the exact reverse of forward, cursors page exactly, filters find
// what a line-by-line test finds.
import { describe, expect, test } from "bun:test";
import {
  chunkKey,
  cutChunks,
  decodeChunk,
  encodeChunk,
  idOf,
  linesOf,
  linesContaining,
  mergeLines,
  windowOf,
  WINDOW_NS,
  type ChunkLine,
  type ChunkSource,
} from "../../src/store/chunk.ts";
import { mergeChunks, type ChunkRef } from "../../src/store/chunk-merge.ts";
import { lineId } from "../../src/store/lines.ts";
import type { OrderedRow, StreamRead } from "../../src/store/store.ts";

const A: ChunkSource = { podId: "uid-a", dockerId: "docker-a", host: "node-1", labels: '{"app":"a"}' };
const B: ChunkSource = { podId: "uid-b", dockerId: "docker-b", host: "node-2", labels: '{"app":"b","__proto__":"x"}' };

function line(timeNs: bigint, log: string, over: Partial<ChunkLine> = {}): ChunkLine {
  return {
    timeNs,
    seq: 0,
    id: BigInt.asIntN(64, Bun.hash.wyhash(log)),
    stream: "stdout",
    level: "",
    source: A,
    metadata: null,
    log,
    ...over,
  };
}

function refs(chunks: ChunkLine[][], forward: boolean): ChunkRef[] {
  const list = chunks.map((lines) => {
    const e = encodeChunk(lines);
    return { firstNs: e.firstNs, lastNs: e.lastNs, load: () => decodeChunk(e.data) };
  });
  return forward
    ? list.sort((a, b) => (a.firstNs < b.firstNs ? -1 : a.firstNs > b.firstNs ? 1 : 0))
    : list.sort((a, b) => (a.lastNs > b.lastNs ? -1 : a.lastNs < b.lastNs ? 1 : 0));
}

async function readAll(chunks: ChunkLine[][], range: Partial<StreamRead>, pageBytes = 1 << 20): Promise<OrderedRow[]> {
  const read: StreamRead = { startNs: 0n, endNs: 1n << 62n, direction: "forward", ...range };
  const out: OrderedRow[] = [];
  for await (const page of mergeChunks(refs(chunks, read.direction === "forward"), read, pageBytes)) out.push(...page);
  return out;
}

describe("chunks", () => {
  test("a round trip keeps times, order numbers, ids, streams, levels, sources, metadata and any text", () => {
    const lines = [
      line(1_700_000_000_000_000_001n, "plain ascii", { seq: 3 * 2 ** 24 }),
      line(1_700_000_000_000_000_001n, "ünïcödé ✓ 😀", { seq: 3 * 2 ** 24 + 1, stream: "stderr", level: "error", source: B }),
      line(1_700_000_000_500_000_000n, "", { metadata: '{"trace_id":"abc"}', level: "info" }),
      line(1_700_000_299_999_999_999n, "x".repeat(100_000), { stream: "", seq: 2 ** 50 }),
    ].sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : a.seq - b.seq));
    const encoded = encodeChunk(lines);
    expect(encoded.lines).toBe(4);
    expect(encoded.firstNs).toBe(lines[0]!.timeNs);
    expect(encoded.lastNs).toBe(lines[3]!.timeNs);
    expect(encoded.key).toBe(chunkKey(lines));
    const decoded = decodeChunk(encoded.data);
    expect(decoded.ascii).toBe(false);
    expect(linesOf(decoded)).toEqual(lines);
    // Mostly repeated text compresses.
    expect(encoded.data.length).toBeLessThan(2_000);
  });

  test("identities are derived from stream and text, not stored; the few that differ are kept", () => {
    const lines: ChunkLine[] = [];
    for (let i = 0; i < 1000; i++) {
      const stream = i % 10 === 0 ? "stderr" : "stdout";
      const log = `GET /api/items/${i} 200 ${i % 13} ms ünï`;
      lines.push(line(1_000_000n + BigInt(i) * 1000n, log, { stream, id: lineId(stream, log, 0) }));
    }
    // Identical lines at one nanosecond (occurrence 1, 2), and an identity from elsewhere.
    lines.push(line(2_000_000n, "same", { id: lineId("stdout", "same", 0) }));
    lines.push(line(2_000_000n, "same", { id: lineId("stdout", "same", 1), seq: 1 }));
    lines.push(line(2_000_000n, "same", { id: lineId("stdout", "same", 2), seq: 2 }));
    lines.push(line(3_000_000n, "migrated", { id: 42n }));
    const derived = encodeChunk(lines);
    const stored = encodeChunk(lines, undefined, 1);
    expect(derived.key).toBe(stored.key);
    // 1,004 random 8-byte identities do not compress: version 1 carries them all.
    expect(stored.data.length - derived.data.length).toBeGreaterThan(7_000);
    for (const data of [derived.data, stored.data]) expect(linesOf(decodeChunk(data))).toEqual(lines);
    // One line's identity alone (a filtered read), then all of them: the same values.
    const c = decodeChunk(derived.data);
    expect([1002, 1003, 7].map((i) => idOf(c, i))).toEqual([lines[1002]!.id, 42n, lines[7]!.id]);
    expect([...c.ids]).toEqual(lines.map((l) => l.id));
  });

  test("a time before 1970 and a gap of centuries survive", () => {
    const lines = [line(-5n, "before"), line(0n, "zero"), line(9_000_000_000_000_000_000n, "far")];
    const decoded = decodeChunk(encodeChunk(lines).data);
    expect([...decoded.ts]).toEqual([-5n, 0n, 9_000_000_000_000_000_000n]);
  });

  test("data that is not a chunk is refused, never misread", () => {
    expect(() => decodeChunk(new Uint8Array([1, 2, 3]))).toThrow();
    const body = Bun.zstdCompressSync(new Uint8Array([9, 1]));
    expect(() => decodeChunk(body)).toThrow("unknown chunk version 9");
    // A stored identity said to belong to a line past the chunk's end.
    const bytes = Bun.zstdDecompressSync(encodeChunk([line(1n, "a")]).data);
    // It ends with the one stored identity (the helper's are not derived): count 1, gap 0, 8 bytes.
    expect([bytes[bytes.length - 10], bytes[bytes.length - 9]]).toEqual([1, 0]);
    bytes[bytes.length - 9] = 5;
    expect(() => decodeChunk(Bun.zstdCompressSync(bytes)).ids).toThrow("chunk identity of a line past its end");
    const truncated = Bun.zstdCompressSync(new Uint8Array([1, 5, 1]));
    expect(() => decodeChunk(truncated)).toThrow("chunk data ends early");
  });

  test("the key derives from the lines' times and ids only: the same lines, the same key", () => {
    const a = [line(1n, "a"), line(2n, "b")];
    expect(chunkKey(a)).toBe(chunkKey(a.map((l) => ({ ...l }))));
    expect(chunkKey(a)).not.toBe(chunkKey([a[0]!]));
    expect(chunkKey(a)).not.toBe(chunkKey([line(1n, "a"), line(3n, "b")]));
  });

  test("cuts keep each chunk in one window and split large text between different times", () => {
    const w = windowOf(10n * WINDOW_NS + 5n);
    expect(w).toBe(10n * WINDOW_NS);
    expect(windowOf(-1n)).toBe(-WINDOW_NS);
    const lines = [line(w + WINDOW_NS - 2n, "a"), line(w + WINDOW_NS - 1n, "b"), line(w + WINDOW_NS, "c")];
    expect(cutChunks(lines).map((c) => c.map((l) => l.log).join(""))).toEqual(["ab", "c"]);
    const many = Array.from({ length: 10 }, (_, i) => line(BigInt(Math.floor(i / 2)), `${"y".repeat(100)}${i}`));
    const cut = cutChunks(many, 250);
    expect(cut.flat()).toEqual(many);
    for (let k = 1; k < cut.length; k++) expect(cut[k]![0]!.timeNs).not.toBe(cut[k - 1]!.at(-1)!.timeNs);
  });

  test("filters find the lines holding every text, never a match across two lines", () => {
    const lines = [line(1n, "alpha beta"), line(2n, "gamma al"), line(3n, "pha beta"), line(4n, "ünï beta alpha")];
    const c = decodeChunk(encodeChunk(lines).data);
    expect([...linesContaining(c, ["alpha"])]).toEqual([0, 3]);
    expect([...linesContaining(c, ["alpha", "beta"])]).toEqual([0, 3]);
    expect([...linesContaining(c, ["ünï"])]).toEqual([3]);
    expect([...linesContaining(c, ["alpha", "gamma"])]).toEqual([]);
    expect([...linesContaining(c, ["l"])]).toEqual([0, 1, 3]);
  });

  describe("merge", () => {
    // 600 lines over 50 times, some times shared by many lines, cut into chunks three ways:
    // one batch, batches of 37, and batches of 50 resent as batches of 23 (all overlapping).
    const base = Array.from({ length: 600 }, (_, i) =>
      line(1_000n + BigInt(Math.floor(i / 12)), `line ${i} ${i % 7 === 0 ? "needle" : "hay"}`, { seq: i % 12 }),
    );
    const sorted = mergeLines([base]);
    const batches = (size: number) =>
      Array.from({ length: Math.ceil(600 / size) }, (_, k) => base.slice(k * size, (k + 1) * size));
    const layouts: [string, ChunkLine[][]][] = [
      ["one chunk", [base]],
      ["disjoint chunks", batches(37)],
      ["overlapping resends", [...batches(50), ...batches(23)]],
    ];

    for (const [name, chunks] of layouts) {
      test(`${name}: every line once, in order; backward is the exact reverse`, async () => {
        const forward = await readAll(chunks, {});
        expect(forward.map((r) => r.log)).toEqual(sorted.map((l) => l.log));
        const backward = await readAll(chunks, { direction: "backward" });
        expect(backward).toEqual([...forward].reverse());
      });

      test(`${name}: cursors page exactly in both directions, and ranges cut exactly`, async () => {
        for (const direction of ["forward", "backward"] as const) {
          const all = await readAll(chunks, { direction });
          const paged: OrderedRow[] = [];
          let after: OrderedRow | undefined;
          for (let guard = 0; guard < 100; guard++) {
            const page = (await readAll(chunks, { direction, after, limitHint: 41 })).slice(0, 41);
            if (page.length === 0) break;
            paged.push(...page);
            after = page.at(-1);
          }
          expect(paged).toEqual(all);
        }
        const window = await readAll(chunks, { startNs: 1_010n, endNs: 1_019n });
        expect(window.map((r) => r.log)).toEqual(
          sorted.filter((l) => l.timeNs >= 1_010n && l.timeNs <= 1_019n).map((l) => l.log),
        );
      });

      test(`${name}: a filter returns what a line-by-line test returns`, async () => {
        for (const direction of ["forward", "backward"] as const) {
          const all = await readAll(chunks, { direction });
          const filtered = await readAll(chunks, { direction, contains: ["needle"] });
          expect(filtered).toEqual(all.filter((r) => r.log.includes("needle")));
        }
      });
    }

    test("of a line met twice with different order numbers, the lower one stays, in both directions", async () => {
      const x1 = line(5n, "x", { seq: 9 });
      const y = line(5n, "y", { seq: 5 });
      const x2 = { ...x1, seq: 2 };
      const forward = await readAll([[x2], [y, x1].sort((a, b) => a.seq - b.seq)], {});
      expect(forward.map((r) => [r.log, r.seq])).toEqual([
        ["x", 2],
        ["y", 5],
      ]);
      const backward = await readAll([[x2], [y, x1].sort((a, b) => a.seq - b.seq)], { direction: "backward" });
      expect(backward).toEqual([...forward].reverse());
    });

    test("a backward read that stops early decodes only the newest chunks", async () => {
      let loaded = 0;
      const chunks = batches(20).map((lines) => {
        const e = encodeChunk(lines);
        return {
          firstNs: e.firstNs,
          lastNs: e.lastNs,
          load: () => {
            loaded++;
            return decodeChunk(e.data);
          },
        };
      });
      chunks.reverse();
      const read: StreamRead = { startNs: 0n, endNs: 1n << 62n, direction: "backward", limitHint: 30 };
      for await (const page of mergeChunks(chunks, read, 1 << 20)) {
        expect(page.length).toBeGreaterThanOrEqual(30);
        break;
      }
      expect(loaded).toBeLessThanOrEqual(3);
    });
  });
});
