// Finding and accepting a differencing file's parent (MS-VHDX 2.6.2.6.3):
// the caller's parent or resolver first, then the locator's paths in order;
// a parent is accepted only when its DataWriteGuid is one the locator names,
// its logical sector size and virtual size equal the child's, and it does
// not lead back into the chain. Opening a level is handed in by image.ts
// (which owns the image class), so this module only decides.
import { VhdxError, asVhdxError } from '../errors.js';
import type { FindParentCandidates, ParentRequest } from '../sources/parent.js';
import type { ReadableFile, SourceInput } from '../sources/types.js';
import type { ImageModel } from './load.js';
import { describeLinkage } from './locator.js';
import type { Problem, VhdxInfo } from './types.js';

/** Most parents followed when no `maxChainDepth` is given. */
export const DEFAULT_MAX_CHAIN_DEPTH = 16;

/** What this module needs of an opened level (the image class). */
export interface ChainImage {
  readonly info: VhdxInfo;
  /** The identities of every level of its chain (see {@link identityOf}). */
  identities(): string[];
  close(): Promise<void>;
}

/** How a level is opened: loaded first, its own parent found only once the link to it is accepted. */
export interface LevelOpener<I extends ChainImage> {
  load(source: ReadableFile): Promise<ImageModel>;
  /** Makes the image of a loaded level and finds its parents; closes `source` when it fails. */
  complete(source: ReadableFile, model: ImageModel, location: string | undefined, depth: number, seen: Set<string>): Promise<I>;
  /** `x` when it is an opened image. */
  asImage(x: unknown): I | undefined;
}

/** Where parents are looked for, from the options and the entry that opened the child. */
export interface ParentSearch<I> {
  /** The `parent` option: the first parent, given by the caller. */
  explicit?: I | SourceInput;
  resolveParent?(request: ParentRequest): I | SourceInput | undefined | Promise<I | SourceInput | undefined>;
  ignoreLinkage: boolean;
  maxChainDepth: number;
  findCandidates: FindParentCandidates;
  /** Opens an input the caller gave (bytes, Blob, URL; in Node also a path). */
  openInput(input: SourceInput): Promise<{ source: ReadableFile; location?: string }>;
}

/** The child whose parent is looked for. */
export interface ChildLevel {
  model: ImageModel;
  location: string | undefined;
  /** 0 for the file opened, 1 for its parent, … */
  depth: number;
  /** Identities of the child and every level below it. */
  seen: Set<string>;
}

/** An accepted parent. */
export interface FoundParent<I> {
  image: I;
  /** True when the chain opened it (and closes it). */
  owned: boolean;
  linkage: 'ok' | 'mismatch';
  /** A warning when the linkage was accepted with `ignoreLinkage`. */
  problems: Problem[];
}

/** A level's identity, for loop detection: its write GUIDs (two different files never share both). */
export function identityOf(info: VhdxInfo): string {
  return `${info.fileWriteGuid}/${info.dataWriteGuid}`;
}

/** Identities of a location, so that the same path reached twice is a loop even before it is read. */
function locationKey(location: string | undefined): string | undefined {
  return location === undefined ? undefined : `at:${location}`;
}

const where = (field?: string) => ({ structure: 'parent locator' as const, ...(field ? { field } : {}) });

/** An error met in a parent, said to be there (its offsets are in the parent's file, not the child's). */
function inParent(err: unknown, label: string): VhdxError {
  const e = asVhdxError(err, 'read-failed', `opening parent ${label} failed`);
  return new VhdxError(e.reason, `in parent ${label}: ${e.message}`, { cause: e });
}

/**
 * Checks a parent's geometry against the child's.
 * @throws VhdxError `parent-sector-size-mismatch`, `parent-size-mismatch`.
 */
