// Opening a file with both halves of the seam, to be changed in place: an OPFS
// access handle or a caller's own object. Bytes, Blobs and URLs have no
// writing half and are refused here; Node paths and FileHandles are the Node
// entry's (src/node/file.ts).
import { VhdxError } from '../errors.js';
import { isSyncAccessHandle, syncHandleFile } from './opfs.js';
import type { CustomFile, RandomAccessFile, SyncAccessHandleLike } from './types.js';

/** What can be opened for writing in place in every runtime. */
export type WritableFileInput = SyncAccessHandleLike | CustomFile;

function isCustomFile(x: unknown): x is CustomFile {
  if (typeof x !== 'object' || x === null) return false;
  const f = x as Record<string, unknown>;
  return (
    typeof f.size === 'number' &&
    typeof f.read === 'function' &&
    typeof f.write === 'function' &&
    typeof f.truncate === 'function' &&
    typeof f.flush === 'function'
  );
}

function describe(input: unknown): string {
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return 'bytes in memory';
  if (typeof Blob !== 'undefined' && input instanceof Blob) return 'a Blob or File (read-only)';
  if (input instanceof URL || typeof input === 'string') return `${String(input)} (a URL or path)`;
  if (typeof input === 'object' && input !== null) {
    const missing = ['size', 'read', 'write', 'truncate', 'flush'].filter((k) =>
      k === 'size'
        ? typeof (input as Record<string, unknown>)[k] !== 'number'
        : typeof (input as Record<string, unknown>)[k] !== 'function',
    );
    return `an object without ${missing.join(', ')}`;
  }
  return typeof input;
}

/** Adapts a caller's own file; plain and promised results alike. */
function customFile(f: CustomFile): RandomAccessFile {
  return {
    size: f.size,
    async read(offset, length) {
      return await f.read(offset, length);
    },
    async write(data, position) {
      await f.write(data, position);
    },
    async truncate(size) {
      await f.truncate(size);
    },
    async flush() {
      await f.flush();
    },
    async close() {
      await f.close?.();
    },
  };
}

/**
 * Opens a file for changing in place: an OPFS `FileSystemSyncAccessHandle` (in
 * a Worker) or `{ size, read, write, truncate, flush }`.
 * @throws VhdxError `INVALID_ARGUMENT` (`source-not-writable`) for inputs that
 *   cannot be written (bytes, Blobs, URLs, read-only sources), naming what is missing.
 */
export function openWritableFile(input: unknown): RandomAccessFile {
  if (isSyncAccessHandle(input) && typeof (input as SyncAccessHandleLike).read === 'function') return syncHandleFile(input);
  if (isCustomFile(input)) return customFile(input);
  const hint = typeof input === 'string' && !/^https?:/i.test(input) ? "; file paths need the Node entry, 'vhdx-stream/node'" : '';
  throw new VhdxError(
    'source-not-writable',
    `${describe(input)} cannot be written in place: pass an OPFS access handle or { size, read, write, truncate, flush }${hint}`,
    { structure: 'source' },
  );
}
