// Opening files for random access: the default entry's inputs (bytes,
// Blobs, URLs, custom sources), and a differencing file's chain of parents,
// found and accepted by chain.ts and attached level by level.
import { VhdxError, asVhdxError, withFile, type VhdxErrorFile } from '../errors.js';
import { openSource } from '../sources/index.js';
import { urlParentCandidates, type FindParentCandidates } from '../sources/parent.js';
import type { ReadableFile, SourceInput } from '../sources/types.js';
import { ready } from '../wasm/instance.js';
import { DEFAULT_MAX_CHAIN_DEPTH, findParent, parentFile, startSeen, type LevelOpener, type ParentSearch } from './chain.js';
import { VhdxImage, type CheckReport, type ImageEditor, type OpenVhdxOptions } from './image.js';
import { resolveLimits } from './limits.js';
import { loadImage, type ImageModel } from './load.js';
import { recordStop, type Problem, type VhdxInfo } from './types.js';

/** How the entry that opened a file finds what its parents need (not exported from an entry). */
export interface OpenContext {
  /** The file's path or URL, when it was opened from one. */
  location?: string;
  /** Opens an input a caller gave as a parent. */
  openInput(input: SourceInput): Promise<{ source: ReadableFile; location?: string }>;
  /** The default places to look for a parent. */
  findCandidates: FindParentCandidates;
  /** What the file opened is to the caller, for errors (default `input`; `parent` when it is opened as a new child's parent). */
  role?: 'input' | 'parent';
}

/**
 * How a writable open changes the file before it is used (a dirty log
 * replayed onto it, refusals the format asks for), once the chain is found:
 * returns the editor of the image.
 */
export type PrepareEdit = (image: VhdxImage, model: ImageModel, problems: Problem[]) => Promise<ImageEditor>;

/** The context of inputs this entry can open: bytes, Blobs, URLs, `{ size, read }`; parents by URL. */
function defaultContext(input: SourceInput | undefined, options: OpenVhdxOptions): OpenContext {
  const location = typeof input === 'string' || input instanceof URL ? String(input) : undefined;
  return {
    ...(location ? { location } : {}),
    async openInput(parent) {
      const at = typeof parent === 'string' || parent instanceof URL ? String(parent) : undefined;
      return { source: await openSource(parent, options), ...(at ? { location: at } : {}) };
    },
    findCandidates: (request) => urlParentCandidates(request, options),
  };
}

function maxChainDepth(options: OpenVhdxOptions): number {
  const v = options.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new VhdxError('invalid-option', `maxChainDepth must be a non-negative integer, got ${String(v)}`, {
      structure: 'options',
      field: 'maxChainDepth',
    });
  }
  return v;
}

/**
 * Opens a chain from its first file: the image, with its parents found and
 * attached (parents it opened are closed when it fails; `source` is the
 * caller's to close). `problems` collects what a check
 * reports (the model's own problems are also kept in it).
 */
async function openChain(
  source: ReadableFile,
  options: OpenVhdxOptions,
  context: OpenContext,
  problems?: Problem[],
  edit?: PrepareEdit,
): Promise<VhdxImage> {
  const limits = resolveLimits(options);
  const search: ParentSearch<VhdxImage> = {
    ...(options.parent !== undefined ? { explicit: options.parent } : {}),
    ...(options.resolveParent ? { resolveParent: options.resolveParent } : {}),
    ignoreLinkage: !!options.ignoreLinkage,
    // a report shows and checks the chain a changed parent leads to; the mismatch is one of its problems
    reportMismatch: problems !== undefined,
    maxChainDepth: maxChainDepth(options),
    findCandidates: context.findCandidates,
    openInput: context.openInput,
  };
  const parentOptions: OpenVhdxOptions = { ...options };
  delete parentOptions.parent; // the caller's parent is the first file's only
  const opener: LevelOpener<VhdxImage> = {
    load: (s) => loadImage(s, limits),
    asImage: (x) => (x instanceof VhdxImage ? x : undefined),
    async complete(s, model, location, depth, seen) {
      try {
        return await attach(VhdxImage.create(s, model, parentOptions), model, location, depth, seen);
      } catch (err) {
        await s.close?.();
        throw err;
      }
    },
  };
  const base = context.role === 'parent' ? 1 : 0;
  const attach = async (image: VhdxImage, model: ImageModel, location: string | undefined, depth: number, seen: Set<string>) => {
    if (location !== undefined) image.info.chain[0]!.location = location;
    if (!model.parentLink) return image;
    try {
      const found = await findParent({ model, location, depth, seen, base }, search, opener);
      image.attachParent(found);
    } catch (err) {
      if (!(options.allowMissingParent && err instanceof VhdxError && err.reason === 'parent-missing')) throw err;
      image.attachParent({ owned: false, problems: [], missing: err });
    }
    return image;
  };
  // the file opened: as an input, or (opened to make a child of it) as the parent at level 1
  const file: VhdxErrorFile =
    context.role === 'parent'
      ? parentFile(1, context.location)
      : { role: 'input', level: 0, ...(context.location !== undefined ? { path: context.location } : {}) };
  // what loading finds, kept for the editor even when no check asked for it
  const found = problems ?? [];
  let image: VhdxImage;
  let model: ImageModel;
  try {
    model = await loadImage(source, limits, found);
    image = await attach(VhdxImage.create(source, model, options), model, context.location, 0, startSeen(model.info, context.location));
  } catch (err) {
    throw withFile(err, file);
  }
  if (!edit) return image;
  try {
    image.attachEditor(await edit(image, model, found));
  } catch (err) {
    await image.closeParents();
    throw err;
  }
  return image;
}

