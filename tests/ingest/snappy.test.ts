// Differential fuzzing of our snappy block decoder against snappyjs. Valid streams (snappyjs's own
// output, and hand-built streams using every element encoding snappyjs's compressor never
// writes) must decode byte-identically. Corrupted streams must be refused with SnappyError or
// SnappyTooLargeError, or decode exactly as snappyjs decodes them. Seeded: a failure names its
// seed and case, and reproduces.
import { describe, expect, test } from "bun:test";
import SnappyJS from "snappyjs";
import { SnappyError, SnappyTooLargeError, snappyUncompress } from "../../src/ingest/snappy.ts";

const MAX = 1 << 20;

/** mulberry32: small, fast, good enough to drive a fuzzer. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function compress(data: Uint8Array): Uint8Array {
  return new Uint8Array(SnappyJS.compress(data) as Uint8Array);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Inputs of many shapes: empty, 1 byte, runs, short periods (overlapping copies), text, random. */
function validInputs(random: () => number): [string, Uint8Array][] {
  const bytes = (n: number, f: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => f(i) & 0xff);
  const text = new TextEncoder().encode(
    Array.from({ length: 400 }, (_, i) => `{"log":"GET /api/${i % 17} 200 ${i * 31}ms","stream":"stdout"}\n`).join(""),
  );
  const inputs: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["one byte", new Uint8Array([0x61])],
    ["zeros 100 KB", new Uint8Array(100_000)],
    ["text", text],
    ["random 100 KB", bytes(100_000, () => random() * 256)],
  ];
  const head = bytes(5000, () => random() * 256);
  inputs.push(["random 5 KB twice", new Uint8Array([...head, ...head])]);
  for (const period of [1, 2, 3, 4, 7, 8, 11, 63, 64, 65, 255, 2048, 2049, 65_535, 65_536, 70_000]) {
    const unit = bytes(period, () => random() * 256);
    inputs.push([`period ${period}`, bytes(Math.max(3 * period, 200), (i) => unit[i % period]!)]);
  }
  for (let i = 0; i < 60; i++) {
    const length = Math.floor(random() ** 3 * 20_000);
    const alphabet = 1 + Math.floor(random() * 255);
    inputs.push([`random ${i} (${length} bytes over ${alphabet} symbols)`, bytes(length, () => random() * alphabet)]);
  }
  return inputs;
}

/**
 * A valid stream built element by element, with encodings snappyjs's compressor never writes:
 * literals with 1 to 4 length bytes, copies with 2- and 4-byte offsets, offsets past 64 KiB.
 */
function handBuilt(random: () => number): Uint8Array {
  const tags: number[] = [];
  let produced = 0;
  const target = Math.floor(random() * 150_000);
  while (produced < target) {
    if (produced === 0 || random() < 0.4) {
      const len = 1 + Math.floor(random() ** 2 * 3000);
      const width = random() < 0.5 && len <= 60 ? 0 : 1 + Math.floor(random() * 4);
      if (width === 0) tags.push((len - 1) << 2);
      else {
        const bytes = [];
        for (let i = 0, v = len - 1; i < width; i++, v = Math.floor(v / 256)) bytes.push(v & 0xff);
        if (width < 4 && len - 1 >= 256 ** width) continue;
        tags.push((59 + width) << 2, ...bytes);
      }
      for (let i = 0; i < len; i++) tags.push(Math.floor(random() * 256));
      produced += len;
    } else {
      const offset = 1 + Math.floor(random() ** 2 * Math.min(produced, 100_000));
      const kind = 1 + Math.floor(random() * 3);
      if (kind === 1) {
        if (offset >= 2048) continue;
        const len = 4 + Math.floor(random() * 8);
        tags.push(1 | ((len - 4) << 2) | ((offset >> 8) << 5), offset & 0xff);
        produced += len;
      } else {
        const len = 1 + Math.floor(random() * 64);
        if (kind === 2) {
          if (offset >= 65_536) continue;
          tags.push(2 | ((len - 1) << 2), offset & 0xff, offset >> 8);
        } else {
          tags.push(3 | ((len - 1) << 2), offset & 0xff, (offset >> 8) & 0xff, (offset >> 16) & 0xff, offset >>> 24);
        }
        produced += len;
      }
    }
  }
  return new Uint8Array([...varint(produced), ...tags]);
}

