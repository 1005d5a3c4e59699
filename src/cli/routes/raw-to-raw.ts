// Raw disk in, raw disk out (-O raw, or a raw output name): a copy, its
// all-zero grains left as holes in a file output (a regular file on stdout
// included), grown with zeros to --size or the next whole sector.
import { open } from 'node:fs/promises';
import { asVhdxError } from '../../errors.js';
import { withZeroTail } from '../../layout/disk-size.js';
import { convertRawFileToRaw } from '../../node/convert.js';
import { fileChunks } from '../../node/fd-reader.js';
import { chunksOf } from '../../runtime/stream-chunks.js';
import { fetchStream, type PathInput, type Stdin, type UrlInput } from '../inputs.js';
import { rawWriter, sequentialWriter, writeAll, type FileOutput, type Output, type StdoutOutput } from '../sinks.js';
import { fileSize } from './raw-to-vhdx.js';
import { RAW_SECTOR, diskSizeOf, sizedChunks } from './size.js';
import type { ConversionJob } from './types.js';

function counted(chunks: AsyncIterable<Uint8Array>, total: number | undefined, job: ConversionJob): AsyncIterable<Uint8Array> {
  const { onProgress } = job;
  if (!onProgress) return chunks;
  return (async function* () {
    let done = 0;
    for await (const chunk of chunks) {
      yield chunk;
      done += chunk.length;
      onProgress(done, total ?? 0);
    }
  })();
}

/** Positional reads, only the non-zero grains written. */
export async function rawFileToRawFile(input: PathInput, output: FileOutput, job: ConversionJob): Promise<void> {
  const size = diskSizeOf(await fileSize(input.path), job, RAW_SECTOR);
  await convertRawFileToRaw(input.path, output.file, { virtualSize: size, ...(job.onProgress ? { onProgress: job.onProgress } : {}) });
}

/** Read into reused buffers and written in order. */
export async function rawFileToRawStdout(input: PathInput, output: StdoutOutput, job: ConversionJob): Promise<void> {
  const bytes = await fileSize(input.path);
  const size = diskSizeOf(bytes, job, RAW_SECTOR);
  const fh = await open(input.path, 'r').catch((err) => {
    throw asVhdxError(err, 'open-failed', `cannot open ${input.path}`);
  });
  try {
    await writeAll(counted(withZeroTail(await fileChunks(fh.fd, bytes), size - bytes), size, job), sequentialWriter(output));
  } finally {
    await fh.close();
  }
}

/** Copied as it arrives, checked against --size as it passes. */
export async function rawStreamToRaw(stdin: Stdin, output: Output, job: ConversionJob): Promise<void> {
  await writeAll(counted(sizedChunks(stdin.chunks, job, RAW_SECTOR), job.create.virtualSize, job), rawWriter(output));
}

/** One streamed GET, sized by its Content-Length when the server gives one. */
export async function rawUrlToRaw(input: UrlInput, output: Output, job: ConversionJob): Promise<void> {
  const { stream, size } = await fetchStream(input);
  const chunks =
    size === undefined
      ? sizedChunks(chunksOf(stream), job, RAW_SECTOR)
      : withZeroTail(chunksOf(stream), diskSizeOf(size, job, RAW_SECTOR) - size);
  await writeAll(counted(chunks, size, job), rawWriter(output));
}
