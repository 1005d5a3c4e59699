// The layout of a differencing file (a child) this project writes, and how
// each of its blocks is stored given the new disk and the parent's.
//
// Layout (1 MiB aligned): header section | log | metadata | BAT | payload
// blocks, with each chunk's sector bitmap block placed right after the
// payload of its chunk when the chunk holds a partially present block.
// Only blocks with a changed sector take file space.
import { MiB } from '../format/bytes.js';
import { BlockState, batIndexOfBlock, writeBatEntry } from '../format/bat.js';
import { GUIDS } from '../format/guid.js';
import { serializeMetadataRegion } from '../format/metadata.js';
import { changedSectorRuns, isAllZero } from '../wasm/kernels.js';
import { METADATA_LENGTH, planLayout, type Layout } from './plan.js';
import type { ResolvedCreateOptions } from './options.js';

/** Bytes of a sector bitmap block (MS-VHDX 2.5.1.2). */
export const SECTOR_BITMAP_BLOCK = MiB;
/** Sector-bitmap entry state: the chunk's bitmap block is in the file (MS-VHDX 2.5.1.2). */
const SB_BLOCK_PRESENT = 6;

/** What the child's Parent Locator names (MS-VHDX 2.6.2.6.3). */
export interface ChildParentLink {
  /** The parent's current DataWriteGuid (canonical, no braces). */
  dataWriteGuid: string;
  /** relative_path: the parent relative to the child's folder, `\` separators. */
  relativePath: string;
}

/** Plans a child's file: the BAT holds a sector-bitmap entry after every chunk (MS-VHDX 2.5). */
export function planChildLayout(opts: ResolvedCreateOptions, virtualSize: number): Layout {
  return planLayout(opts, virtualSize, undefined, true);
}

/** The child's metadata region: HasParent and a VHDX Parent Locator with parent_linkage and relative_path. */
export function childMetadataRegion(layout: Layout, link: ChildParentLink): Uint8Array {
  const { opts } = layout;
  return serializeMetadataRegion(
    {
      fileParameters: { blockSize: layout.blockSize, leaveBlocksAllocated: false, hasParent: true },
      virtualDiskSize: layout.virtualSize,
      virtualDiskId: opts.virtualDiskId,
      logicalSectorSize: opts.logicalSectorSize,
      physicalSectorSize: opts.physicalSectorSize,
      parentLocator: {
        locatorType: GUIDS.vhdxParentLocatorType,
        entries: { parent_linkage: `{${link.dataWriteGuid.toLowerCase()}}`, relative_path: link.relativePath },
      },
    },
    METADATA_LENGTH,
  );
}

/** How one block of the child is stored. */
export type ChildBlockPlan =
  | { state: typeof BlockState.NOT_PRESENT | typeof BlockState.ZERO }
  | { state: typeof BlockState.FULLY_PRESENT }
  /** `runs`: the changed sectors, as [first, end) sector pairs of the block. */
  | { state: typeof BlockState.PARTIALLY_PRESENT; runs: number[] };

// which sectors of a block changed is asked of a wasm kernel (a JS loop compares at a third of its speed)
export { changedSectorRuns };

/**
 * How a block holding `next` over the parent's `previous` is stored:
 * unchanged → NOT_PRESENT; all zero now → ZERO; every sector changed →
 * FULLY_PRESENT (a bitmap would add nothing); otherwise PARTIALLY_PRESENT
 * with its changed sectors, which is smaller: only they are written (holes
 * elsewhere on sparse file systems), and the chunk's 1 MiB bitmap block is
 * shared by every block of the chunk (4 GiB of disk at 512-byte sectors).
 */
export function planChildBlock(next: Uint8Array, previous: Uint8Array, sector: number): ChildBlockPlan {
  const runs = changedSectorRuns(next, previous, sector);
  if (runs.length === 0) return { state: BlockState.NOT_PRESENT };
  if (isAllZero(next)) return { state: BlockState.ZERO };
  if (runs.length === 2 && runs[0] === 0 && runs[1]! * sector >= next.length) return { state: BlockState.FULLY_PRESENT };
  return { state: BlockState.PARTIALLY_PRESENT, runs };
}

/** Sets bits [first, end) of a sector bitmap (bit k: byte k >> 3, least significant bit first). */
export function setBitmapBits(bits: Uint8Array, first: number, end: number): void {
  for (let k = first; k < end; k++) bits[k >> 3]! |= 1 << (k & 7);
}

/** The child's BAT: payload entries with their states and offsets, and each chunk's bitmap entry. */
export function childBatRegion(layout: Layout, states: Uint8Array, offsetsMiB: Uint32Array, bitmapOffsetsMiB: Uint32Array): Uint8Array {
  const bat = new Uint8Array(layout.batLength);
  const ratio = layout.chunkRatio;
  for (let block = 0; block < layout.blockCount; block++) {
    const state = states[block]!;
    if (state !== BlockState.NOT_PRESENT) writeBatEntry(bat, batIndexOfBlock(block, ratio), { state, offsetMiB: offsetsMiB[block]! });
  }
  for (let chunk = 0; chunk < bitmapOffsetsMiB.length; chunk++) {
    const at = bitmapOffsetsMiB[chunk]!;
    if (at !== 0) writeBatEntry(bat, chunk * (ratio + 1) + ratio, { state: SB_BLOCK_PRESENT, offsetMiB: at });
  }
  return bat;
}
