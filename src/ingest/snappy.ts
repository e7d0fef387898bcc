// Raw (block format) snappy decompression, as Fluent Bit's `Compress snappy` sends it: a varint
// with the uncompressed length, then literal and copy elements. The declared length is checked
// against the cap before anything is allocated, and every element is bounds-checked, so a hostile
// body costs at most `maxOutput` bytes. Format: github.com/google/snappy/blob/main/format_description.txt

export class SnappyError extends Error {
  override readonly name = "SnappyError";
}

export class SnappyTooLargeError extends Error {
  override readonly name = "SnappyTooLargeError";
  constructor(readonly declaredLength: number) {
    super(`snappy body declares ${declaredLength} bytes uncompressed`);
  }
}

export function snappyUncompress(input: Uint8Array, maxOutput: number): Uint8Array {
  let pos = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= input.length || shift > 28) throw new SnappyError("snappy: bad uncompressed length");
    const b = input[pos++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > 0xffffffff) throw new SnappyError("snappy: bad uncompressed length");
  if (length > maxOutput) throw new SnappyTooLargeError(length);
  const out = new Uint8Array(length);
  let o = 0;
  while (pos < input.length) {
    const tag = input[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59;
        if (pos + extra > input.length) throw new SnappyError("snappy: truncated literal length");
        len = 0;
        for (let i = 0; i < extra; i++) len += input[pos + i]! * 2 ** (8 * i);
        pos += extra;
      }
      len += 1;
      if (pos + len > input.length || o + len > length) throw new SnappyError("snappy: literal out of bounds");
      out.set(input.subarray(pos, pos + len), o);
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (pos >= input.length) throw new SnappyError("snappy: truncated copy");
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | input[pos++]!;
    } else if (kind === 2) {
      if (pos + 2 > input.length) throw new SnappyError("snappy: truncated copy");
      len = (tag >>> 2) + 1;
      offset = input[pos]! | (input[pos + 1]! << 8);
      pos += 2;
    } else {
      if (pos + 4 > input.length) throw new SnappyError("snappy: truncated copy");
      len = (tag >>> 2) + 1;
      offset = (input[pos]! | (input[pos + 1]! << 8) | (input[pos + 2]! << 16)) + input[pos + 3]! * 2 ** 24;
      pos += 4;
    }
    if (offset === 0 || offset > o || o + len > length) throw new SnappyError("snappy: copy out of bounds");
    if (offset >= len) {
      out.copyWithin(o, o - offset, o - offset + len);
      o += len;
    } else {
      // Overlapping copy repeats the last `offset` bytes: byte by byte.
      for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!;
    }
  }
  if (o !== length) throw new SnappyError(`snappy: body holds ${o} of the ${length} bytes it declares`);
  return out;
}
