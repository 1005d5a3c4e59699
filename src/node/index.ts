/**
 * The Node entry, `vhdx-stream/node`: everything the default entry exports,
 * with the functions that take inputs or targets also accepting file paths
 * and FileHandles, plus fast file-to-file conversion with pipelined I/O.
 *
 * ```ts
 * import { openVhdx, convertRawFileToVhdx } from 'vhdx-stream/node';
 * ```
 * @packageDocumentation
 */
import type { AllocationMap, ScanOptions } from '../sources/scan.js';
import { scanSource } from '../sources/scan.js';
import type { CheckReport, OpenVhdxOptions, VhdxImage } from '../image/image.js';
import { checkVhdxSource, openVhdxSource } from '../image/open.js';
import type { VhdxInfo } from '../image/types.js';
import { VhdxWriterStream as WebVhdxWriterStream, type VhdxWriterOptions } from '../streams/writer.js';
import type { TargetInput } from '../sources/targets.js';
import { openNodeSource, type NodeSourceInput } from './file-source.js';
import { VhdxError, asVhdxError } from '../errors.js';
import type { SourceInput } from '../sources/types.js';
import { openVhdxWritable, repairVhdxFile, type RepairReport } from '../edit/open.js';
import { openNodeWritableFile, type NodeFileOptions, type NodeWritableFileInput } from './file.js';
import { isHttpUrl } from '../sources/http.js';
import { childRelativePath, nodeOpenContext } from './parent-paths.js';
import { openNodeTarget, type NodeTargetInput } from './file-target.js';
import { childrenBeside, refuseOutputInChain } from './chain-output.js';
import { isSameFile } from './file-io.js';
import { inPlaceAccess, type InPlaceAccess } from '../edit/access.js';
import { compactWith, type CompactOptions, type CompactResult } from '../edit/compact.js';
import { resizeWith, type ResizeOptions, type ResizeResult } from '../edit/resize.js';
import { setParentWith, type ParentPaths, type SetParentOptions, type SetParentResult } from '../edit/parent.js';
import { win32 } from 'node:path';
import { stat, unlink } from 'node:fs/promises';
import { commitWith, type CommitOptions, type CommitResult } from '../edit/commit.js';
export type { CommitOptions, CommitResult } from '../edit/commit.js';

export * from '../index.js';
export { convertRawFileToVhdx, convertVhdxFileToRaw, convertVhdxFileToVhdx } from './convert.js';
export type { FileConvertOptions, VhdxToRawOptions, VhdxToVhdxOptions } from './convert.js';
export { convertRawFileToChild, convertRawStreamToChild, convertVhdxToChild, createChildFile } from './child.js';
export { childrenBeside } from './chain-output.js';
export type { ChildFileOptions } from './child.js';
export type { NodeSourceInput } from './file-source.js';
export type { NodeTargetInput } from './file-target.js';
export { canMapHoles } from './holes.js';
export { prepareOutput } from './output.js';
export type { OutputFile, OutputPlacement, OutputTarget } from './output.js';
export type { NodeFileOptions, NodeWritableFileInput } from './file.js';

/** Options of the Node entry's {@link openVhdx} and {@link repairVhdx}: the default entry's, and how a path or FileHandle opened for writing writes. */
export interface NodeOpenVhdxOptions extends OpenVhdxOptions, NodeFileOptions {}

/**
 * Opens a VHDX for random access: a file path or FileHandle, or anything the
 * default entry's `openVhdx` takes (bytes, Blob/File, http(s) URL, `{ size, read }`).
 * A differencing file's parent is looked for by the locator's relative_path
 * beside it (volume_path and absolute_win32_path on Windows only), unless the
 * `parent` or `resolveParent` option says where it is (a path is accepted there too).
 * @throws VhdxError for a file that is not a valid VHDX (`NOT_VHDX`, `CORRUPT`,
 *   `BAD_CHECKSUM`, `TRUNCATED`, `UNSUPPORTED`, `LIMIT_EXCEEDED`) or cannot be read (`IO`);
 *   for a chain, `parent-missing` naming every path tried and the chain reasons of the default entry's `openVhdx`.
 *
 * With `{ writable: true }`: a path (opened for reading and writing, never
 * created or truncated), a FileHandle, an OPFS access handle or a
 * `{ size, read, write, truncate, flush }` is changed in place (see the default
 * entry's `openVhdx` and docs/writing.md); `source-not-writable` for a URL,
 * bytes or a Blob. A path or FileHandle makes writes of up to `syncWriteLimit`
 * bytes (default 64 KiB) on the calling thread: see {@link NodeFileOptions.syncWriteLimit}.
 */
