// Which bytes of the virtual disk come from where: the answer to every read,
// computed from the model alone, so callers move the bytes themselves.
import { MiB } from '../format/bytes.js';
import { BlockState } from '../format/bat.js';
import type { ImageModel } from './load.js';
import type { Extent } from './types.js';

/** Maps a virtual range onto extents, merging neighbours of the same kind. */
export function resolveExtents(model: ImageModel, start: number, end: number): Extent[] {
  const out: Extent[] = [];
  const { blockSize, states, offsetsMiB } = model;
  let pos = start;
  while (pos < end) {
    const block = Math.floor(pos / blockSize);
    const inBlock = pos - block * blockSize;
    const length = Math.min(end - pos, blockSize - inBlock);
    const state = states[block]!;
    const last = out[out.length - 1];
    if (state >= BlockState.FULLY_PRESENT) {
      const fileOffset = offsetsMiB[block]! * MiB + inBlock;
      if (last?.kind === 'data' && last.fileOffset + last.length === fileOffset) last.length += length;
      else out.push({ kind: 'data', offset: pos, length, fileOffset });
    } else {
      const kind = state === BlockState.UNMAPPED ? 'unmapped' : 'zero';
      if (last?.kind === kind) last.length += length;
      else out.push({ kind, offset: pos, length });
    }
    pos += length;
  }
  return out;
}
