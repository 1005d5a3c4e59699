// An s3:// output: one multipart upload (uploadToS3), whose size must be
// known before the first byte. Raw -> VHDX: the encoder's outputSize, from
// the disk's size and allocation map (a file or URL input is scanned first,
// so that its all-zero blocks are left out; a stream needs --size and stores
// every block). VHDX -> raw: the virtual size (a stream's, once the decoder
// has read its metadata). The other directions are not written to objects.
// SIGINT aborts the upload: no object and no open multipart upload is left.
import { open } from 'node:fs/promises';
import { asVhdxError } from '../../errors.js';
import { withZeroTail } from '../../layout/disk-size.js';
import { defaultBlockSize } from '../../layout/options.js';
import { scanAllocation } from '../../node/index.js';
import { fileChunks } from '../../node/fd-reader.js';
import { chunksOf } from '../../runtime/stream-chunks.js';
import { uploadToS3 } from '../../sources/s3.js';
import { httpSource } from '../../sources/http.js';
import { scanSource, type AllocationMap } from '../../sources/scan.js';
import { VhdxDecoderStream } from '../../streams/decoder.js';
import { VhdxEncoderStream } from '../../streams/encoder.js';
import { fetchStream, type OpenedInput } from '../inputs.js';
import type { S3Output } from '../s3.js';
import { UsageError } from '../usage-error.js';
import { SIZE_NEEDED } from './encode-stream.js';
import { fileSize, withZeroBlocks } from './raw-to-vhdx.js';
import { diskSizeOf, sizedChunks } from './size.js';
import { explainStreamed, streamChain } from './stream-parent.js';
import type { ConversionJob, Direction } from './types.js';

/**
 * Converts `input` into the object `output` names.
 * @throws UsageError for a direction other than raw -> VHDX and VHDX -> raw, or a raw stream without --size;
 *   what reading the input and uploadToS3 throw (`cancelled` when interrupted)
 */
export async function convertToS3(input: OpenedInput, direction: Direction, output: S3Output, job: ConversionJob): Promise<void> {
  if (direction === 'raw->vhdx') return rawToS3(input, output, job);
  if (direction === 'vhdx->raw') return vhdxToS3(input, output, job);
  throw new UsageError(`an s3:// output is written from raw to VHDX or from VHDX to raw, not ${direction.replace('->', ' -> ')}`);
}

/** Uploads `stream` (exactly `size` bytes), with progress. */
async function upload(stream: ReadableStream<Uint8Array>, size: number, output: S3Output, job: ConversionJob): Promise<void> {
  job.onProgress?.(0, size);
  await uploadToS3(stream, {
    ...output.location,
    outputSize: size,
    signal: output.signal,
    ...(job.onProgress ? { onProgress: (done: number) => job.onProgress?.(done, size) } : {}),
  });
}

/** Chunks as a web stream; `copy` for chunks whose buffers are reused once the next is asked for. */
function streamOf(chunks: AsyncIterable<Uint8Array>, copy: boolean): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await it.next();
        if (done) controller.close();
        else controller.enqueue(copy ? value.slice() : value);
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Waits for `uploading` and the `feeding` of its input. The upload's failure is the one reported (it
 * carries the input's), at once: a feed waiting on a silent input (a pipe) must not hold up the abort.
 */
async function alongside(feeding: Promise<void>, uploading: Promise<void>): Promise<void> {
  const fed = feeding.then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  await uploading;
  const failed = await fed;
  if (failed) throw failed.err;
}

async function rawToS3(input: OpenedInput, output: S3Output, job: ConversionJob): Promise<void> {
  const { create } = job;
  const sector = create.logicalSectorSize ?? 512;
  if (input.kind === 'stdin') {
    if (create.virtualSize === undefined) throw new UsageError(SIZE_NEEDED);
    return encodeToS3(streamOf(sizedChunks(input.input.chunks, job, sector), true), create.virtualSize, undefined, output, job);
  }
  if (input.kind === 'path') {
    const { path } = input.input;
    const size = await fileSize(path);
    const virtualSize = diskSizeOf(size, job, sector);
    const blockSize = create.blockSize ?? defaultBlockSize(virtualSize);
    const scanned = create.type !== 'fixed' ? await scanAllocation(path, { blockSize }) : undefined;
    const fh = await open(path, 'r').catch((err) => {
      throw asVhdxError(err, 'open-failed', `cannot open ${path}`);
    });
    try {
      const chunks = withZeroTail(await fileChunks(fh.fd, size), virtualSize - size);
      const map = scanned && withZeroBlocks(scanned, virtualSize);
      await encodeToS3(streamOf(chunks, true), virtualSize, map, output, job);
    } finally {
      await fh.close();
    }
    return;
  }
  const url = input.input;
  const source = await httpSource(url.url, url.fetch ? { fetch: url.fetch } : {});
  const virtualSize = diskSizeOf(source.size, job, sector);
  const blockSize = create.blockSize ?? defaultBlockSize(virtualSize);
  const scanned = create.type !== 'fixed' ? await scanSource(source, { blockSize }) : undefined;
  const { stream } = await fetchStream(url);
  const chunks = withZeroTail(chunksOf(stream), virtualSize - source.size);
  await encodeToS3(streamOf(chunks, false), virtualSize, scanned && withZeroBlocks(scanned, virtualSize), output, job);
}

/** The raw disk `raw` (exactly `virtualSize` bytes) encoded as the job says and uploaded. */
async function encodeToS3(
  raw: ReadableStream<Uint8Array>,
  virtualSize: number,
  allocationMap: AllocationMap | undefined,
  output: S3Output,
  job: ConversionJob,
): Promise<void> {
  const encoder = new VhdxEncoderStream({ ...job.create, virtualSize, ...(allocationMap ? { allocationMap } : {}) });
  await alongside(raw.pipeTo(encoder.writable), upload(encoder.readable, encoder.outputSize, output, job));
}

async function vhdxToS3(input: OpenedInput, output: S3Output, job: ConversionJob): Promise<void> {
  if (input.kind !== 'stdin') {
    const image = await job.openImage(input.kind === 'path' ? input.input.path : input.input);
    return upload(image.stream(), image.info.virtualSize, output, job);
  }
  const chain = await streamChain(job);
  const decoder = new VhdxDecoderStream(chain.options);
  const feeding = streamOf(input.input.chunks, true).pipeTo(decoder.writable);
  feeding.catch(() => {}); // reported below
  const info = await decoder.info.catch(async (err) => {
    await feeding.catch(() => {});
    throw explainStreamed(err, job);
  });
  try {
    chain.onInfo(info);
  } catch (err) {
    await decoder.readable.cancel(err);
    throw err;
  }
  await alongside(feeding, upload(decoder.readable, info.virtualSize, output, job)).catch((err) => {
    throw explainStreamed(err, job);
  });
}
