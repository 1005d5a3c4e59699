// The virtual disk a raw input of a given length makes: a whole number of
// logical sectors, the last one filled out with zeros. Every path that sizes
// a disk from its input (files, pipes, URLs, the sparse allocator) and every
// path that supplies those zeros uses these, so they cannot drift apart.
// A requested size (virtualSize) larger than the input makes the rest of
// the disk read as zeros; smaller, zero, or not whole sectors is refused.
// A known length is checked before any work, a stream's as it passes.
import { VhdxError, inputTooLong } from '../errors.js';
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

function badSize(message: string): VhdxError {
  return new VhdxError('invalid-option', message, { structure: 'options', field: 'virtualSize' });
}

/**
 * Refuses a requested `virtualSize` of zero, or one that is not a whole number of `sector`-byte
 * sectors (the message names the nearest multiple). Undefined (the input's size) passes.
 * @throws VhdxError `invalid-option` (structure `options`, field `virtualSize`)
 */
export function checkVirtualSize(virtualSize: number | undefined, sector: number): void {
  if (virtualSize === undefined) return;
  if (virtualSize <= 0) throw badSize('must be larger than zero');
  if (virtualSize % sector !== 0) {
    const nearest = Math.max(sector, Math.round(virtualSize / sector) * sector);
    throw badSize(`${virtualSize} is not a whole number of ${sector}-byte sectors; the nearest is ${nearest}`);
  }
}

/** The disk an input makes: its size, and whether that is the input rounded up to a whole sector. */
export interface InputDiskSize {
  virtualSize: number;
  /** True when no size was requested and the input is not a whole number of sectors (zeros fill the last one). */
  roundedUp: boolean;
}

/** The refusal of a requested size smaller than the input (`what` describes the input's length). */
function longerThanRequested(what: string, virtualSize: number): VhdxError {
  return inputTooLong(`the input (${what})`, 'virtualSize', virtualSize, { structure: 'options', field: 'virtualSize' });
}

/**
 * The size of the disk made from an input of `bytes`: `virtualSize` when given (never smaller than
 * the input), else `bytes` rounded up to a whole number of `sector`-byte sectors.
 * @throws VhdxError `invalid-option` as {@link checkVirtualSize}; `input-too-long` (field `virtualSize`) for an
 *   input longer than `virtualSize`
 */
export function diskSizeForInput(bytes: number, virtualSize: number | undefined, sector: number): InputDiskSize {
  checkVirtualSize(virtualSize, sector);
  if (virtualSize !== undefined) {
    if (bytes > virtualSize) throw longerThanRequested(`${bytes} bytes`, virtualSize);
    return { virtualSize, roundedUp: false };
  }
  const size = diskSizeFor(bytes, sector);
  return { virtualSize: size, roundedUp: size !== bytes };
}

/**
 * `chunks`, of a length not known up front, sized as {@link diskSizeForInput} sizes a known input:
 * longer than `virtualSize` fails as soon as it passes it, and zeros follow the last chunk up to
 * `virtualSize` or the next whole sector. `onSized` learns the disk's size (and the input's length)
 * when the input ends, before the zeros.
 * @throws VhdxError as diskSizeForInput (`invalid-option` before the first chunk; `input-too-long` from
 *   iteration); what `chunks` throws
 */
export async function* sizedChunks(
  chunks: AsyncIterable<Uint8Array>,
  virtualSize: number | undefined,
  sector: number,
  onSized?: (size: InputDiskSize, bytes: number) => void,
): AsyncGenerator<Uint8Array, void, undefined> {
  checkVirtualSize(virtualSize, sector);
  let received = 0;
  for await (const chunk of chunks) {
    received += chunk.length;
    if (virtualSize !== undefined && received > virtualSize) throw longerThanRequested(`at least ${received} bytes`, virtualSize);
    yield chunk;
  }
  const size = diskSizeForInput(received, virtualSize, sector);
  onSized?.(size, received);
  yield* zeroPieces(size.virtualSize - received);
}
