// Raw disk in, VHDX out. Files are read at positions (a file to a file with
// pipelined I/O, zero stretches left out), streams into reused buffers with
// no allocation per chunk, and a URL arrives as a web stream.
import { open, stat } from 'node:fs/promises';
import { asVhdxError } from '../../errors.js';
import { withZeroTail } from '../../layout/disk-size.js';
import { defaultBlockSize } from '../../layout/options.js';
import type { AllocationMap } from '../../sources/scan.js';
import { convertRawFileToVhdx, encodeRawChunks } from '../../node/convert.js';
import { fileChunks } from '../../node/fd-reader.js';
import { scanAllocation } from '../../node/index.js';
import { UsageError } from '../usage-error.js';
import { chunksOf } from '../../runtime/stream-chunks.js';
import { fetchStream, type PathInput, type Stdin, type UrlInput } from '../inputs.js';
import { sequentialWriter, type FileOutput, type Output, type StdoutOutput } from '../sinks.js';
import { SIZE_NEEDED, encodeRaw } from './encode-stream.js';
import { diskSizeOf } from './size.js';
import type { ConversionJob } from './types.js';

/** The size of the file at `path`. @throws VhdxError 'open-failed' */
export async function fileSize(path: string): Promise<number> {
  return (
    await stat(path).catch((err) => {
      throw asVhdxError(err, 'open-failed', `cannot open ${path}`);
    })
  ).size;
}

/** `map` (of a file) for a disk of `virtualSize`: the zeros past the file never hold data. */
export function withZeroBlocks(map: AllocationMap, virtualSize: number): AllocationMap {
  const present = new Uint8Array(Math.ceil(virtualSize / map.blockSize));
  present.set(map.present);
  return { ...map, virtualSize, present };
}

/** Positional reads and writes, zero stretches left out; with progress. */
export async function rawFileToVhdxFile(input: PathInput, output: FileOutput, job: ConversionJob): Promise<void> {
  const virtualSize = diskSizeOf(await fileSize(input.path), job, job.create.logicalSectorSize ?? 512);
  await convertRawFileToVhdx(input.path, output.file, {
    ...job.create,
    virtualSize,
    ...(job.onProgress ? { onProgress: job.onProgress } : {}),
  });
}

/**
 * Scanned first, so that a dynamic disk leaves its all-zero blocks out, then
 * read into reused buffers and encoded in order.
 * @throws VhdxError 'open-failed' or 'read-failed' for the file, 'write-failed' for the output
 */
export async function rawFileToVhdxStdout(input: PathInput, output: StdoutOutput, job: ConversionJob): Promise<void> {
  const { create } = job;
  const size = await fileSize(input.path);
  const virtualSize = diskSizeOf(size, job, create.logicalSectorSize ?? 512);
  const fh = await open(input.path, 'r').catch((err) => {
    throw asVhdxError(err, 'open-failed', `cannot open ${input.path}`);
  });
  try {
    const tail = virtualSize - size; // the disk past the file reads as zeros
    const blockSize = create.blockSize ?? defaultBlockSize(virtualSize);
    const scanned = create.type !== 'fixed' ? await scanAllocation(input.path, { blockSize }) : undefined;
    const allocationMap = scanned && withZeroBlocks(scanned, virtualSize);
    const out = sequentialWriter(output);
    const options = { ...create, virtualSize, ...(allocationMap ? { allocationMap } : {}) };
    try {
      await encodeRawChunks(withZeroTail(await fileChunks(fh.fd, size), tail), options, out.write, job.onProgress).catch((err) => {
        throw asVhdxError(err, 'read-failed', `cannot read ${input.path}`); // writes to the output name themselves
      });
      await out.end();
    } catch (err) {
      await out.abort?.();
      throw err;
    }
  } finally {
    await fh.close();
  }
}

/** A stream's length is known only at its end: a dynamic disk in a file grows with it (a fixed one needs --size). */
export async function rawStreamToVhdxFile(stdin: Stdin, output: FileOutput, job: ConversionJob): Promise<void> {
  await encodeRaw({ chunks: stdin.chunks, size: undefined }, job.create, output, job);
}

/** The encoder writes the BAT before the payload: the size must be given, and is asked for before reading. */
export async function rawStreamToVhdxStdout(stdin: Stdin, output: StdoutOutput, job: ConversionJob): Promise<void> {
  if (job.create.virtualSize === undefined) throw new UsageError(SIZE_NEEDED);
  await encodeRaw({ chunks: stdin.chunks, size: undefined }, job.create, output, job);
}

/** One streamed GET; its Content-Length sizes the disk (without it, as a stream). */
export async function rawUrlToVhdx(input: UrlInput, output: Output, job: ConversionJob): Promise<void> {
  const { stream, size } = await fetchStream(input);
  await encodeRaw({ chunks: chunksOf(stream), size }, job.create, output, job);
}
