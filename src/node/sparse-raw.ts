// A raw disk image written into a file created (or truncated) for this run,
// so that unwritten ranges read as zeros: every all-zero grain (HOLE_GRAIN,
// aligned to the disk) is left as a hole, as qemu-img leaves them, and the
// data between holes is written straight from the caller's buffer, never
// copied. One grain for every raw output, whichever route made the disk.
import type { FileHandle } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { dataRuns } from '../layout/sparse.js';
import { DEFAULT_WRITE_CONTEXT, startWrites } from './file-io.js';

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
    const runs = dataRuns(bytes, position);
    startWrites(this.file, runs, pending, this.context);
    return runs.reduce((n, run) => n + run.data.length, 0);
  }

  /** Gives the file the disk's length: a trailing hole is never written. */
  async finish(diskSize: number): Promise<void> {
    await this.file.truncate(diskSize).catch((err) => {
      throw asVhdxError(err, 'write-failed', this.context);
    });
  }
}
