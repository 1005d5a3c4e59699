// Positional reads and writes on a Node FileHandle that loop until the whole
// range is done (the OS may transfer less than asked in one call).
import { constants, write, writeSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { VhdxError, asVhdxError } from '../errors.js';
import type { Placed } from '../layout/plan.js';

/** Reads into `target` from `position`; returns fewer bytes only at end of file. */
export async function readFully(fh: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await fh.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

export async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Writes all of `data` at `position` of descriptor `fd` on the calling thread
 * (blocking it until the OS took the bytes: for small writes into the page
 * cache a few microseconds, against a thread-pool round trip of tens).
 */
export function writeFullySync(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}

/**
 * Opens `path` for writing from scratch, as flag 'w' does (created when missing, a regular file
 * emptied), but without asking for truncation when the file is already empty: the temporary file
 * every output is written under (see prepareOutput) is. On ext4 a truncation marks the file for a
 * flush when it is closed (its replace-by-truncate safeguard), and that flush made the closing
 * process allocate and start writing back all the data it had just written: 0.2-0.25 s of a 0.55 s
 * conversion of 640 MiB.
 * @throws the system error of the open or the truncation
 */
export async function openForWriting(path: string): Promise<FileHandle> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT, 0o666);
  try {
    const info = await fh.stat();
    if (info.isFile() && info.size > 0) await fh.truncate(0);
    return fh;
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
}

/** How a failed write's message begins unless a caller names its output. */
export const DEFAULT_WRITE_CONTEXT = 'conversion failed';

/**
 * Starts a positional write of each of `runs` (what the placement engine or dataRuns gives), not
 * awaited: each one's promise goes to `pending`, and the buffers the runs view must stay untouched
 * until they settle. A failed write rejects with VhdxError `write-failed`, its message prefixed by `context`.
 */
export function startWrites(fh: FileHandle, runs: readonly Placed[], pending: Promise<unknown>[], context = DEFAULT_WRITE_CONTEXT): void {
  for (const run of runs) {
    pending.push(
      writeFully(fh, run.data, run.position).catch((err) => {
        throw asVhdxError(err, 'write-failed', context);
      }),
    );
  }
}

/** Writes all of `data` to a descriptor at its current offset, off the main thread. */
export async function appendFully(fd: number, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length; ) {
    done += await new Promise<number>((resolve, reject) =>
      write(fd, data, done, data.length - done, null, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

/**
 * Refuses an output that is the input itself (the same file under any name):
 * creating the output truncates it, and the input would be lost.
 * @throws VhdxError 'output-is-input'
 */
export async function refuseSameFile(input: string, output: string): Promise<void> {
  if (await isSameFile(input, output)) {
    throw new VhdxError('output-is-input', `the output ${output} is the input file ${input}; converting in place would destroy it`);
  }
}

/** True when both paths exist and name one file (the same device and inode: links, symlinks and other spellings too). */
export async function isSameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
}

/** True for a Node FileHandle (what `fs/promises.open` gives), told apart from the web targets and sources. */
export function isFileHandle(x: unknown): x is FileHandle {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as { fd?: unknown }).fd === 'number' &&
    typeof (x as { stat?: unknown }).stat === 'function'
  );
}
