// The default entry's in-place operations: an OPFS access handle (in a
// Worker) or `{ size, read, write, truncate, flush }`; a dry run also reads
// bytes, Blobs and URLs. The Node entry adds paths and FileHandles.
import type { SourceInput } from '../sources/types.js';
import type { WritableFileInput } from '../sources/writable.js';
import { defaultAccess } from './access.js';
import { compactWith, type CompactOptions, type CompactResult } from './compact.js';
import { resizeWith, type ResizeOptions, type ResizeResult } from './resize.js';
import type { OpenVhdxOptions, VhdxImage } from '../image/image.js';
import { setParentWith, type ParentPaths, type SetParentOptions, type SetParentResult } from './parent.js';

/**
 * Compacts a dynamic or differencing VHDX in place: blocks that hold no data
 * (all-zero payload, or states that read without payload but still name file
 * space) lose their space, blocks past the packed size move into the holes,
 * and the file is cut. Every BAT change goes through the log, so a crash at
 * any moment leaves the same disk (see docs/writing.md); the file never grows.
 * With `dryRun` nothing is written and the result says what would be reclaimed.
 * `discardRanges` discards whole blocks a caller knows are free (a filesystem's free space).
 * @throws VhdxError `INVALID_ARGUMENT` (`operation-not-supported`) for a fixed
 *   disk (nothing written; convert it to dynamic); `source-not-writable` for an
 *   input that cannot be written (unless `dryRun`); as `openVhdx` with `writable`.
 */
export function compactVhdx(input: WritableFileInput | SourceInput, options: CompactOptions = {}): Promise<CompactResult> {
  return compactWith(defaultAccess(input, options), options);
}

/**
 * Changes the virtual size of a dynamic or fixed VHDX in place. Growing: the
 * BAT moves to the end of the file when it is too small for the new size, a
 * fixed disk gets its new blocks, and the new size is logged last. Shrinking
 * only with `shrink: true`, and only when the range cut off reads all zero.
 * Every change goes through the log (the region tables, which the format keeps
 * out of it, are rewritten one copy at a time after the BAT's copy is durable).
 * @throws VhdxError `INVALID_ARGUMENT` (`invalid-option`, `operation-not-supported`
 *   for a differencing disk, `shrink-not-requested`, `shrink-holds-data`), each
 *   before anything is written; as `openVhdx` with `writable`.
 */
export function resizeVhdx(
  input: WritableFileInput,
  newSize: number,
  options: ResizeOptions & OpenVhdxOptions = {},
): Promise<ResizeResult> {
  return resizeWith(defaultAccess(input, options), newSize, options);
}

/**
 * Points a differencing VHDX at its parent's new place: checks the linkage
 * (the parent's DataWriteGuid against the locator's parent_linkage; with
 * `ignoreLinkage` the child is linked to the parent as it is now) and the
 * sizes, then rewrites the Parent Locator through the child's log. `parent`
 * is the parent as an image or input; `relativePath` is what the locator
 * will say (from the child's folder, `\` separators). Node:
 * `setParent(childPath, parentPath)` works the paths out.
 * @throws VhdxError `INVALID_ARGUMENT` (`operation-not-supported` for a file
 *   without a parent); as `openVhdx` with `writable` and `parent`
 *   (`parent-linkage-mismatch`, `parent-size-mismatch`, ...).
 */
export function setParent(
  child: WritableFileInput,
  parent: VhdxImage | SourceInput,
  options: SetParentOptions & ParentPaths & OpenVhdxOptions,
): Promise<SetParentResult> {
  const { relativePath, absoluteWin32Path, ...open } = options;
  return setParentWith(defaultAccess(child, { ...open, parent }), { relativePath, ...(absoluteWin32Path ? { absoluteWin32Path } : {}) });
}
