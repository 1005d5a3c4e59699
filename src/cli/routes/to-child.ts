// A differencing child of --parent out, holding only what the input's disk
// changes from the parent (qemu-img convert -B). The input is a raw disk (a
// file, a pipe or a URL, read once, in order) or a VHDX without a parent of
// its own (a file, or a URL with Range: its disk read through the image);
// the parent is read at random. A child is written at positions (its BAT
// after its blocks), so only into a file.
import { type ChildFeed, type ChildFileOptions, imageFeed, rawFileFeed, rawStreamFeed, writeChildAt } from '../../node/child.js';
import { refuseOutputInChain } from '../../node/chain-output.js';
import { refuseSameFile } from '../../node/file-io.js';
import type { VhdxImage } from '../../image/image.js';
import { chunksOf } from '../../runtime/stream-chunks.js';
import { isDifferencing } from '../chain.js';
import { UsageError } from '../usage-error.js';
import { fetchStream, type OpenedInput } from '../inputs.js';
import type { Output } from '../sinks.js';
import { fileSize } from './raw-to-vhdx.js';
import type { ConversionJob, Direction } from './types.js';
import { ignoresRange } from './vhdx-to-raw.js';

/** The child's options from the command line: its size and logical sector size are its parent's. */
function childOptions(job: ConversionJob): ChildFileOptions {
  const { type, virtualSize, logicalSectorSize, ...rest } = job.create;
  if (type === 'fixed') throw new UsageError('a differencing child is always dynamic: drop --type fixed');
  if (virtualSize !== undefined) throw new UsageError("--size does not apply to a differencing child: its disk is its parent's size");
  if (logicalSectorSize !== undefined) {
    throw new UsageError("--logical-sector-size does not apply to a differencing child: it is its parent's");
  }
  return { ...rest, ...(job.onProgress ? { onProgress: job.onProgress } : {}) };
}

/** A notice when the input ended before the parent's disk: the rest of the child reads as zeros. */
function noticeShort(job: ConversionJob, received: number, total: number): void {
  if (received < total) {
    job.notice(`the input ended after ${received} of the parent's ${total} bytes: the rest of the child reads as zeros`);
  }
}

/** `chunks`, counted into `count.bytes` as they pass. */
async function* counted(chunks: AsyncIterable<Uint8Array>, count: { bytes: number }): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of chunks) {
    count.bytes += chunk.length;
    yield chunk;
  }
}

/**
 * The VHDX input read at random, when --parent makes a child of it rather than naming its own parent:
 * undefined for a differencing input (--parent is its parent: it is flattened) and for a stream.
 */
async function plainVhdx(input: OpenedInput, job: ConversionJob): Promise<VhdxImage | undefined> {
  if (input.kind === 'stdin') return undefined;
  const source = input.kind === 'path' ? input.input.path : input.input.url;
  const image = await job.openImage(source).catch((err) => {
    if (ignoresRange(err)) return undefined;
    throw err;
  });
  return image && !isDifferencing(image.info) ? image : undefined;
}

/**
 * Whether `input`, read in `direction`, makes a child of --parent (and the child's input when it is a VHDX):
 * a raw input always does; a VHDX does when it has no parent of its own. For a differencing VHDX --parent
 * names its first parent instead, and a streamed VHDX is checked as it is decoded (see stream-parent.ts).
 */
export async function childInput(
  input: OpenedInput,
  direction: Direction,
  job: ConversionJob,
): Promise<{ image: VhdxImage | undefined } | undefined> {
  if (job.chain.parent === undefined) return undefined;
  if (direction.startsWith('raw->')) return { image: undefined };
  const image = await plainVhdx(input, job);
  return image ? { image } : undefined;
}

/**
 * Writes the child of `parent` that reads as `input` (the raw disk, or `image`, the VHDX it opened to) into `output`.
 * @throws UsageError for raw or standard output, --type fixed, --size or --logical-sector-size; what
 *   reading the input and writing the child throw
 */
export async function toChild(
  input: OpenedInput,
  image: VhdxImage | undefined,
  direction: Direction,
  output: Output,
  parent: string,
  job: ConversionJob,
): Promise<void> {
  const what = image ? 'a VHDX input without a parent' : 'a raw input';
  if (direction.endsWith('->raw')) throw new UsageError(`--parent with ${what} makes a differencing child: the output must be VHDX`);
  if (output.kind !== 'file') {
    throw new UsageError(`--parent with ${what} makes a differencing child, written at positions: give a file output, not stdout`);
  }
  const options = childOptions(job);
  // opened once, with the job; the file is written under a temporary name, so the name it will have is checked
  const parentImage = await job.openImage(parent, { followChain: false });
  await refuseOutputInChain(parentImage, output.name, { role: 'parent' });
  await job.refuseReplacingParent();
  const count = { bytes: 0 };
  let feed: ChildFeed;
  if (image) {
    feed = imageFeed(image, options);
    count.bytes = image.info.virtualSize;
  } else if (input.kind === 'path') {
    // an output written in place (several hard links) must not be the raw file being read
    await refuseSameFile(input.input.path, output.path);
    feed = await rawFileFeed(input.input.path, options);
  } else {
    const chunks = input.kind === 'stdin' ? input.input.chunks : chunksOf((await fetchStream(input.input.url)).stream);
    feed = rawStreamFeed(counted(chunks, count), options);
  }
  const summary = await writeChildAt(parentImage, parent, output.path, output.name, options, feed);
  const received = !image && input.kind === 'path' ? await fileSize(input.input.path) : count.bytes;
  noticeShort(job, received, summary.virtualSize);
}
