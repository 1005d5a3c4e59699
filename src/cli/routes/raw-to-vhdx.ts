// Raw disk in, VHDX out. Files and stdin are read into reused buffers, with
// no allocation per chunk; a URL arrives as a web stream.
import { open, stat } from 'node:fs/promises';
import { asVhdxError } from '../../errors.js';
import { diskSizeFor, withZeroTail } from '../../layout/disk-size.js';
import { convertRawChunksToVhdx, convertRawFileToVhdx, encodeRawChunks } from '../../node/convert.js';
import { readChunks } from '../../node/fd-reader.js';
import { scanAllocation } from '../../node/index.js';
import { UsageError } from '../args.js';
import { fetchStream, type PathInput, type Stdin, type UrlInput } from '../inputs.js';
import { stdoutWriter, type FileOutput, type Output, type StdoutOutput } from '../sinks.js';
import { SIZE_NEEDED, encodeRawStream } from './encode-stream.js';
import type { ConversionJob } from './types.js';

function withProgress(job: ConversionJob) {
  return { ...job.create, ...(job.onProgress ? { onProgress: job.onProgress } : {}) };
}

/** Positional reads and writes, zero stretches left out; with progress. */
export async function rawFileToVhdxFile(input: PathInput, output: FileOutput, job: ConversionJob): Promise<void> {
  await convertRawFileToVhdx(input.path, output.path, withProgress(job));
}

/**
 * Scanned first, so that a dynamic disk leaves its all-zero blocks out, then
 * read into reused buffers and encoded in order.
 * @throws VhdxError 'open-failed' or 'read-failed' for the file, 'write-failed' for stdout
 */
export async function rawFileToVhdxStdout(input: PathInput, _stdout: StdoutOutput, job: ConversionJob): Promise<void> {
  const { create } = job;
  const opened = async () => {
    const size = (await stat(input.path)).size;
    return { size, fh: await open(input.path, 'r') };
  };
  const { size, fh } = await opened().catch((err) => {
    throw asVhdxError(err, 'open-failed', `cannot open ${input.path}`);
  });
  try {
    const virtualSize = create.virtualSize ?? diskSizeFor(size, create.logicalSectorSize ?? 512);
    // a file that is not a whole number of sectors ends in zeros, unless --size asked for more
    const tail = create.virtualSize === undefined ? virtualSize - size : 0;
    const scanned =
      create.type !== 'fixed' ? await scanAllocation(input.path, create.blockSize ? { blockSize: create.blockSize } : {}) : undefined;
    // the map describes the file; those zeros never change which blocks hold data
    const allocationMap = scanned && { ...scanned, virtualSize: scanned.virtualSize + tail };
    const out = stdoutWriter();
    const options = { ...create, virtualSize, ...(allocationMap ? { allocationMap } : {}) };
    await encodeRawChunks(withZeroTail(readChunks(fh.fd), tail), options, out.write, job.onProgress).catch((err) => {
      throw asVhdxError(err, 'read-failed', `cannot read ${input.path}`); // writes to stdout name themselves
    });
    await out.end();
  } finally {
    await fh.close();
  }
}

/** A disk as large as the input, or --size; a fixed disk must know its size before the first block. */
export async function rawStdinToVhdxFile(stdin: Stdin, output: FileOutput, job: ConversionJob): Promise<void> {
  if (job.create.type === 'fixed' && job.create.virtualSize === undefined)
    throw new UsageError('--size is needed for a fixed disk from stdin');
  await convertRawChunksToVhdx(stdin.chunks, output.path, withProgress(job));
}

/** The encoder writes the BAT before the payload, so the size must be given. */
export async function rawStdinToVhdxStdout(stdin: Stdin, _stdout: StdoutOutput, job: ConversionJob): Promise<void> {
  const { virtualSize } = job.create;
  if (virtualSize === undefined) throw new UsageError(SIZE_NEEDED);
  const out = stdoutWriter();
  await encodeRawChunks(stdin.chunks, { ...job.create, virtualSize }, out.write, job.onProgress);
  await out.end();
}

/** One streamed GET; its Content-Length sizes the disk (without it, see encodeRawStream). */
export async function rawUrlToVhdx(input: UrlInput, output: Output, job: ConversionJob): Promise<void> {
  await encodeRawStream(await fetchStream(input.url), job.create, output, job.onProgress);
}
