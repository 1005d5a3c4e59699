import type { ReadableFile } from './types.js';

/** A source over bytes already in memory; reads are views, not copies. */
export function memorySource(bytes: Uint8Array): ReadableFile {
  return {
    size: bytes.length,
    async read(offset, length) {
      return bytes.subarray(offset, Math.min(bytes.length, offset + length));
    },
    async readInto(target, offset) {
      const piece = bytes.subarray(offset, Math.min(bytes.length, offset + target.length));
      target.set(piece);
      return piece.length;
    },
  };
}
