// Outputs that would replace a file a differencing chain reads through: the
// parent of a child being written (or one of its parents), or a parent of a
// chain being flattened. Compared by device and inode, so links and other
// spellings of a path are caught too.
import { fileURLToPath } from 'node:url';
import { VhdxError } from '../errors.js';
import type { VhdxImage } from '../image/image.js';
import { isSameFile } from './file-io.js';
import { isHttpLocation } from './parent-paths.js';

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
  if (location === undefined || isHttpLocation(location)) return undefined;
  return location.startsWith('file:') ? fileURLToPath(location) : location;
}
