// Which bytes of the virtual disk come from where: the answer to every read,
// computed from the model alone, so callers move the bytes themselves.
import { MiB } from '../format/bytes.js';
import { BlockState } from '../format/bat.js';
import { sectorRuns, type SectorBitmaps } from './bitmap.js';
import type { ImageModel } from './load.js';
import type { HoleMap } from '../sources/types.js';
import type { Extent } from './types.js';

/** A stretch a differencing file leaves to its parent. */
export interface ParentExtent {
  kind: 'parent';
  offset: number;
  length: number;
}

/** What one file says about a range: its own extents, and (differencing files) stretches its parent answers. */
export type OwnExtent = Extent | ParentExtent;

/** Appends `e`, merging it into the last extent when they continue each other. */
export function pushMerged(out: (Extent | ParentExtent)[], e: Extent | ParentExtent): void {
  const last = out[out.length - 1];
  if (last && last.kind === e.kind && last.offset + last.length === e.offset) {
    if (last.kind !== 'data') {
      last.length += e.length;
      return;
    }
    const d = e as Extent & { kind: 'data' };
    if (last.level === d.level && last.fileOffset + last.length === d.fileOffset) {
      last.length += e.length;
      return;
    }
  }
  out.push(e);
}

/**
 * Maps a virtual range onto extents of this file alone, merging neighbours of
 * the same kind. In a differencing file NOT_PRESENT, UNDEFINED and UNMAPPED
 * blocks, and the absent sectors of PARTIALLY_PRESENT blocks, come out as
 * `parent`; only ZERO reads as zeros (see docs/differencing.md).
 */
export function resolveOwnExtents(model: ImageModel, bitmaps: SectorBitmaps | undefined, start: number, end: number): OwnExtent[] {
  const out: OwnExtent[] = [];
  const { blockSize, states, offsetsMiB } = model;
  const differencing = model.info.type === 'differencing';
  let pos = start;
  while (pos < end) {
    const block = Math.floor(pos / blockSize);
    const inBlock = pos - block * blockSize;
    const length = Math.min(end - pos, blockSize - inBlock);
    const state = states[block]!;
    const fileOffset = offsetsMiB[block]! * MiB + inBlock;
    if (state === BlockState.PARTIALLY_PRESENT && bitmaps) {
      partialBlock(out, bitmaps, block, pos, inBlock, length, fileOffset);
    } else if (state >= BlockState.FULLY_PRESENT) {
      pushMerged(out, { kind: 'data', offset: pos, length, fileOffset, level: 0 });
    } else if (differencing && state !== BlockState.ZERO) {
      pushMerged(out, { kind: 'parent', offset: pos, length });
    } else {
      pushMerged(out, { kind: state === BlockState.UNMAPPED ? 'unmapped' : 'zero', offset: pos, length });
    }
    pos += length;
  }
  return out;
}

/** A PARTIALLY_PRESENT block's stretch, split by its sector bitmap (pieces of sectors at the edges included). */
function partialBlock(
  out: OwnExtent[],
  bitmaps: SectorBitmaps,
  block: number,
  pos: number,
  inBlock: number,
  length: number,
  fileOffset: number,
): void {
  const bits = bitmaps.blocks.get(block)!;
  const ss = bitmaps.sectorSize;
  const first = Math.floor(inBlock / ss);
  const end = Math.ceil((inBlock + length) / ss);
  sectorRuns(bits, first, end, (from, to, present) => {
    const a = Math.max(inBlock, from * ss);
    const b = Math.min(inBlock + length, to * ss);
    const at = pos + (a - inBlock);
    if (present) pushMerged(out, { kind: 'data', offset: at, length: b - a, fileOffset: fileOffset + (a - inBlock), level: 0 });
    else pushMerged(out, { kind: 'parent', offset: at, length: b - a });
  });
}

/**
 * Marks the stretches of data extents that are holes in the file (where the
 * file system says so) as zeros, which they read as: nobody reads them. The
 * rest is as it was.
 */
export function holesAsZeros(extents: OwnExtent[], holes: HoleMap | undefined): OwnExtent[] {
  if (!holes || !extents.some((e) => e.kind === 'data')) return extents;
  const out: OwnExtent[] = [];
  for (const e of extents) {
    if (e.kind !== 'data') {
      pushMerged(out, e);
      continue;
    }
    const end = e.fileOffset + e.length;
    for (let at = e.fileOffset; at < end; ) {
      const data = Math.min(holes.nextData(at), end);
      if (data > at) pushMerged(out, { kind: 'zero', offset: e.offset + (at - e.fileOffset), length: data - at });
      if (data >= end) break;
      const hole = Math.min(holes.nextHole(data), end);
      pushMerged(out, { kind: 'data', offset: e.offset + (data - e.fileOffset), length: hole - data, fileOffset: data, level: e.level });
      at = hole;
    }
  }
  return out;
}
