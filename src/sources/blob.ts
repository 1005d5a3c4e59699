import type { ReadableFile } from './types.js';

/** A source over a Blob or File (browser, Node 20, Deno, Bun, Workers). */
export function blobSource(blob: Blob): ReadableFile {
  return {
    size: blob.size,
    async read(offset, length) {
      const end = Math.min(blob.size, offset + length);
      return new Uint8Array(await blob.slice(offset, end).arrayBuffer());
    },
  };
}
