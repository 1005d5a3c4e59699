// Creating differencing files (children) from Node paths: an empty child of
// a parent, or a child holding what a raw file changes from its parent.
// Written under a temporary name and renamed into place, as every output.
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import { VhdxError, asVhdxError, inputTooLong } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { zeroPieces } from '../layout/disk-size.js';
import { refuseOtherOptions } from '../layout/options.js';
import { chunksOf } from '../runtime/stream-chunks.js';
import type { OpenVhdxOptions, VhdxImage } from '../image/image.js';
import { openVhdxSource } from '../image/open.js';
import { VhdxWriterStream, type VhdxWriteSummary, type VhdxWriterOptions } from '../streams/writer.js';
import { openForWriting, refuseSameFile, writeFully } from './file-io.js';
import { refuseOutputInChain } from './chain-output.js';
import { readChunks } from './fd-reader.js';
import { openNodeSource } from './file-source.js';
import { outputName, writeOutput, type OutputTarget } from './output.js';
import { childRelativePath, nodeOpenContext } from './parent-paths.js';

/** Options of {@link convertRawFileToChild} and {@link createChildFile}. */
export interface ChildFileOptions extends Omit<VhdxWriterOptions, 'parent' | 'virtualSize' | 'logicalSectorSize' | 'batReserve'> {
  /** How the parent (and its own parents) are opened. */
  open?: OpenVhdxOptions;
  /** Called after each chunk with bytes processed and the total. */
  onProgress?(done: number, total: number): void;
  /** Bytes per read of a raw file (default: the child's block size, at most 32 MiB). */
  chunkSize?: number;
}

const CHILD_FILE_KEYS = {
  blockSize: true,
  physicalSectorSize: true,
  logSize: true,
  creator: true,
  guids: true,
  parentRelativePath: true,
  open: true,
  onProgress: true,
  chunkSize: true,
} as const satisfies Record<keyof ChildFileOptions, true>;
const OPEN_OPTION = 'how the parent is opened: give it in `open`';
const CHILD_ELSEWHERE: Record<string, string> = {
  virtualSize: "a child's is its parent's",
  logicalSectorSize: "a child's is its parent's",
  type: 'a child is dynamic',
  parent: 'the parent is an argument of its own',
  ignoreLinkage: OPEN_OPTION,
  resolveParent: OPEN_OPTION,
  maxChainDepth: OPEN_OPTION,
  allowMissingParent: OPEN_OPTION,
};

/** Refuses an option of `fn` (a child writer) that it does not take. @throws VhdxError `invalid-option` */
function refuseOtherChildOptions(options: ChildFileOptions, fn: string): void {
  refuseOtherOptions(options, CHILD_FILE_KEYS, fn, CHILD_ELSEWHERE);
}

/** Largest default read of a raw file: a block is read whole (and compared where it lands) up to this size. */
const MAX_DEFAULT_CHUNK = 32 * MiB;

/** Feeds the new disk to a child's writer, which the opened parent sizes. */
export type ChildFeed = (parent: VhdxImage, write: (bytes: Uint8Array) => Promise<void>) => Promise<void>;

/**
 * Writes a child of the opened `parent` (found at `parentPath`) at `path` itself, fed by `feed`; its
 * locator names the parent by its path relative to `name`, the name the file will have.
 * @throws VhdxError `create-failed`, `write-failed`; what `feed` and the writer throw
 */
async function writeChildAt(
  parent: VhdxImage,
  parentPath: string,
  path: string,
  name: string,
  options: ChildFileOptions,
  feed: ChildFeed,
): Promise<VhdxWriteSummary> {
  const { open: _o, onProgress: _p, chunkSize: _c, ...writerOptions } = options;
  let fh: FileHandle;
  try {
    fh = await openForWriting(path);
  } catch (err) {
    throw asVhdxError(err, 'create-failed', `cannot create ${name}`);
  }
  const target = {
    write: (data: Uint8Array, position: number) => writeFully(fh, data, position),
    concurrentWrites: true,
    truncate: (size: number) => fh.truncate(size),
    close: () => fh.close(),
  };
  const sink = new VhdxWriterStream(target, {
    ...writerOptions,
    parent,
    parentRelativePath: writerOptions.parentRelativePath ?? childRelativePath(name, parentPath),
  });
  const writer = sink.getWriter();
  try {
    await feed(parent, (bytes) => writer.write(bytes));
    await writer.close();
  } catch (err) {
    await writer.abort(err).catch(() => {});
    await fh.close().catch(() => {});
    throw await sink.result.catch((e) => e ?? err);
  }
  return sink.result;
}

