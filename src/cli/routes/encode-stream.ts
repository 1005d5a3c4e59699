// A raw disk that arrives as a web stream (a fetched URL, or the disk of a
// VHDX being re-blocked) becomes a VHDX: a dynamic VHDX file through the
// seeking writer, anything else through the sequential encoder.
import { diskSizeFor, withZeroTail } from '../../layout/disk-size.js';
import type { VhdxCreateOptions } from '../../layout/options.js';
import { VhdxEncoderStream } from '../../streams/encoder.js';
import { VhdxWriterStream } from '../../node/index.js';
import { UsageError } from '../args.js';
import { chunksOf, streamOf } from '../chunk-streams.js';
import { fileSink, stdoutSink, type Output } from '../sinks.js';
import type { ProgressCallback } from './types.js';

export const SIZE_NEEDED = '--size is needed: the input size cannot be known up front';

/** A raw disk as a stream, with its length when known. */
export interface RawStream {
  stream: ReadableStream<Uint8Array>;
  size: number | undefined;
}

/**
 * Encodes `raw` into `output`. The disk is `create.virtualSize`, or the
 * input rounded up to whole sectors, the rounding filled with zeros.
 * @throws UsageError when neither size is known and the output needs it up front
 */
export async function encodeRawStream(
  raw: RawStream,
  create: VhdxCreateOptions,
  output: Output,
  onProgress?: ProgressCallback,
): Promise<void> {
  const sizeFromInput = raw.size === undefined ? undefined : diskSizeFor(raw.size, create.logicalSectorSize ?? 512);
  const virtualSize = create.virtualSize ?? sizeFromInput;
  if (output.kind === 'file' && create.type !== 'fixed') {
    const sink = new VhdxWriterStream(output.path, { ...create, ...(virtualSize === undefined ? {} : { virtualSize }) });
    await counted(raw.stream, virtualSize, onProgress).pipeTo(sink);
    return;
  }
  if (virtualSize === undefined) throw new UsageError(SIZE_NEEDED);
  const tail = raw.size !== undefined && create.virtualSize === undefined ? virtualSize - raw.size : 0;
  const padded = tail > 0 ? streamOf(withZeroTail(chunksOf(raw.stream), tail)) : raw.stream;
  await counted(padded, virtualSize, onProgress)
    .pipeThrough(new VhdxEncoderStream({ ...create, virtualSize }))
    .pipeTo(output.kind === 'file' ? fileSink(output) : stdoutSink());
}

function counted(stream: ReadableStream<Uint8Array>, total: number | undefined, onProgress?: ProgressCallback): ReadableStream<Uint8Array> {
  if (!onProgress) return stream;
  let done = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        done += chunk.length;
        onProgress(done, total ?? 0);
        c.enqueue(chunk);
      },
    }),
  );
}