export async function openVhdx(input: NodeSourceInput | NodeWritableFileInput, options: NodeOpenVhdxOptions = {}): Promise<VhdxImage> {
  if (options.writable) {
    const file = await openNodeWritableFile(input as NodeWritableFileInput, options);
    return openVhdxWritable(file, options, nodeOpenContext(input as NodeSourceInput, options));
  }
  return openVhdxSource(
    await openNodeSource(input as NodeSourceInput, options),
    options,
    nodeOpenContext(input as NodeSourceInput, options),
  );
}

/**
 * Repairs a VHDX in place (a path, FileHandle, OPFS access handle or custom
 * file) as `qemu-img check -r all` does; see the default entry's `repairVhdx`.
 * @throws VhdxError as a writable {@link openVhdx}.
 */
export async function repairVhdx(input: NodeWritableFileInput, options: NodeOpenVhdxOptions = {}): Promise<RepairReport> {
  const file = await openNodeWritableFile(input, options);
  return repairVhdxFile(file, options, nodeOpenContext(input as NodeSourceInput, options));
}

/**
 * Checks a VHDX (path, FileHandle, or any default-entry input) and reports
 * every problem found.
 * @throws VhdxError `IO` only, when the input cannot be read; every other
 *   failure is reported as a problem.
 */
export async function checkVhdx(input: NodeSourceInput, options: OpenVhdxOptions = {}): Promise<CheckReport & { info?: VhdxInfo }> {
  return checkVhdxSource(await openNodeSource(input, options), options, nodeOpenContext(input, options));
}

/**
 * Which blocks of a raw disk (path, FileHandle, or any default-entry input)
 * hold data; see the default entry's `scanAllocation`.
 * @throws VhdxError `TRUNCATED` (`source-truncated`) when the source ends early, `IO` when it cannot be read.
 */
export async function scanAllocation(input: NodeSourceInput, options: ScanOptions = {}): Promise<AllocationMap> {
  return scanSource(await openNodeSource(input), options);
}

/** A child written to a path names its parent relative to that path, when the parent was opened from a path. */
function withChildPath(target: NodeTargetInput, options: VhdxWriterOptions): VhdxWriterOptions {
  const location = options.parent?.info?.chain?.[0]?.location;
  if (typeof target !== 'string' || options.parentRelativePath !== undefined || !location || isHttpUrl(location)) return options;
  return { ...options, parentRelativePath: childRelativePath(target, location) };
}

/**
 * The positional VHDX writer, also accepting a file path or a FileHandle as
 * its target. See the default entry's class. A path is written under a
 * temporary name beside it (`.NAME.partial-XXXXXXXX`) and renamed over it
 * when the stream closes: a failed or aborted stream leaves an existing file
 * as it was (a file with several hard links is written in place). A
 * FileHandle is written in place. With `parent` (an image opened from a path), a child written to a
 * path names the parent by its path relative to the child's folder, and may not be a file of the parent's chain.
 * @throws VhdxError as the default entry's class; `output-is-input` for a child's path that is a file of its
 *   parent's chain; `IO` (`create-failed`) for a path that cannot be
 *   created or written (an existing file the process may not write: "Permission denied").
 */
export class VhdxWriterStream extends WebVhdxWriterStream {
  constructor(target: NodeTargetInput, options: VhdxWriterOptions = {}) {
    const { parent } = options;
    super(target as TargetInput, withChildPath(target, options), async (t) => {
      // a child must not replace a file of the chain it is written against
      if (parent && typeof t === 'string') await refuseOutputInChain(parent, t, { role: 'parent' });
      return openNodeTarget(t as NodeTargetInput);
    });
  }
}

