// Node file-to-file conversion with pipelined positional I/O.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { VhdxError, asVhdxError } from '../errors.js';
import { diskSizeForInput, withZeroTail } from '../layout/disk-size.js';
import { CREATE_OPTION_KEYS, refuseOtherOptions, resolveCreateOptions, type VhdxCreateOptions } from '../layout/options.js';
import { HOLE_GRAIN, SparseAllocator, type SparseSummary } from '../layout/sparse.js';
import { EncoderCore, type VhdxEncoderOptions } from '../streams/encoder-core.js';
import { ready } from '../wasm/instance.js';
import type { VhdxWriterOptions } from '../streams/writer.js';
import { openForWriting, readFully, refuseSameFile, startWrites, writeFully } from './file-io.js';
import { refuseOutputInChain } from './chain-output.js';
import { writeOutput, type OutputFile, type OutputTarget } from './output.js';
import { FILE_CHUNK, dataChunks, pipeline } from './pipeline.js';
import { WriteBatch } from '../streams/write-batch.js';
import type { VhdxInfo } from '../image/types.js';
import type { AllocationMap } from '../sources/scan.js';
import { chunksOf } from '../runtime/stream-chunks.js';
import { holeMapOf } from './holes.js';
import type { ChainOptions, VhdxImage } from '../image/image.js';
import type { ReadLimits } from '../image/limits.js';
import { openVhdxSource } from '../image/open.js';
import { dataWindows, type DataExtent, type DataWindow } from '../image/read-plan.js';
import { openNodeSource } from './file-source.js';
import { nodeOpenContext } from './parent-paths.js';
import { SparseRawOutput } from './sparse-raw.js';

/** Options of {@link convertRawFileToVhdx} (and the file paths of the CLI): creation options plus progress. */
export interface FileConvertOptions extends VhdxCreateOptions {
  /** `'dynamic'` (default) or `'fixed'`; both leave zero stretches as holes. */
  type?: 'dynamic' | 'fixed';
  /** Called after each chunk with bytes processed and the total. */
  onProgress?(done: number, total: number): void;
  /** Bytes per read (default 2 MiB, see FILE_CHUNK). */
  chunkSize?: number;
  /** As {@link VhdxWriterOptions.batReserve}: used by the stream route (`vhdx convert - out.vhdx`), whose size is not known up front. */
  batReserve?: number;
}

const RAW_TO_VHDX_KEYS = { ...CREATE_OPTION_KEYS, onProgress: true, chunkSize: true, batReserve: true } as const satisfies Record<
  keyof FileConvertOptions,
  true
>;
const CHILD_ELSEWHERE = {
  parent: 'a differencing child is made by convertRawFileToChild',
  parentRelativePath: 'a differencing child is made by convertRawFileToChild',
};

/** The size of the file at `path`. @throws VhdxError 'open-failed' */
async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    throw asVhdxError(err, 'open-failed', `cannot read ${path}`);
  }
}

function isSystemError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && !(err instanceof VhdxError);
}

/**
 * Opens `input` (when given) for reading and `output` for writing (created
 * or truncated), runs `body`, and closes both. Whatever `body` wrote stays:
 * the callers write under a temporary name (see writeOutputFile) that is
 * removed on failure. Errors become VhdxErrors: reason 'open-failed' or
 * 'create-failed' for the files themselves, and 'write-failed' for a system
 * error `body` did not name itself; other errors pass as they are.
 */
async function withFiles<T>(
  input: string | undefined,
  output: string,
  body: (src: FileHandle | undefined, dst: FileHandle) => Promise<T>,
): Promise<T> {
  let src: FileHandle | undefined;
  let dst: FileHandle | undefined;
  try {
    if (input !== undefined) {
      src = await open(input, 'r').catch((err) => {
        throw asVhdxError(err, 'open-failed', `cannot open ${input}`);
      });
    }
    dst = await openForWriting(output).catch((err) => {
      throw asVhdxError(err, 'create-failed', `cannot create ${output}`);
    });
    return await body(src, dst);
  } catch (err) {
    // a system error escaped unnamed: an I/O call; anything else (a caller's callback or iterable) is theirs
    throw isSystemError(err) ? asVhdxError(err, 'write-failed', 'conversion failed') : err;
  } finally {
    await src?.close().catch(() => {});
    await dst?.close().catch(() => {});
  }
}

