// The virtual disk a raw input of a given length makes: a whole number of
// logical sectors, the last one filled out with zeros. Every path that sizes
// a disk from its input (files, pipes, URLs, the sparse allocator) and every
// path that supplies those zeros uses these, so they cannot drift apart.
import { MiB } from '../format/bytes.js';

/**
 * The virtual size of a disk holding `bytes` of raw input: `bytes` rounded up
 * to a multiple of `logicalSectorSize`. Zero stays zero (an empty input is
 * refused where a disk is made, not here).
 */
export function diskSizeFor(bytes: number, logicalSectorSize: number): number {
  return Math.ceil(bytes / logicalSectorSize) * logicalSectorSize;
}

/** At most this many zeros per piece: one buffer serves any tail. */
const ZERO_PIECE = MiB;
let zeroBuffer: Uint8Array | undefined;

/**
 * `length` zero bytes as pieces of at most 1 MiB, all views of one shared,
 * never-written buffer: a consumer may keep them but must not write to them.
 */
export function* zeroPieces(length: number): Generator<Uint8Array, void, undefined> {
  if (length <= 0) return;
  zeroBuffer ??= new Uint8Array(ZERO_PIECE);
  for (let remaining = length; remaining > 0; remaining -= ZERO_PIECE) yield zeroBuffer.subarray(0, Math.min(remaining, ZERO_PIECE));
}

/** `chunks`, then `zeros` zero bytes (a disk larger than its input ends in zeros). */
export async function* withZeroTail(chunks: AsyncIterable<Uint8Array>, zeros: number): AsyncGenerator<Uint8Array, void, undefined> {
  yield* chunks;
  yield* zeroPieces(zeros);
}
