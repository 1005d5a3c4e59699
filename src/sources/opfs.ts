// An OPFS FileSystemSyncAccessHandle (in a Worker) as a file with both halves.
import { VhdxError } from '../errors.js';
import type { RandomAccessFile, SyncAccessHandleLike } from './types.js';

/** True for something shaped like an OPFS access handle. */
export function isSyncAccessHandle(x: unknown): x is SyncAccessHandleLike {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as SyncAccessHandleLike).getSize === 'function' &&
    typeof (x as SyncAccessHandleLike).write === 'function'
  );
}

/**
 * Adapts an access handle. Its calls are synchronous; the promises keep the
 * one file shape.
 * @throws (from write and truncate) VhdxError IO `write-failed` when the handle
 *   reports a short or impossible write or resize.
 */
export function syncHandleFile(h: SyncAccessHandleLike): RandomAccessFile {
  const readInto = (target: Uint8Array, offset: number): number => {
    let done = 0;
    if (!h.read) throw new VhdxError('source-not-writable', 'this access handle cannot be read', { structure: 'source' });
    while (done < target.length) {
      const n = h.read(target.subarray(done), { at: offset + done });
      if (!(n > 0)) break;
      done += n;
    }
    return done;
  };
  return {
    size: h.getSize(),
    async read(offset, length) {
      const buf = new Uint8Array(Math.max(0, Math.min(length, h.getSize() - offset)));
      const n = readInto(buf, offset);
      return n === buf.length ? buf : buf.subarray(0, n);
    },
    async readInto(target, offset) {
      return readInto(target, offset);
    },
    async write(data, position) {
      for (let done = 0; done < data.length; ) {
        const wanted = data.length - done;
        const n = h.write(data.subarray(done), { at: position + done });
        // Chromium's in-memory OPFS (incognito) reports a failed write as a count near 2^32 instead of throwing
        if (!(n > 0 && n <= wanted)) {
          throw new VhdxError('write-failed', `the access handle reported ${n} bytes written of ${wanted}`, {
            structure: 'target',
            offset: position + done,
          });
        }
        done += n;
      }
    },
    async truncate(size) {
      h.truncate(size);
      // ... and a resize it could not make as success
      const now = h.getSize();
      if (now !== size)
        throw new VhdxError('write-failed', `the access handle holds ${now} bytes after resizing to ${size}`, { structure: 'target' });
    },
    async flush() {
      h.flush();
    },
    async close() {
      h.flush();
      h.close();
    },
  };
}
