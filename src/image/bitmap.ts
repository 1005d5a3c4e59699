// Sector bitmaps of a differencing file (MS-VHDX 2.5, 2.5.1.2): for each
// PARTIALLY_PRESENT block, one bit per logical sector says whether the sector
// is in this file or comes from the parent. Only the bits of partial blocks
// are read and kept, and their total is bounded by `maxBitmapBytes`.
import { MiB } from '../format/bytes.js';
import { BlockState } from '../format/bat.js';
import type { BlockMap } from './bat.js';
import { checkLimit, type ResolvedLimits } from './limits.js';
import { readExact, type ByteReader } from './reader.js';

/** The bits of every PARTIALLY_PRESENT block. */
export interface SectorBitmaps {
  sectorSize: number;
  /** Per partial block: bit k (byte k >> 3, least significant bit first) is set when sector k of the block is in this file. */
  blocks: Map<number, Uint8Array>;
}

/** One read of bitmap bytes, covering the slices of one or more partial blocks of one chunk. */
export interface BitmapSpan {
  offset: number;
  length: number;
  /** Each block's slice, at `at` bytes into the span. */
  slices: { block: number; at: number; length: number }[];
}

/** Where a disk's blocks and sectors are, for bitmap arithmetic. */
export interface BitmapGeometryOf {
  blockSize: number;
  virtualSize: number;
  sectorSize: number;
}

/** Slices closer than this are read together. */
const MERGE_GAP = 64 * 1024;

/**
 * The reads that fetch every partial block's bits, in file order within each
 * chunk (a block's slice stops at its last sector inside the disk).
 */
export function bitmapSpans(map: BlockMap, g: BitmapGeometryOf): BitmapSpan[] {
  const spans: BitmapSpan[] = [];
  const offsets = map.bitmapOffsetsMiB;
  if (!offsets) return spans;
  const sectorsPerBlock = g.blockSize / g.sectorSize;
  const bytesPerBlock = sectorsPerBlock / 8; // block sizes are at least 1 MiB, so a whole number
  let last: BitmapSpan | undefined;
  let lastChunk = -1;
  for (let b = 0; b < map.blockCount; b++) {
    if (map.states[b] !== BlockState.PARTIALLY_PRESENT) continue;
    const chunk = Math.floor(b / map.chunkRatio);
    const offset = offsets[chunk]! * MiB + (b % map.chunkRatio) * bytesPerBlock;
    const sectors = Math.ceil(Math.min(g.blockSize, g.virtualSize - b * g.blockSize) / g.sectorSize);
    const length = Math.ceil(sectors / 8);
    if (last && chunk === lastChunk && offset - (last.offset + last.length) <= MERGE_GAP) {
      last.slices.push({ block: b, at: offset - last.offset, length });
      last.length = offset + length - last.offset;
    } else {
      last = { offset, length, slices: [{ block: b, at: 0, length }] };
      spans.push(last);
      lastChunk = chunk;
    }
  }
  return spans;
}

/**
 * Reads the bits of every partial block.
 * @throws VhdxError `LIMIT_EXCEEDED` (`bitmap-over-limit`) before reading; `TRUNCATED` (`structure-truncated`).
 */
export async function loadSectorBitmaps(r: ByteReader, map: BlockMap, g: BitmapGeometryOf, limits: ResolvedLimits): Promise<SectorBitmaps> {
  const spans = bitmapSpans(map, g);
  const bytesPerBlock = g.blockSize / g.sectorSize / 8;
  let partial = 0;
  for (const s of spans) partial += s.slices.length;
  checkLimit('bitmap-over-limit', partial * bytesPerBlock, limits, spans[0]?.offset);
  const blocks = new Map<number, Uint8Array>();
  for (const span of spans) {
    const bytes = await readExact(r, span.offset, span.length, 'sector bitmap');
    for (const s of span.slices) {
      const bits = new Uint8Array(bytesPerBlock);
      bits.set(bytes.subarray(s.at, s.at + s.length));
      blocks.set(s.block, bits);
    }
  }
  return { sectorSize: g.sectorSize, blocks };
}

/**
 * Calls `run(from, to, present)` for each stretch of sectors in `[first, end)`
 * of a block that is all in this file (`present`) or all in the parent.
 */
export function sectorRuns(bits: Uint8Array, first: number, end: number, run: (from: number, to: number, present: boolean) => void): void {
  let k = first;
  while (k < end) {
    const present = (bits[k >> 3]! & (1 << (k & 7))) !== 0;
    const whole = present ? 0xff : 0;
    let j = k + 1;
    while (j < end) {
      if ((j & 7) === 0 && j + 8 <= end && bits[j >> 3] === whole) {
        j += 8; // a byte of equal bits at once
        continue;
      }
      if (((bits[j >> 3]! & (1 << (j & 7))) !== 0) !== present) break;
      j++;
    }
    run(k, j, present);
    k = j;
  }
}
