// Where a conversion writes: standard output, a file written in order (a
// VHDX), or a raw disk file that keeps its zero stretches as holes.
import { fstatSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { WriteBatch } from '../streams/write-batch.js';
import { appendFully, writeFully } from '../node/file-io.js';
import { SparseRawOutput } from '../node/sparse-raw.js';

export type OutputKind = 'file' | 'stdout';

/** A file output: written at `path` (a temporary name, or a device in place), named to the user as `name`. */
export interface FileOutput {
  kind: 'file';
  path: string;
  name: string;
}

export interface StdoutOutput {
  kind: 'stdout';
}

export type Output = FileOutput | StdoutOutput;

/** Bytes written in order; `end` once all are given. */
export interface SequentialWriter {
  write(data: Uint8Array): Promise<void>;
  end(): Promise<void>;
}

/** Writes in order at explicit positions, small pieces gathered into 1 MiB writes. */
function sequentialWriter(write: (data: Uint8Array, position: number) => Promise<void>, end?: () => Promise<void>): SequentialWriter {
  let position = 0;
  const batch = new WriteBatch(write);
  return {
    async write(data: Uint8Array): Promise<void> {
      await batch.add(data, position);
      position += data.length;
    },
    async end(): Promise<void> {
      await batch.flush();
      await end?.();
    },
  };
}

/**
 * Standard output as a sequential writer. When it is a regular file the
 * writes go through the thread pool at its current offset (process.stdout
 * would write to a file synchronously, stalling the reads).
 * A failed write rejects with VhdxError 'write-failed'.
 */
export function stdoutWriter(): SequentialWriter {
  const failed = (err: unknown) => asVhdxError(err, 'write-failed', 'cannot write to standard output');
  if (fstatSync(1).isFile()) {
    return sequentialWriter((data) =>
      appendFully(1, data).catch((err) => {
        throw failed(err);
      }),
    );
  }
  return sequentialWriter(
    (data) => new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(failed(err)) : resolve()))),
  );
}

function asSink(writer: SequentialWriter, abort?: () => Promise<void>): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({ write: (chunk) => writer.write(chunk), close: () => writer.end(), abort: () => abort?.() });
}

/** Standard output as a web sink. */
export function stdoutSink(): WritableStream<Uint8Array> {
  return asSink(stdoutWriter());
}

/** Opens `output` for writing from scratch. @throws VhdxError 'create-failed' */
function create(output: FileOutput): Promise<FileHandle> {
  return open(output.path, 'w').catch((err) => {
    throw asVhdxError(err, 'create-failed', `cannot create ${output.name}`);
  });
}

/** A new file as a sink, written in order. Failures are VhdxError 'create-failed' or 'write-failed'. */
export function fileSink(output: FileOutput): WritableStream<Uint8Array> {
  const opened = create(output);
  opened.catch(() => {}); // reported by the first write
  const close = async () => (await opened).close();
  const write = async (data: Uint8Array, position: number) =>
    writeFully(await opened, data, position).catch((err) => {
      throw asVhdxError(err, 'write-failed', `cannot write ${output.name}`);
    });
  return asSink(sequentialWriter(write, close), close);
}

/**
 * A raw disk written in order into a new file, its all-zero grains left as
 * holes (see SparseRawOutput). Each write is finished with before it
 * returns, so the caller may reuse its buffer. Failures are VhdxError
 * 'create-failed' or 'write-failed'; `abort` closes the file after a failure.
 */
export function sparseRawFileWriter(output: FileOutput): SequentialWriter & { abort(): Promise<void> } {
  const opened = create(output).then((handle) => ({ handle, raw: new SparseRawOutput(handle, `cannot write ${output.name}`) }));
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

/** A sink writing a raw disk into a new file, its all-zero grains left as holes. */
export function sparseRawFileSink(output: FileOutput): WritableStream<Uint8Array> {
  const writer = sparseRawFileWriter(output);
  return asSink(writer, () => writer.abort());
}

/** Where a raw disk goes: a sparse new file, or standard output. */
export function rawWriter(output: Output): SequentialWriter & { abort?(): Promise<void> } {
  return output.kind === 'file' ? sparseRawFileWriter(output) : stdoutWriter();
}
