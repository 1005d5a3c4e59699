// The one positional placement engine, for every writer that can seek (the
// positional writer, the Node file converter, the child writer): blocks get
// file space in the order they are stored, after the structures, so a file
// always decodes as a stream (header section, metadata, BAT, then payload);
// the structures are written at the end, header section last, so an
// interrupted run never leaves a file that parses as VHDX.
//
// BlockPlacement hands out the space and ends the file; SparseAllocator feeds
// it a raw disk, storing a block only once its first non-zero byte arrives
// (a fixed disk places every block up front instead), and turns each chunk
// into runs: views of the chunk that land back to back, one write each.
import { VhdxError, inputTooLong } from '../errors.js';
import { MiB, TiB } from '../format/bytes.js';
import { MAX_VIRTUAL_SIZE } from '../format/metadata.js';
import { isAllZero } from '../wasm/kernels.js';
import { diskSizeFor, zeroPieces } from './disk-size.js';
import type { ResolvedCreateOptions } from './options.js';
import { batRegion, headerSectionPieces, metadataRegion, planLayout, type Layout, type Placed } from './plan.js';

/**
 * Granularity of hole detection wherever unwritten ranges read as zeros (qemu-img
 * uses 4 KiB; 64 KiB keeps writes large). One grain for every sparse output.
 */
export const HOLE_GRAIN = 64 * 1024;

/**
 * When the disk's size is not known up front, the BAT gets room before the payload for a disk this
 * large (at the default 8 MiB blocks, 2 MiB of BAT in a 3 MiB region, a hole until written); a larger input puts its
 * BAT after the payload, where a stream decoder must hold the payload until the BAT has passed.
 */
export const DEFAULT_BAT_RESERVE = 2 * TiB;

/** What a finished sparse file looks like. */
export interface SparseSummary {
  virtualSize: number;
  blockSize: number;
  blockCount: number;
  /** Blocks stored in the file (every block of a fixed disk; a dynamic disk stores only blocks with data). */
  blocksWritten: number;
  /** Final length of the file. */
  fileSize: number;
}

/**
 * File space for payload blocks, handed out one after another from `payloadOffset` in the order
 * blocks are stored, and where each block went.
 */
export class BlockPlacement {
  private offsetsMiB: Uint32Array;
  private nextFree: number;
  private writtenEnd = 0;
  private stored = 0;

  /** @param blockCount the disk's blocks when known (the table grows as needed otherwise) */
  constructor(
    readonly payloadOffset: number,
    readonly blockSize: number,
    blockCount = 64,
  ) {
    this.nextFree = payloadOffset;
    this.offsetsMiB = new Uint32Array(blockCount);
  }

  /** Blocks given a place so far. */
  get blocksStored(): number {
    return this.stored;
  }

  /** The end of the space handed out. */
  get end(): number {
    return this.nextFree;
  }

  /** Where block `block` is, in MiB (0: it has no place). */
  offsetMiB(block: number): number {
    return block < this.offsetsMiB.length ? this.offsetsMiB[block]! : 0;
  }

  /** Gives block `block` the next free place; returns its file position. */
  allocate(block: number): number {
    if (block >= this.offsetsMiB.length) {
      const grown = new Uint32Array(Math.max(block + 1, this.offsetsMiB.length * 2));
      grown.set(this.offsetsMiB);
      this.offsetsMiB = grown;
    }
    const position = this.nextFree;
    this.offsetsMiB[block] = position / MiB;
    this.nextFree += this.blockSize;
    this.stored++;
    return position;
  }

  /** Notes bytes written up to `end` (a stored block whose last bytes were never written still needs the file to reach its end). */
  wrote(end: number): void {
    if (end > this.writtenEnd) this.writtenEnd = end;
  }

  /** The first `count` blocks' places in MiB (0: not stored). */
  offsets(count: number): Uint32Array {
    const out = new Uint32Array(count);
    out.set(this.offsetsMiB.subarray(0, Math.min(count, this.offsetsMiB.length)));
    return out;
  }