/**
 * Converts a raw disk image file into a VHDX file: dynamic (all-zero blocks
 * not stored) or fixed (every block stored, in order), zero stretches left as
 * holes either way. Reads run ahead of the zero check and writes stay in
 * flight over a fixed buffer pool.
 * The virtual size defaults to the input's size (rounded up to the logical
 * sector). An output path is written under a temporary name beside it
 * (`.NAME.partial-XXXXXXXX`) and renamed into place when complete: on failure
 * an existing output is left as it was and nothing is left behind. A
 * prepared output (see {@link OutputTarget}) is written at its path and left to its owner.
 * @throws VhdxError 'open-failed', 'read-failed', 'create-failed' (also an output the user may not write),
 *   'write-failed'; 'input-too-long' when the input is larger than `virtualSize`; 'output-is-input'.
 */
export async function convertRawFileToVhdx(input: string, output: OutputTarget, options: FileConvertOptions = {}): Promise<SparseSummary> {
  refuseOtherOptions(options, RAW_TO_VHDX_KEYS, 'convertRawFileToVhdx', CHILD_ELSEWHERE);
  if (typeof output === 'string') await refuseSameFile(input, output);
  return writeOutput(output, (path) => rawFileToVhdxAt(input, path, options));
}

/** {@link convertRawFileToVhdx} writing at `output` itself: a failure leaves what was written. */
async function rawFileToVhdxAt(input: string, output: string, options: FileConvertOptions): Promise<SparseSummary> {
  await ready();
  const size = await fileSize(input);
  // the one size rule: virtualSize when given (never smaller than the input), else the input in whole sectors
  const { virtualSize } = diskSizeForInput(size, options.virtualSize, options.logicalSectorSize ?? 512);
  const opts = resolveCreateOptions({ ...options, type: options.type ?? 'dynamic', virtualSize }, true);
  const allocator = new SparseAllocator(opts, true, options.batReserve); // the output is created fresh
  const chunkSize = Math.min(options.chunkSize ?? FILE_CHUNK, opts.blockSize);
  return withFiles(input, output, async (inp, out) => {
    const read = (target: Uint8Array, position: number) =>
      readFully(inp!, target, position).catch((err) => {
        throw asVhdxError(err, 'read-failed', 'conversion failed');
      });
    // where the file system can say, holes in the input are never read: they are zeros
    const holes = await holeMapOf(inp!.fd, size);
    await pipeline(dataChunks(size, chunkSize, holes), read, { chunkSize }, (chunk, { position }, slot) => {
      startWrites(out, allocator.skipZeros(position - allocator.bytesReceived), slot.pending);
      placeChunk(allocator, out, chunk, slot.pending);
      options.onProgress?.(position + chunk.length, size);
    });
    // the input's last hole, and a disk larger than the input (sector rounding, or a larger virtualSize), are zeros
    const pending: Promise<unknown>[] = [];
    startWrites(out, allocator.skipZeros(virtualSize - allocator.bytesReceived), pending);
    await Promise.all(pending);
    return finishVhdx(allocator, out);
  });
}

/**
 * Converts raw chunks of unknown total size (stdin, a pipe) into a dynamic VHDX
 * in the prepared `output` (see {@link OutputTarget}), placed as convertRawFileToVhdx
 * places them. Each chunk is finished with before the next is asked for, so a
 * reader may reuse its buffers (see readChunks). With `virtualSize` given,
 * shorter input is an error (TRUNCATED); without it the disk is as large as
 * the input, rounded up to the logical sector. A failure leaves what was
 * written: the output's owner discards it.
 * @throws VhdxError as the SparseAllocator (TRUNCATED 'input-truncated', INVALID_ARGUMENT 'input-too-long',
 *   'input-empty'); IO 'create-failed', 'write-failed'; errors of `chunks` as they are
 */
export async function rawChunksToVhdxFile(
  chunks: AsyncIterable<Uint8Array>,
  output: OutputFile,
  options: FileConvertOptions = {},
): Promise<SparseSummary> {
  return chunksToVhdxAt(chunks, output.path, options);
}

/** {@link rawChunksToVhdxFile} writing at `path` itself. */
async function chunksToVhdxAt(chunks: AsyncIterable<Uint8Array>, path: string, options: FileConvertOptions): Promise<SparseSummary> {
  await ready();
  const opts = resolveCreateOptions({ ...options, type: options.type ?? 'dynamic' }, false);
  const allocator = new SparseAllocator(opts, true, options.batReserve); // the output is created fresh
  return withFiles(undefined, path, async (_, out) => {
    const pending: Promise<unknown>[] = [];
    for await (const chunk of chunks) {
      placeChunk(allocator, out, chunk, pending);
      await Promise.all(pending);
      pending.length = 0;
      options.onProgress?.(allocator.bytesReceived, opts.virtualSize ?? 0);
    }
    return finishVhdx(allocator, out);
  });
}

