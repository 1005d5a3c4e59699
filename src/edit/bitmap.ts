// A differencing child's sector bitmaps as the editor changes them (MS-VHDX
// 2.5, 2.5.1.2). Bit k of a PARTIALLY_PRESENT block says sector k is in this
// file; a clear bit reads the parent, so a sector is only ever read from the
// child once its payload is written and its bit is set after it, and a block
// placed in reused space shows none of the old bytes there (its unwritten
// sectors keep clear bits). The model's bits (image/bitmap.ts, loaded at open)
// stay the one truth the reads use: a change carries its block's new bits
// until its log entry is applied, then they replace the model's.
import { MiB } from '../format/bytes.js';
import { BlockState, writeBatEntry } from '../format/bat.js';
import type { SectorBitmaps } from '../image/bitmap.js';
import type { ImageModel } from '../image/load.js';
import type { RegionInfo } from '../image/types.js';
import type { Journal } from './journal.js';
import type { Patch } from './sectors.js';

/** A sector bitmap block's size: one per chunk (MS-VHDX 2.5). */
const BITMAP_BLOCK = MiB;

/** The sector bitmaps of one writable differencing image. */
export class ChildBitmaps {
  /** Bitmap bytes per payload block (block sizes are at least 1 MiB: a whole number). */
  private readonly bytesPerBlock: number;
  private readonly bitmaps: SectorBitmaps;
  /** Bitmap blocks placed for chunks that had none, until an applied entry maps them. */
  private readonly placed = new Map<number, number>();

  constructor(
    private readonly model: ImageModel,
    private readonly bat: RegionInfo,
  ) {
    this.bytesPerBlock = model.blockSize / model.logicalSectorSize / 8;
    model.bitmaps ??= { sectorSize: model.logicalSectorSize, blocks: new Map() };
    this.bitmaps = model.bitmaps;
  }

  /**
   * Block `block`'s bits with sectors `[first, end)` set (a block that is not
   * PARTIALLY_PRESENT starts with none), or undefined when they are set already.
   */
  withSectors(block: number, first: number, end: number): Uint8Array | undefined {
    const now = this.model.states[block] === BlockState.PARTIALLY_PRESENT ? this.bitmaps.blocks.get(block) : undefined;
    if (now && allSet(now, first, end)) return undefined;
    const bits = now ? now.slice() : new Uint8Array(this.bytesPerBlock);
    for (let k = first; k < end; k++) bits[k >> 3]! |= 1 << (k & 7);
    return bits;
  }

  /** True when `bits` hold every sector of block `block` that lies on the disk. */
  full(block: number, bits: Uint8Array): boolean {
    const { blockSize, virtualSize, logicalSectorSize } = this.model;
    return allSet(bits, 0, Math.ceil(Math.min(blockSize, virtualSize - block * blockSize) / logicalSectorSize));
  }

  /**
   * Makes sure block `block`'s chunk has a sector bitmap block in the file:
   * one that has none gets 1 MiB at the end of the file (grown: zeros, made
   * durable by the flush before the entry that maps it); one that the file
   * ends inside is grown over, so its sectors can be written whole.
   */
  async ensureBlock(block: number, journal: Journal): Promise<void> {
    const chunk = Math.floor(block / this.model.chunkRatio);
    let at = this.offsetMiB(chunk) * MiB;
    if (at === 0) {
      at = Math.ceil(journal.size / MiB) * MiB;
      this.placed.set(chunk, at / MiB);
    }
    await journal.grow(at + BITMAP_BLOCK);
  }

  /**
   * What the log entry of block `block` getting `bits` holds besides its own
   * BAT entry: the chunk's bitmap entry while the model does not map it yet,
   * and the block's bits (its whole slice: bits left by an earlier
   * PARTIALLY_PRESENT life of the block are cleared).
   */
  patches(block: number, bits: Uint8Array): Patch[] {
    const ratio = this.model.chunkRatio;
    const chunk = Math.floor(block / ratio);
    const atMiB = this.offsetMiB(chunk);
    const out: Patch[] = [{ fileOffset: atMiB * MiB + (block % ratio) * this.bytesPerBlock, bytes: bits }];
    if (this.model.bitmapOffsetsMiB![chunk] === 0) {
      const entry = new Uint8Array(8);
      writeBatEntry(entry, 0, { state: BlockState.FULLY_PRESENT, offsetMiB: atMiB });
      out.push({ fileOffset: this.bat.offset + (chunk * (ratio + 1) + ratio) * 8, bytes: entry });
    }
    return out;
  }

  /** The model after block `block`'s entry is applied: its bits (or none, when it is not PARTIALLY_PRESENT), its chunk's bitmap block. */
  applied(block: number, state: number, bits: Uint8Array | undefined): void {
    if (state === BlockState.PARTIALLY_PRESENT) this.bitmaps.blocks.set(block, bits!);
    else this.bitmaps.blocks.delete(block);
    if (!bits) return;
    const chunk = Math.floor(block / this.model.chunkRatio);
    const placed = this.placed.get(chunk);
    if (placed === undefined) return;
    this.model.bitmapOffsetsMiB![chunk] = placed;
    this.placed.delete(chunk);
  }

  /** Where chunk `chunk`'s bitmap block is (MiB; 0: none yet). */
  private offsetMiB(chunk: number): number {
    return this.model.bitmapOffsetsMiB![chunk] || (this.placed.get(chunk) ?? 0);
  }
}

/** True when bits `[first, end)` are all set. */
function allSet(bits: Uint8Array, first: number, end: number): boolean {
  let k = first;
  for (; k < end && (k & 7) !== 0; k++) if ((bits[k >> 3]! & (1 << (k & 7))) === 0) return false;
  for (; k + 8 <= end; k += 8) if (bits[k >> 3] !== 0xff) return false;
  for (; k < end; k++) if ((bits[k >> 3]! & (1 << (k & 7))) === 0) return false;
  return true;
}