/** The Node entry's access to a file changed in place: paths and FileHandles too. */
function nodeAccess(input: NodeSourceInput | NodeWritableFileInput, options: NodeOpenVhdxOptions): InPlaceAccess {
  return inPlaceAccess(
    () => openNodeSource(input as NodeSourceInput, options),
    () => openNodeWritableFile(input as NodeWritableFileInput, options),
    options,
    () => nodeOpenContext(input as NodeSourceInput, options),
  );
}

/**
 * Compacts a dynamic or differencing VHDX in place (a path, a FileHandle, or
 * anything the default entry's `compactVhdx` takes); see there.
 * @throws VhdxError as the default entry's `compactVhdx`; `IO` (`open-failed`) for a path that cannot be opened for writing.
 */
export function compactVhdx(input: NodeSourceInput | NodeWritableFileInput, options: CompactOptions = {}): Promise<CompactResult> {
  return compactWith(nodeAccess(input, options), options);
}

/**
 * Changes the virtual size of a dynamic or fixed VHDX in place (a path, a
 * FileHandle, or anything the default entry's `resizeVhdx` takes); see there.
 * @throws VhdxError as the default entry's `resizeVhdx`; `IO` (`open-failed`).
 */
export function resizeVhdx(
  input: NodeSourceInput | NodeWritableFileInput,
  newSize: number,
  options: ResizeOptions & OpenVhdxOptions = {},
): Promise<ResizeResult> {
  return resizeWith(nodeAccess(input, options), newSize, options);
}

/**
 * Points a differencing VHDX at its parent: a child path and a parent path
 * (the locator's relative_path, from the child's folder with `\` separators,
 * and on Windows absolute_win32_path, are worked out from them), or anything
 * the default entry's `setParent` takes with `relativePath` given. Checks the
 * linkage and sizes, then rewrites the Parent Locator through the child's log.
 * With `ignoreLinkage` a parent whose DataWriteGuid changed is accepted and the
 * child is linked to it as it is now.
 * @throws VhdxError as the default entry's `setParent`; `invalid-option` (field
 *   `relativePath`) when the paths cannot be worked out and none was given;
 *   `parent-is-self` when the parent path is the child itself (nothing written).
 */
export async function setParent(
  child: NodeWritableFileInput,
  parent: VhdxImage | NodeSourceInput,
  options: SetParentOptions & Partial<ParentPaths> & OpenVhdxOptions = {},
): Promise<SetParentResult> {
  const { relativePath, absoluteWin32Path, ...open } = options;
  const byPaths = typeof child === 'string' && typeof parent === 'string';
  if (byPaths && (await isSameFile(child, parent))) {
    throw new VhdxError('parent-is-self', `${parent} is the child itself: a differencing disk cannot be its own parent`, {
      structure: 'options',
      field: 'parent',
    });
  }
  const relative = relativePath ?? (byPaths ? childRelativePath(child, parent) : undefined);
  if (relative === undefined) {
    throw new VhdxError('invalid-option', 'give relativePath: the child or the parent is not a path', {
      structure: 'options',
      field: 'relativePath',
    });
  }
  const absolute = absoluteWin32Path ?? (byPaths && process.platform === 'win32' ? win32.resolve(parent) : undefined);
  return setParentWith(nodeAccess(child, { ...open, parent: parent as VhdxImage | SourceInput }), {
    relativePath: relative,
    ...(absolute ? { absoluteWin32Path: absolute } : {}),
  });
}

/** Options of `commitVhdx`. */
export interface CommitVhdxOptions extends CommitOptions {
  /** Remove the child once its base holds its data (Merge-VHD); default false: the child is left empty (qemu-img commit). */
  remove?: boolean;
  /** Commit even when other children beside the base link to it (they stop matching its new DataWriteGuid). */
  force?: boolean;
  /**
   * Commit down to this lower level of the child's chain (a path; qemu-img commit -b): the data of the
   * child and of every level between them is written into it, and the levels between are left empty
   * (each then reads as the base, that is as the child's chain did). Default: the child's parent.
   */
  base?: string;
}