/**
 * Writes the child of the parent at `parentPath` that `feed` gives into `output` (a path, under a
 * temporary name renamed into place; or a prepared output, see OutputTarget). The parent is opened
 * here, or is `opened` (the caller's, left open); a path output is checked against its chain.
 * @throws VhdxError what opening the parent throws; `output-is-input`; `create-failed`, `write-failed`;
 *   what `feed` and the writer throw
 */
export async function writeChild(
  output: OutputTarget,
  parentPath: string,
  options: ChildFileOptions,
  feed: ChildFeed,
  opened?: VhdxImage,
  mustBeNew = false,
): Promise<VhdxWriteSummary> {
  const { open: openOptions = {} } = options;
  const parent =
    opened ??
    (await openVhdxSource(await openNodeSource(parentPath, openOptions), openOptions, {
      ...nodeOpenContext(parentPath, openOptions),
      role: 'parent',
    }));
  try {
    if (typeof output === 'string') {
      // a file of the chain is named as such first: it exists, but that is not the whole story
      await refuseOutputInChain(parent, output, { role: 'parent' });
      if (mustBeNew) await refuseExisting(output);
    }
    return await writeOutput(output, (path) => writeChildAt(parent, parentPath, path, outputName(output), options, feed));
  } finally {
    if (!opened) await parent.close();
  }
}

/**
 * Writes an empty differencing file at `output` whose parent is the VHDX at `parent`: it reads as the
 * parent reads. Its Parent Locator names the parent's DataWriteGuid and its path relative to `output`.
 * Never replaces an existing file.
 * @throws VhdxError `output-exists` when `output` exists (nothing is touched); what opening the parent throws;
 *   `invalid-option`; IO `create-failed`, `write-failed`; `output-is-input`
 */
export async function createChildFile(output: string, parent: string, options: ChildFileOptions = {}): Promise<VhdxWriteSummary> {
  refuseOtherChildOptions(options, 'createChildFile');
  return writeChild(output, parent, options, async () => {}, undefined, true);
}

/**
 * Refuses an `output` that exists (a file, a link, a directory): an empty child made over it would lose what it
 * held, and break any child that reads through it.
 * @throws VhdxError `output-exists`
 */
async function refuseExisting(output: string): Promise<void> {
  const existing = await lstat(output).catch(() => undefined);
  if (!existing) return;
  throw new VhdxError(
    'output-exists',
    `${output} exists: a new child never replaces a file (what it holds, and any child reading through it, would be lost); remove it or choose another name`,
  );
}

/**
 * Feeds the new disk to a child's writer: `chunks` in order, then zeros up to the parent's size (a raw
 * image shorter than its parent's disk reads as zeros past its end), reporting progress.
 * @throws VhdxError `input-too-long` past the parent's size; what `chunks` throws
 */
async function feedDisk(
  chunks: AsyncIterable<Uint8Array>,
  total: number,
  write: (bytes: Uint8Array) => Promise<void>,
  onProgress: ChildFileOptions['onProgress'],
): Promise<void> {
  let done = 0;
  for await (const chunk of chunks) {
    if (done + chunk.length > total) {
      throw inputTooLong('the input', "the parent's disk", total);
    }
    // the writer copies what it keeps, so a chunk may be reused once this resolves
    await write(chunk);
    done += chunk.length;
    onProgress?.(done, total);
  }
  for (const zeros of zeroPieces(total - done)) {
    await write(zeros);
    done += zeros.length;
    onProgress?.(done, total);
  }
}

/**
 * Writes a differencing file at `output` over the VHDX at `parent` that reads as the raw disk image
 * `input`, holding only the blocks where they differ (see VhdxWriterStream's `parent` option). A raw
 * file shorter than the parent's disk reads as zeros past its end.
 * @throws VhdxError what opening the parent throws; `input-too-long` for a raw file larger than the
 *   parent's disk; `open-failed`, `read-failed`, `create-failed`, `write-failed`; `output-is-input`
 */
