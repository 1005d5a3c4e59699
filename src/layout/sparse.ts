// Block placement for writers that can seek: blocks get file space only when
// their first non-zero byte arrives, so all-zero blocks are never written
// (a fixed disk places every block up front instead). The non-payload
// structures are produced at the end, header section last.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { MAX_VIRTUAL_SIZE } from '../format/metadata.js';
import { isAllZero } from '../wasm/kernels.js';
import { diskSizeFor } from './disk-size.js';
import type { ResolvedCreateOptions } from './options.js';
import {
  batRegion,
  headerSectionPieces,
  metadataRegion,
  payloadOffsetWithoutBat,
  planLayout,
  sequentialOffsets,
  type Layout,
  type Placed,
} from './plan.js';

/**
 * Granularity of hole detection wherever unwritten ranges read as zeros (qemu-img
 * uses 4 KiB; 64 KiB keeps writes large). One grain for every sparse output.
 */
export const HOLE_GRAIN = 64 * 1024;

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

export class SparseAllocator {
  readonly blockSize: number;
  private readonly payloadOffset: number;
  private offsetsMiB: Uint32Array;
  private nextFree: number;
  private received = 0;
  private writtenEnd = 0;
  private blocksWritten = 0;
  private leadingZeros: { position: number; length: number } | undefined;

  /**
   * @param holesAreZero the target reads unwritten ranges as zeros (a file
   *   created or truncated for this run), so zero stretches inside stored
   *   blocks need not be written either.
   */
  constructor(
    private readonly opts: ResolvedCreateOptions,
    private readonly holesAreZero = false,
  ) {
    this.blockSize = opts.blockSize;
    const known = opts.virtualSize;
    this.payloadOffset = known === undefined ? payloadOffsetWithoutBat(opts) : planLayout(opts, known).payloadOffset;
    this.nextFree = this.payloadOffset;
    this.offsetsMiB = new Uint32Array(known === undefined ? 64 : Math.ceil(known / this.blockSize));
    if (opts.type === 'fixed') {
      // every block has its place from the start, in virtual order; with
      // holesAreZero its zero stretches still need not be written
      const layout = planLayout(opts, known!);
      this.offsetsMiB = sequentialOffsets(layout);
      this.nextFree = layout.payloadOffset + layout.blockCount * this.blockSize;
      this.blocksWritten = layout.blockCount;
    }
  }

  /** Virtual bytes accepted so far. */
  get bytesReceived(): number {
    return this.received;
  }

  /**
   * Accepts the next `piece` of the raw disk, which must not cross a block
   * boundary (see {@link SparseAllocator.pieceLength}). Returns the file
   * position to write it at, or -1 when it need not be written.
   */
  place(piece: Uint8Array): number {
    const at = this.received;
    const limit = this.opts.virtualSize;
    if (limit !== undefined && at + piece.length > limit) {
      throw new VhdxError('input-too-long', `input is longer than virtualSize (${limit} bytes)`, { offset: limit });
    }
    this.received += piece.length;
    const block = Math.floor(at / this.blockSize);
    let offsetMiB = block < this.offsetsMiB.length ? this.offsetsMiB[block]! : 0;
    if (offsetMiB === 0 || this.holesAreZero) {
      if (isAllZero(piece)) return -1;
      if (offsetMiB === 0) {
        offsetMiB = this.allocate(block);
        const inBlock = at - block * this.blockSize;
        // the block's start was zeros left unwritten while it had no place; a target holding older bytes must get them
        if (!this.holesAreZero && inBlock > 0) this.leadingZeros = { position: offsetMiB * MiB, length: inBlock };
      }
    }
    const position = offsetMiB * MiB + (at - block * this.blockSize);
    this.writtenEnd = Math.max(this.writtenEnd, position + piece.length);
    return position;
  }

  /**
   * The zeros to write before the piece {@link place} just placed, once: the start of its block, when
   * the block got its place only now and the target's unwritten ranges do not read as zeros.
   */
  takeLeadingZeros(): { position: number; length: number } | undefined {
    const zeros = this.leadingZeros;
    this.leadingZeros = undefined;
    return zeros;
  }

  /** How many of the next `available` bytes belong to the current block. */
  pieceLength(available: number): number {
    return Math.min(available, this.blockSize - (this.received % this.blockSize));
  }

  private allocate(block: number): number {
    if (block >= this.offsetsMiB.length) {
      const grown = new Uint32Array(Math.max(block + 1, this.offsetsMiB.length * 2));
      grown.set(this.offsetsMiB);
      this.offsetsMiB = grown;
    }
    const offsetMiB = this.nextFree / MiB;
    this.offsetsMiB[block] = offsetMiB;
    this.nextFree += this.blockSize;
    this.blocksWritten++;
    return offsetMiB;
  }

  /**
   * Ends the input. Returns the remaining writes in a safe order (BAT and
   * metadata, then region tables and headers, the file identifier last) and
   * the summary.
   */
  finish(): { writes: Placed[]; summary: SparseSummary; layout: Layout } {
    const { opts } = this;
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
    const layout = planLayout(opts, virtualSize, opts.virtualSize === undefined ? this.nextFree : undefined);
    const offsets = new Uint32Array(layout.blockCount);
    offsets.set(this.offsetsMiB.subarray(0, layout.blockCount));
    const writes: Placed[] = [];
    if (this.writtenEnd < this.nextFree) {
      // the last block was not filled: extend the file to its end
      const sector = opts.logicalSectorSize;
      writes.push({ position: this.nextFree - sector, data: new Uint8Array(sector) });
    }
    writes.push({ position: layout.batOffset, data: batRegion(layout, offsets) });
    writes.push({ position: layout.metadataOffset, data: metadataRegion(layout) });
    writes.push(...headerSectionPieces(layout));
    const fileSize = Math.max(this.nextFree, layout.batOffset + layout.batLength, layout.metadataOffset + MiB);
    return {
      writes,
      layout,
      summary: { virtualSize, blockSize: this.blockSize, blockCount: layout.blockCount, blocksWritten: this.blocksWritten, fileSize },
    };
  }
}
