// Where an output file is written so that an existing file is never lost.
// A regular file (or a new one) is written under a temporary name beside it,
// `.NAME.partial-XXXXXXXX`, and renamed over it only once complete: a failed
// or interrupted run leaves the old file as it was (or nothing), and a file
// converted onto itself is read whole before it is replaced. The replacement
// keeps the old file's mode (and its owner, where the process may set it).
// A file the user may not write is refused, as qemu-img refuses it; a file
// with more than one hard link is written in place (a rename would split it
// from its other names), and so are devices and FIFOs, which are never removed.
import { randomBytes } from 'node:crypto';
import { rmSync, type Stats } from 'node:fs';
import { chmod, chown, lstat, open, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { VhdxError, asVhdxError } from '../errors.js';

/** How a prepared output is written. */
export type OutputPlacement =
  /** under a temporary name, renamed over the output on commit */
  | 'temporary'
  /** a regular file with more than one hard link: truncated and written in place */
  | 'in-place'
  /** a device or FIFO: written in order, in place, never truncated or removed */
  | 'device';

/**
 * An output prepared by {@link prepareOutput}: written at `path`, then put in place by `commit`
 * or given up by `discard` (the caller owns it; the converters take it instead of a path).
 */
export interface OutputFile {
  /** The output as it was named: where it is once committed. */
  readonly name: string;
  /** The path to write to (a temporary name, or the output itself). */
  readonly path: string;
  readonly placement: OutputPlacement;
  /** Puts the written file in place, with the mode and owner of the file it replaces. */
  commit(): Promise<void>;
  /** Removes what was written (only a temporary file of ours). */
  discard(): Promise<void>;
  /** The same, synchronously: for a signal handler about to exit. */
  discardSync(): void;
}

/** 255 bytes (the usual limit of a file name) less `.` and `.partial-` and 8 hex digits. */
const MAX_KEPT_NAME_BYTES = 255 - 18;

/** The temporary name an output is written under, beside it: `.NAME.partial-` and 8 hex digits (NAME cut to fit). */
export function temporaryNameFor(path: string): string {
  // a name near the 255-byte limit keeps its start: the temporary one must fit too
  let name = basename(path);
  while (Buffer.byteLength(name) > MAX_KEPT_NAME_BYTES) name = name.slice(0, -1);
  return join(dirname(path), `.${name}.partial-${randomBytes(4).toString('hex')}`);
}

const IN_PLACE = { commit: async () => {}, discard: async () => {}, discardSync: () => {} };

/**
 * Refuses a symlink whose target does not exist (a file not made yet, or on a volume not mounted):
 * renaming over the link would destroy it, and writing through it would put the disk somewhere
 * the user may not expect. GNU cp refuses it the same way.
 * @throws VhdxError 'create-failed'
 */
async function refuseDanglingLink(path: string): Promise<void> {
  const link = await lstat(path).catch(() => undefined);
  if (!link?.isSymbolicLink()) return;
  const to = await readlink(path).catch(() => '?');
  throw new VhdxError(
    'create-failed',
    `cannot create ${path}: it is a symbolic link to ${to}, which does not exist (not writing through a dangling link)`,
  );
}

/**
 * Where to write the output named `path`; see the module comment. The
 * temporary file is created here (exclusively, so nothing else can be
 * behind its name); the caller opens it for writing.
 * @throws VhdxError IO 'create-failed' when the output may not be written (an existing file
 *   the user cannot open for writing: "Permission denied") or its directory does not take a new file;
 *   INVALID_ARGUMENT 'invalid-option' for an empty path
 */
export async function prepareOutput(path: string): Promise<OutputFile> {
  if (path === '') throw new VhdxError('invalid-option', 'the output path is empty', { structure: 'options', field: 'output' });
  const failed = (err: unknown) => asVhdxError(err, 'create-failed', `cannot create ${path}`);
  const existing = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw failed(err);
  });
  if (!existing) await refuseDanglingLink(path);
  if (existing && !existing.isFile()) {
    if (existing.isDirectory()) throw new VhdxError('create-failed', `cannot create ${path}: it is a directory`);
    return { name: path, path, placement: 'device', ...IN_PLACE };
  }
  if (existing) {
    // opened for writing (append, so nothing changes) rather than asked with access(): the same
    // answer the kernel gives a writer, and Deno's access() would need the user id (--allow-sys)
    const probe = await open(path, 'a').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        throw new VhdxError('create-failed', `cannot open ${path} for writing: Permission denied`, { cause: err });
      }
      throw asVhdxError(err, 'create-failed', `cannot open ${path} for writing`);
    });
    await probe.close();
    if (existing.nlink > 1) return { name: path, path, placement: 'in-place', ...IN_PLACE };
  }
  // a symlink stays a symlink: the file it points to is the one replaced
  const target = existing ? await realpath(path).catch(() => path) : path;
  const temp = temporaryNameFor(target);
  try {
    await (await open(temp, 'wx', existing ? 0o600 : 0o666)).close();
  } catch (err) {
    throw failed(err);
  }
  return {
    name: path,
    path: temp,
    placement: 'temporary',
    async commit() {
      if (existing) await keepModeAndOwner(temp, existing);
      await rename(temp, target);
    },
    discard: () => rm(temp, { force: true }),
    discardSync: () => rmSync(temp, { force: true }),
  };
}

/** Gives `temp` the mode and, where permitted, the owner of the file it replaces. */
async function keepModeAndOwner(temp: string, old: Stats): Promise<void> {
  const mine = await stat(temp);
  if (mine.uid !== old.uid || mine.gid !== old.gid) {
    // only root may give a file away; anyone may pick one of their own groups
    await chown(temp, old.uid, old.gid).catch(() => chown(temp, mine.uid, old.gid).catch(() => {}));
  }
  await chmod(temp, old.mode & 0o7777); // after chown, which clears set-id bits
}

/**
 * Runs `write` on the path `output` is to be written at (see
 * {@link prepareOutput}), then puts it in place; when `write` fails the
 * temporary file is removed and the existing output is left as it was.
 * @throws what prepareOutput and `write` throw; VhdxError IO 'create-failed' when the result cannot be renamed into place
 */
export async function writeOutputFile<T>(output: string, write: (path: string, placement: OutputPlacement) => Promise<T>): Promise<T> {
  const prepared = await prepareOutput(output);
  let result: T;
  try {
    result = await write(prepared.path, prepared.placement);
  } catch (err) {
    await prepared.discard().catch(() => {});
    throw err;
  }
  try {
    await prepared.commit();
  } catch (err) {
    await prepared.discard().catch(() => {});
    throw asVhdxError(err, 'create-failed', `cannot put ${output} in place`);
  }
  return result;
}

/**
 * Where a converter writes: a path (written under a temporary name and put in place when complete,
 * see {@link writeOutputFile}), or an output the caller prepared with {@link prepareOutput} and owns:
 * written at its `path`, committed or discarded by the caller, which also made the checks a path
 * gets (that it is not the input, nor a file of the input's chain).
 */
export type OutputTarget = string | OutputFile;

/** The name `output` is known by (where it will be once in place). */
export function outputName(output: OutputTarget): string {
  return typeof output === 'string' ? output : output.name;
}

/**
 * Runs `write` on the path `output` is written at: a path as {@link writeOutputFile} writes it, a
 * prepared output at its own path (the caller puts it in place).
 * @throws what writeOutputFile and `write` throw
 */
export async function writeOutput<T>(output: OutputTarget, write: (path: string, placement: OutputPlacement) => Promise<T>): Promise<T> {
  return typeof output === 'string' ? writeOutputFile(output, write) : write(output.path, output.placement);
}