  /**
   * The writes that end the file, in a safe order: a last sector that makes the file reach the end
   * of its last stored block, the BAT and metadata, then the header section, file identifier last;
   * and the file's length.
   */
  finish(layout: Layout, bat: Uint8Array, metadata: Uint8Array): { writes: Placed[]; fileSize: number } {
    const writes: Placed[] = [];
    const payloadEnd = this.stored > 0 ? this.nextFree : 0;
    if (this.writtenEnd < payloadEnd) {
      const sector = layout.opts.logicalSectorSize;
      writes.push({ position: payloadEnd - sector, data: new Uint8Array(sector) });
    }
    writes.push({ position: layout.batOffset, data: bat });
    writes.push({ position: layout.metadataOffset, data: metadata });
    writes.push(...headerSectionPieces(layout));
    const fileSize = Math.max(payloadEnd, layout.batOffset + layout.batLength, layout.metadataOffset + metadata.length);
    return { writes, fileSize };
  }
}

/**
 * Pieces of one buffer that land back to back in the file joined into runs, views of the buffer
 * (never copied): a piece is written with its neighbours in one write, whichever way the buffer
 * was split to find holes.
 */
export class Runs {
  readonly placed: Placed[] = [];
  private from = 0; // the open run's start in the buffer
  private position = -1; // its file position; -1: no run open
  private length = 0;

  constructor(private readonly buffer: Uint8Array) {}

  /** Bytes `at`..`at + length` of the buffer go to file `position`; -1 means they are not written (a hole). */
  add(at: number, length: number, position: number): void {
    if (this.position >= 0 && position === this.position + this.length && at === this.from + this.length) {
      this.length += length;
      return;
    }
    this.close();
    if (position < 0) return;
    this.from = at;
    this.position = position;
    this.length = length;
  }

  /** A piece from elsewhere (zeros), placed after what came before. */
  push(piece: Placed): void {
    this.close();
    this.placed.push(piece);
  }

  /** Every run, in the order its first piece came. */
  end(): Placed[] {
    this.close();
    return this.placed;
  }

  private close(): void {
    if (this.position < 0) return;
    const { buffer, from, length } = this;
    this.placed.push({
      position: this.position,
      data: from === 0 && length === buffer.length ? buffer : buffer.subarray(from, from + length),
    });
    this.position = -1;
  }
}

/**
 * The runs of `bytes` (the disk from `position` on) that hold data, at their place in a raw file:
 * grains of HOLE_GRAIN (aligned to the disk) that are all zeros are left out.
 */
export function dataRuns(bytes: Uint8Array, position: number): Placed[] {
  const runs = new Runs(bytes);
  for (let at = 0; at < bytes.length; ) {
    const grainEnd = (Math.floor((position + at) / HOLE_GRAIN) + 1) * HOLE_GRAIN;
    const n = Math.min(bytes.length - at, grainEnd - (position + at));
    runs.add(at, n, isAllZero(bytes.subarray(at, at + n)) ? -1 : position + at);
    at += n;
  }
  return runs.end();
}

/**
 * Checks the `batReserve` option: the disk size the BAT gets room for before the payload when the
 * size is not known up front.
 * @throws VhdxError `invalid-option`
 */
export function checkBatReserve(value: unknown): number {
  if (value === undefined) return DEFAULT_BAT_RESERVE;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > MAX_VIRTUAL_SIZE) {
    throw new VhdxError('invalid-option', `must be a positive number of bytes up to 64 TiB, got ${String(value)}`, {
      structure: 'options',
      field: 'batReserve',
    });
  }
  return value;
}

/** A raw disk, arriving in order, placed block by block (see the module comment). */
export class SparseAllocator {
  readonly blockSize: number;
  private readonly space: BlockPlacement;
  /** The largest disk whose BAT has room before the payload, when the size is not known up front. */
  private readonly batReserve: number;
  private received = 0;

  /**
   * @param holesAreZero the target reads unwritten ranges as zeros (a file
   *   created or truncated for this run), so zero stretches inside stored
   *   blocks need not be written either.
   * @param batReserve see {@link checkBatReserve}; used only when `opts.virtualSize` is not given
   * @throws VhdxError `invalid-option` for a bad `batReserve`
   */
  constructor(
    private readonly opts: ResolvedCreateOptions,
    private readonly holesAreZero = false,
    batReserve?: number,
  ) {
    this.blockSize = opts.blockSize;
    this.batReserve = checkBatReserve(batReserve);
    const known = opts.virtualSize;
    const planned = planLayout(opts, known ?? this.batReserve);
    this.space = new BlockPlacement(planned.payloadOffset, this.blockSize, known === undefined ? 64 : planned.blockCount);
    if (opts.type === 'fixed') {
      // every block has its place from the start, in virtual order; with
      // holesAreZero its zero stretches still need not be written
      for (let b = 0; b < planned.blockCount; b++) this.space.allocate(b);
    }
  }

