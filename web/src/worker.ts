// The page's Worker: runs one conversion at a time, posts progress, and on
// Cancel stops the pipe and removes (or empties) what it had written; runs the
// tasks on a VHDX (vhdx-tasks.ts) as they come.
import type { RandomAccessSource, SyncAccessHandleLike } from 'vhdx-stream';
import { rawToVhdxBlob, rawToVhdxSeekable, vhdxToRawBlob, vhdxToRawSeekable, type ConvertInput, type ConvertOptions } from './convert.js';
import { reportError } from './errors.js';
import { accessHandleSource } from './io.js';
import { createFree } from './opfs-names.js';
import type { DoneReport, FromWorker, OutputRequest, ToWorker } from './protocol.js';
import { runTask, type WorkerFileHandle } from './vhdx-tasks.js';

/** The parts of a dedicated worker's global scope used here (the page is typed with the DOM library). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
}

const scope = globalThis as unknown as WorkerScope;
let running: AbortController | undefined;

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'cancel') running?.abort(new DOMException('cancelled by the user', 'AbortError'));
  else if (message.type === 'task') void task(message.id, message.task);
  else void convert(message);
};

async function task(id: number, work: Extract<ToWorker, { type: 'task' }>['task']): Promise<void> {
  try {
    const result = await runTask(work, (done, total, phase) => scope.postMessage({ type: 'task-progress', id, done, total, phase }));
    scope.postMessage({ type: 'task-done', id, result });
  } catch (err) {
    scope.postMessage({ type: 'task-error', id, error: reportError(err) });
  }
}

void probeOpfs().then((opfs) => scope.postMessage({ type: 'ready', opfs }));

/** Whether OPFS with synchronous access handles works here, and why not. */
async function probeOpfs(): Promise<{ ok: boolean; reason?: string }> {
  if (typeof navigator.storage?.getDirectory !== 'function') return { ok: false, reason: 'this browser has no origin private file system' };
  if (typeof FileSystemFileHandle === 'undefined' || !('createSyncAccessHandle' in FileSystemFileHandle.prototype)) {
    return { ok: false, reason: 'this browser has no synchronous OPFS access handles in workers' };
  }
  try {
    await navigator.storage.getDirectory();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the origin private file system is unavailable here (${reportError(err).message})` };
  }
}

async function convert(request: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  if (running) return scope.postMessage({ type: 'error', error: { message: 'a conversion is already running' } });
  const controller = new AbortController();
  running = controller;
  const started = performance.now();
  const options: ConvertOptions = {
    signal: controller.signal,
    onProgress: (done, total, phase) => scope.postMessage({ type: 'progress', done, total, phase }),
    ...(request.blockSize ? { blockSize: request.blockSize } : {}),
  };
  const output = new Output(request.output);
  let source: RandomAccessSource | undefined;
  try {
    if (request.opfsInput && request.output.kind !== 'download') source = await opfsSource(request.opfsInput);
    const { size, rawBytes, blob } = await run(request, source ?? request.file, output, options);
    const ms = performance.now() - started;
    const report: DoneReport = { kind: request.output.kind, name: output.name, size, rawBytes, ms, read: source ? 'opfs-handle' : 'file' };
    if (output.name !== request.output.name) report.taken = request.output.name;
    if (blob) report.blob = blob;
    scope.postMessage({ type: 'done', report });
  } catch (err) {
    if (controller.signal.aborted) {
      const note = await output.undo().catch((e) => `could not clean up: ${reportError(e).message}`);
      scope.postMessage({ type: 'cancelled', ...(note ? { note } : {}) });
    } else {
      await output.undo().catch(() => {});
      scope.postMessage({ type: 'error', error: reportError(err) });
    }
  } finally {
    await source?.close?.();
    running = undefined;
  }
}

/** An OPFS file through an access handle (the Worker's fast way to read it). */
async function opfsSource(name: string): Promise<RandomAccessSource> {
  const root = await navigator.storage.getDirectory();
  const handle = (await root.getFileHandle(name)) as WorkerFileHandle;
  return accessHandleSource(await handle.createSyncAccessHandle());
}

async function run(request: Extract<ToWorker, { type: 'start' }>, input: ConvertInput, output: Output, options: ConvertOptions) {
  const { file, direction } = request;
  if (output.request.kind === 'download') {
    const blob = direction === 'to-vhdx' ? await rawToVhdxBlob(file, options) : await vhdxToRawBlob(file, options);
    return { size: blob.size, rawBytes: direction === 'to-vhdx' ? file.size : blob.size, blob };
  }
  const target = await output.open();
  if (direction === 'to-vhdx') return { size: await rawToVhdxSeekable(input, target, options), rawBytes: file.size };
  const rawBytes = await vhdxToRawSeekable(input, target, options);
  return { size: rawBytes, rawBytes };
}

/**
 * An OPFS file or a picked file: opened for writing, and undone after a cancel or failure.
 * An OPFS output is always a new file: a taken name gets a free one beside it (`name-2.raw`),
 * never replaced. A picked file is the user's answer to the browser's save dialog, which
 * itself asks before it lets an existing file be chosen, so it is written as picked.
 */
class Output {
  private access: SyncAccessHandleLike | undefined;
  /** The OPFS file this output created (only that one is removed on undo). */
  private created: string | undefined;

  constructor(readonly request: OutputRequest) {}

  /** The name written: for OPFS the free name the file got, else the one asked for. */
  get name(): string {
    return this.created ?? this.request.name;
  }

  async open(): Promise<SyncAccessHandleLike | FileSystemWritableFileStream> {
    if (this.request.kind === 'opfs') {
      const root = await navigator.storage.getDirectory();
      const { name, entry } = await createFree(root, this.request.name);
      this.created = name;
      this.access = await (entry as WorkerFileHandle).createSyncAccessHandle();
      return this.access;
    }
    if (this.request.kind === 'picked') return this.request.handle.createWritable();
    throw new Error(`output ${this.request.kind} is not seekable`);
  }

  /** Removes the partial OPFS file it created; a picked file is left as it was (the writer aborted its writable stream). */
  async undo(): Promise<string | undefined> {
    if (this.request.kind === 'opfs') {
      try {
        this.access?.close(); // the writer closes it too; a second close is harmless
      } catch {}
      if (this.created !== undefined) {
        const root = await navigator.storage.getDirectory();
        await root.removeEntry(this.created).catch(() => {});
      }
      return undefined;
    }
    if (this.request.kind === 'picked') return `${this.request.name} was left as it was`;
    return undefined;
  }
}
