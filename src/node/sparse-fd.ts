// Bytes written in order onto a descriptor that is a regular file (stdout
// redirected to a file), the all-zero grains of the output left as holes, as
// a sparse file output leaves them. The output starts where the descriptor
// stands: at the end of the file when it was opened for append (`>>`), else
// at its offset. Holes need the position of every write, which Node gives
// only as positional writes, so the descriptor's own offset is not advanced
// (with O_APPEND every write lands at the end anyway); a hole at the end is
// made by extending the file. Holes are only made past the file's end, where
// unwritten bytes read as zeros: an output that overwrites existing bytes is
// written whole.
import { fstat as fstatCb, fstatSync, ftruncate as ftruncateCb, write } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { WriteBatch } from '../streams/write-batch.js';
import { isAllZero } from '../wasm/kernels.js';
import { HOLE_GRAIN } from '../layout/sparse.js';

const fsWrite = promisify(write);
const fstat = promisify(fstatCb);
const ftruncate = promisify(ftruncateCb);
const O_APPEND = 0o2000; // Linux, every architecture Node runs on

/** Where the descriptor writes, as Linux's /proc tells it; undefined where it does not. */
async function descriptorState(fd: number): Promise<{ position: number; append: boolean } | undefined> {
  const text = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => undefined);
  const pos = text && /^pos:\s*(\d+)/m.exec(text);
  const flags = text && /^flags:\s*([0-7]+)/m.exec(text);
  if (!pos || !flags) return undefined;
  return { position: Number(pos[1]), append: (parseInt(flags[1]!, 8) & O_APPEND) !== 0 };
}

/**
 * A sequential writer onto `fd` that leaves zero grains as holes, or
 * undefined when `fd` is not a regular file written at its end (or the
 * platform does not say where it writes): the caller then writes in order.
 */
export async function openSparseFdWriter(fd: number): Promise<SparseFdWriter | undefined> {
  const st = fstatSync(fd);
  if (!st.isFile()) return undefined;
  const state = await descriptorState(fd);
  if (!state) return undefined;
  const { size } = st;
  if (!state.append && state.position < size) return undefined; // existing bytes under the output
  return new SparseFdWriter(fd, state.append ? size : state.position, state.append);
}

/** See the module comment. `write` is done with its bytes when it returns. */
export class SparseFdWriter {
  private position = 0; // output bytes given so far
  private fileEnd = 0; // output bytes the file holds (written or extended)
  private readonly stage = new Uint8Array(HOLE_GRAIN); // a grain split across writes
  private staged = 0;
  private readonly batch: WriteBatch;

  /**
   * @param fd a regular file
   * @param start the file offset of the output's first byte (the file must end there)
   * @param append whether `fd` was opened with O_APPEND (writes land at the end, whatever their position)
   */
  constructor(
    private readonly fd: number,
    private readonly start: number,
    private readonly append: boolean,
  ) {
    this.batch = new WriteBatch((data, position) => this.writeAt(data, position));
  }

  /** Appends `data` to the output. */
  async write(data: Uint8Array): Promise<void> {
    let at = 0;
    if (this.staged > 0) {
      const n = Math.min(data.length, this.grainLength(this.position - this.staged) - this.staged);
      this.stage.set(data.subarray(0, n), this.staged);
      this.staged += n;
      this.position += n;
      at = n;
      if (this.staged < this.grainLength(this.position - this.staged)) return;
      await this.grain(this.stage.subarray(0, this.staged), this.position - this.staged);
      this.staged = 0;
    }
    // whole grains straight from `data`, neighbouring data grains as one write
    let run = -1;
    while (at < data.length) {
      const length = this.grainLength(this.position);
      if (data.length - at < length) break;
      const zero = isAllZero(data.subarray(at, at + length));
      if (zero && run >= 0) {
        await this.batch.add(data.subarray(run, at), this.position - (at - run));
        run = -1;
      } else if (!zero && run < 0) {
        run = at;
      }
      at += length;
      this.position += length;
    }
    if (run >= 0) await this.batch.add(data.subarray(run, at), this.position - (at - run));
    if (at < data.length) {
      this.stage.set(data.subarray(at), 0);
      this.staged = data.length - at;
      this.position += this.staged;
    }
  }

  /** Writes what is staged and gives the file its full length (a trailing hole is never written). */
  async end(): Promise<void> {
    if (this.staged > 0) await this.grain(this.stage.subarray(0, this.staged), this.position - this.staged);
    this.staged = 0;
    await this.batch.flush();
    if (this.fileEnd < this.position) await this.extendTo(this.position);
  }

  /** Bytes from output position `position` to the next grain boundary of the file. */
  private grainLength(position: number): number {
    return HOLE_GRAIN - ((this.start + position) % HOLE_GRAIN);
  }

  private async grain(bytes: Uint8Array, position: number): Promise<void> {
    if (!isAllZero(bytes)) await this.batch.add(bytes, position);
  }

  private async extendTo(position: number): Promise<void> {
    const { size } = await fstat(this.fd);
    if (size < this.start + position) await ftruncate(this.fd, this.start + position);
    this.fileEnd = position;
  }

  private async writeAt(data: Uint8Array, position: number): Promise<void> {
    // with O_APPEND the position is ignored: a hole before the data is made by extending the file
    if (this.append && this.fileEnd < position) await this.extendTo(position);
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await fsWrite(this.fd, data, done, data.length - done, this.append ? null : this.start + position + done);
      done += bytesWritten;
    }
    this.fileEnd = Math.max(this.fileEnd, position + data.length);
  }
}
