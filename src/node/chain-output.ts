// Outputs that would replace a file a differencing chain reads through: the
// parent of a child being written (or one of its parents), a parent of a
// chain being flattened, or a VHDX that a child beside it names as its
// parent. Compared by device and inode, so links and other spellings of a
// path are caught too.
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VhdxError } from '../errors.js';
import type { VhdxImage } from '../image/image.js';
import { resolveLimits } from '../image/limits.js';
import { loadImage, type ImageModel } from '../image/load.js';
import { isSameFile } from './file-io.js';
import { openNodeSource } from './file-source.js';
import { isHttpUrl } from '../sources/http.js';

/**
 * What `image` is to the output: the `parent` of a child being written (every level of its chain is
 * refused), or the `input` being flattened (its parents are refused; the input itself may be rewritten
 * in place). `levelOffset` numbers the levels for the message when `image` is itself a parent of the
 * input (1 for a --parent given on the command line).
 */
export interface ChainOutputRole {
  role: 'parent' | 'input';
  levelOffset?: number;
}

/**
 * Refuses an `output` path that is a file of `image`'s chain, as `role` says.
 * @throws VhdxError `output-is-input`
 */
export async function refuseOutputInChain(image: VhdxImage, output: string, { role, levelOffset = 0 }: ChainOutputRole): Promise<void> {
  for (const [index, { location }] of image.info.chain.entries()) {
    const level = index + levelOffset;
    if (role === 'input' && level === 0) continue;
    const path = localPath(location);
    if (path === undefined || !(await isSameFile(path, output))) continue;
    if (role === 'input') {
      throw new VhdxError(
        'output-is-input',
        `the output ${output} is a parent of the input (level ${level}), ${path}: replacing it would break the chain the input reads through; write elsewhere`,
      );
    }
    const which = level === 0 ? 'the parent' : `a parent of the parent (level ${level})`;
    throw new VhdxError(
      'output-is-input',
      `the output ${output} is ${which}, ${path}: the child would replace the disk it is written against`,
    );
  }
}

/** A level's location as a local path; undefined for URLs and sources without one. */
function localPath(location: string | undefined): string | undefined {
  if (location === undefined || isHttpUrl(location)) return undefined;
  return location.startsWith('file:') ? fileURLToPath(location) : location;
}

/** The structures of the VHDX at `path` (its own, no parent followed); undefined for anything else. */
async function ownStructures(path: string): Promise<ImageModel | undefined> {
  const source = await openNodeSource(path).catch(() => undefined);
  if (!source) return undefined;
  try {
    return await loadImage(source, resolveLimits());
  } catch {
    return undefined;
  } finally {
    await source.close?.();
  }
}

/**
 * The differencing files beside the VHDX at `path` (in its folder, named .vhdx or .avhdx) whose parent
 * linkage names its DataWriteGuid: the children that read through it, as their paths. Empty when `path` is
 * not a VHDX file; files that cannot be read are passed over.
 * @throws nothing of its own: a folder that cannot be listed gives no children
 */
export async function childrenBeside(path: string): Promise<string[]> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) return [];
  const guid = (await ownStructures(path))?.info.dataWriteGuid.toLowerCase();
  if (guid === undefined) return [];
  const folder = dirname(path);
  const names = await readdir(folder).catch(() => [] as string[]);
  const children: string[] = [];
  for (const name of names.sort()) {
    const ext = extname(name).toLowerCase();
    if (ext !== '.vhdx' && ext !== '.avhdx') continue;
    const sibling = join(folder, name);
    if (name === basename(path) || (await isSameFile(sibling, path))) continue;
    // only regular files are read: a FIFO or device named .vhdx would block or never end
    if (!(await stat(sibling).catch(() => undefined))?.isFile()) continue;
    const link = (await ownStructures(sibling))?.parentLink;
    if (link?.linkage.includes(guid)) children.push(sibling);
  }
  return children;
}

/**
 * Refuses to replace the VHDX at `output` when a child beside it reads through it (see {@link childrenBeside}):
 * the child would then read another disk's data as its parent's.
 * @throws VhdxError `output-has-children`, naming the children
 */
export async function refuseReplacingParent(output: string): Promise<void> {
  const children = await childrenBeside(output);
  if (children.length === 0) return;
  throw new VhdxError(
    'output-has-children',
    `the output ${output} is the parent of ${children.join(', ')}: replacing it would break ${children.length === 1 ? 'that child' : 'those children'}; write elsewhere`,
  );
}