/** Places one chunk (zero grains stay holes) and starts its writes, each run of data one write. */
function placeChunk(allocator: SparseAllocator, out: FileHandle, chunk: Uint8Array, pending: Promise<unknown>[]): void {
  startWrites(out, allocator.placeChunk(chunk, HOLE_GRAIN), pending);
}

/** Writes the structures (header section last) and cuts the file to its size. */
async function finishVhdx(allocator: SparseAllocator, out: FileHandle): Promise<SparseSummary> {
  const { writes, summary } = allocator.finish();
  for (const w of writes) await writeFully(out, w.data, w.position);
  await out.truncate(summary.fileSize);
  return summary;
}

/**
 * Encodes raw chunks into exactly the bytes VhdxEncoderStream produces and
 * hands them to `write` in order. Each chunk is finished with (every write
 * of it settled) before the next is asked for, so a reader may reuse its
 * buffers: payload goes to `write` as views of the chunk, never copied.
 * Returns the number of bytes written.
 * @throws VhdxError as {@link EncoderCore} does (options, input too long or short, map contradicted); errors of `write` as they are
 */
export async function encodeRawChunks(
  chunks: AsyncIterable<Uint8Array>,
  options: VhdxEncoderOptions,
  write: (data: Uint8Array) => Promise<void>,
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  await ready();
  const pieces: Uint8Array[] = [];
  const core = new EncoderCore(options, (piece) => void pieces.push(piece));
  let written = 0;
  const drain = async () => {
    for (const piece of pieces) {
      await write(piece);
      written += piece.length;
    }
    pieces.length = 0;
  };
  core.start();
  await drain();
  let received = 0;
  for await (const chunk of chunks) {
    core.push(chunk);
    await drain();
    received += chunk.length;
    onProgress?.(received, core.plan.info.virtualSize);
  }
  core.finish();
  await drain();
  return written;
}

/** Options of {@link convertVhdxFileToRaw}. */
export type VhdxToRawOptions = { onProgress?(done: number, total: number): void; chunkSize?: number } & ReadLimits & ChainOptions;
/** How an input VHDX and its chain are opened. */
const OPEN_KEYS = {
  maxBatBytes: true,
  maxMetadataBytes: true,
  maxLogBytes: true,
  maxBitmapBytes: true,
  parent: true,
  resolveParent: true,
  ignoreLinkage: true,
  maxChainDepth: true,
  allowMissingParent: true,
} as const satisfies Record<keyof (ReadLimits & ChainOptions), true>;
const VHDX_TO_RAW_KEYS = { ...OPEN_KEYS, onProgress: true, chunkSize: true } as const satisfies Record<keyof VhdxToRawOptions, true>;

/**
 * Converts a VHDX file into a raw disk image file. Only stored data is read
 * and written: zero and unmapped stretches stay holes in a sparse output
 * file, as qemu-img does. A differencing file is flattened: its parents are
 * found as the Node entry's `openVhdx` finds them (or by the chain options),
 * and each stretch is read from the level that holds it. The output is
 * written as {@link convertRawFileToVhdx} writes it (a path under a temporary
 * name: on failure an existing output is left as it was).
 * @throws VhdxError as `openVhdx` for an input that is not a valid VHDX or
 *   whose chain cannot be opened (`parent-missing`, `parent-linkage-mismatch`, …),
 *   before the output exists; `INVALID_ARGUMENT` (`output-is-input`); `IO`
 *   (`open-failed`, `read-failed`, `create-failed`, `write-failed`).
 */
export async function convertVhdxFileToRaw(
  input: string,
  output: OutputTarget,
  options: VhdxToRawOptions = {},
): Promise<{ virtualSize: number; bytesWritten: number }> {
  refuseOtherOptions(options, VHDX_TO_RAW_KEYS, 'convertVhdxFileToRaw');
  if (typeof output === 'string') await refuseSameFile(input, output);
  return withImageData(input, options, async (image, data) => {
    if (typeof output === 'string') await refuseOutputInChain(image, output, { role: 'input' });
    return writeOutput(output, (path) => imageToRawAt(image, data, path, options));
  });
}

