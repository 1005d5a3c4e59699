// VHDX in, VHDX out (--to vhdx): the disk of the input, re-encoded. What the
// command line leaves open (block and sector sizes) follows the input.
import type { VhdxImage } from '../../image/image.js';
import type { Stdin, PathInput, UrlInput } from '../inputs.js';
import type { Output } from '../sinks.js';
import { encodeRawStream } from './encode-stream.js';
import type { ConversionJob } from './types.js';

async function reencode(image: VhdxImage, output: Output, job: ConversionJob): Promise<void> {
  const { info } = image;
  const create = {
    ...job.create,
    blockSize: job.create.blockSize ?? info.blockSize,
    logicalSectorSize: job.create.logicalSectorSize ?? (info.logicalSectorSize as 512 | 4096),
    physicalSectorSize: job.create.physicalSectorSize ?? (info.physicalSectorSize as 512 | 4096),
  };
  await encodeRawStream({ stream: image.stream(), size: info.virtualSize }, create, output, job.onProgress);
}

/** Positional reads of the image; the output may be the input itself (it is written under a temporary name). */
export async function vhdxFileToVhdx(input: PathInput, output: Output, job: ConversionJob): Promise<void> {
  await reencode(await job.openImage(input.path), output, job);
}

/** Range reads; a server without them is an error (the image is read out of order). */
export async function vhdxUrlToVhdx(input: UrlInput, output: Output, job: ConversionJob): Promise<void> {
  await reencode(await job.openImage(input.url), output, job);
}

/** Held in memory whole: the image is read out of order. */
export async function vhdxStdinToVhdx(stdin: Stdin, output: Output, job: ConversionJob): Promise<void> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stdin.chunks) parts.push(chunk.slice()); // stdin reuses its buffers
  await reencode(await job.openImage(Buffer.concat(parts)), output, job);
}
