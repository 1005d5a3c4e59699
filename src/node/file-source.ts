// Node file sources: a path or an open FileHandle, read with positional reads.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { readFully } from './file-io.js';
import type { RandomAccessSource } from '../sources/types.js';

export async function fileHandleSource(fh: FileHandle, ownsHandle: boolean): Promise<RandomAccessSource> {
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const buf = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      const n = await readFully(fh, buf, offset).catch((err) => {
        throw asVhdxError(err, 'IO', `read at ${offset} failed`);
      });
      return n === buf.length ? buf : buf.subarray(0, n);
    },
    async readInto(target, offset) {
      return readFully(fh, target, offset).catch((err) => {
        throw asVhdxError(err, 'IO', `read at ${offset} failed`);
      });
    },
    async close() {
      if (ownsHandle) await fh.close();
    },
  };
}

export async function pathSource(path: string): Promise<RandomAccessSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw asVhdxError(err, 'IO', `cannot open ${path}`);
  }
  return fileHandleSource(fh, true);
}
