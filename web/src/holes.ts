// A raw disk written into a file sized with zeros (OPFS's truncate extends a
// file with zeros) needs only its non-zero bytes written: the all-zero grains
// are left as they are, as the library's Node file paths leave them.
import { isAllZero } from 'vhdx-stream';

/** Grain of hole detection, aligned to the disk: the library's, 64 KiB (qemu-img uses 4 KiB; larger keeps writes large). */
export const HOLE_GRAIN = 64 * 1024;

/**
 * The stretches of `bytes` (the disk from `position` on) that hold data, as
 * `[from, to)` offsets into `bytes`: runs of grains with a non-zero byte,
 * neighbours joined so each run is one write.
 */
export function dataRuns(bytes: Uint8Array, position: number, grain = HOLE_GRAIN): [number, number][] {
  const runs: [number, number][] = [];
  for (let at = 0; at < bytes.length; ) {
    const end = Math.min(bytes.length, at + grain - ((position + at) % grain));
    if (!isAllZero(bytes.subarray(at, end))) {
      const previous = runs[runs.length - 1];
      if (previous && previous[1] === at) previous[1] = end;
      else runs.push([at, end]);
    }
    at = end;
  }
  return runs;
}
