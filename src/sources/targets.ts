// Adapters from every kind of seekable sink to the writing half of the file
// seam (types.ts): write at a position.
import { VhdxError } from '../errors.js';
import { isSyncAccessHandle, syncHandleFile } from './opfs.js';
import type { SyncAccessHandleLike, WritableFile } from './types.js';

/** A sink that accepts writes at byte positions. */
export interface PositionalTarget {
  write(data: Uint8Array, position: number): unknown;
  close?(): unknown;
  truncate?(size: number): unknown;
  /** Writes at distinct positions may be in flight at once; otherwise each is awaited before the next starts. */
  concurrentWrites?: boolean;
}

/** Every kind of target the positional writer accepts in every runtime (the Node entry adds paths and FileHandles). */
export type TargetInput = PositionalTarget | FileSystemWritableFileStream | SyncAccessHandleLike;

/**
 * Opens any target a browser, Worker or Node program can hand over without a
 * file system. Paths and FileHandles are the Node entry's (src/node/file-target.ts).
 * @throws VhdxError `INVALID_ARGUMENT` (`unsupported-target`) for anything else; the
 *   opened target's write and truncate throw `IO` (`write-failed`) when an OPFS access
 *   handle reports a short or impossible write or resize.
 */
export async function openTarget(input: TargetInput): Promise<WritableFile> {
  if (typeof input !== 'object' || input === null || typeof (input as { write?: unknown }).write !== 'function') {
    const hint = typeof input === 'string' ? ": file paths need the Node entry, 'vhdx-stream/node'" : '';
    throw new VhdxError(
      'unsupported-target',
      `unsupported target${hint}; pass a FileSystemWritableFileStream, an OPFS access handle or { write(data, position) }`,
    );
  }
  if (isSyncAccessHandle(input)) return syncHandleFile(input);
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
