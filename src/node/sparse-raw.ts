// A raw disk image written into a file created (or truncated) for this run,
// so that unwritten ranges read as zeros: every all-zero grain (HOLE_GRAIN,
// aligned to the disk) is left as a hole, as qemu-img leaves them, and the
// data between holes is written straight from the caller's buffer, never
// copied. One grain for every raw output, whichever route made the disk.
import type { FileHandle } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { isAllZero } from '../wasm/kernels.js';
import { DEFAULT_WRITE_CONTEXT, HOLE_GRAIN, WriteRun } from './write-run.js';

export class SparseRawOutput {
  /**
   * @param file a fresh or truncated file: what is never written must read as zeros
   * @param context prefix of a failed write's message (VhdxError reason 'write-failed')
   */
  constructor(
    private readonly file: FileHandle,
    private readonly context = DEFAULT_WRITE_CONTEXT,
  ) {}

  /**
   * Writes the non-zero grains of `bytes`, which is the disk from `position`
   * on. The writes are started, not awaited: each one's promise goes to
   * `pending`, and `bytes` must stay untouched until they settle. Returns the
   * number of bytes written (the rest were holes).
   */
  place(bytes: Uint8Array, position: number, pending: Promise<unknown>[]): number {
    const run = new WriteRun(this.file, pending, this.context);
    let written = 0;
    for (let at = 0; at < bytes.length; ) {
      const grainEnd = (Math.floor((position + at) / HOLE_GRAIN) + 1) * HOLE_GRAIN;
      const piece = bytes.subarray(at, Math.min(bytes.length, at + grainEnd - (position + at)));
      const zero = isAllZero(piece);
      run.add(piece, zero ? -1 : position + at, bytes, at);
      if (!zero) written += piece.length;
      at += piece.length;
    }
    run.flush();
    return written;
  }

  /** Gives the file the disk's length: a trailing hole is never written. */
  async finish(diskSize: number): Promise<void> {
    await this.file.truncate(diskSize).catch((err) => {
      throw asVhdxError(err, 'write-failed', this.context);
    });
  }
}
