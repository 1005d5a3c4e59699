// VHDX in, raw disk out. A VHDX file to a raw file takes the pipelined
// file-to-file path; every other route streams the disk into the output.
import { VhdxError } from '../../errors.js';
import { VhdxDecoderStream } from '../../streams/decoder.js';
import { convertVhdxFileToRaw } from '../../node/convert.js';
import { decodeVhdxChunks } from '../../node/decode-chunks.js';
import { fetchStream, type PathInput, type Stdin, type UrlInput } from '../inputs.js';
import { rawWriter, sparseRawFileSink, stdoutSink, type FileOutput, type Output, type StdoutOutput } from '../sinks.js';
import type { ConversionJob } from './types.js';

/** Raw disks go to a file with their zero grains left as holes. */
function rawSink(output: Output): WritableStream<Uint8Array> {
  return output.kind === 'file' ? sparseRawFileSink(output) : stdoutSink();
}

/** Positional reads and writes, only the stored data read; with progress. */
export async function vhdxFileToRawFile(input: PathInput, output: FileOutput, job: ConversionJob): Promise<void> {
  await convertVhdxFileToRaw(input.path, output.path, job.onProgress ? { onProgress: job.onProgress } : {});
}

/** The image's disk streamed in order, reading only what is stored. */
export async function vhdxFileToRawStdout(input: PathInput, _stdout: StdoutOutput, job: ConversionJob): Promise<void> {
  await (await job.openImage(input.path)).stream().pipeTo(stdoutSink());
}

/** Range reads when the server has them; otherwise one streamed pass through the decoder. */
export async function vhdxUrlToRaw(input: UrlInput, output: Output, job: ConversionJob): Promise<void> {
  const image = await job.openImage(input.url).catch((err) => {
    if (ignoresRange(err)) return undefined;
    throw err;
  });
  const raw = image ? image.stream() : (await fetchStream(input.url)).stream.pipeThrough(new VhdxDecoderStream());
  await raw.pipeTo(rawSink(output));
}

/**
 * One streamed pass through the decoder core, straight from stdin's reused
 * buffers: only bytes the decoder must hold for later are copied.
 */
export async function vhdxStdinToRaw(stdin: Stdin, output: Output): Promise<void> {
  const out = rawWriter(output);
  try {
    await decodeVhdxChunks(stdin.chunks, (piece) => out.write(piece));
    await out.end();
  } catch (err) {
    await out.abort?.();
    throw err;
  }
}

/** Whether opening a URL failed only because its server ignores Range requests. */
export function ignoresRange(err: unknown): boolean {
  if (!(err instanceof VhdxError)) return false;
  return err.reason === 'range-not-supported';
}
