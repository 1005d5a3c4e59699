// Adapters from every kind of seekable sink to one shape: write at a position.
import { VhdxError, asVhdxError } from '../errors.js';

/** A sink that accepts writes at byte positions. */
export interface PositionalTarget {
  write(data: Uint8Array, position: number): unknown;
  close?(): unknown;
  truncate?(size: number): unknown;
}

/** The parts of an OPFS FileSystemSyncAccessHandle (worker-only type) we use. */
export interface SyncAccessHandleLike {
  getSize(): number;
  write(data: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/** Every kind of target the positional writer accepts. */
export type TargetInput =
  | PositionalTarget
  | string // a Node file path (created or truncated)
  | { readonly fd: number; write: unknown; truncate: unknown } // a Node FileHandle
  | FileSystemWritableFileStream
  | SyncAccessHandleLike;

/** The normalized target. */
export interface OpenTarget {
  write(data: Uint8Array, position: number): Promise<void>;
  truncate?(size: number): Promise<void>;
  close(): Promise<void>;
}

type NodeFileHandle = import('node:fs/promises').FileHandle;

function isNodeFileHandle(x: object): x is NodeFileHandle {
  return typeof (x as { fd?: unknown }).fd === 'number' && typeof (x as { stat?: unknown }).stat === 'function';
}

async function nodeHandleTarget(fh: NodeFileHandle, owns: boolean): Promise<OpenTarget> {
  // loaded here, not at the top, so browser bundles never pull in Node code
  const { writeFully } = await import('../node/file-io.js');
  return {
    async write(data, position) {
      await writeFully(fh, data, position);
    },
    async truncate(size) {
      await fh.truncate(size);
    },
    async close() {
      if (owns) await fh.close();
    },
  };
}

/** Opens any supported target. Errors become VhdxError IO. */
export async function openTarget(input: TargetInput): Promise<OpenTarget> {
  if (typeof input === 'string') {
    const { open } = await import('node:fs/promises');
    try {
      return await nodeHandleTarget(await open(input, 'w'), true);
    } catch (err) {
      throw asVhdxError(err, 'IO', `cannot create ${input}`);
    }
  }
  if (typeof input !== 'object' || input === null || typeof (input as { write?: unknown }).write !== 'function') {
    throw new VhdxError('INVALID_ARGUMENT', 'target must be a path, a FileHandle, a FileSystemWritableFileStream, an access handle or { write(data, position) }');
  }
  if (isNodeFileHandle(input)) return nodeHandleTarget(input, false);
  if (typeof (input as SyncAccessHandleLike).getSize === 'function') {
    const h = input as SyncAccessHandleLike;
    return {
      async write(data, position) {
        let done = 0;
        while (done < data.length) done += h.write(data.subarray(done), { at: position + done });
      },
      async truncate(size) {
        h.truncate(size);
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
    };
  }
  const t = input as PositionalTarget;
  return {
    async write(data, position) {
      await t.write(data, position);
    },
    ...(typeof t.truncate === 'function' ? { truncate: async (size: number) => void (await t.truncate!(size)) } : {}),
    async close() {
      await t.close?.();
    },
  };
}
