// Small writes that land back to back, gathered into one. A fetch body or a
// pipe delivers 16-64 KiB per chunk; writing each on its own costs a kernel
// call (and in Node a thread-pool round trip) per chunk. Copying them into a
// buffer owned here is cheaper than that, and the buffer is reused, so the
// copy is the only cost. Large pieces are written as they are.
import { MiB } from '../format/bytes.js';

export class WriteBatch {
  private readonly buffer: Uint8Array;
  private start = 0; // target position of buffer[0]
  private length = 0;

  /**
   * @param write writes `data` at `position`; it must be done with `data`
   *   when its promise settles (the buffer is refilled after that).
   */
  constructor(
    private readonly write: (data: Uint8Array, position: number) => Promise<void>,
    capacity = MiB,
  ) {
    this.buffer = new Uint8Array(capacity);
  }

  /** Writes `data` at `position`, now or at a later add() or flush(). */
  async add(data: Uint8Array, position: number): Promise<void> {
    if (this.length > 0 && position === this.start + this.length && this.length + data.length <= this.buffer.length) {
      this.buffer.set(data, this.length);
      this.length += data.length;
      if (this.length === this.buffer.length) await this.flush();
      return;
    }
    await this.flush();
    if (data.length >= this.buffer.length / 2) return this.write(data, position);
    this.buffer.set(data, 0);
    this.start = position;
    this.length = data.length;
  }

  /** Writes whatever is gathered. */
  async flush(): Promise<void> {
    if (this.length === 0) return;
    const n = this.length;
    this.length = 0;
    await this.write(this.buffer.subarray(0, n), this.start);
  }
}
