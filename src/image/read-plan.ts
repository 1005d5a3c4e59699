// How the data extents of a range are read. A differencing chain's disk
// alternates between its files in stretches of a few KiB (the changed
// sectors of partially present blocks), and one read costs about as much as
// copying a few hundred KiB: so neighbouring stretches of one file are read
// together, gaps included, and then copied into place.
import { MiB } from '../format/bytes.js';
import type { Extent } from './types.js';

/** A data extent: bytes of the disk stored in the file of chain level `level`. */
export type DataExtent = Extent & { kind: 'data' };

/** Largest gap between two stretches of one file that are still read together. */
export const GATHER_GAP = 256 * 1024;
/** Longest read that gathers several stretches (the buffer it goes through). */
export const GATHER_SPAN = 4 * MiB;

/** One read of a file: `[fileOffset, +length)` of chain level `level`, holding `pieces`. */
export interface PlannedRead {
  level: number;
  fileOffset: number;
  length: number;
  /** Each at `piece.fileOffset - fileOffset` in the read, in the order given. */
  pieces: DataExtent[];
}

/**
 * Groups `extents` into reads: an extent joins the last read of its level when
 * it starts at most `maxGap` bytes after that read's end in the file and the
 * read stays within `maxSpan` bytes; otherwise it starts a read of its own. A
 * read with one piece holds exactly that extent, of any length.
 */
export function planReads(extents: readonly DataExtent[], maxGap = GATHER_GAP, maxSpan = GATHER_SPAN): PlannedRead[] {
  const lastOfLevel = new Map<number, PlannedRead>();
  const reads: PlannedRead[] = [];
  for (const e of extents) {
    const last = lastOfLevel.get(e.level);
    const lastEnd = last ? last.fileOffset + last.length : 0;
    const end = e.fileOffset + e.length;
    if (last && e.fileOffset >= lastEnd && e.fileOffset - lastEnd <= maxGap && end - last.fileOffset <= maxSpan) {
      last.length = end - last.fileOffset;
      last.pieces.push(e);
      continue;
    }
    const read = { level: e.level, fileOffset: e.fileOffset, length: e.length, pieces: [e] };
    lastOfLevel.set(e.level, read);
    reads.push(read);
  }
  return reads;
}

/**
 * The longest of `reads` gathering several stretches that lie in its file as they lie on the disk (the
 * same distance apart): read straight into place, it needs no copy, but it writes over the gaps between
 * its stretches too. Undefined when there is none.
 */
export function longestInPlace(reads: readonly PlannedRead[]): PlannedRead | undefined {
  let best: PlannedRead | undefined;
  for (const read of reads) {
    if (read.pieces.length < 2 || (best && best.length >= read.length)) continue;
    const shift = read.fileOffset - read.pieces[0]!.offset;
    if (read.pieces.every((p) => p.fileOffset - p.offset === shift)) best = read;
  }
  return best;
}

/** The data of one window of the disk: `[position, +length)` spans its extents, the first and last included. */
export interface DataWindow {
  position: number;
  length: number;
  extents: DataExtent[];
}

/**
 * The data extents (in disk order) cut into windows of the disk `size` bytes
 * long and aligned to it, each window that holds data once: a file path reads
 * and writes a window at a time, however finely the chain splits it.
 */
export function* dataWindows(extents: Iterable<DataExtent>, size: number): Generator<DataWindow> {
  let window: DataWindow | undefined;
  for (const e of extents) {
    for (let at = e.offset, end = e.offset + e.length; at < end; ) {
      const index = Math.floor(at / size);
      const stop = Math.min(end, (index + 1) * size);
      if (window && Math.floor(window.position / size) === index) window.length = stop - window.position;
      else {
        if (window) yield window;
        window = { position: at, length: stop - at, extents: [] };
      }
      const whole = at === e.offset && stop === end;
      window.extents.push(
        whole ? e : { kind: 'data', offset: at, length: stop - at, fileOffset: e.fileOffset + (at - e.offset), level: e.level },
      );
      at = stop;
    }
  }
  if (window) yield window;
}
