// The one thing the image layer needs from a file: bytes at an offset. The
// size is unknown while a stream is still arriving.
import { VhdxError, type VhdxStructure } from '../errors.js';
import type { ReadableFile } from '../sources/types.js';

/**
 * Where a loader gets bytes: the reading half of a file (the seam in
 * sources/types.ts), except that `size` is unknown while a stream is arriving.
 */
export type ByteReader = Pick<ReadableFile, 'read' | 'readInto'> & { readonly size: number | undefined };

/**
 * Reads exactly `length` bytes of `structure` at `offset`.
 * @throws VhdxError `TRUNCATED` (`structure-truncated`) when the file ends first.
 */
export async function readExact(r: ByteReader, offset: number, length: number, structure: VhdxStructure): Promise<Uint8Array> {
  if (r.size !== undefined && offset + length > r.size) {
    throw new VhdxError('structure-truncated', `[${offset}, +${length}) runs past the end of the ${r.size}-byte file`, {
      structure,
      offset,
    });
  }
  const b = await r.read(offset, length);
  if (b.length < length) {
    throw new VhdxError('structure-truncated', `[${offset}, +${length}) cut short at ${offset + b.length}`, { structure, offset });
  }
  return b;
}
