// Collects free runs as they are found, in ascending order: joins runs that
// touch, aligns each inward to 4 KiB, keeps only runs of the minimum length,
// and stops keeping (counting instead) past the most ranges allowed.
import type { DiskRange } from './types.js';

export const TRIM_ALIGN = 4096;

export class FreeRuns {
  readonly ranges: DiskRange[] = [];
  dropped = 0;
  freeBytes = 0;
  private start = -1;
  private end = -1;

  constructor(
    private readonly minRun: number,
    private readonly maxRanges: number,
  ) {}

  /** Adds the free disk bytes [start, end); calls must come in ascending order. */
  add(start: number, end: number): void {
    if (end <= start) return;
    if (start === this.end) {
      this.end = end;
      return;
    }
    this.close();
    this.start = start;
    this.end = end;
  }

  /** Closes the open run (at a used block, or at the end). */
  close(): void {
    if (this.end < 0) return;
    const lo = Math.ceil(this.start / TRIM_ALIGN) * TRIM_ALIGN;
    const hi = Math.floor(this.end / TRIM_ALIGN) * TRIM_ALIGN;
    this.start = this.end = -1;
    if (hi - lo < this.minRun) return;
    if (this.ranges.length >= this.maxRanges) {
      this.dropped++;
      return;
    }
    this.ranges.push({ offset: lo, length: hi - lo });
    this.freeBytes += hi - lo;
  }
}
