// Byte plumbing for the conversions: positional writes to the page's outputs,
// reads from an OPFS access handle, byte counting, padding, and a Blob sink.
import type { RandomAccessSource, SyncAccessHandleLike } from 'vhdx-stream';

/** Reports `done` of `total` bytes in a named phase. */
export type ProgressFn = (done: number, total: number, phase: string) => void;

/** A seekable output the page owns: an OPFS access handle or a FileSystemWritableFileStream. */
export type SeekableOutput = SyncAccessHandleLike | FileSystemWritableFileStream;

/** An OPFS access handle opened for reading (workers only). */
export interface ReadableAccessHandle {
  getSize(): number;
  read(target: Uint8Array, options: { at: number }): number;
  close(): void;
}

const MiB = 1024 * 1024;

/**
 * Lets the Worker's message events run. Reads through an OPFS access handle are synchronous, so a
 * conversion from one settles only microtasks and would hold a Cancel message until it ended.
 */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Positional writes, truncate, commit and discard over either kind of seekable output. */
export function positional(output: SeekableOutput) {
  if ('getSize' in output) {
    return {
      async write(data: Uint8Array, at: number) {
        for (let done = 0; done < data.length; ) {
          const n = output.write(data.subarray(done), { at: at + done });
          // Chromium's in-memory OPFS (incognito) reports a failed write as a count near 2^32
          if (!(n > 0 && n <= data.length - done)) throw new Error(`the private storage refused a write (${n} bytes reported); is it full?`);
          done += n;
        }
      },
      async truncate(size: number) {
        output.truncate(size);
        if (output.getSize() !== size) throw new Error(`the private storage could not resize the file to ${size} bytes; is it full?`);
      },
      async close() {
        output.flush();
        output.close();
      },
      discard: async () => output.close(),
    };
  }
  return {
    write: (data: Uint8Array, at: number) => output.write({ type: 'write', position: at, data: data as Uint8Array<ArrayBuffer> }),
    truncate: (size: number) => output.truncate(size),
    close: () => output.close(),
    // a FileSystemWritableFileStream writes to a swap file: abort leaves the file as it was
    discard: () => output.abort(),
  };
}

/**
 * An OPFS file read through its access handle, as the library's `{ size, read }`
 * source: synchronous reads in the Worker, several times faster than reading
 * the same file as a Blob. Closing the source closes the handle.
 */
export function accessHandleSource(handle: ReadableAccessHandle): RandomAccessSource {
  const size = handle.getSize();
  return {
    size,
    async read(offset, length) {
      const bytes = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      const n = handle.read(bytes, { at: offset });
      return n === bytes.length ? bytes : bytes.subarray(0, n);
    },
    async readInto(target, offset) {
      return handle.read(target, { at: offset });
    },
    close: () => handle.close(),
  };
}

/** Passes chunks through, reporting the running byte count at most every 100 ms. */
export function countBytes(total: number, phase: string, onProgress: ProgressFn): TransformStream<Uint8Array, Uint8Array> {
  let done = 0;
  let last = 0;
  return new TransformStream({
    start: () => onProgress(0, total, phase),
    transform(chunk, controller) {
      done += chunk.length;
      const now = performance.now();
      if (now - last > 100) {
        last = now;
        onProgress(done, total, phase);
      }
      controller.enqueue(chunk);
    },
    flush: () => onProgress(done, total, phase),
  });
}

/** Appends `bytes` zeros at the end (a raw file rounded up to whole sectors). */
export function padTo(bytes: number): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    flush(controller) {
      if (bytes > 0) controller.enqueue(new Uint8Array(bytes));
    },
  });
}

/**
 * Collects a stream into a Blob, folding parts into it every 32 MiB so the
 * browser can move them to its blob store (on disk for large blobs) early.
 */
export class BlobSink {
  private parts: BlobPart[] = [];
  private pending = 0;
  private folded = new Blob([]);
  readonly writable = new WritableStream<Uint8Array>({
    write: (chunk) => {
      this.parts.push(chunk as Uint8Array<ArrayBuffer>);
      this.pending += chunk.length;
      if (this.pending >= 32 * MiB) this.fold();
    },
  });

  private fold(): void {
    this.folded = new Blob([this.folded, ...this.parts]);
    this.parts = [];
    this.pending = 0;
  }

  blob(): Blob {
    this.fold();
    return this.folded;
  }
}
