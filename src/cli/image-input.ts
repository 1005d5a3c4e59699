// The input of the commands that read at random offsets (info, check,
// measure): a path, an http(s) URL, or stdin when it is redirected from a
// file; with the name to show for it and the bytes it takes on disk.
import { fstatSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { VhdxError, asVhdxError } from '../errors.js';
import { resolveInput } from './inputs.js';
import { UsageError } from './usage-error.js';

/** Where a report reads from. */
export interface ImageInput {
  kind: 'path' | 'url' | 'stdin';
  /** What `openVhdx`, `checkVhdx` and `scanAllocation` (node entry) take for it. */
  source: string;
  /** The input as the user named it. */
  name: string;
  /** Bytes the file takes on the host's disk (allocated blocks), when known. */
  diskSize: number | undefined;
}

/**
 * Resolves `arg` for `command` (see {@link resolveInput}): `-` must be a redirected file (it is read at
 * random offsets), a path must be a file or a device.
 * @throws UsageError for stdin that is not a regular file, a URL scheme not read here; VhdxError `open-failed`
 *   for a path that does not exist or is a directory
 */
export async function imageInput(arg: string, command: string): Promise<ImageInput> {
  const input = resolveInput(arg);
  if (input.kind === 'stdin') {
    const st = fstatSync(0);
    if (!st.isFile()) {
      throw new UsageError(`${command} reads its input at random offsets: give a file or URL, or redirect stdin from a file (< disk.vhdx)`);
    }
    // /dev/stdin opens the redirected file itself, at its start
    return { kind: 'stdin', source: '/dev/stdin', name: '-', diskSize: st.blocks * 512 };
  }
  if (input.kind === 'url') return { kind: 'url', source: input.url, name: arg, diskSize: undefined };
  const st = await stat(input.path).catch((err) => {
    throw asVhdxError(err, 'open-failed', `cannot open ${arg}`);
  });
  if (st.isDirectory()) throw new VhdxError('open-failed', `cannot open ${arg}: it is a directory`);
  return { kind: 'path', source: input.path, name: arg, diskSize: st.isFile() ? st.blocks * 512 : undefined };
}
