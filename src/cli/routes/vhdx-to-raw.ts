// VHDX in, raw disk out. A VHDX file to a raw file takes the pipelined
// file-to-file path; every other route streams the disk into the output.
import { VhdxError } from '../../errors.js';
import type { VhdxInfo } from '../../image/types.js';
import { VhdxDecoderStream } from '../../streams/decoder.js';
import { convertVhdxFileToRaw } from '../../node/convert.js';
import { decodeVhdxChunks } from '../../node/decode-chunks.js';
import { fetchStream, type PathInput, type Stdin, type UrlInput } from '../inputs.js';
import { rawSink, rawWriter, sequentialSink, type FileOutput, type Output, type StdoutOutput } from '../sinks.js';
import type { ConversionJob } from './types.js';
import { chainOptions } from '../chain.js';
import { explainStreamed, streamChain } from './stream-parent.js';

/**
 * Positional reads and writes, only the stored data read; with progress. A
 * differencing file is flattened; with --ignore-linkage its chain is opened
 * here first, so that a parent accepted despite its changed DataWriteGuid gets its warning.
 */
export async function vhdxFileToRawFile(input: PathInput, output: FileOutput, job: ConversionJob): Promise<void> {
  const progress = job.onProgress ? { onProgress: job.onProgress } : {};
  let chain = chainOptions(job.chain);
  if (job.chain.ignoreLinkage) {
    const parent = (await job.openImage(input.path)).parent;
    chain = { ...(parent ? { parent } : {}), ignoreLinkage: true };
  }
  await convertVhdxFileToRaw(input.path, output.file, { ...progress, ...chain });
}

/** The image's disk streamed in order, reading only what is stored. */
export async function vhdxFileToRawStdout(input: PathInput, output: StdoutOutput, job: ConversionJob): Promise<void> {
  await (await job.openImage(input.path)).stream().pipeTo(sequentialSink(output));
}

/** Range reads when the server has them; otherwise one streamed pass through the decoder. */
export async function vhdxUrlToRaw(input: UrlInput, output: Output, job: ConversionJob): Promise<void> {
  const image = await job.openImage(input).catch((err) => {
    if (ignoresRange(err)) return undefined;
    throw err;
  });
  if (image) return image.stream().pipeTo(rawSink(output));
  const chain = await streamChain(job);
  const decoder = new VhdxDecoderStream(chain.options);
  // a refusal once the decoder knows the file stops the copy, and is the error reported
  const stop = new AbortController();
  void decoder.info.then(chain.onInfo, () => {}).catch((err: unknown) => stop.abort(err));
  await (await fetchStream(input)).stream
    .pipeThrough(decoder, { signal: stop.signal })
    .pipeTo(rawSink(output), { signal: stop.signal })
    .catch((err) => {
      throw explainStreamed(stop.signal.aborted ? stop.signal.reason : err, job);
    });
}

/**
 * One streamed pass through the decoder core, straight from the stream's
 * reused buffers: only bytes the decoder must hold for later are copied.
 */
export async function vhdxStreamToRaw(stdin: Stdin, output: Output, job: ConversionJob): Promise<void> {
  const out = rawWriter(output);
  let total = 0;
  let done = 0;
  const write = async (piece: Uint8Array) => {
    await out.write(piece);
    done += piece.length;
    job.onProgress?.(done, total);
  };
  try {
    const chain = await streamChain(job);
    const onInfo = (info: VhdxInfo) => {
      total = info.virtualSize;
      chain.onInfo(info);
    };
    await decodeVhdxChunks(stdin.chunks, write, { ...chain.options, onInfo });
    await out.end();
  } catch (err) {
    await out.abort?.();
    throw explainStreamed(err, job);
  }
}

/** Whether opening a URL failed only because its server ignores Range requests. */
export function ignoresRange(err: unknown): boolean {
  if (!(err instanceof VhdxError)) return false;
  return err.reason === 'range-not-supported';
}
