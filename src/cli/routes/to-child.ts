// A differencing child of --parent out, holding only what the input's disk
// changes from the parent (qemu-img convert -B). The input is a raw disk (a
// file, a pipe or a URL, read once, in order) or a VHDX without a parent of
// its own (a file, or a URL with Range: its disk read through the image);
// the parent is read at random. A child is written at positions (its BAT
// after its blocks), so only into a file.
import {
  type ChildFeed,
  type ChildFileOptions,
  imageFeed,
  rawFileFeed,
  rawStreamFeed,
  writeChild as writeChildFile,
} from '../../node/child.js';
import { chunksOf } from '../../runtime/stream-chunks.js';
import { isDifferencing } from '../chain.js';
import { UsageError } from '../usage-error.js';
import { fetchStream, type OpenedInput, type PathInput, type Stdin, type UrlInput } from '../inputs.js';
import type { FileOutput } from '../sinks.js';
import { fileSize } from './raw-to-vhdx.js';
import type { ConversionJob } from './types.js';
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

/**
 * Writes the child of --parent that `feed` (made with the child's options) gives into `output`; with
 * `received` (the bytes the input held), a notice when the input ended before the parent's disk.
 */
async function writeChild(
  output: FileOutput,
  job: ConversionJob,
  feedOf: (options: ChildFileOptions) => Promise<ChildFeed> | ChildFeed,
  received: () => Promise<number> | number,
): Promise<void> {
  const options = childOptions(job);
  const parent = job.chain.parent!;
  // opened once, with the job (its chain checked against the output by the route table)
  const parentImage = await job.openImage(parent, { followChain: false });
  const summary = await writeChildFile(output.file, parent, options, await feedOf(options), parentImage);
  const bytes = await received();
  if (bytes < summary.virtualSize) {
    job.notice(`the input ended after ${bytes} of the parent's ${summary.virtualSize} bytes: the rest of the child reads as zeros`);
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
 * Whether the VHDX `input` has a parent of its own, so that --parent names it (and the chain is
 * flattened) rather than making a child: true for a differencing file; true for a stream too, which
 * is checked as it is decoded (see stream-parent.ts), and for a URL without Range, read as one.
 */
export async function hasOwnParent(input: OpenedInput, job: ConversionJob): Promise<boolean> {
  if (input.kind === 'stdin') return true;
  const image = await job.openImage(input.kind === 'path' ? input.input.path : input.input).catch((err) => {
    if (ignoresRange(err)) return undefined;
    throw err;
  });
  return !image || isDifferencing(image.info);
}

/** Read a block at a time at positions; shorter than the parent: zeros past its end, with a notice. */
export async function rawFileToChild(input: PathInput, output: FileOutput, job: ConversionJob): Promise<void> {
  await writeChild(
    output,
    job,
    (options) => rawFileFeed(input.path, options),
    () => fileSize(input.path),
  );
}

/** Read once, in order, counted as it passes. */
export async function rawStreamToChild(stdin: Stdin, output: FileOutput, job: ConversionJob): Promise<void> {
  const count = { bytes: 0 };
  await writeChild(
    output,
    job,
    (options) => rawStreamFeed(counted(stdin.chunks, count), options),
    () => count.bytes,
  );
}

/** One streamed GET, counted as it passes. */
export async function rawUrlToChild(input: UrlInput, output: FileOutput, job: ConversionJob): Promise<void> {
  const chunks = chunksOf((await fetchStream(input)).stream);
  const count = { bytes: 0 };
  await writeChild(
    output,
    job,
    (options) => rawStreamFeed(counted(chunks, count), options),
    () => count.bytes,
  );
}

/** The image's disk, read in order through the image (opened once, with the job). */
async function imageToChild(source: string | UrlInput, output: FileOutput, job: ConversionJob): Promise<void> {
  const image = await job.openImage(source);
  await writeChild(
    output,
    job,
    (options) => imageFeed(image, options),
    () => image.info.virtualSize,
  );
}

/** A VHDX file without a parent, read through its image. */
export async function vhdxFileToChild(input: PathInput, output: FileOutput, job: ConversionJob): Promise<void> {
  await imageToChild(input.path, output, job);
}

/** A VHDX URL without a parent, read with Range requests. */
export async function vhdxUrlToChild(input: UrlInput, output: FileOutput, job: ConversionJob): Promise<void> {
  await imageToChild(input, output, job);
}

/**
 * Never taken (a stream's VHDX is decoded as one with a parent of its own, see {@link hasOwnParent});
 * says why if it were.
 * @throws UsageError always
 */
export async function vhdxStreamToChild(stdin: Stdin): Promise<void> {
  throw new UsageError(`${stdin.name}: a child of --parent is made from a VHDX file: give it by its path`);
}

/** The route of a child onto standard output for an input described as `what`: refused. */
function childToStdout(what: string): () => Promise<void> {
  return async () => {
    throw new UsageError(`--parent with ${what} makes a differencing child, written at positions: give a file output, not stdout`);
  };
}

/** A child is written at positions, its BAT last: not onto standard output. */
export const rawChildToStdout = childToStdout('a raw input');
/** The same for a VHDX input without a parent. */
export const vhdxChildToStdout = childToStdout('a VHDX input without a parent');
