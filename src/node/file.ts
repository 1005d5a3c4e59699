// A Node FileHandle as a file of the seam (src/sources/types.ts): both
// halves, with positional reads and writes that loop until done.
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { asVhdxError } from '../errors.js';
import { openWritableFile, type WritableFileInput } from '../sources/writable.js';
import type { HoleMap, RandomAccessFile } from '../sources/types.js';
import { holeMapOf } from './holes.js';
import { isFileHandle, readFully, writeFully } from './file-io.js';

/**
 * Adapts `fh`, `size` bytes long now; the size follows this adapter's own
 * writes and truncates. `close` closes the handle only when `owns`; `flush` is
 * fdatasync (sizes included: Linux syncs the size a write or truncate changed
 * with the data).
 */
export function fileHandleFile(fh: FileHandle, size: number, owns: boolean, holes?: HoleMap): RandomAccessFile {
  return {
    get size() {
      return size;
    },
    ...(holes ? { holes } : {}),
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
    async write(data, position) {
      await writeFully(fh, data, position);
      size = Math.max(size, position + data.length);
    },
    concurrentWrites: true,
    async truncate(to) {
      await fh.truncate(to);
      size = to;
    },
    flush: () => fh.datasync(),
    async close() {
      if (owns) await fh.close();
    },
  };
}

/** The path a `file:` URL (a URL or a string) names; undefined for anything else. */
export function fileUrlPath(input: unknown): string | undefined {
  if (input instanceof URL) return input.protocol === 'file:' ? fileURLToPath(input) : undefined;
  return typeof input === 'string' && /^file:/i.test(input) ? fileURLToPath(input) : undefined;
}

/** Adapts `fh` with its size now, and its hole map where the runtime can ask for one (see holes.ts). */
export async function fileHandleFileOf(fh: FileHandle, owns: boolean): Promise<RandomAccessFile> {
  const { size } = await fh.stat();
  let file: RandomAccessFile | undefined;
  const holes = await holeMapOf(fh.fd, () => file?.size ?? size);
  file = fileHandleFile(fh, size, owns, holes);
  return file;
}

/** What the Node entry opens for writing in place: a path, a `file:` URL, a FileHandle, or what every runtime takes. */
export type NodeWritableFileInput = WritableFileInput | string | URL | FileHandle;

/**
 * Opens a file for changing in place (never created, never truncated here).
 * @throws VhdxError IO `open-failed` when the path cannot be opened for reading
 *   and writing; `source-not-writable` as {@link openWritableFile}.
 */
export async function openNodeWritableFile(input: NodeWritableFileInput): Promise<RandomAccessFile> {
  if (isFileHandle(input)) return fileHandleFileOf(input, false);
  const path = fileUrlPath(input) ?? (typeof input === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : undefined);
  if (path === undefined) return openWritableFile(input);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    throw asVhdxError(err, 'open-failed', `cannot open ${path} for writing`);
  }
  return fileHandleFileOf(fh, true);
}
