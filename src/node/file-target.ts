// Node file targets for the positional writer: a path (created or truncated)
// or an open FileHandle.
import { open, type FileHandle } from 'node:fs/promises';
import { asVhdxError } from '../errors.js';
import { openTarget, type OpenTarget, type TargetInput } from '../streams/targets.js';
import { writeFully } from './file-io.js';

/** What the Node entry's `VhdxWriterStream` accepts: every runtime's targets, plus paths and FileHandles. */
export type NodeTargetInput = TargetInput | string | FileHandle;

function isFileHandle(x: unknown): x is FileHandle {
  return typeof x === 'object' && x !== null && typeof (x as { fd?: unknown }).fd === 'number' && typeof (x as { stat?: unknown }).stat === 'function';
}

function fileHandleTarget(fh: FileHandle, owns: boolean): OpenTarget {
  return {
    write: (data, position) => writeFully(fh, data, position),
    truncate: (size) => fh.truncate(size),
    async close() {
      if (owns) await fh.close();
    },
  };
}

/** Opens a path (created or truncated) or a FileHandle, or anything {@link openTarget} takes. */
export async function openNodeTarget(input: NodeTargetInput): Promise<OpenTarget> {
  if (typeof input === 'string') {
    try {
      return fileHandleTarget(await open(input, 'w'), true);
    } catch (err) {
      throw asVhdxError(err, 'create-failed', `cannot create ${input}`);
    }
  }
  if (isFileHandle(input)) return fileHandleTarget(input, false);
  return openTarget(input);
}
