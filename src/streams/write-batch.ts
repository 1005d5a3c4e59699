// Small writes that land back to back, gathered into one. A fetch body or a
// pipe delivers 16-64 KiB per chunk; writing each on its own costs a kernel
// call (and in Node a thread-pool round trip) per chunk. Copying them into a
// buffer owned here is cheaper than that, and the buffer is reused, so the
// copy is the only cost. Large pieces are written as they are.
import { MiB } from '../format/bytes.js';

/** One piece of {@link WriteBatch.addScattered}. */
export interface ScatteredPiece {
  data: Uint8Array;
  position: number;
}

/** Writes addScattered keeps in flight at once. */
const SCATTERED_IN_FLIGHT = 32;

export class WriteBatch {
  private readonly buffer: Uint8Array;
  private start = 0; // target position of buffer[0]
  private length = 0;

  /**
   * @param write writes `data` at `position`; it must be done with `data`
   *   when its promise settles (the buffer is refilled after that).
   * @param concurrent whether `write` takes writes at distinct positions in flight at once
   */
  constructor(
    private readonly write: (data: Uint8Array, position: number) => Promise<void>,
    capacity = MiB,
    private readonly concurrent = false,
  ) {
    this.buffer = new Uint8Array(capacity);
  }

  /**
   * Writes pieces that lie apart (a child block's changed sectors): with a target that takes
   * concurrent writes, up to SCATTERED_IN_FLIGHT at once straight from their bytes (which must stay
   * as they are until this settles), as a round trip each would cost as much as the rest together;
   * otherwise one by one through add().
   */
  async addScattered(pieces: readonly ScatteredPiece[]): Promise<void> {
    if (!this.concurrent) {
      for (const p of pieces) await this.add(p.data, p.position);
      return;
    }
    await this.flush();
    for (let i = 0; i < pieces.length; i += SCATTERED_IN_FLIGHT) {
      const settled = await Promise.allSettled(pieces.slice(i, i + SCATTERED_IN_FLIGHT).map((p) => this.write(p.data, p.position)));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
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
