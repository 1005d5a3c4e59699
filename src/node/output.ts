// Where a CLI conversion writes. A regular file (or a new one) is written
// under a temporary name beside it and renamed over it only once complete:
// a failed or interrupted run leaves the old file as it was (or nothing),
// and converting a file onto itself reads the whole input before replacing
// it. Devices, FIFOs and symlinks are written in place, and never removed.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { access, constants, lstat, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asVhdxError } from '../errors.js';

export interface OutputFile {
  /** The path to write to. */
  readonly path: string;
  /** Puts the written file in place. */
  commit(): Promise<void>;
  /** Removes what was written (only a temporary file of ours). */
  discard(): Promise<void>;
  /** The same, synchronously: for a signal handler about to exit. */
  discardSync(): void;
}

/**
 * Where to write the output named `path`: a temporary file beside it, or
 * the path itself when it exists and is not a regular file.
 * @throws VhdxError 'create-failed' when its directory is not writable
 */
export async function prepareOutput(path: string): Promise<OutputFile> {
  const existing = await lstat(path).catch(() => undefined);
  if (existing && !existing.isFile()) {
    return { path, commit: async () => {}, discard: async () => {}, discardSync: () => {} };
  }
  // checked here so that an error names the user's path, not the temporary one
  await access(dirname(path), constants.W_OK).catch((err) => {
    throw asVhdxError(err, 'create-failed', `cannot create ${path}`);
  });
  const temp = join(dirname(path), `.${basename(path)}.partial-${randomBytes(4).toString('hex')}`);
  return {
    path: temp,
    commit: () => rename(temp, path),
    discard: () => rm(temp, { force: true }),
    discardSync: () => rmSync(temp, { force: true }),
  };
}