  /** Virtual bytes accepted so far. */
  get bytesReceived(): number {
    return this.received;
  }

  /**
   * Accepts the next `chunk` of the raw disk and returns where its bytes go: runs of views of
   * `chunk` (and shared zeros), each one positional write. A grain of `grain` bytes (HOLE_GRAIN
   * where unwritten ranges read as zeros; else the block size) that is all zeros is left out
   * while its block has no place, and everywhere with `holesAreZero`.
   * @throws VhdxError `input-too-long` past `virtualSize`
   */
  placeChunk(chunk: Uint8Array, grain: number): Placed[] {
    this.refuseOverLimit(chunk.length);
    const { blockSize } = this;
    const runs = new Runs(chunk);
    for (let at = 0; at < chunk.length; ) {
      const virtual = this.received;
      const inBlock = virtual % blockSize;
      const n = Math.min(chunk.length - at, grain - (virtual % grain), blockSize - inBlock);
      const block = (virtual - inBlock) / blockSize;
      let offsetMiB = this.space.offsetMiB(block);
      let position = -1;
      if ((offsetMiB !== 0 && !this.holesAreZero) || !isAllZero(chunk.subarray(at, at + n))) {
        if (offsetMiB === 0) {
          offsetMiB = this.space.allocate(block) / MiB;
          // the block's start was zeros left unwritten while it had no place; a target holding older bytes must get them
          if (!this.holesAreZero && inBlock > 0) {
            let zerosAt = offsetMiB * MiB;
            for (const zeros of zeroPieces(inBlock)) {
              runs.push({ position: zerosAt, data: zeros });
              zerosAt += zeros.length;
            }
          }
        }
        position = offsetMiB * MiB + inBlock;
        this.space.wrote(position + n);
      }
      runs.add(at, n, position);
      this.received += n;
      at += n;
    }
    return runs.end();
  }

  /**
   * Accepts the next `length` bytes of the raw disk as zeros known without
   * looking (a hole in the input file). Where unwritten ranges read as zeros
   * nothing is written for them, as for zero grains; otherwise they are
   * placed as zero chunks.
   * @throws VhdxError `input-too-long` past `virtualSize`
   */
  skipZeros(length: number): Placed[] {
    if (!this.holesAreZero) {
      const writes: Placed[] = [];
      for (const zeros of zeroPieces(length)) writes.push(...this.placeChunk(zeros, this.blockSize));
      return writes;
    }
    this.refuseOverLimit(length);
    this.received += length;
    return [];
  }

  /** @throws VhdxError `input-too-long` when `length` more bytes would pass `virtualSize` */
  private refuseOverLimit(length: number): void {
    const limit = this.opts.virtualSize;
    if (limit !== undefined && this.received + length > limit) throw inputTooLong('the input', 'virtualSize', limit);
  }

  /**
   * Ends the input. Returns the remaining writes in a safe order (BAT and
   * metadata, then region tables and headers, the file identifier last) and
   * the summary.
   * @throws VhdxError `input-empty`, `input-truncated`, `input-over-64-tib`
   */
  finish(): { writes: Placed[]; summary: SparseSummary; layout: Layout } {
    const { opts, space } = this;
    let virtualSize = opts.virtualSize;
    if (virtualSize === undefined) {
      if (this.received === 0) throw new VhdxError('input-empty', 'no input: a virtual disk cannot be empty', { structure: 'input' });
      virtualSize = diskSizeFor(this.received, opts.logicalSectorSize);
    } else if (this.received < virtualSize) {
      throw new VhdxError('input-truncated', `input ended after ${this.received} of ${virtualSize} bytes`, {
        structure: 'input',
        offset: this.received,
      });
    }
    if (virtualSize > MAX_VIRTUAL_SIZE) throw new VhdxError('input-over-64-tib', 'input is larger than 64 TiB', { structure: 'input' });
    // a disk larger than the one the BAT has room for (its size known only now) has its BAT after the payload
    const layout = planLayout(opts, virtualSize, virtualSize > this.batReserve ? space.end : undefined);
    const { writes, fileSize } = space.finish(layout, batRegion(layout, space.offsets(layout.blockCount)), metadataRegion(layout));
    return {
      writes,
      layout,
      summary: { virtualSize, blockSize: this.blockSize, blockCount: layout.blockCount, blocksWritten: space.blocksStored, fileSize },
    };
  }
}