/** Opens `input` with its chain and its stored stretches; refuses what cannot be read before any output exists. */
async function withImageData<T>(
  input: string,
  options: VhdxToRawOptions,
  body: (image: VhdxImage, data: DataExtent[]) => Promise<T>,
): Promise<T> {
  const image = await openVhdxSource(await openNodeSource(input), options, nodeOpenContext(input, options));
  try {
    const data = image.extents().filter((e): e is DataExtent => e.kind === 'data'); // a missing parent fails here
    return await body(image, data);
  } finally {
    await image.close();
  }
}

async function imageToRawAt(
  image: VhdxImage,
  data: DataExtent[],
  output: string,
  options: VhdxToRawOptions,
): Promise<{ virtualSize: number; bytesWritten: number }> {
  const chunkSize = options.chunkSize ?? FILE_CHUNK;
  // payload is read through the image, so a replayed log's changes apply
  return withFiles(undefined, output, async (_, out) => {
    const total = image.info.virtualSize;
    // a window of the disk at a time: a chain splits it into stretches of several files, read together
    const windows = new Map<number, DataWindow>();
    const chunks = function* () {
      for (const w of dataWindows(data, chunkSize)) {
        windows.set(w.position, w);
        yield w;
      }
    };
    let written = 0;
    const read = async (target: Uint8Array, position: number) => {
      // what lies between the extents is never placed (below), so a read may go over it
      await image.readExtentsInto(target, position, windows.get(position)!.extents, true);
      return target.length;
    };
    const raw = new SparseRawOutput(out);
    await pipeline(chunks(), read, { chunkSize }, (bytes, window, slot) => {
      windows.delete(window.position);
      // only the stretches read are placed: the gaps between them are holes, as the buffer's old bytes there are
      for (const [from, to] of touchingRuns(window.extents)) {
        written += raw.place(bytes.subarray(from - window.position, to - window.position), from, slot.pending);
      }
      options.onProgress?.(window.position + bytes.length, total);
    });
    await raw.finish(total);
    options.onProgress?.(total, total);
    return { virtualSize: total, bytesWritten: written };
  });
}

/** The [start, end) disk ranges covered by `extents` (in disk order), touching ones joined. */
function touchingRuns(extents: readonly DataExtent[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const e of extents) {
    const last = runs[runs.length - 1];
    if (last && last[1] === e.offset) last[1] += e.length;
    else runs.push([e.offset, e.offset + e.length]);
  }
  return runs;
}

/**
 * A raw file copied into a sparse raw file (its all-zero grains left as
 * holes), sized by the disk-size rule (see diskSizeForInput): `virtualSize`
 * (a disk larger than the input ends in zeros), else the input rounded up to
 * a whole 512-byte sector. `output` as {@link convertRawFileToVhdx} takes it.
 * @throws VhdxError `invalid-option`, `input-too-long` (the size rule); IO 'open-failed', 'read-failed',
 *   'create-failed', 'write-failed'; 'output-is-input'
 */
export async function convertRawFileToRaw(
  input: string,
  output: OutputTarget,
  options: { virtualSize?: number; onProgress?(done: number, total: number): void; chunkSize?: number } = {},
): Promise<{ virtualSize: number; bytesWritten: number }> {
  await ready();
  if (typeof output === 'string') await refuseSameFile(input, output);
  const inputSize = await fileSize(input);
  const size = diskSizeForInput(inputSize, options.virtualSize, 512).virtualSize;
  const chunkSize = options.chunkSize ?? FILE_CHUNK;
  return writeOutput(output, (path) =>
    withFiles(input, path, async (inp, out) => {
      const read = (target: Uint8Array, position: number) =>
        readFully(inp!, target, position).catch((err) => {
          throw asVhdxError(err, 'read-failed', `cannot read ${input}`);
        });
      const raw = new SparseRawOutput(out);
      let written = 0;
      const total = Math.min(inputSize, size);
      // holes in the input are never read; they stay holes in the output
      await pipeline(
        dataChunks(total, chunkSize, await holeMapOf(inp!.fd, inputSize)),
        read,
        { chunkSize },
        (bytes, { position }, slot) => {
          written += raw.place(bytes, position, slot.pending);
          options.onProgress?.(position + bytes.length, size);
        },
      );
      await raw.finish(size);
      return { virtualSize: size, bytesWritten: written };
    }),
  );
}

/**
 * The options of a VHDX re-encoded from the one `info` describes: those given, the block and
 * sector sizes the input has where none is given.
 */