/**
 * Commits a differencing VHDX (a path) into its parent, or with `base` down to a
 * lower level of its chain, in place (qemu-img commit; Merge-VHD): the base,
 * written through its log, then reads as the child's chain did, and gets a new
 * DataWriteGuid. The levels between the child and the base are left empty (they
 * read as the base: the chain still opens and reads the same). Refused when other
 * children beside the base link to it (they would stop matching), unless `force`,
 * and always when another child links to a level between (it would read the
 * committed data without noticing). Safe across the files: the level linked to
 * the base records the base's next DataWriteGuid before the base's first write,
 * and the levels are emptied from the bottom up, so the chain opens and reads the
 * same at every point and a rerun finishes. Afterwards the child is empty (reads
 * as the base), or removed with `remove`.
 * @throws VhdxError `INVALID_ARGUMENT` (`parent-has-other-children` naming
 *   them, `base-not-in-chain` for a `base` that is not below the child in its chain,
 *   `operation-not-supported` for a file without a parent); as `openVhdx`
 *   of the chain and with `writable`. Nothing is written when refused.
 */
export async function commitVhdx(child: string, options: CommitVhdxOptions = {}): Promise<CommitResult> {
  const image = await openVhdx(child);
  const chain = image.info.chain.map((l) => l.location);
  await image.close();
  if (chain.length < 2 || chain[1] === undefined) {
    throw new VhdxError('operation-not-supported', `${child} has no parent file: only a differencing disk can be committed`, {
      structure: 'metadata item',
    });
  }
  const depth = options.base === undefined ? 1 : await depthOf(chain, options.base, child);
  const levels = [child, ...(chain.slice(1, depth) as string[])];
  const basePath = chain[depth]!;
  if (!options.force) {
    const why = 'would stop matching its new DataWriteGuid (force: true, --force, commits anyway)';
    await refuseOtherChildren(basePath, levels[levels.length - 1]!, why);
  }
  // a level between is emptied: another child of it would read the committed data without noticing (force does not help)
  const emptied = 'would read the committed data once it is emptied (a level between the child and the base)';
  for (let i = 1; i < levels.length; i++) await refuseOtherChildren(levels[i]!, levels[i - 1]!, emptied);
  const result = await commitWith(
    {
      child: nodeAccess(child, {}),
      between: levels.slice(1).map((path) => nodeAccess(path, {})),
      parent: nodeAccess(basePath, {}),
      childOver: (parent) => openVhdx(child, { resolveParent: (r) => (r.depth === depth ? parent : undefined) }),
    },
    !options.remove,
    options,
  );
  if (options.remove) await unlink(child);
  return result;
}

/** Where `base` is in the chain (1: the child's parent). */
async function depthOf(chain: (string | undefined)[], base: string, child: string): Promise<number> {
  for (let depth = 1; depth < chain.length; depth++) {
    const at = chain[depth];
    if (at !== undefined && (await isSameFile(at, base))) return depth;
  }
  // a base that is not there: say so, not that it is missing from the chain
  await stat(base).catch((err: unknown) => {
    throw asVhdxError(err, 'open-failed', `cannot open ${base}`);
  });
  throw new VhdxError(
    'base-not-in-chain',
    `${base} is not below ${child} in its chain (${chain.slice(1).join(' -> ')}): the base must be one of its parents`,
    { structure: 'options', field: 'base' },
  );
}

/** Refuses when files beside `path` link to it other than `above` (under any name); `why`: what would become of them. */
async function refuseOtherChildren(path: string, above: string, why: string): Promise<void> {
  const others = await otherChildren(path, above);
  if (others.length === 0) return;
  throw new VhdxError('parent-has-other-children', `other children link to ${path} and ${why}: ${others.join(', ')}`, {
    structure: 'parent locator',
  });
}

/** The VHDX files beside `parentPath` that link to it (its DataWriteGuid), other than `child` under any name. */
async function otherChildren(parentPath: string, child: string): Promise<string[]> {
  const children = await childrenBeside(parentPath);
  const others: string[] = [];
  for (const c of children) if (!(await isSameFile(c, child))) others.push(c);
  return others;
}
