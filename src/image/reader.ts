// The one thing the image layer needs from a file: bytes at an offset. The
// size is unknown while a stream is still arriving.
import { VhdxError, type VhdxStructure } from '../errors.js';

/** Where a loader gets bytes. `size` is unknown for streams. */
export interface ByteReader {
  readonly size: number | undefined;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: reads into a caller-owned buffer; returns the bytes read. */
  readInto?(target: Uint8Array, offset: number): Promise<number>;
}

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
