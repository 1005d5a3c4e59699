// One --size rule for every route. Larger than the input: the rest of the
// disk reads as zeros. Smaller: a usage error. Not a whole number of
// sectors: a usage error that names the nearest multiple. An input that is
// not a whole number of sectors makes a disk rounded up to the next one,
// with a one-line notice. Known sizes are checked before any work; a
// stream's as it passes, and its padding follows its last byte. An input
// longer than --size is the library's INVALID_ARGUMENT 'input-too-long' (exit
// status 2, as a usage error), worded with --size as the user typed it.
import { diskSizeFor, zeroPieces } from '../../layout/disk-size.js';
import { VhdxError } from '../../errors.js';
import { UsageError } from '../usage-error.js';
import type { ConversionJob } from './types.js';

/** The sector every raw input is rounded to, unless the VHDX made has larger ones. */
export const RAW_SECTOR = 512;

/**
 * Checks --size (`size`) against the sector of the disk made.
 * @throws UsageError for zero, or a size that is not a multiple of `sector` (naming the nearest multiple)
 */
export function checkSizeFlag(size: number | undefined, sector: number): void {
  if (size === undefined) return;
  if (size <= 0) throw new UsageError('--size must be larger than zero');
  if (size % sector !== 0) {
    const nearest = Math.max(sector, Math.round(size / sector) * sector);
    throw new UsageError(`--size ${size} is not a whole number of ${sector}-byte sectors; the nearest is ${nearest}`);
  }
}

/** The library's error for it, which the command line words with --size as typed (see describeError). */
function longerThanSize(size: number, input: string): VhdxError {
  return new VhdxError('input-too-long', `--size ${size} is smaller than the input (${input}); it can only make the disk larger`, {
    structure: 'options',
    field: 'virtualSize',
  });
}

function roundedUp(bytes: number, size: number, sector: number): string {
  return `the input is ${bytes} bytes, not a whole number of ${sector}-byte sectors: rounded up to ${size} bytes (zeros at the end)`;
}

/**
 * The size of the disk an input of `bytes` makes: --size, or `bytes` rounded
 * up to `sector` (with a notice when that changes it).
 * @throws VhdxError INVALID_ARGUMENT 'input-too-long' when --size is smaller than the input; UsageError when
 *   it is not a multiple of `sector`
 */
export function diskSizeOf(bytes: number, job: ConversionJob, sector: number): number {
  const requested = job.create.virtualSize;
  checkSizeFlag(requested, sector);
  if (requested !== undefined) {
    if (bytes > requested) throw longerThanSize(requested, `${bytes} bytes`);
    return requested;
  }
  const size = diskSizeFor(bytes, sector);
  if (size !== bytes) job.notice(roundedUp(bytes, size, sector));
  return size;
}

/**
 * `chunks`, of a length not known up front, sized as {@link diskSizeOf}
 * sizes a known input: an input longer than --size fails as soon as it
 * passes it, and zeros follow the last chunk up to --size or the sector.
 * @throws VhdxError 'input-too-long' (from iteration) for input longer than --size; what `chunks` throws
 */
export async function* sizedChunks(
  chunks: AsyncIterable<Uint8Array>,
  job: ConversionJob,
  sector: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  const requested = job.create.virtualSize;
  checkSizeFlag(requested, sector);
  let received = 0;
  for await (const chunk of chunks) {
    received += chunk.length;
    if (requested !== undefined && received > requested) throw longerThanSize(requested, `at least ${received} bytes`);
    yield chunk;
  }
  yield* zeroPieces(diskSizeOf(received, job, sector) - received);
}
