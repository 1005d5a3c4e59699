// A Node FileHandle as a file of the seam (src/sources/types.ts): both
// halves, with positional reads and writes that loop until done. A file
// changed in place makes its small writes on the calling thread (see
// NodeFileOptions.syncWriteLimit for the measurement and the trade-off).
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { VhdxError, asVhdxError } from '../errors.js';
import { KiB } from '../format/bytes.js';
import { openWritableFile, type WritableFileInput } from '../sources/writable.js';
import type { HoleMap, RandomAccessFile } from '../sources/types.js';
import { holeMapOf } from './holes.js';
import { isFileHandle, readFully, writeFully, writeFullySync } from './file-io.js';

/** Default of {@link NodeFileOptions.syncWriteLimit}: 64 KiB. */
export const SYNC_WRITE_LIMIT = 64 * KiB;

/** Options of a Node file changed in place (a path or FileHandle opened writable). */
export interface NodeFileOptions {
  /**
   * Writes of at most this many bytes (default 64 KiB) are made on the calling
   * thread, a blocking `pwrite`, instead of through libuv's thread pool: a 4 KiB
   * write into the page cache takes about 2 µs that way against about 20 µs for
   * the pool's round trip, which is most of what a small overwrite costs
   * (docs/writing.md, "Small writes on the calling thread"). The event loop is
   * blocked while the OS takes the bytes: microseconds into the page cache,
   * but longer where the kernel makes writers wait (dirty-page throttling, a
   * network file system). 0 sends every write through the pool. Larger writes,
   * reads, truncates and flushes (fdatasync) always go through the pool.
   * Each write has completed when its promise settles, as before, so the
   * order of writes, reads and flushes that await each other is unchanged.
   */
  syncWriteLimit?: number;
}

/** The limit `options` asks for. @throws VhdxError `invalid-option` for anything but a byte count from 0 to 2^31 - 1. */
function syncWriteLimitOf(options: NodeFileOptions): number {
  const limit = options.syncWriteLimit ?? SYNC_WRITE_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > 0x7fffffff) {
    throw new VhdxError('invalid-option', `syncWriteLimit must be a byte count from 0 to 2^31 - 1, got ${String(limit)}`, {
      structure: 'options',
      field: 'syncWriteLimit',
    });
  }
  return limit;
}

/**
 * Adapts `fh`, `size` bytes long now; the size follows this adapter's own
 * writes and truncates. `close` closes the handle only when `owns`; `flush` is
 * fdatasync (sizes included: Linux syncs the size a write or truncate changed
 * with the data). Writes of at most `syncWriteLimit` bytes are made on the
 * calling thread (see {@link NodeFileOptions.syncWriteLimit}; 0: none).
 */
export function fileHandleFile(fh: FileHandle, size: number, owns: boolean, holes?: HoleMap, syncWriteLimit = 0): RandomAccessFile {
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
      if (data.length <= syncWriteLimit) writeFullySync(fh.fd, data, position);
      else await writeFully(fh, data, position);
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

/**
 * Adapts `fh` with its size now, and its hole map where the runtime can ask for one (see holes.ts);
 * writes of at most `syncWriteLimit` bytes on the calling thread (0: none).
 */
export async function fileHandleFileOf(fh: FileHandle, owns: boolean, syncWriteLimit = 0): Promise<RandomAccessFile> {
  const { size } = await fh.stat();
  let file: RandomAccessFile | undefined;
  const holes = await holeMapOf(fh.fd, () => file?.size ?? size);
  file = fileHandleFile(fh, size, owns, holes, syncWriteLimit);
  return file;
}

/** What the Node entry opens for writing in place: a path, a `file:` URL, a FileHandle, or what every runtime takes. */
export type NodeWritableFileInput = WritableFileInput | string | URL | FileHandle;

/**
 * Opens a file for changing in place (never created, never truncated here);
 * a path or FileHandle makes its small writes on the calling thread
 * ({@link NodeFileOptions.syncWriteLimit}).
 * @throws VhdxError IO `open-failed` when the path cannot be opened for reading
 *   and writing; `source-not-writable` as {@link openWritableFile}; `invalid-option` for a bad `syncWriteLimit`.
 */
export async function openNodeWritableFile(input: NodeWritableFileInput, options: NodeFileOptions = {}): Promise<RandomAccessFile> {
  const syncWriteLimit = syncWriteLimitOf(options);
  if (isFileHandle(input)) return fileHandleFileOf(input, false, syncWriteLimit);
  const path = fileUrlPath(input) ?? (typeof input === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : undefined);
  if (path === undefined) return openWritableFile(input);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    throw asVhdxError(err, 'open-failed', `cannot open ${path} for writing`);
  }
  return fileHandleFileOf(fh, true, syncWriteLimit);
}
