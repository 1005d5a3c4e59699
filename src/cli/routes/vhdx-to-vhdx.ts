// VHDX in, VHDX out: the disk of the input, re-encoded (zero blocks left out
// of a dynamic disk; --block-size, --type and the sector options apply). What
// the command line leaves open (block and sector sizes) follows the input.
// A file, or a URL with Range support, is read through the image; a stream
// (stdin, a FIFO, a URL without Range) is decoded in one pass and handed to
// the encoder piece by piece, so memory stays bounded.
import type { VhdxInfo } from '../../image/types.js';
import type { VhdxCreateOptions } from '../../layout/options.js';
import { decodeVhdxChunks } from '../../node/decode-chunks.js';
import { allocationOf, convertVhdxFileToVhdx, reencodeOptions } from '../../node/convert.js';
import { ChunkHandoff } from '../chunk-streams.js';
import { chunksOf } from '../../runtime/stream-chunks.js';
import { fetchStream, type PathInput, type Stdin, type UrlInput } from '../inputs.js';
import type { Output } from '../sinks.js';
import { encodeRaw } from './encode-stream.js';
import { diskSizeOf } from './size.js';
import type { ConversionJob } from './types.js';
import { ignoresRange } from './vhdx-to-raw.js';
import { explainStreamed, streamChain } from './stream-parent.js';

/** The VHDX to make from one described by `info`: the command line's choices, the rest as the input has them. */
function createFor(info: VhdxInfo, job: ConversionJob): VhdxCreateOptions {
  return reencodeOptions(info, job.create);
}

/** Through the image: into a file by the library's converter, onto a stream by the encoder with the image's allocation. */
async function reencodeImage(source: string | UrlInput, output: Output, job: ConversionJob): Promise<void> {
  const image = await job.openImage(source);
  const create = createFor(image.info, job);
  if (output.kind === 'file') {
    // sized here for the notice when the sector asked for rounds the input's disk up
    const virtualSize = diskSizeOf(image.info.virtualSize, job, create.logicalSectorSize ?? 512);
    const progress = job.onProgress ? { onProgress: job.onProgress } : {};
    await convertVhdxFileToVhdx(image, output.file, { ...create, virtualSize, ...progress });
    return;
  }
  const raw = {
    chunks: chunksOf(image.stream()),
    size: image.info.virtualSize,
    allocation: (blockSize: number, virtualSize: number) => allocationOf(image, blockSize, virtualSize),
  };
  await encodeRaw(raw, create, output, job);
}

/**
 * Decodes the VHDX arriving as `chunks` and encodes its disk into `output`
 * as it arrives: the decoder's info (before its first byte) sizes the new disk.
 */
async function reencodeStream(chunks: AsyncIterable<Uint8Array>, output: Output, job: ConversionJob): Promise<void> {
  const handoff = new ChunkHandoff();
  let encoding: Promise<void> | undefined;
  let decodeFailure: { reason: unknown } | undefined;
  try {
    const chain = await streamChain(job);
    await decodeVhdxChunks(chunks, (piece) => handoff.push(piece), {
      ...chain.options,
      onInfo(info) {
        chain.onInfo(info);
        encoding = encodeRaw({ chunks: handoff.chunks(), size: info.virtualSize }, createFor(info, job), output, job);
        encoding.catch(() => {}); // awaited below
      },
    });
    handoff.end();
  } catch (err) {
    decodeFailure = { reason: explainStreamed(err, job) };
    handoff.fail(err);
  }
  // when the encoder stops first, the decoder only saw its refusal: the encoder's error is the one to report
  if (encoding) {
    try {
      await encoding;
    } catch (err) {
      throw decodeFailure && decodeFailure.reason !== ChunkHandoff.STOPPED ? decodeFailure.reason : err;
    }
  }
  if (decodeFailure) throw decodeFailure.reason;
}

/** Positional reads of the image; the output may be the input itself (it is written under a temporary name). */
export async function vhdxFileToVhdx(input: PathInput, output: Output, job: ConversionJob): Promise<void> {
  await reencodeImage(input.path, output, job);
}

/** Range reads; a server without them is read in one pass. */
export async function vhdxUrlToVhdx(input: UrlInput, output: Output, job: ConversionJob): Promise<void> {
  try {
    await reencodeImage(input, output, job);
  } catch (err) {
    if (!ignoresRange(err)) throw err;
    await reencodeStream(chunksOf((await fetchStream(input)).stream), output, job);
  }
}

/** One pass through the decoder into the encoder: memory stays bounded whatever the image's size. */
export async function vhdxStreamToVhdx(stdin: Stdin, output: Output, job: ConversionJob): Promise<void> {
  await reencodeStream(stdin.chunks, output, job);
}
