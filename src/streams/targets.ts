// Adapters from every kind of seekable sink to one shape: write at a position.
import { VhdxError } from '../errors.js';

/** A sink that accepts writes at byte positions. */
export interface PositionalTarget {
  write(data: Uint8Array, position: number): unknown;
  close?(): unknown;
  truncate?(size: number): unknown;
  /**
   * @internal writes at distinct positions may be in flight at once (a Node FileHandle's);
   * otherwise each is awaited before the next starts.
   */
  concurrentWrites?: boolean;
}

/** The parts of an OPFS FileSystemSyncAccessHandle (worker-only type) we use. */
export interface SyncAccessHandleLike {
  getSize(): number;
  write(data: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/** Every kind of target the positional writer accepts in every runtime (the Node entry adds paths and FileHandles). */
export type TargetInput = PositionalTarget | FileSystemWritableFileStream | SyncAccessHandleLike;

/** The normalized target. */
export interface OpenTarget {
  write(data: Uint8Array, position: number): Promise<void>;
  /** Writes at distinct positions may be in flight at once (see PositionalTarget). */
  concurrentWrites?: boolean;
  truncate?(size: number): Promise<void>;
  close(): Promise<void>;
  /**
   * Gives the target up after a failure, leaving what it held before as it
   * was where the target can (a picked file's writable stream drops its
   * pending changes; the Node path target removes its temporary file).
   */
  discard?(): Promise<void>;
}

/**
 * Opens any target a browser, Worker or Node program can hand over without a
 * file system. Paths and FileHandles are the Node entry's (src/node/file-target.ts).
 * @throws VhdxError `INVALID_ARGUMENT` (`unsupported-target`) for anything else; the
 *   opened target's write and truncate throw `IO` (`write-failed`) when an OPFS access
 *   handle reports a short or impossible write or resize.
 */
export async function openTarget(input: TargetInput): Promise<OpenTarget> {
  if (typeof input !== 'object' || input === null || typeof (input as { write?: unknown }).write !== 'function') {
    const hint = typeof input === 'string' ? ": file paths need the Node entry, 'vhdx-stream/node'" : '';
    throw new VhdxError(
      'unsupported-target',
      `unsupported target${hint}; pass a FileSystemWritableFileStream, an OPFS access handle or { write(data, position) }`,
    );
  }
  if (typeof (input as SyncAccessHandleLike).getSize === 'function') {
    const h = input as SyncAccessHandleLike;
    return {
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
      async close() {
        h.flush();
        h.close();
      },
    };
  }
  if (typeof (input as FileSystemWritableFileStream).seek === 'function') {
    const w = input as FileSystemWritableFileStream;
    return {
      async write(data, position) {
        await w.write({ type: 'write', position, data: data as Uint8Array<ArrayBuffer> });
      },
      async truncate(size) {
        await w.truncate(size);
      },
      async close() {
        await w.close();
      },
      // a FileSystemWritableFileStream writes to a swap file until close():
      // aborting drops it, and the file the user picked keeps its contents
      async discard() {
        await w.abort();
      },
    };
  }
  const t = input as PositionalTarget;
  return {
    async write(data, position) {
      await t.write(data, position);
    },
    ...(t.concurrentWrites === true ? { concurrentWrites: true } : {}),
    ...(typeof t.truncate === 'function' ? { truncate: async (size: number) => void (await t.truncate!(size)) } : {}),
    async close() {
      await t.close?.();
    },
  };
}