export function reencodeOptions<T extends VhdxCreateOptions>(info: VhdxInfo, options: T): T {
  return {
    ...options,
    blockSize: options.blockSize ?? info.blockSize,
    logicalSectorSize: options.logicalSectorSize ?? (info.logicalSectorSize as 512 | 4096),
    physicalSectorSize: options.physicalSectorSize ?? (info.physicalSectorSize as 512 | 4096),
  };
}

/**
 * The blocks of a disk of `virtualSize` in `blockSize` blocks that overlap data in `image` (its
 * whole chain): every other block reads as zeros. A stored block may still be all zeros; that only
 * costs its space.
 */
export function allocationOf(image: VhdxImage, blockSize: number, virtualSize: number): AllocationMap {
  const present = new Uint8Array(Math.ceil(virtualSize / blockSize));
  for (const e of image.extents()) {
    if (e.kind !== 'data') continue;
    const last = Math.floor((e.offset + e.length - 1) / blockSize);
    for (let b = Math.floor(e.offset / blockSize); b <= last; b++) present[b] = 1;
  }
  return { virtualSize, blockSize, present };
}

/** Options of {@link convertVhdxFileToVhdx}: the VHDX made (block and sector sizes default to the input's), progress, and how the input's chain is opened. */
export type VhdxToVhdxOptions = VhdxCreateOptions & { onProgress?(done: number, total: number): void } & ReadLimits & ChainOptions;
const VHDX_TO_VHDX_KEYS = { ...CREATE_OPTION_KEYS, ...OPEN_KEYS, onProgress: true } as const satisfies Record<
  keyof VhdxToVhdxOptions,
  true
>;

/**
 * Re-encodes a VHDX file (a differencing file flattened through its chain, as
 * {@link convertVhdxFileToRaw} finds it) into a new VHDX: dynamic (blocks
 * without data left out) or fixed, its block and sector sizes the input's
 * unless given, its size the input's (or a larger `virtualSize`). `input` is a
 * path or an image you opened (it stays yours); `output` as
 * {@link convertRawFileToVhdx} takes it (a path may be the input itself: it is
 * written under a temporary name).
 * @throws VhdxError as `openVhdx` for the input and its chain; `invalid-option`; `input-too-long` for a
 *   `virtualSize` smaller than the input's; `output-is-input` for an output in the input's chain;
 *   IO `create-failed`, `read-failed`, `write-failed`
 */
export async function convertVhdxFileToVhdx(
  input: string | VhdxImage,
  output: OutputTarget,
  options: VhdxToVhdxOptions = {},
): Promise<{ virtualSize: number }> {
  refuseOtherOptions(options, VHDX_TO_VHDX_KEYS, 'convertVhdxFileToVhdx');
  if (typeof input !== 'string') return reencodeInto(input, output, options);
  const chain = only(options, OPEN_KEYS);
  const image = await openVhdxSource(await openNodeSource(input), chain, nodeOpenContext(input, chain));
  try {
    return await reencodeInto(image, output, options);
  } finally {
    await image.close();
  }
}

/** The entries of `options` whose keys are in `keys`. */
function only(options: object, keys: Record<string, true>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([key]) => Object.hasOwn(keys, key)));
}

async function reencodeInto(image: VhdxImage, output: OutputTarget, options: VhdxToVhdxOptions): Promise<{ virtualSize: number }> {
  await ready();
  const create = reencodeOptions(image.info, only(options, CREATE_OPTION_KEYS) as VhdxCreateOptions);
  const { virtualSize } = diskSizeForInput(image.info.virtualSize, create.virtualSize, create.logicalSectorSize ?? 512);
  const { onProgress } = options;
  if (typeof output === 'string') await refuseOutputInChain(image, output, { role: 'input' });
  return writeOutput(output, async (path) => {
    const chunks = withZeroTail(chunksOf(image.stream()), virtualSize - image.info.virtualSize);
    if (create.type !== 'fixed') return chunksToVhdxAt(chunks, path, { ...create, virtualSize, ...(onProgress ? { onProgress } : {}) });
    return withFiles(undefined, path, async (_, out) => {
      let position = 0;
      const batch = new WriteBatch((data, at) => writeFully(out, data, at));
      const write = async (data: Uint8Array) => {
        await batch.add(data, position);
        position += data.length;
      };
      await encodeRawChunks(chunks, { ...create, virtualSize }, write, onProgress);
      await batch.flush();
      return { virtualSize };
    });
  });
}
