// `vhdx measure`, as `qemu-img measure`: the size of the VHDX that `convert`
// would write from an input, computed from the encoder's own plan. The
// required size leaves out the blocks that hold only zeros (a scan of the
// input's disk); the fully allocated size stores every block.
import { MiB } from '../format/bytes.js';
import { diskSizeForInput } from '../layout/disk-size.js';
import { resolveCreateOptions, type VhdxCreateOptions } from '../layout/options.js';
import { openVhdx, scanAllocation } from '../node/index.js';
import { openNodeSource } from '../node/file-source.js';
import { VhdxDecoderStream } from '../streams/decoder.js';
import { planEncoder } from '../streams/encoder-core.js';
import { isAllZero } from '../wasm/kernels.js';
import type { ImageFormat, MeasureFlags } from './args.js';
import { chainOptions, warnLinkage, type ChainFlags } from './chain.js';
import { streamOf } from './chunk-streams.js';
import { chunksOf } from '../runtime/stream-chunks.js';
import { EXIT } from './exit-codes.js';
import { imageInput, type ImageInput } from './image-input.js';
import { fetchStream, formatOf, resolveInput, type UrlInput } from './inputs.js';
import { UsageError } from './usage-error.js';

/** What `measure` reports, in bytes. */
export interface Measurement {
  /** The file with every all-zero block left out (a fixed disk stores them all). */
  required: number;
  /** The file with every block stored. */
  fullyAllocated: number;
}

/** An input's virtual disk: its size, and which blocks of a given size hold data. */
interface InputDisk {
  size: number;
  /** Per block of `blockSize` bytes: 1 when it holds a non-zero byte. */
  present(blockSize: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Prints the sizes for converting `arg` with `flags` to VHDX; returns the exit code.
 * @throws UsageError for an empty input, or stdin that is not a file; VhdxError for a --size smaller than the
 *   input or not whole sectors (the library's rule, worded with --size);
 *   VhdxError for an input that cannot be read or options the encoder refuses
 */
export async function measure(arg: string, json: boolean, flags: MeasureFlags): Promise<number> {
  const m = await measureInput(arg, flags);
  const text = json
    ? JSON.stringify({ required: m.required, fullyAllocated: m.fullyAllocated }, null, 2)
    : `required size: ${m.required}\nfully allocated size: ${m.fullyAllocated}`;
  process.stdout.write(`${text}\n`);
  return EXIT.success;
}

/** The sizes for converting `arg` (a path, an http(s) URL, or `-` for a redirected file). */
export async function measureInput(arg: string, flags: MeasureFlags): Promise<Measurement> {
  const { inputFormat, chain, ...create } = flags;
  const resolved = resolveInput(arg);
  const disk =
    resolved.kind === 'url'
      ? await streamedDisk(resolved, inputFormat)
      : await fileDisk(await imageInput(arg, 'measure'), inputFormat, chain);
  try {
    return await measureDisk(disk, create);
  } finally {
    await disk.close();
  }
}

async function measureDisk(disk: InputDisk, create: VhdxCreateOptions): Promise<Measurement> {
  if (disk.size === 0) throw new UsageError('the input is empty');
  const sector = create.logicalSectorSize ?? 512;
  const { virtualSize } = diskSizeForInput(disk.size, create.virtualSize, sector);
  const options = { ...create, virtualSize };
  const full = planEncoder(options);
  if (full.layout.opts.type === 'fixed') return { required: full.outputSize, fullyAllocated: full.outputSize };
  const { blockSize } = resolveCreateOptions(options, true);
  // blocks past the input (a larger --size) hold zeros
  const present = new Uint8Array(full.layout.blockCount);
  present.set((await disk.present(blockSize)).subarray(0, present.length));
  const sparse = planEncoder({ ...options, allocationMap: { virtualSize, blockSize, present } });
  return { required: sparse.outputSize, fullyAllocated: full.outputSize };
}

/** A file (or redirected stdin): raw bytes scanned in place, or a VHDX's disk scanned through its reader. */
async function fileDisk(input: ImageInput, format: ImageFormat | undefined, chain: ChainFlags | undefined): Promise<InputDisk> {
  const source = await openNodeSource(input.source);
  let head: Uint8Array;
  try {
    head = await source.read(0, Math.min(8, source.size));
  } finally {
    await source.close?.();
  }
  if (formatOf(head, format) === 'raw') {
    if (chain?.parent !== undefined) throw new UsageError(`--parent names the parent of a differencing VHDX; ${input.name} is a raw disk`);
    return {
      size: source.size,
      present: async (blockSize) => (await scanAllocation(input.source, { blockSize })).present,
      close: async () => {},
    };
  }
  const image = await openVhdx(input.source, chainOptions(chain));
  if (chain?.parent !== undefined && image.info.parentLocator === undefined) {
    await image.close();
    throw new UsageError(`--parent names the parent of a differencing VHDX; ${input.name} has no parent`);
  }
  warnLinkage(image.info);
  const size = image.info.virtualSize;
  return {
    size,
    present: async (blockSize) =>
      (await scanAllocation({ size, read: (offset: number, length: number) => image.read(offset, length) }, { blockSize })).present,
    close: () => image.close(),
  };
}

/** A URL, streamed once: a raw disk as it comes, a VHDX through the decoder; data noted per MiB. */
async function streamedDisk(url: UrlInput, format: ImageFormat | undefined): Promise<InputDisk> {
  const { stream } = await fetchStream(url);
  const chunks = chunksOf(stream);
  const first: Uint8Array[] = [];
  const head = new Uint8Array(8);
  let headLength = 0;
  // next() rather than for-await: leaving a for-await would cancel the stream
  while (headLength < head.length) {
    const { value, done } = await chunks.next();
    if (done) break;
    first.push(value);
    const piece = value.subarray(0, head.length - headLength);
    head.set(piece, headLength);
    headLength += piece.length;
  }
  const body = (async function* () {
    yield* first;
    yield* chunks;
  })();
  const isVhdx = formatOf(head.subarray(0, headLength), format) === 'vhdx';
  const disk = isVhdx ? chunksOf(streamOf(body).pipeThrough(new VhdxDecoderStream())) : body;
  const perMiB = new MiBMap();
  for await (const chunk of disk) perMiB.add(chunk);
  return { size: perMiB.size, present: async (blockSize) => perMiB.fold(blockSize), close: async () => {} };
}

/** Which MiB of a stream hold a non-zero byte, filled in as the bytes pass. */
class MiBMap {
  size = 0;
  private present = new Uint8Array(64);

  add(chunk: Uint8Array): void {
    for (let at = 0; at < chunk.length; ) {
      const index = Math.floor(this.size / MiB);
      const length = Math.min(chunk.length - at, MiB - (this.size % MiB));
      if (index >= this.present.length) this.grow(index + 1);
      if (!this.present[index] && !isAllZero(chunk.subarray(at, at + length))) this.present[index] = 1;
      at += length;
      this.size += length;
    }
  }

  /** Per block of `blockSize` (a multiple of 1 MiB): 1 when any of its MiB holds data. */
  fold(blockSize: number): Uint8Array {
    const perBlock = blockSize / MiB;
    const out = new Uint8Array(Math.ceil(this.size / blockSize));
    for (let i = 0; i < Math.ceil(this.size / MiB); i++) if (this.present[i]) out[Math.floor(i / perBlock)] = 1;
    return out;
  }

  private grow(atLeast: number): void {
    const bigger = new Uint8Array(Math.max(atLeast, this.present.length * 2));
    bigger.set(this.present);
    this.present = bigger;
  }
}
