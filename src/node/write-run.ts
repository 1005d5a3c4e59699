// Gathers pieces of one buffer that land back to back in a file into single
// positional writes: the sparse outputs split their input at every hole, and
// the data between holes should still go out in as few writes as possible.
import type { FileHandle } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { writeFully } from './file-io.js';

export { HOLE_GRAIN } from '../layout/sparse.js';

/** How a failed write's message begins unless a caller names its output. */
export const DEFAULT_WRITE_CONTEXT = 'conversion failed';

export class WriteRun {
  private start = -1; // output position of the run
  private from = 0; // its start in the buffer
  private length = 0;
  private buffer: Uint8Array | undefined;

  /**
   * @param pending where each write's promise goes; the buffer it reads from
   *   must stay untouched until it settles. A failed write rejects with
   *   VhdxError reason 'write-failed', its message prefixed by `context`.
   */
  constructor(
    private readonly out: FileHandle,
    private readonly pending: Promise<unknown>[],
    private readonly context = DEFAULT_WRITE_CONTEXT,
  ) {}

  /** Adds `piece` (bytes `at`.. of `buffer`) at file `position`; -1 means it is not written (a hole). */
  add(piece: Uint8Array, position: number, buffer: Uint8Array, at: number): void {
    if (
      position >= 0 &&
      this.start >= 0 &&
      this.buffer === buffer &&
      this.start + this.length === position &&
      this.from + this.length === at
    ) {
      this.length += piece.length;
      return;
    }
    this.flush();
    if (position < 0) return;
    this.start = position;
    this.from = at;
    this.length = piece.length;
    this.buffer = buffer;
  }

  /** Starts the write of the run gathered so far. */
  flush(): void {
    if (this.start < 0 || !this.buffer) return;
    const written = writeFully(this.out, this.buffer.subarray(this.from, this.from + this.length), this.start).catch((err) => {
      throw asVhdxError(err, 'write-failed', this.context);
    });
    this.pending.push(written);
    this.start = -1;
  }
}
