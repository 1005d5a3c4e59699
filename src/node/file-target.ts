// Node file targets for the positional writer: a path or an open FileHandle.
// A path is written as every output of the Node entry is (src/node/output.ts):
// under a temporary name, renamed over the path when the writer finishes and
// removed when it fails, so an existing file is never lost.
import type { FileHandle } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { openTarget, type TargetInput } from '../sources/targets.js';
import type { WritableFile } from '../sources/types.js';
import { isFileHandle, openForWriting } from './file-io.js';
import { fileHandleFile } from './file.js';
import { prepareOutput } from './output.js';

/** What the Node entry's `VhdxWriterStream` accepts: every runtime's targets, plus paths and FileHandles. */
export type NodeTargetInput = TargetInput | string | FileHandle;

/**
 * A path as a target: written under a temporary name that `close` renames
 * over it and `discard` removes.
 * @throws VhdxError IO 'create-failed' (see prepareOutput), INVALID_ARGUMENT 'invalid-option' for an empty path
 */
async function pathTarget(path: string): Promise<WritableFile> {
  const prepared = await prepareOutput(path);
  let fh: FileHandle;
  try {
    fh = await openForWriting(prepared.path);
  } catch (err) {
    await prepared.discard().catch(() => {});
    throw asVhdxError(err, 'create-failed', `cannot create ${path}`);
  }
  const file = fileHandleFile(fh, 0, true);
  return {
    ...file,
    async close() {
      await file.close();
      await prepared.commit().catch(async (err) => {
        await prepared.discard().catch(() => {});
        throw asVhdxError(err, 'create-failed', `cannot put ${path} in place`);
      });
    },
    async discard() {
      await file.close().catch(() => {});
      await prepared.discard().catch(() => {});
    },
  };
}

/**
 * Opens a path (see {@link pathTarget}) or a FileHandle (written in place), or anything {@link openTarget} takes.
 * @throws VhdxError IO 'create-failed' for a path that cannot be written; what openTarget throws
 */
export async function openNodeTarget(input: NodeTargetInput): Promise<WritableFile> {
  if (typeof input === 'string') return pathTarget(input);
  if (isFileHandle(input)) return fileHandleFile(input, 0, false);
  return openTarget(input);
}
