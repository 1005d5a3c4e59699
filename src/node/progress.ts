// A one-line progress bar on stderr: bytes done, rate and time left. With
// the total unknown (raw on stdin without --size) it shows bytes and rate.
import type { WriteStream } from 'node:tty';

const REDRAW_MS = 100;

export class Progress {
  private readonly started = performance.now();
  private last = 0;
  private skipped: [number, number | undefined] | undefined; // the latest state not drawn yet

  constructor(private readonly out: NodeJS.WriteStream | WriteStream | { write(text: string): unknown }) {}

  /** `total` 0 or undefined: not known. */
  update(done: number, total?: number): void {
    const known = total !== undefined && total > 0;
    const now = performance.now();
    // the final state is always drawn; the rest at most every REDRAW_MS
    if (now - this.last < REDRAW_MS && !(known && done >= total)) {
      this.skipped = [done, total];
      return;
    }
    this.skipped = undefined;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const mb = (n: number) => (n / 1048576).toFixed(0);
    if (!known) {
      this.out.write(`\r${mb(done)} MiB ${mb(rate)} MiB/s   `);
      return;
    }
    const frac = Math.min(1, done / total);
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)}s left` : '';
    this.out.write(`\r[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(done)}/${mb(total)} MiB ${mb(rate)} MiB/s ${eta}   `);
  }

  /** Draws the final state if it was skipped, and ends the line. */
  done(): void {
    if (this.skipped) {
      this.last = 0;
      this.update(...this.skipped);
    }
    if (this.last > 0) this.out.write('\n');
  }
}
