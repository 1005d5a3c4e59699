// Where a conversion writes: a file of ours (a temporary name, or a file
// with several hard links written in place), seekable and created empty; or
// a stream written in order and never seeked or truncated: standard output,
// or a device or FIFO named on the command line.
import { fstatSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { WriteBatch } from '../streams/write-batch.js';
import { appendFully, openForWriting, writeFully } from '../node/file-io.js';
import { openSparseFdWriter } from '../node/sparse-fd.js';
import { SparseRawOutput } from '../node/sparse-raw.js';
import type { OutputFile } from '../node/output.js';

export type OutputKind = 'file' | 'stdout';

/**
 * A file output: the prepared `file`, written at its path (a temporary name, or in place) and
 * committed or discarded by the job; named to the user as `name`.
 */
export interface FileOutput {
  kind: 'file';
  name: string;
  file: OutputFile;
}

/** An output written in order: standard output, or the device or FIFO at `path`. */
export interface StdoutOutput {
  kind: 'stdout';
  /** A device or FIFO to open; standard output when absent. */
  path?: string;
  /** What the user named it (`-` for standard output). */
  name: string;
}

export type Output = FileOutput | StdoutOutput;

/** Standard output itself. */
export const STDOUT: StdoutOutput = { kind: 'stdout', name: '-' };

/** Bytes written in order; `end` once all are given. `write` is done with its bytes when it settles. */
export interface SequentialWriter {
  write(data: Uint8Array): Promise<void>;
  end(): Promise<void>;
  /** Releases what the writer holds after a failure. */
  abort?(): Promise<void>;
}

/** Writes in order, small pieces gathered into 1 MiB writes. */
function batched(write: (data: Uint8Array) => Promise<void>, end?: () => Promise<void>, abort?: () => Promise<void>): SequentialWriter {
  let position = 0;
  const batch = new WriteBatch((data) => write(data));
  return {
    async write(data: Uint8Array): Promise<void> {
      await batch.add(data, position);
      position += data.length;
    },
    async end(): Promise<void> {
      await batch.flush();
      await end?.();
    },
    ...(abort ? { abort } : {}),
  };
}

/** A writer that opens its target on first use, so that a failure to open is reported by the write that needed it. */
function lazily(opening: () => Promise<SequentialWriter>): SequentialWriter {
  let opened: Promise<SequentialWriter> | undefined;
  const writer = () => (opened ??= opening());
  return {
    write: async (data) => (await writer()).write(data),
    end: async () => (await writer()).end(),
    abort: async () => {
      if (opened) await (await opened.catch(() => undefined))?.abort?.();
    },
  };
}

/**
 * An output written in order. Standard output that is a regular file is
 * written off the main thread (process.stdout would write to a file
 * synchronously, stalling the reads), its zero grains left as holes; a
 * device or FIFO is opened and written through the thread pool.
 * A failed write rejects with VhdxError 'write-failed'; a failed open with 'create-failed'.
 */
export function sequentialWriter(output: StdoutOutput): SequentialWriter {
  if (output.path !== undefined) return lazily(() => deviceWriter(output.path!, output.name));
  const failed = (err: unknown) => asVhdxError(err, 'write-failed', 'cannot write to standard output');
  const named = (err: unknown) => Promise.reject(failed(err));
  if (fstatSync(1).isFile()) {
    return lazily(async () => {
      const sparse = await openSparseFdWriter(1);
      if (!sparse) return batched((data) => appendFully(1, data).catch(named));
      return { write: (data) => sparse.write(data).catch(named), end: () => sparse.end().catch(named) };
    });
  }
  return batched(
    (data) => new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(failed(err)) : resolve()))),
  );
}

async function deviceWriter(path: string, name: string): Promise<SequentialWriter> {
  const fh = await open(path, 'w').catch((err) => {
    throw asVhdxError(err, 'create-failed', `cannot open ${name}`);
  });
  const write = async (data: Uint8Array) => {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, null).catch((err) => {
        throw asVhdxError(err, 'write-failed', `cannot write ${name}`);
      });
      done += bytesWritten;
    }
  };
  return batched(
    write,
    () => fh.close(),
    () => fh.close().catch(() => {}),
  );
}

function asSink(writer: SequentialWriter): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write: (chunk) => writer.write(chunk),
    close: () => writer.end(),
    abort: () => writer.abort?.(),
  });
}

/** An output written in order, as a web sink. */
export function sequentialSink(output: StdoutOutput): WritableStream<Uint8Array> {
  return asSink(sequentialWriter(output));
}

/** Opens `output` for writing from scratch. @throws VhdxError 'create-failed' */
function createFile(output: FileOutput): Promise<FileHandle> {
  return openForWriting(output.file.path).catch((err) => {
    throw asVhdxError(err, 'create-failed', `cannot create ${output.name}`);
  });
}

/** A new file written in order, small pieces gathered. Failures are VhdxError 'create-failed' or 'write-failed'. */
export function fileWriter(output: FileOutput): SequentialWriter {
  const opened = createFile(output);
  opened.catch(() => {}); // reported by the first write
  let position = 0;
  const batch = new WriteBatch(async (data, at) =>
    writeFully(await opened, data, at).catch((err) => {
      throw asVhdxError(err, 'write-failed', `cannot write ${output.name}`);
    }),
  );
  return {
    async write(data) {
      await batch.add(data, position);
      position += data.length;
    },
    async end() {
      await batch.flush();
      await (await opened).close();
    },
    abort: async () => (await opened.catch(() => undefined))?.close().catch(() => {}),
  };
}

/**
 * A raw disk written in order into a new file, its all-zero grains left as
 * holes (see SparseRawOutput). Each write is finished with before it
 * returns, so the caller may reuse its buffer. Failures are VhdxError
 * 'create-failed' or 'write-failed'; `abort` closes the file after a failure.
 */
export function sparseRawFileWriter(output: FileOutput): SequentialWriter {
  const opened = createFile(output).then((handle) => ({ handle, raw: new SparseRawOutput(handle, `cannot write ${output.name}`) }));
  opened.catch(() => {}); // reported by the first write
  let position = 0;
  const pending: Promise<unknown>[] = [];
  return {
    async write(chunk) {
      const file = await opened;
      // the writes read from `chunk`: all settled before it is given back
      file.raw.place(chunk, position, pending);
      position += chunk.length;
      try {
        await Promise.all(pending);
      } finally {
        await Promise.allSettled(pending);
        pending.length = 0;
      }
    },
    async end() {
      const file = await opened;
      await file.raw.finish(position);
      await file.handle.close();
    },
    async abort() {
      await (await opened.catch(() => undefined))?.handle.close().catch(() => {});
    },
  };
}

/** Where a raw disk goes: a sparse new file, or an output written in order. */
export function rawWriter(output: Output): SequentialWriter {
  return output.kind === 'file' ? sparseRawFileWriter(output) : sequentialWriter(output);
}

/** A raw disk as a web sink (see {@link rawWriter}). */
export function rawSink(output: Output): WritableStream<Uint8Array> {
  return asSink(rawWriter(output));
}

/** Writes `chunks` to `writer` and ends it; on failure the writer is aborted. */
export async function writeAll(chunks: AsyncIterable<Uint8Array>, writer: SequentialWriter): Promise<void> {
  try {
    for await (const chunk of chunks) await writer.write(chunk);
    await writer.end();
  } catch (err) {
    await writer.abort?.();
    throw err;
  }
}
