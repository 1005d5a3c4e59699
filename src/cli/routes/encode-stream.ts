// A raw disk that arrives as chunks in order (a pipe, a fetched URL, the disk
// of a VHDX being re-encoded) becomes a VHDX: a dynamic disk in a file through
// the positional writer (which needs no size up front), anything else through
// the sequential encoder (which writes the BAT first, so it needs the size).
import { withZeroTail } from '../../layout/disk-size.js';
import { defaultBlockSize, type VhdxCreateOptions } from '../../layout/options.js';
import type { AllocationMap } from '../../sources/scan.js';
import { encodeRawChunks, rawChunksToVhdxFile } from '../../node/convert.js';
import { UsageError } from '../usage-error.js';
import { fileWriter, sequentialWriter, type Output } from '../sinks.js';
import { diskSizeOf, sizedChunks } from './size.js';
import type { ConversionJob } from './types.js';

export const SIZE_NEEDED = '--size is needed: the input size cannot be known up front';

/** A raw disk in order: chunks valid until the next is asked for, and its length when known up front. */
export interface RawChunks {
  chunks: AsyncIterable<Uint8Array>;
  size: number | undefined;
  /**
   * Which blocks may hold data, when the source knows without reading them (the disk of a VHDX):
   * lets a dynamic disk written in order (its BAT first) leave the others out.
   */
  allocation?: (blockSize: number, virtualSize: number) => AllocationMap;
}

/**
 * Encodes `raw` into `output` as the VHDX `create` describes (its
 * `virtualSize`, from --size, is checked and applied by the size rule).
 * @throws UsageError when the size is needed up front and unknown, or breaks the size rule
 */
export async function encodeRaw(raw: RawChunks, create: VhdxCreateOptions, output: Output, job: ConversionJob): Promise<void> {
  const sector = create.logicalSectorSize ?? 512;
  const sizeJob = { ...job, create };
  const virtualSize = raw.size === undefined ? create.virtualSize : diskSizeOf(raw.size, sizeJob, sector);
  const chunks = raw.size === undefined ? sizedChunks(raw.chunks, sizeJob, sector) : withZeroTail(raw.chunks, virtualSize! - raw.size);
  const options = { ...create, ...(virtualSize === undefined ? {} : { virtualSize }) };
  if (output.kind === 'file' && create.type !== 'fixed') {
    await rawChunksToVhdxFile(chunks, output.file, { ...options, ...(job.onProgress ? { onProgress: job.onProgress } : {}) });
    return;
  }
  if (virtualSize === undefined) {
    throw new UsageError(output.kind === 'file' ? '--size is needed for a fixed disk from a stream' : SIZE_NEEDED);
  }
  const blockSize = create.blockSize ?? defaultBlockSize(virtualSize);
  const allocationMap = create.type !== 'fixed' ? raw.allocation?.(blockSize, virtualSize) : undefined;
  const out = output.kind === 'file' ? fileWriter(output) : sequentialWriter(output);
  try {
    await encodeRawChunks(
      chunks,
      { ...options, virtualSize, ...(allocationMap ? { allocationMap } : {}) },
      (data) => out.write(data),
      job.onProgress,
    );
    await out.end();
  } catch (err) {
    await out.abort?.();
    throw err;
  }
}
