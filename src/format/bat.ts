// BAT entries and geometry: how payload blocks and sector-bitmap entries
// interleave, and how an entry packs a state and a file offset.
import { MiB, dataView } from './bytes.js';

/** Bytes per BAT entry (MS-VHDX 2.5.1). */
export const BAT_ENTRY_SIZE = 8;

/** Payload block states (bits 0-2 of a BAT entry; MS-VHDX 2.5.1.1). 4 and 5 are reserved. */
export const BlockState = {
  NOT_PRESENT: 0,
  UNDEFINED: 1,
  ZERO: 2,
  UNMAPPED: 3,
  FULLY_PRESENT: 6,
  PARTIALLY_PRESENT: 7,
} as const;
/** One of the {@link BlockState} values. */
export type BlockStateValue = (typeof BlockState)[keyof typeof BlockState];

/** The {@link BlockState} names by value, for messages and reports; reserved values have none. */
export const BLOCK_STATE_NAMES: Record<number, string> = {
  0: 'NOT_PRESENT',
  1: 'UNDEFINED',
  2: 'ZERO',
  3: 'UNMAPPED',
  6: 'FULLY_PRESENT',
  7: 'PARTIALLY_PRESENT',
};

/** Payload entries between two sector-bitmap entries: the chunk ratio (MS-VHDX 2.5). */
export function chunkRatio(logicalSectorSize: number, blockSize: number): number {
  return (2 ** 23 * logicalSectorSize) / blockSize;
}

/** Payload blocks that cover `virtualSize` bytes; the last may reach past the disk's end (MS-VHDX 2.5). */
export function payloadBlockCount(virtualSize: number, blockSize: number): number {
  return Math.ceil(virtualSize / blockSize);
}

/**
 * Entries in the BAT of a disk with `blocks` payload blocks (MS-VHDX 2.5). A differencing disk's BAT
 * ends with a whole chunk and its sector-bitmap entry; otherwise it ends at the last payload entry.
 */
export function batEntryCount(blocks: number, ratio: number, differencing: boolean): number {
  if (differencing) return Math.ceil(blocks / ratio) * (ratio + 1);
  return blocks === 0 ? 0 : blocks + Math.floor((blocks - 1) / ratio);
}

/** Index in the BAT of payload block `block`. */
export function batIndexOfBlock(block: number, ratio: number): number {
  return block + Math.floor(block / ratio);
}

/** The payload block at BAT index `index`, or -1 for a sector-bitmap entry. */
export function blockOfBatIndex(index: number, ratio: number): number {
  const period = ratio + 1;
  if (index % period === ratio) return -1;
  return index - Math.floor(index / period);
}

/** Bytes the BAT region needs, rounded up to 1 MiB. */
export function batRegionLength(entries: number): number {
  return Math.max(MiB, Math.ceil((entries * BAT_ENTRY_SIZE) / MiB) * MiB);
}

/** One decoded BAT entry (MS-VHDX 2.5.1). */
export interface BatEntry {
  /** Bits 0-2: a {@link BlockState} for a payload entry; 0 (not present) or 6 (present) for a sector-bitmap entry. */
  state: number;
  /** File offset in MiB (bits 20-63). */
  offsetMiB: number;
}

/** Decodes entry `index` of a raw BAT. The state is not validated: which states are allowed is the caller's call. */
export function readBatEntry(bat: Uint8Array, index: number): BatEntry {
  const dv = dataView(bat);
  const lo = dv.getUint32(index * 8, true);
  const hi = dv.getUint32(index * 8 + 4, true);
  return { state: lo & 7, offsetMiB: hi * 4096 + (lo >>> 20) };
}

/** Encodes `e` as entry `index` of a raw BAT, with the reserved bits 3-19 zero. */
export function writeBatEntry(bat: Uint8Array, index: number, e: BatEntry): void {
  const dv = dataView(bat);
  dv.setUint32(index * 8, ((e.offsetMiB % 4096) << 20) | (e.state & 7), true);
  dv.setUint32(index * 8 + 4, Math.floor(e.offsetMiB / 4096), true);
}
