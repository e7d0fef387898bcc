// Content-Encoding undone without a server: a body cut short, anywhere, is refused as invalid
// data of its encoding, never decoded to part of itself; whole bodies of every shape decode.
import { describe, expect, test } from "bun:test";
import * as zlib from "node:zlib";
import { decompress, IngestError } from "../../src/ingest/decode.ts";
import { concat } from "./vectors.ts";

const LIMITS = { maxBodySize: 64 * 1024 * 1024, maxDecompressedSize: 64 * 1024 * 1024 };

function refusal(body: Uint8Array, encoding: string, limits = LIMITS): IngestError | Uint8Array {
  try {
    return decompress(body, encoding, limits);
  } catch (error) {
    if (error instanceof IngestError) return error;
    throw error;
  }
}

/** Lines that compress to several blocks (zstd) and meta-blocks (br). */
function sample(lines: number): Uint8Array {
  return new TextEncoder().encode(
    Array.from({ length: lines }, (_, i) => `{"log":"line ${i} ${"x".repeat(i % 97)} ${(i * 7919) % 10007}"}\n`).join(""),
  );
}

describe("truncated bodies", () => {
  const plain = sample(300);
  const encoders: [string, string, (b: Uint8Array) => Uint8Array][] = [
    ["zstd", "zstd", (b) => zlib.zstdCompressSync(b)],
    ["zstd with a checksum", "zstd", (b) => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 } })],
    [
      "zstd without a content size",
      "zstd",
      (b) => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_contentSizeFlag]: 0 } }),
    ],
    ["gzip", "gzip", (b) => zlib.gzipSync(b)],
    ["deflate", "deflate", (b) => zlib.deflateSync(b)],
    ["raw deflate", "deflate", (b) => zlib.deflateRawSync(b)],
    ["br", "br", (b) => zlib.brotliCompressSync(b)],
  ];
  for (const [name, encoding, encode] of encoders) {
    test(`${name}: every strict prefix is 400, the whole body decodes`, () => {
      const whole = encode(plain);
      expect(Buffer.from(decompress(whole, encoding, LIMITS)).equals(Buffer.from(plain))).toBe(true);
      for (let length = 1; length < whole.length; length++) {
        const result = refusal(whole.subarray(0, length), encoding);
        if (!(result instanceof IngestError))
          throw new Error(`${name}: the first ${length} of ${whole.length} bytes decoded to ${result.length} bytes`);
        expect(result.status).toBe(400);
        expect(result.message).toBe(`body is not valid ${encoding} data`);
      }
    });
  }

  test("a big zstd body (many blocks) cut anywhere is 400", () => {
    const plain = sample(20_000);
    const whole = zlib.zstdCompressSync(plain);
    for (let i = 1; i < 200; i++) {
      const length = Math.floor((whole.length * i) / 200);
      const result = refusal(whole.subarray(0, length), "zstd");
      expect(result instanceof IngestError ? result.status : `decoded ${result.length} bytes from ${length}`).toBe(400);
    }
  });
});

describe("zstd frames", () => {
  const a = new TextEncoder().encode("hello ");
  const b = new TextEncoder().encode("world");
  const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);

  test("several frames, and skippable frames among them, decode to the frames' content", () => {
    const body = concat(skippable, zlib.zstdCompressSync(a), skippable, zlib.zstdCompressSync(b), skippable);
    expect(new TextDecoder().decode(decompress(body, "zstd", LIMITS))).toBe("hello world");
  });

  test("bytes after the last frame, a skippable frame cut short and a reserved block type are 400", () => {
    const frame = zlib.zstdCompressSync(a);
    const reserved = new Uint8Array(frame);
    // The first block header follows the 4-byte magic, the descriptor and (here) a 1-byte size.
    expect(reserved[4]).toBe(0x20); // single segment, 1-byte content size
    reserved[6] = reserved[6]! | 0x06; // block type 3
    for (const body of [
      concat(frame, new TextEncoder().encode("garbage")),
      concat(frame, new Uint8Array([0x28, 0xb5])),
      concat(frame, skippable.subarray(0, 9)),
      reserved,
    ]) {
      const result = refusal(body, "zstd");
      expect(result instanceof IngestError ? [result.status, result.message] : "decoded").toEqual([
        400,
        "body is not valid zstd data",
      ]);
    }
  });

  test("the decompressed-size cap still answers 413", () => {
    const bomb = zlib.zstdCompressSync(new Uint8Array(8 * 1024 * 1024));
    const result = refusal(bomb, "zstd", { ...LIMITS, maxDecompressedSize: 1024 * 1024 });
    expect(result instanceof IngestError ? [result.status, result.message] : "decoded").toEqual([413, "request body too large"]);
  });
});
