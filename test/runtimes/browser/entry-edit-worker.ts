// Module Worker entry for the write-path test: a VHDX copied into OPFS is
// changed in place through a FileSystemSyncAccessHandle
// (openVhdx(handle, { writable: true })), closed, read back from the OPFS
// file, and handed to Node (PUT /upload/edited.vhdx) for qemu-img.
import { type SyncAccessHandleLike, openVhdx } from '../../../dist/index.js';

/** OPFS file handles gain createSyncAccessHandle inside dedicated workers (not in TypeScript's DOM types). */
type WorkerFileHandle = FileSystemFileHandle & { createSyncAccessHandle(): Promise<Required<SyncAccessHandleLike>> };

/** One change the Node side also applies to its expected disk. */
export type EditStep =
  | { kind: 'write'; offset: number; length: number; value: number }
  | { kind: 'discard'; offset: number; length: number };

export interface EditReport {
  writable: boolean;
  logState: string;
  virtualSize: number;
  /** SHA-256 (hex) of the whole disk read back from the OPFS file after close. */
  digest: string;
}

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<{ base: string; steps: EditStep[] }>) => void) | null;
  postMessage(m: unknown): void;
};

async function run(base: string, steps: EditStep[]): Promise<EditReport> {
  const input = new Uint8Array(await (await fetch(`${base}input.vhdx`)).arrayBuffer());
  const root = await navigator.storage.getDirectory();
  const entry = (await root.getFileHandle('edit.vhdx', { create: true })) as WorkerFileHandle;
  const copy = await entry.createSyncAccessHandle();
  copy.truncate(0);
  copy.write(input, { at: 0 });
  copy.flush();
  copy.close();
  const handle = await entry.createSyncAccessHandle();
  const image = await openVhdx(handle, { writable: true });
  for (const s of steps) {
    if (s.kind === 'write') await image.write(s.offset, new Uint8Array(s.length).fill(s.value));
    else await image.discard(s.offset, s.length);
  }
  const writable = image.writable;
  await image.close(); // closes the handle
  const file = await entry.getFile();
  const reopened = await openVhdx(file);
  const disk = await reopened.read(0, reopened.info.virtualSize);
  const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', disk.slice()))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  const report = { writable, logState: reopened.info.log.state, virtualSize: reopened.info.virtualSize, digest };
  await reopened.close();
  const put = await fetch(`${base}upload/edited.vhdx`, { method: 'PUT', body: file });
  if (!put.ok) throw new Error(`upload: ${put.status}`);
  return report;
}

scope.onmessage = async (event) => {
  try {
    scope.postMessage({ report: await run(event.data.base, event.data.steps) });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err) });
  }
};