function checkGeometry(child: ImageModel, parent: VhdxInfo, label: string): void {
  if (parent.logicalSectorSize !== child.logicalSectorSize) {
    throw new VhdxError(
      'parent-sector-size-mismatch',
      `parent ${label} has ${parent.logicalSectorSize}-byte logical sectors, the child ${child.logicalSectorSize}-byte ones`,
      { structure: 'metadata item', field: 'Logical Sector Size' },
    );
  }
  if (parent.virtualSize !== child.virtualSize) {
    throw new VhdxError(
      'parent-size-mismatch',
      `parent ${label} is a ${parent.virtualSize}-byte disk, the child a ${child.virtualSize}-byte one`,
      {
        structure: 'metadata item',
        field: 'Virtual Disk Size',
      },
    );
  }
}

function mismatchError(child: ImageModel, parent: VhdxInfo, label: string): VhdxError {
  const message = `parent ${label} has DataWriteGuid {${parent.dataWriteGuid}}, but the child's locator names ${describeLinkage(child.parentLink!)}`;
  return new VhdxError(
    'parent-linkage-mismatch',
    `${message} (the parent changed after the child was made; ignoreLinkage accepts it)`,
    where('parent_linkage'),
  );
}

function linkageWarning(child: ImageModel, parent: VhdxInfo, label: string): Problem {
  const e = mismatchError(child, parent, label);
  return {
    code: e.code,
    reason: e.reason,
    message: `accepted with ignoreLinkage: ${e.message}`,
    structure: 'parent locator',
    severity: 'warning',
  };
}

function tooDeep(depth: number, max: number): VhdxError {
  return new VhdxError('chain-too-deep', `the chain has more than ${max} parents (option maxChainDepth) at level ${depth}`, where());
}

/**
 * Finds, checks and opens the parent of `child` (and through `opener`, its
 * own parents in turn).
 * @throws VhdxError `parent-missing` naming every place tried; `parent-linkage-mismatch` (both GUIDs);
 *   `parent-sector-size-mismatch`, `parent-size-mismatch`; `chain-loop`; `chain-too-deep`; any error of
 *   opening a parent, said to be in that parent.
 */
export async function findParent<I extends ChainImage>(
  child: ChildLevel,
  search: ParentSearch<I>,
  opener: LevelOpener<I>,
): Promise<FoundParent<I>> {
  const link = child.model.parentLink!;
  const depth = child.depth + 1;
  if (depth > search.maxChainDepth) throw tooDeep(depth, search.maxChainDepth);
  const request: ParentRequest = { locator: link.entries, child: child.location, depth };

  let given = depth === 1 ? search.explicit : undefined;
  if (given === undefined && search.resolveParent) {
    try {
      given = (await search.resolveParent(request)) ?? undefined;
    } catch (err) {
      throw asVhdxError(err, 'parent-missing', 'resolveParent failed');
    }
  }
  if (given !== undefined) return acceptGiven(child, given, search, opener);

  const { candidates, skipped } = search.findCandidates(request);
  const tried = skipped.map((s) => `${s.label} (${s.why})`);
  let mismatch: VhdxError | undefined;
  for (const c of candidates) {
    let source: ReadableFile;
    try {
      source = await c.open();
    } catch (err) {
      tried.push(`${c.label} (${err instanceof Error ? err.message.replace(/^.*?: /, '') : String(err)})`);
      continue;
    }
    const found = await tryCandidate(child, source, c.location, c.label, search, opener, false);
    if ('image' in found) return found;
    mismatch ??= found.mismatch;
    tried.push(`${c.label} (DataWriteGuid does not match)`);
  }
  if (mismatch) throw mismatch;
  const hint = candidates.length === 0 ? '; pass the parent option or resolveParent' : '';
  throw new VhdxError(
    'parent-missing',
    `parent ${describeLinkage(link)} not found; tried: ${tried.join('; ') || 'nothing'}${hint}`,
    where(),
  );
}

