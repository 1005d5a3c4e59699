// A raw disk in, a differencing child of --parent out: the child holds only
// what the raw disk changes from its parent. The raw disk may be a file, a
// pipe or a URL (read once, in order); the parent is read at random. A child
// is written at positions (its BAT after its blocks), so only into a file.
import { type ChildFeed, type ChildFileOptions, rawFileFeed, rawStreamFeed, writeChildAt } from '../../node/child.js';
import { refuseOutputInChain } from '../../node/chain-output.js';
import { refuseSameFile } from '../../node/file-io.js';
import { chunksOf } from '../../runtime/stream-chunks.js';
import { UsageError } from '../usage-error.js';
import { fetchStream, type OpenedInput } from '../inputs.js';
import type { Output } from '../sinks.js';
import { fileSize } from './raw-to-vhdx.js';
import type { ConversionJob } from './types.js';

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
 * Writes the child of `parent` that reads as `input` into `output`.
 * @throws UsageError for standard output, --type fixed, --size or --logical-sector-size; what
 *   reading the input and writing the child throw
 */
export async function rawToChild(input: OpenedInput, output: Output, parent: string, job: ConversionJob): Promise<void> {
  if (output.kind !== 'file') {
    throw new UsageError('--parent with a raw input makes a differencing child, written at positions: give a file output, not stdout');
  }
  const options = childOptions(job);
  // opened once, with the job; the file is written under a temporary name, so the name it will have is checked
  const parentImage = await job.openImage(parent, { followChain: false });
  await refuseOutputInChain(parentImage, output.name, { role: 'parent' });
  await job.refuseReplacingParent();
  const count = { bytes: 0 };
  let feed: ChildFeed;
  if (input.kind === 'path') {
    // an output written in place (several hard links) must not be the raw file being read
    await refuseSameFile(input.input.path, output.path);
    feed = await rawFileFeed(input.input.path, options);
  } else {
    const chunks = input.kind === 'stdin' ? input.input.chunks : chunksOf((await fetchStream(input.input.url)).stream);
    feed = rawStreamFeed(counted(chunks, count), options);
  }
  const summary = await writeChildAt(parentImage, parent, output.path, output.name, options, feed);
  noticeShort(job, input.kind === 'path' ? await fileSize(input.input.path) : count.bytes, summary.virtualSize);
}