/**
 * Opens a VHDX for random access from a source you already opened; the image
 * owns it from then on (closed by {@link VhdxImage.close}, or at once when
 * opening fails). `context` says where the file lives, for finding parents;
 * `edit` makes it writable (edit/open.ts).
 * @throws VhdxError as {@link openVhdx}.
 */
export async function openVhdxSource(
  source: ReadableFile,
  options: OpenVhdxOptions = {},
  context?: OpenContext,
  edit?: PrepareEdit,
): Promise<VhdxImage> {
  try {
    await ready();
    return await openChain(source, options, context ?? defaultContext(undefined, options), undefined, edit);
  } catch (err) {
    await source.close?.();
    throw asVhdxError(err, 'read-failed', 'open failed');
  }
}

/**
 * Opens a VHDX for random access: bytes, a Blob/File, an http(s) URL (Range
 * requests), or any `{ size, read }`. File paths and FileHandles: the same
 * function from `vhdx-stream/node`. A differencing file's parents are found
 * through the `parent` and `resolveParent` options, or for a URL relative to
 * it by the locator's relative_path (see {@link ChainOptions}).
 * @throws VhdxError `NOT_VHDX`, `CORRUPT`, `BAD_CHECKSUM`, `TRUNCATED`,
 *   `UNSUPPORTED` or `LIMIT_EXCEEDED` for a file that cannot be opened (each
 *   with its reason, structure and offset); `INVALID_ARGUMENT`
 *   (`unsupported-source`, `invalid-option`); `IO` when the source fails,
 *   and `UNSUPPORTED` (`range-not-supported`) for a server without Range requests.
 *   For a differencing file: `IO` (`parent-missing`); `CORRUPT` (`parent-linkage-mismatch`,
 *   `parent-sector-size-mismatch`, `parent-size-mismatch`, `chain-loop`, `bitmap-missing`,
 *   `locator-malformed`); `LIMIT_EXCEEDED` (`chain-too-deep`, `bitmap-over-limit`).
 */
export async function openVhdx(input: SourceInput, options: OpenVhdxOptions = {}): Promise<VhdxImage> {
  return openVhdxSource(await openSource(input, options), options, defaultContext(input, options));
}

/**
 * Checks a VHDX read from `source` and reports every problem found, without
 * throwing for a damaged file (only for an unreadable source). A differencing
 * file's parent that cannot be found is a problem (`parent-missing`). Closes the source.
 * @throws VhdxError `IO` when the source cannot be read.
 */
export async function checkVhdxSource(
  source: ReadableFile,
  options: OpenVhdxOptions = {},
  context?: OpenContext,
): Promise<CheckReport & { info?: VhdxInfo }> {
  const problems: Problem[] = [];
  let image: VhdxImage | undefined;
  try {
    await ready();
    image = await openChain(source, { ...options, allowMissingParent: true }, context ?? defaultContext(undefined, options), problems);
    const report = await image.check();
    return { ...report, info: image.info };
  } catch (err) {
    const e = asVhdxError(err, 'read-failed', 'check failed');
    if (e.code === 'IO' && e.reason !== 'parent-missing') throw e;
    // a fatal problem comes last: nothing after it was looked at
    recordStop(problems, e);
    return { ok: false, problems };
  } finally {
    if (image) await image.close();
    else await source.close?.();
  }
}

/**
 * Checks a VHDX and reports every problem found, without throwing for a
 * damaged file. Inputs and chain options as for {@link openVhdx}.
 * @throws VhdxError `IO` only, when the source cannot be read; every other
 *   failure is reported as a problem (with its code, reason and offset).
 */
export async function checkVhdx(input: SourceInput, options: OpenVhdxOptions = {}): Promise<CheckReport & { info?: VhdxInfo }> {
  return checkVhdxSource(await openSource(input, options), options, defaultContext(input, options));
}
