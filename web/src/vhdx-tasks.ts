// The Worker's tasks on a VHDX: what a compaction would reclaim (the library's
// dry run over the picked File, read-only), a compaction of an OPFS file in
// place through its access handle, and a copy of a picked file into OPFS.
import { compactVhdx, type CompactResult, type SyncAccessHandleLike } from 'vhdx-stream';
import type { ProgressFn } from './io.js';
import { createFree } from './opfs-names.js';
import type { CompactSummary, PartitionSummary, Task, TaskResult } from './protocol.js';

/** OPFS file handles gain createSyncAccessHandle inside dedicated workers. */
export type WorkerFileHandle = FileSystemFileHandle & { createSyncAccessHandle(): Promise<Required<SyncAccessHandleLike>> };

const MiB = 1024 * 1024;

/** Runs one task, reporting progress at most every 100 ms. */
export async function runTask(task: Task, onProgress: ProgressFn): Promise<TaskResult> {
  let last = 0;
  const progress = (phase: string) => (done: number, total: number) => {
    const now = performance.now();
    if (now - last < 100 && done < total) return;
    last = now;
    onProgress(done, total, phase);
  };
  if (task.kind === 'plan') {
    const plain = await compactVhdx(task.file, { dryRun: true, onProgress: progress('looking at the blocks') });
    const fsTrim = await compactVhdx(task.file, { dryRun: true, fsTrim: true, onProgress: progress('looking at the blocks (fs-trim)') });
    return { kind: 'plan', plain: summarize(plain), fsTrim: summarize(fsTrim) };
  }
  if (task.kind === 'compact') {
    const root = await navigator.storage.getDirectory();
    const entry = (await root.getFileHandle(task.name)) as WorkerFileHandle;
    const handle = await entry.createSyncAccessHandle();
    try {
      const result = await compactVhdx(handle, { fsTrim: task.fsTrim, onProgress: progress('compacting') });
      return { kind: 'compact', name: task.name, summary: summarize(result) };
    } finally {
      closeQuietly(handle);
    }
  }
  return store(task.file, task.name, progress('copying'));
}

/** The result without fsTrim's free ranges (up to a million of them; the page shows totals). */
export function summarize(result: CompactResult): CompactSummary {
  const { fsTrim, ...figures } = result;
  if (!fsTrim) return figures;
  const partitions = fsTrim.partitions.map(({ verdict, type: _, ...where }): PartitionSummary => ({
    ...where,
    verdict: verdict.kind,
    ...(verdict.kind === 'refused' ? { reason: verdict.reason } : {}),
    ...(verdict.kind === 'trimmed' ? {} : { message: verdict.message }),
    freeBytes: verdict.kind === 'trimmed' ? verdict.freeBytes : 0,
  }));
  return { ...figures, fsTrim: { table: fsTrim.table, partitions } };
}

/**
 * Copies `file` into OPFS in 8 MiB pieces under `name`, or `name-2`, `name-3`...
 * when a file of that name is there already (never replaced). A failed copy is removed.
 */
async function store(file: File, name: string, onProgress: (done: number, total: number) => void): Promise<TaskResult> {
  const root = await navigator.storage.getDirectory();
  const { name: free, entry } = await createFree(root, name);
  const handle = await (entry as WorkerFileHandle).createSyncAccessHandle();
  try {
    for (let at = 0; at < file.size; ) {
      const piece = new Uint8Array(await file.slice(at, Math.min(file.size, at + 8 * MiB)).arrayBuffer());
      for (let done = 0; done < piece.length; ) {
        const n = handle.write(piece.subarray(done), { at: at + done });
        // Chromium's in-memory OPFS (incognito) reports a failed write as a count near 2^32
        if (!(n > 0 && n <= piece.length - done)) throw new Error(`the private storage refused a write (${n} bytes reported); is it full?`);
        done += n;
      }
      at += piece.length;
      onProgress(at, file.size);
    }
    handle.flush();
    handle.close();
  } catch (err) {
    closeQuietly(handle);
    await root.removeEntry(free).catch(() => {});
    throw err;
  }
  return { kind: 'store', name: free, size: file.size };
}

/** Closes an access handle the library may have closed already. */
function closeQuietly(handle: { close(): void }): void {
  try {
    handle.close();
  } catch {}
}