export async function convertRawFileToChild(
  input: string,
  output: string,
  parent: string,
  options: ChildFileOptions = {},
): Promise<VhdxWriteSummary> {
  refuseOtherChildOptions(options, 'convertRawFileToChild');
  await refuseSameFile(input, output);
  return writeChild(output, parent, options, await rawFileFeed(input, options));
}

/**
 * The feed of a child from the raw file `input`, read a block at a time (at most 32 MiB) into reused buffers.
 * @throws VhdxError `open-failed` now; when fed, `input-too-long` for a file larger than the parent's disk, `read-failed`
 */
export async function rawFileFeed(input: string, options: ChildFileOptions): Promise<ChildFeed> {
  const size = await stat(input).then(
    (s) => s.size,
    (err) => {
      throw asVhdxError(err, 'open-failed', `cannot read ${input}`);
    },
  );
  return async (image, write) => {
    const total = image.info.virtualSize;
    if (size > total) throw inputTooLong(`${input} (${size} bytes)`, "the parent's disk", total);
    const fh = await open(input, 'r').catch((err) => {
      throw asVhdxError(err, 'open-failed', `cannot open ${input}`);
    });
    try {
      const chunkSize = options.chunkSize ?? Math.min(options.blockSize ?? image.info.blockSize, MAX_DEFAULT_CHUNK);
      const chunks = readChunks(fh.fd, chunkSize);
      await feedDisk(chunks, total, write, options.onProgress).catch((err) => {
        throw asVhdxError(err, 'read-failed', `reading ${input}`);
      });
    } finally {
      await fh.close().catch(() => {});
    }
  };
}

/**
 * Writes a differencing file at `output` over the VHDX at `parent` that reads as the raw disk image
 * arriving in order from `input` (a web stream, such as a fetch body, or any async iterable of bytes,
 * such as standard input), holding only the blocks where they differ. The parent is read at random;
 * the input once, in one pass. Input shorter than the parent's disk reads as zeros past its end.
 * @throws VhdxError what opening the parent throws; `input-too-long` for input larger than the
 *   parent's disk; `create-failed`, `write-failed`; `output-is-input`; what the input throws
 */
export async function convertRawStreamToChild(
  input: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  output: string,
  parent: string,
  options: ChildFileOptions = {},
): Promise<VhdxWriteSummary> {
  refuseOtherChildOptions(options, 'convertRawStreamToChild');
  return writeChild(output, parent, options, rawStreamFeed(input, options));
}

/** The feed of a child from a raw disk arriving in order (a web stream or an async iterable), read once. */
export function rawStreamFeed(input: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, options: ChildFileOptions): ChildFeed {
  const chunks = Symbol.asyncIterator in input ? (input as AsyncIterable<Uint8Array>) : chunksOf(input as ReadableStream<Uint8Array>);
  return (image, write) => feedDisk(chunks, image.info.virtualSize, write, options.onProgress);
}

/**
 * Writes a differencing file at `output` over the VHDX at `parent` that reads as the VHDX `input` reads
 * (a differencing input through its whole chain), holding only the blocks where they differ: `qemu-img
 * convert -B parent`. `input` is a path (its own parents found by its locator) or an image you opened (it
 * stays yours). An input disk smaller than the parent's reads as zeros past its end.
 * @throws VhdxError what opening the input or the parent throws; `input-too-long` for an input disk larger
 *   than the parent's; `create-failed`, `write-failed`; `output-is-input` for an output that is the input or
 *   a file of the parent's chain
 */
export async function convertVhdxToChild(
  input: string | VhdxImage,
  output: string,
  parent: string,
  options: ChildFileOptions = {},
): Promise<VhdxWriteSummary> {
  if (typeof input !== 'string') return writeChild(output, parent, options, imageFeed(input, options));
  await refuseSameFile(input, output);
  const image = await openVhdxSource(await openNodeSource(input), {}, nodeOpenContext(input, {}));
  try {
    return await writeChild(output, parent, options, imageFeed(image, options));
  } finally {
    await image.close();
  }
}

/** The feed of a child from the disk an opened VHDX (or chain) reads as, read in order. */
export function imageFeed(image: VhdxImage, options: ChildFileOptions): ChildFeed {
  return (parent, write) => feedDisk(chunksOf(image.stream()), parent.info.virtualSize, write, options.onProgress);
}
