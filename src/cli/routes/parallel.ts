// --parallel N: a raw disk read at random offsets (a file, a URL, an s3://
// object) becomes a VHDX in a file or an object, rendered part by part by N
// worker threads from one plan (planVhdx): the allocation map is scanned
// first, by the workers too (a file where it holds data, a URL by ranged
// GETs), then each part is written at its offset or uploaded as its part.
import { defaultBlockSize } from '../../layout/options.js';
import { scanInParallel, uploadPlanInParallel, writePlanToFile, type ParallelInput } from '../../node/parallel.js';
import { httpSource } from '../../sources/http.js';
import { planVhdx } from '../../streams/parts.js';
import type { OpenedInput } from '../inputs.js';
import type { S3Output } from '../s3.js';
import type { Output } from '../sinks.js';
import { UsageError } from '../usage-error.js';
import { fileSize, withZeroBlocks } from './raw-to-vhdx.js';
import { diskSizeOf } from './size.js';
import type { ConversionJob, Direction } from './types.js';

/**
 * Refuses what --parallel does not do, before any work.
 * @throws UsageError for a direction other than raw -> VHDX, a stream input, an output written in order
 */
export function refuseParallel(input: OpenedInput, direction: Direction, output: Output | S3Output): void {
  if (direction !== 'raw->vhdx') {
    const what = direction.endsWith('->child') ? 'a differencing child (--parent)' : direction.replace('->', ' -> ');
    throw new UsageError(`--parallel converts a raw disk to VHDX, not ${what}`);
  }
  if (input.kind === 'stdin') {
    throw new UsageError('--parallel reads the input at random offsets: give a file, an http(s) URL or an s3:// object, not a stream');
  }
  if (output.kind === 'stdout') {
    throw new UsageError(`--parallel writes parts at their offsets: the output must be a file or an s3:// object, not ${output.name}`);
  }
}

/** The raw input as the workers read it, and its size. */
async function parallelInput(input: OpenedInput): Promise<ParallelInput> {
  if (input.kind === 'path') return { kind: 'path', path: input.input.path, size: await fileSize(input.input.path) };
  if (input.kind === 'url') {
    const { url, fetch, s3 } = input.input;
    const source = await httpSource(url, fetch ? { fetch } : {});
    await source.close?.();
    return { kind: 'url', url, size: source.size, ...(s3 ? { s3 } : {}) };
  }
  throw new UsageError('--parallel reads the input at random offsets');
}

/** Converts `input` (raw) into `output` with `job.parallel` worker threads. */
export async function convertInParallel(input: OpenedInput, output: Output | S3Output, job: ConversionJob): Promise<void> {
  const workers = job.parallel ?? 1;
  const { create } = job;
  const raw = await parallelInput(input);
  const virtualSize = diskSizeOf(raw.size, job, create.logicalSectorSize ?? 512);
  const blockSize = create.blockSize ?? defaultBlockSize(virtualSize);
  const signal = output.kind === 's3' ? output.signal : undefined;
  const scanned = create.type !== 'fixed' ? await scanInParallel(raw, blockSize, { workers, ...(signal ? { signal } : {}) }) : undefined;
  const allocationMap = scanned && withZeroBlocks(scanned, virtualSize);
  const plan = planVhdx({ ...create, virtualSize, ...(allocationMap ? { allocationMap } : {}) });
  const options = { workers, ...(signal ? { signal } : {}), ...(job.onProgress ? { onProgress: job.onProgress } : {}) };
  if (output.kind === 's3') await uploadPlanInParallel(plan, raw, output.location, options);
  else if (output.kind === 'file') await writePlanToFile(plan, raw, output.file.path, options);
}
