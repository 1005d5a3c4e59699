// Raw disk images with known contents for the tests.
import { pseudoRandomBytes } from './reference.js';

export { collect } from './collect.mjs';

export type Contents = 'zero' | 'data' | 'mixed';

const MiB = 1024 * 1024;

/**
 * A raw image of `size` bytes. 'mixed' has, per 1 MiB stretch, a pattern of
 * all-zero stretches, random data and text, plus a few isolated non-zero
 * bytes, so that some blocks are all zero and some only partly used.
 */
export function makeRaw(size: number, contents: Contents, seed = 1): Uint8Array {
  const raw = new Uint8Array(size);
  if (contents === 'zero') return raw;
  if (contents === 'data') {
    const pattern = pseudoRandomBytes(Math.min(size, 3 * MiB + 17), seed);
    for (let at = 0; at < size; at += pattern.length) raw.set(pattern.subarray(0, Math.min(pattern.length, size - at)), at);
    return raw;
  }
  const chunk = pseudoRandomBytes(256 * 1024, seed);
  const text = new TextEncoder().encode('The quick brown fox jumps over the lazy dog. '.repeat(100));
  for (let mib = 0; mib * MiB < size; mib++) {
    const at = mib * MiB;
    switch ((mib * 7 + seed) % 5) {
      case 0: // random data in the first quarter
        raw.set(chunk.subarray(0, Math.min(chunk.length, size - at)), at);
        break;
      case 1: // text
        raw.set(text.subarray(0, Math.min(text.length, size - at)), at);
        break;
      case 2: // a single byte in the middle
        if (at + MiB / 2 < size) raw[at + MiB / 2] = 0xa5;
        break;
      default: // zeros
        break;
    }
  }
  // the very last byte is non-zero so truncation would show
  if (size > 0) raw[size - 1] = 0x5a;
  return raw;
}

/** A raw image whose blocks (of `blockSize`) alternate between zero and data, in a fixed pattern. */
export function blockPatternRaw(size: number, blockSize: number, isData: (block: number) => boolean, seed = 3): Uint8Array {
  const raw = new Uint8Array(size);
  const data = pseudoRandomBytes(Math.min(blockSize, 1 << 20), seed);
  for (let b = 0; b * blockSize < size; b++) {
    if (!isData(b)) continue;
    const start = b * blockSize;
    const end = Math.min(size, start + blockSize);
    for (let at = start; at < end; at += data.length) raw.set(data.subarray(0, Math.min(data.length, end - at)), at);
  }
  return raw;
}

/** A ReadableStream over `bytes` in chunks of varying sizes. */
export function chunkedStream(bytes: Uint8Array, sizes: number[] = [1 << 20]): ReadableStream<Uint8Array> {
  let at = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      const n = Math.min(sizes[i++ % sizes.length]!, bytes.length - at);
      controller.enqueue(bytes.subarray(at, at + n));
      at += n;
    },
  });
}