/** A parent the caller gave: an opened image, or an input to open. Its linkage is not negotiable (no other place is tried). */
async function acceptGiven<I extends ChainImage>(
  child: ChildLevel,
  given: I | SourceInput,
  search: ParentSearch<I>,
  opener: LevelOpener<I>,
): Promise<FoundParent<I>> {
  const image = opener.asImage(given);
  if (!image) {
    const { source, location } = await search.openInput(given as SourceInput);
    const found = await tryCandidate(child, source, location, location ?? 'given by the caller', search, opener, true);
    if ('image' in found) return found;
    throw found.mismatch;
  }
  return { ...acceptOpenedParent(child, image, search), image, owned: false };
}

/**
 * Accepts an opened image as `child`'s parent: its chain must not lead back
 * to the child or be too deep, its DataWriteGuid must be one the locator
 * names (or `ignoreLinkage` set), and its geometry must be the child's.
 * @throws VhdxError `chain-loop`, `chain-too-deep`, `parent-linkage-mismatch`,
 *   `parent-sector-size-mismatch`, `parent-size-mismatch`.
 */
export function acceptOpenedParent(
  child: ChildLevel,
  image: ChainImage,
  rules: { ignoreLinkage: boolean; maxChainDepth: number },
): { linkage: 'ok' | 'mismatch'; problems: Problem[] } {
  const label = image.info.chain[0]?.location ?? 'given by the caller';
  if (image.identities().some((id) => child.seen.has(id))) {
    throw new VhdxError('chain-loop', `parent ${label} leads back to a file already in the chain`, where());
  }
  const total = child.depth + image.info.chain.length;
  if (total > rules.maxChainDepth) throw tooDeep(total, rules.maxChainDepth);
  const ok = child.model.parentLink!.linkage.includes(image.info.dataWriteGuid);
  if (!ok && !rules.ignoreLinkage) throw mismatchError(child.model, image.info, label);
  checkGeometry(child.model, image.info, label);
  return { linkage: ok ? 'ok' : 'mismatch', problems: ok ? [] : [linkageWarning(child.model, image.info, label)] };
}

/** Loads a candidate and accepts it, or says its linkage does not match (closing it). */
async function tryCandidate<I extends ChainImage>(
  child: ChildLevel,
  source: ReadableFile,
  location: string | undefined,
  label: string,
  search: ParentSearch<I>,
  opener: LevelOpener<I>,
  strict: boolean,
): Promise<FoundParent<I> | { mismatch: VhdxError }> {
  let model: ImageModel;
  let handedOver = false;
  try {
    const key = locationKey(location);
    if (key !== undefined && child.seen.has(key)) throw new VhdxError('chain-loop', `parent ${label} is already in the chain`, where());
    try {
      model = await opener.load(source);
    } catch (err) {
      throw inParent(err, label);
    }
    const id = identityOf(model.info);
    if (child.seen.has(id)) throw new VhdxError('chain-loop', `parent ${label} is a file already in the chain`, where());
    const ok = child.model.parentLink!.linkage.includes(model.info.dataWriteGuid);
    if (!ok && !search.ignoreLinkage) {
      const mismatch = mismatchError(child.model, model.info, label);
      if (strict) throw mismatch;
      await source.close?.();
      return { mismatch };
    }
    checkGeometry(child.model, model.info, label);
    const seen = new Set(child.seen).add(id);
    if (key !== undefined) seen.add(key);
    handedOver = true; // complete() closes the source when it fails
    const image = await opener.complete(source, model, location, child.depth + 1, seen);
    return { image, owned: true, linkage: ok ? 'ok' : 'mismatch', problems: ok ? [] : [linkageWarning(child.model, model.info, label)] };
  } catch (err) {
    if (!handedOver) await source.close?.();
    throw err;
  }
}

/** The seen-set a chain starts with: the opened file's identity and location. */
export function startSeen(info: VhdxInfo, location: string | undefined): Set<string> {
  const seen = new Set([identityOf(info)]);
  const key = locationKey(location);
  if (key !== undefined) seen.add(key);
  return seen;
}
