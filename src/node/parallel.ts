// A conversion split over local worker threads: the library's rules (the
// plan and its part ranges, the order and limit of the work, retries and
// aborting the upload: streams/parts.ts, sources/s3.ts, runtime/each-limited.ts)
// run here with each item handed to one of N threads (parallel-worker.ts),
// which renders its part from the raw input and writes it at its offset in
// a file or uploads it as its part. Memory: about two parts per thread.
import { openForWriting } from './file-io.js';
import { Worker } from 'node:worker_threads';
import { VhdxError, asVhdxError, type VhdxErrorReason } from '../errors.js';
import { eachLimited } from '../runtime/each-limited.js';
import { uploadS3Parts, type S3PartOptions, type S3UploadResult, type S3UploadedPart } from '../sources/s3.js';
import type { S3Location } from '../sources/s3-object.js';
import type { AllocationMap } from '../sources/scan.js';
import type { VhdxPlan } from '../streams/parts.js';

/** The raw disk the workers read: a file at positions, or a URL (an object, signed) by ranged GETs; `size` bytes. */
export type ParallelInput = { kind: 'path'; path: string; size: number } | { kind: 'url'; url: string; s3?: S3Location; size: number };

/** Where the parts go: positional writes into an existing file, or parts of one multipart upload. */
export type ParallelOutput = { kind: 'file'; path: string } | { kind: 's3'; options: S3PartOptions };

/** What every worker is started with. */
export interface ParallelSetup {
  input: ParallelInput;
  plan?: VhdxPlan;
  output?: ParallelOutput;
}

/** One item of work for a worker. */
export type ParallelTask =
  | { kind: 'scan'; blockSize: number; first: number; end: number }
  | { kind: 'part'; index: number; uploadId?: string };

/** A worker's answer to a task. */
export type WorkerReply =
  | { kind: 'scan'; present: Uint8Array }
  | ({ kind: 'part' } & S3UploadedPart)
  | { kind: 'error'; reason: VhdxErrorReason; message: string };

/** Options of the parallel runners. */
export interface ParallelOptions {
  /** Worker threads (at least 1). */
  workers: number;
  /** Stops the work (an upload is aborted on the store). */
  signal?: AbortSignal;
  /** Called as parts are written, with the bytes written and the output's size. */
  onProgress?: (done: number, total: number) => void;
}

/** N threads, each given one task at a time. */
class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];

  constructor(count: number, setup: ParallelSetup) {
    for (let i = 0; i < count; i++) {
      // '../node/' so that the CLI bundle (dist/cli/vhdx.js) finds it too
      const worker = new Worker(new URL('../node/parallel-worker.js', import.meta.url), { workerData: setup });
      this.all.push(worker);
      this.idle.push(worker);
    }
  }

  /** Runs `task` on an idle worker (the caller keeps at most `count` running); a stop ends that worker. */
  run<R extends WorkerReply['kind']>(task: ParallelTask, signal: AbortSignal): Promise<Extract<WorkerReply, { kind: R }>> {
    const worker = this.idle.pop();
    if (!worker) return Promise.reject(new Error('no idle worker'));
    return new Promise((resolve, reject) => {
      const settle = (done: () => void, free: boolean) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        signal.removeEventListener('abort', onAbort);
        if (free) this.idle.push(worker);
        done();
      };
      const onMessage = (reply: WorkerReply) => {
        if (reply.kind === 'error') settle(() => reject(new VhdxError(reply.reason, reply.message)), true);
        else settle(() => resolve(reply as Extract<WorkerReply, { kind: R }>), true);
      };
      const onError = (err: unknown) => settle(() => reject(asVhdxError(err, 'read-failed', 'a worker thread failed')), false);
      const onExit = (code: number) => settle(() => reject(new VhdxError('read-failed', `a worker thread exited (${code})`)), false);
      // the part in flight is dropped with its thread: the upload it belonged to is aborted next
      const onAbort = () => settle(() => reject(signal.reason), false);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      else worker.postMessage(task);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}

async function withPool<T>(count: number, setup: ParallelSetup, use: (pool: WorkerPool) => Promise<T>): Promise<T> {
  const pool = new WorkerPool(count, setup);
  try {
    return await use(pool);
  } finally {
    await pool.close();
  }
}

/**
 * The allocation map of `input`, scanned by the workers: each reads a range of blocks (a file where
 * it holds data, a URL by ranged GETs) and the ranges are joined.
 * @throws VhdxError as scanAllocation; `signal.reason` when stopped
 */
export async function scanInParallel(input: ParallelInput, blockSize: number, options: ParallelOptions): Promise<AllocationMap> {
  const blocks = Math.ceil(input.size / blockSize);
  // several ranges per worker, so that one slow range does not leave the others idle
  const perTask = Math.max(1, Math.ceil(blocks / (options.workers * 8)));
  const tasks = Math.ceil(blocks / perTask);
  const present = new Uint8Array(blocks);
  await withPool(Math.min(options.workers, Math.max(1, tasks)), { input }, (pool) =>
    eachLimited(tasks, options.workers, options.signal, async (i, signal) => {
      const first = i * perTask;
      const end = Math.min(blocks, first + perTask);
      const reply = await pool.run<'scan'>({ kind: 'scan', blockSize, first, end }, signal);
      present.set(reply.present, first);
    }),
  );
  return { virtualSize: input.size, blockSize, present };
}

/**
 * Writes every part of `plan` into a new file at `path` (created here, `outputSize` long, holes where
 * nothing is written), each rendered by a worker from `input` and written at its offset.
 * @throws VhdxError 'create-failed' or 'write-failed' for the file; what reading the input throws
 */
export async function writePlanToFile(plan: VhdxPlan, input: ParallelInput, path: string, options: ParallelOptions): Promise<void> {
  const fh = await openForWriting(path).catch((err) => {
    throw asVhdxError(err, 'create-failed', `cannot create ${path}`);
  });
  try {
    await fh.truncate(plan.outputSize);
  } finally {
    await fh.close();
  }
  let written = 0;
  options.onProgress?.(0, plan.outputSize);
  await withPool(Math.min(options.workers, plan.partCount), { input, plan, output: { kind: 'file', path } }, (pool) =>
    eachLimited(plan.partCount, options.workers, options.signal, async (index, signal) => {
      const part = await pool.run<'part'>({ kind: 'part', index }, signal);
      written += part.length;
      options.onProgress?.(written, plan.outputSize);
    }),
  );
}

/**
 * Uploads every part of `plan` as one multipart upload ({@link uploadS3Parts}: CRC-32C per part, the
 * whole object's at completion, retried parts, the upload aborted on failure or `signal`), each
 * rendered and uploaded by a worker from `input`.
 * @throws VhdxError as uploadS3Parts; what reading the input throws
 */
export async function uploadPlanInParallel(
  plan: VhdxPlan,
  input: ParallelInput,
  s3: S3PartOptions,
  options: ParallelOptions,
): Promise<S3UploadResult> {
  const workers = Math.min(options.workers, plan.partCount);
  options.onProgress?.(0, plan.outputSize);
  return withPool(workers, { input, plan, output: { kind: 's3', options: s3 } }, (pool) =>
    uploadS3Parts(
      plan.partCount,
      {
        ...s3,
        concurrency: workers,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: (done: number) => options.onProgress?.(done, plan.outputSize) } : {}),
      },
      async (index, uploadId, signal) => {
        const { kind: _kind, ...part } = await pool.run<'part'>({ kind: 'part', index, uploadId }, signal);
        return part;
      },
    ),
  );
}
