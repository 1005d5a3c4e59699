// A one-line progress bar on stderr: bytes done, rate and time left.
import type { WriteStream } from 'node:tty';

export class Progress {
  private readonly started = performance.now();
  private last = 0;

  constructor(private readonly out: NodeJS.WriteStream | WriteStream) {}

  update(done: number, total: number): void {
    const now = performance.now();
    if (now - this.last < 100 && done < total) return;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)}s left` : '';
    const mb = (n: number) => (n / 1048576).toFixed(0);
    this.out.write(`\r[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(done)}/${mb(total)} MiB ${mb(rate)} MiB/s ${eta}   `);
  }

  done(): void {
    if (this.last > 0) this.out.write('\n');
  }
}