/** Ours must throw one of our two errors, or return exactly what snappyjs returns. */
function checkCorrupted(stream: Uint8Array, where: string): "refused" | "decoded" {
  let ours: Uint8Array;
  try {
    ours = snappyUncompress(stream, MAX);
  } catch (error) {
    if (!(error instanceof SnappyError || error instanceof SnappyTooLargeError)) {
      throw new Error(`${where}: threw ${(error as Error)?.name}: ${(error as Error)?.message}`);
    }
    return "refused";
  }
  // Ours accepted it, so it is a complete, in-bounds stream: snappyjs can be run safely (on some
  // malformed streams it loops forever) and must agree byte for byte.
  let theirs: Uint8Array;
  try {
    theirs = new Uint8Array(SnappyJS.uncompress(stream) as Uint8Array);
  } catch (error) {
    throw new Error(`${where}: ours decoded ${ours.length} bytes, snappyjs refused: ${(error as Error).message}`);
  }
  if (Buffer.compare(Buffer.from(ours), Buffer.from(theirs)) !== 0) {
    throw new Error(`${where}: ours decoded ${ours.length} bytes, snappyjs ${theirs.length}, and they differ`);
  }
  return "decoded";
}

function corruptions(stream: Uint8Array, random: () => number): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  const copy = () => new Uint8Array(stream);
  for (let k = 0; k < 6 && stream.length > 0; k++) {
    const flipped = copy();
    const flips = 1 + Math.floor(random() * 3);
    for (let f = 0; f < flips; f++) flipped[Math.floor(random() * flipped.length)]! ^= 1 << Math.floor(random() * 8);
    out.push([`${flips} bit flips`, flipped]);
  }
  for (const cut of [1, 2, 5, Math.floor(stream.length / 2), Math.floor(random() * stream.length)]) {
    if (cut > 0 && cut <= stream.length) out.push([`without its last ${cut} bytes`, stream.subarray(0, stream.length - cut)]);
  }
  if (stream.length > 2) {
    const at = Math.floor(random() * stream.length);
    const garbage = Uint8Array.from({ length: 1 + Math.floor(random() * 40) }, () => random() * 256);
    out.push(["garbage spliced in", new Uint8Array([...stream.subarray(0, at), ...garbage, ...stream.subarray(at)])]);
    out.push(["garbage appended", new Uint8Array([...stream, ...garbage])]);
  }
  // Declared lengths that lie: the varint rewritten, the elements kept.
  let p = 0;
  let declared = 0;
  for (let shift = 0; p < stream.length; shift += 7) {
    const b = stream[p++]!;
    declared += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  for (const lie of [declared + 1, declared - 1, declared * 2, declared + 1000, 0, MAX, MAX + 1, 2 ** 32 - 1, 2 ** 32]) {
    if (lie < 0 || lie === declared) continue;
    out.push([`declared ${lie} instead of ${declared}`, new Uint8Array([...varint(lie), ...stream.subarray(p)])]);
  }
  // A declared length in more varint bytes than 32 bits need, and one with no end.
  out.push(["overlong varint", new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...stream.subarray(p)])]);
  out.push(["unterminated varint", new Uint8Array([0xff, 0xff, 0xff])]);
  return out;
}

