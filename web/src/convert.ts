// The conversions the page runs in its Worker (and the browser bench runs
// too), written against the library's public entry only.
import {
  VhdxDecoderStream,
  VhdxEncoderStream,
  VhdxWriterStream,
  isAllZero,
  openVhdx,
  scanAllocation,
  type AllocationMap,
  type SyncAccessHandleLike,
} from 'vhdx-stream';

/** Reports `done` of `total` bytes in a named phase. */
export type ProgressFn = (done: number, total: number, phase: string) => void;

export interface ConvertOptions {
  signal: AbortSignal;
  onProgress: ProgressFn;
  /** Block size of a VHDX being created (default: the library's). */
  blockSize?: number;
}

/** A seekable output the page owns: an OPFS access handle or a FileSystemWritableFileStream. */
export type SeekableOutput = SyncAccessHandleLike | FileSystemWritableFileStream;

const SECTOR = 512;
const MiB = 1024 * 1024;

/**
 * raw -> sparse dynamic VHDX on a seekable output: one pass, blocks placed as
 * their data arrives, headers written last. The writer closes the output.
 */
export async function rawToVhdxSeekable(file: Blob, output: SeekableOutput, options: ConvertOptions): Promise<number> {
  const sink = new VhdxWriterStream(output, options.blockSize ? { blockSize: options.blockSize } : {});
  await file
    .stream()
    .pipeThrough(countBytes(file.size, 'converting', options.onProgress))
    .pipeTo(sink, { signal: options.signal });
  return (await sink.result).fileSize;
}

/**
 * raw -> dynamic VHDX as a Blob (for a download): a first pass finds the
 * all-zero blocks so the encoder leaves them out, a second encodes.
 */
export async function rawToVhdxBlob(file: Blob, options: ConvertOptions): Promise<Blob> {
  const virtualSize = Math.ceil(file.size / SECTOR) * SECTOR;
  const allocationMap = await scanInSlices(file, virtualSize, options);
  const encoder = new VhdxEncoderStream({ allocationMap });
  const sink = new BlobSink();
  await file
    .stream()
    .pipeThrough(padTo(virtualSize - file.size))
    .pipeThrough(countBytes(virtualSize, 'converting', options.onProgress))
    .pipeThrough(encoder)
    .pipeTo(sink.writable, { signal: options.signal });
  return sink.blob();
}

/**
 * Scans for all-zero blocks a few blocks at a time (scanAllocation over Blob
 * slices), so the page shows progress and a Cancel lands between slices.
 */
async function scanInSlices(file: Blob, virtualSize: number, options: ConvertOptions): Promise<AllocationMap> {
  // the encoder's plan says which block size it would choose for this disk
  const blockSize = new VhdxEncoderStream({ virtualSize, ...(options.blockSize ? { blockSize: options.blockSize } : {}) }).layout.blockSize;
  const present = new Uint8Array(Math.ceil(virtualSize / blockSize));
  const step = Math.max(1, Math.floor((64 * MiB) / blockSize)) * blockSize;
  for (let start = 0; start < file.size; start += step) {
    options.signal.throwIfAborted();
    options.onProgress(start, file.size, 'finding empty blocks');
    const map = await scanAllocation(file.slice(start, start + step), { blockSize });
    present.set(map.present, start / blockSize);
  }
  options.signal.throwIfAborted();
  return { virtualSize, blockSize, present };
}

/**
 * VHDX -> raw on a seekable output, sparse: all-zero stretches are not
 * written, the final truncate sets the size. The output is closed here.
 */
export async function vhdxToRawSeekable(file: Blob, output: SeekableOutput, options: ConvertOptions): Promise<number> {
  const image = await openVhdx(file);
  const size = image.info.virtualSize;
  const out = positional(output);
  try {
    await out.truncate(0);
    let position = 0;
    const sink = new WritableStream<Uint8Array>({
      async write(chunk) {
        if (!isAllZero(chunk)) await out.write(chunk, position);
        position += chunk.length;
      },
    });
    await image
      .stream()
      .pipeThrough(countBytes(size, 'converting', options.onProgress))
      .pipeTo(sink, { signal: options.signal });
    await out.truncate(size);
    await out.close();
    return size;
  } catch (err) {
    await out.discard().catch(() => {});
    throw err;
  } finally {
    await image.close();
  }
}

/** VHDX -> raw as a Blob (for a download), through the streaming decoder. */
export async function vhdxToRawBlob(file: Blob, options: ConvertOptions): Promise<Blob> {
  const sink = new BlobSink();
  await file
    .stream()
    .pipeThrough(countBytes(file.size, 'converting', options.onProgress))
    .pipeThrough(new VhdxDecoderStream())
    .pipeTo(sink.writable, { signal: options.signal });
  return sink.blob();
}

/** Positional writes, truncate, commit and discard over either kind of seekable output. */
function positional(output: SeekableOutput) {
  if ('getSize' in output) {
    return {
      async write(data: Uint8Array, at: number) {
        for (let done = 0; done < data.length; ) done += output.write(data.subarray(done), { at: at + done });
      },
      truncate: async (size: number) => output.truncate(size),
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

/** Passes chunks through, reporting the running byte count at most every 100 ms. */
function countBytes(total: number, phase: string, onProgress: ProgressFn): TransformStream<Uint8Array, Uint8Array> {
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
function padTo(bytes: number): TransformStream<Uint8Array, Uint8Array> {
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
class BlobSink {
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
