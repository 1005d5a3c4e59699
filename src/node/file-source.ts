// Node file sources: a path or an open FileHandle, read with positional reads.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { asVhdxError } from '../errors.js';
import { openSource, type HttpSourceOptions, type RandomAccessSource, type SourceInput } from '../sources/index.js';
import { isFileHandle, readFully } from './file-io.js';

/** What the Node entry's `openVhdx()` and `scanAllocation()` accept: every runtime's inputs, plus paths and FileHandles. */
export type NodeSourceInput = SourceInput | string | FileHandle;

export async function fileHandleSource(fh: FileHandle, ownsHandle: boolean): Promise<RandomAccessSource> {
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const buf = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      const n = await readFully(fh, buf, offset).catch((err) => {
        throw asVhdxError(err, 'read-failed', `read at ${offset} failed`);
      });
      return n === buf.length ? buf : buf.subarray(0, n);
    },
    async readInto(target, offset) {
      return readFully(fh, target, offset).catch((err) => {
        throw asVhdxError(err, 'read-failed', `read at ${offset} failed`);
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
    throw asVhdxError(err, 'open-failed', `cannot open ${path}`);
  }
  return fileHandleSource(fh, true);
}

/** Opens a path, a `file:` URL or a FileHandle, or anything {@link openSource} takes. The caller closes it. */
export async function openNodeSource(input: NodeSourceInput, http: HttpSourceOptions = {}): Promise<RandomAccessSource> {
  if (input instanceof URL && input.protocol === 'file:') return pathSource(fileURLToPath(input));
  if (typeof input === 'string' && /^file:/i.test(input)) return pathSource(fileURLToPath(input));
  if (typeof input === 'string' && !/^https?:\/\//i.test(input)) return pathSource(input);
  if (isFileHandle(input)) return fileHandleSource(input, false);
  return openSource(input as SourceInput, http);
}