describe("snappy decoder, differentially against snappyjs", () => {
  const SEED = 20260503;

  test("valid streams from snappyjs decode byte-identically", () => {
    const random = prng(SEED);
    for (const [name, input] of validInputs(random)) {
      const stream = compress(input);
      const ours = snappyUncompress(stream, MAX);
      const theirs = new Uint8Array(SnappyJS.uncompress(stream) as Uint8Array);
      expect(Buffer.compare(Buffer.from(ours), Buffer.from(input)), name).toBe(0);
      expect(Buffer.compare(Buffer.from(ours), Buffer.from(theirs)), name).toBe(0);
    }
  });

  test("hand-built streams with every element encoding decode byte-identically", () => {
    const random = prng(SEED + 1);
    for (let i = 0; i < 60; i++) {
      const stream = handBuilt(random);
      const ours = snappyUncompress(stream, MAX);
      const theirs = new Uint8Array(SnappyJS.uncompress(stream) as Uint8Array);
      expect(Buffer.compare(Buffer.from(ours), Buffer.from(theirs)), `seed ${SEED + 1}, stream ${i}`).toBe(0);
    }
  });

  test("corrupted streams are refused with a SnappyError, or decode exactly as snappyjs decodes them", () => {
    const random = prng(SEED + 2);
    const streams: [string, Uint8Array][] = [
      ...validInputs(random).map(([name, input]): [string, Uint8Array] => [name, compress(input)]),
      ...Array.from({ length: 40 }, (_, i): [string, Uint8Array] => [`hand-built ${i}`, handBuilt(random)]),
      ...Array.from({ length: 200 }, (_, i): [string, Uint8Array] => [
        `garbage ${i}`,
        Uint8Array.from({ length: Math.floor(random() * 64) }, () => random() * 256),
      ]),
    ];
    // Copies reaching before the start through each byte of a 4-byte offset (the fourth byte
    // included: 2^24 + 1 is not 1), and a 2-byte one.
    for (const high of [
      [1, 0, 0, 1],
      [0, 0, 1, 0],
      [0, 1, 0, 0],
      [9, 0, 0, 0],
    ]) {
      streams.push([`copy offset ${high}`, new Uint8Array([12, 0x1c, ...Array(8).fill(0x61), 0x0f, ...high])]);
    }
    streams.push(["copy offset 2 bytes", new Uint8Array([12, 0x1c, ...Array(8).fill(0x61), 0x0e, 9, 0])]);
    const outcomes = { refused: 0, decoded: 0 };
    for (const [name, stream] of streams) {
      for (const [how, corrupted] of [["as is", stream] as [string, Uint8Array], ...corruptions(stream, random)]) {
        const where = `seed ${SEED + 2}, ${name}, ${how}`;
        const outcome = checkCorrupted(corrupted, where);
        outcomes[outcome]++;
        // The elements of a valid stream produce exactly its declared length, so any other
        // declared length is refused (snappyjs pads a short result with zeros, and drops what
        // goes past it).
        if (how.startsWith("declared ") && !name.startsWith("garbage") && !name.startsWith("copy offset")) {
          expect(outcome, where).toBe("refused");
        }
      }
    }
    // Both branches ran many times: flips inside literals keep a stream valid, most others not.
    expect(outcomes.decoded).toBeGreaterThan(500);
    expect(outcomes.refused).toBeGreaterThan(2000);
  });

  test("lengths that cannot be right are refused, and one over the cap before anything is allocated", () => {
    // A varint longer than the 5 bytes a 32-bit length needs, even when its value is small.
    expect(() => snappyUncompress(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), MAX)).toThrow(SnappyError);
    // Literals whose 4-byte length has its top bit set, or runs past the body (snappyjs reads
    // the first as a negative length and steps backwards).
    for (const length of [
      [0xff, 0xff, 0xff, 0xff],
      [0x00, 0x00, 0x00, 0x80],
      [0x05, 0x00, 0x00, 0x00],
    ]) {
      expect(() => snappyUncompress(new Uint8Array([10, 0xfc, ...length, 0x61, 0x61]), MAX)).toThrow(SnappyError);
    }
    expect(() => snappyUncompress(new Uint8Array([...varint(MAX + 1), 0x00, 0x61]), MAX)).toThrow(SnappyTooLargeError);
    expect(() => snappyUncompress(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), MAX)).toThrow(SnappyTooLargeError);
    // 2^32 does not fit the format's 32-bit length.
    expect(() => snappyUncompress(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10]), 2 ** 40)).toThrow(SnappyError);
  });
});
