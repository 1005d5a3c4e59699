// --size on every route, by the library's rule (layout/disk-size.ts): the
// command line only tells the user when an input that is not whole sectors
// was rounded up. Its refusals are the library's, worded with --size as
// typed (see describeError).
import { diskSizeForInput, sizedChunks as sizedByLibrary, type InputDiskSize } from '../../layout/disk-size.js';
import type { ConversionJob } from './types.js';

/** The sector every raw input is rounded to, unless the VHDX made has larger ones. */
export const RAW_SECTOR = 512;

/** The one-line notice for an input of `bytes` sized as `size`, when it was rounded up. */
function noticeRounding(job: ConversionJob, size: InputDiskSize, bytes: number, sector: number): void {
  if (!size.roundedUp) return;
  job.notice(
    `the input is ${bytes} bytes, not a whole number of ${sector}-byte sectors: rounded up to ${size.virtualSize} bytes (zeros at the end)`,
  );
}

/**
 * The size of the disk an input of `bytes` makes (see diskSizeForInput), with a notice when rounded up.
 * @throws VhdxError `invalid-option` or `input-too-long` (field virtualSize)
 */
export function diskSizeOf(bytes: number, job: ConversionJob, sector: number): number {
  const size = diskSizeForInput(bytes, job.create.virtualSize, sector);
  noticeRounding(job, size, bytes, sector);
  return size.virtualSize;
}

/** `chunks` of a length not known up front, sized as the library sizes them, with the same notice. */
export function sizedChunks(
  chunks: AsyncIterable<Uint8Array>,
  job: ConversionJob,
  sector: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  return sizedByLibrary(chunks, job.create.virtualSize, sector, (size, bytes) => noticeRounding(job, size, bytes, sector));
}
