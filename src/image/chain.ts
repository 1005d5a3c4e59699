// Finding and accepting a differencing file's parent (MS-VHDX 2.6.2.6.3):
// the caller's parent or resolver first, then the locator's paths in order;
// a parent is accepted only when its DataWriteGuid is one the locator names,
// its logical sector size and virtual size equal the child's, and it does
// not lead back into the chain. Opening a level is handed in by image.ts
// (which owns the image class), so this module only decides.
import { VhdxError, asVhdxError, withFile, type LinkageMismatch, type VhdxErrorFile } from '../errors.js';
import type { FindParentCandidates, ParentCandidate, ParentRequest } from '../sources/parent.js';
import type { ReadableFile, SourceInput } from '../sources/types.js';
import type { ImageModel } from './load.js';
import { describeLinkage } from './locator.js';
import { problemOf, type Problem, type VhdxInfo } from './types.js';

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
  /**
   * For reports (`info`, `check()`): a parent whose DataWriteGuid does not match is opened anyway when no
   * other is found, so that its chain can be shown and checked; the mismatch is a problem (not a warning).
   */
  reportMismatch?: boolean;
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
  /** The chain level errors give the file opened: 0, or 1 when it is opened as the parent of a new child. */
  base?: number;
  /** Identities of the child and every level below it. */
  seen: Set<string>;
}

/** An accepted parent. */
export interface FoundParent<I> {
  image: I;
  /** True when the chain opened it (and closes it). */
  owned: boolean;
  linkage: 'ok' | 'mismatch';
  /** The linkage problem: a warning when accepted with `ignoreLinkage`, else an error (reports only). */
  problems: Problem[];
  /** What is known of a mismatch. */
  mismatch?: LinkageMismatch;
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

/** The parent at `level` of a chain as an error names it (see `VhdxErrorFile`). */
export function parentFile(level: number, location: string | undefined): VhdxErrorFile {
  return { role: 'parent', level, ...(location !== undefined ? { path: location } : {}) };
}

/** `child`'s parent (found at `location`) as an error names it. */
function parentOf(child: ChildLevel, location: string | undefined): VhdxErrorFile {
  return parentFile(child.depth + 1 + (child.base ?? 0), location);
}

/**
 * Checks a parent's geometry against the child's.
 * @throws VhdxError `parent-sector-size-mismatch`, `parent-size-mismatch`.
 */
function checkGeometry(child: ImageModel, parent: VhdxInfo, label: string, file: VhdxErrorFile): void {
  if (parent.logicalSectorSize !== child.logicalSectorSize) {
    throw new VhdxError(
      'parent-sector-size-mismatch',
      `parent ${label} has ${parent.logicalSectorSize}-byte logical sectors, the child ${child.logicalSectorSize}-byte ones`,
      { structure: 'metadata item', field: 'Logical Sector Size', file },
    );
  }
  if (parent.virtualSize !== child.virtualSize) {
    throw new VhdxError(
      'parent-size-mismatch',
      `parent ${label} is a ${parent.virtualSize}-byte disk, the child a ${child.virtualSize}-byte one`,
      {
        structure: 'metadata item',
        field: 'Virtual Disk Size',
        file,
      },
    );
  }
}

/** What to do with a parent whose DataWriteGuid is not one the locator names. */
type OnMismatch = 'refuse' | 'skip' | 'warn' | 'report';

function mismatchError(
  child: ChildLevel,
  parent: VhdxInfo,
  location: string | undefined,
  ancestorVia?: string[],
  accepted = false,
): VhdxError {
  const link = child.model.parentLink!;
  const linkage: LinkageMismatch = {
    expected: [...link.linkage],
    actual: parent.dataWriteGuid,
    ...(child.location !== undefined ? { child: child.location } : {}),
    ...(location !== undefined ? { parent: location } : {}),
    ...(ancestorVia ? { ancestorVia } : {}),
  };
  const name = location ?? 'the parent given';
  const below = ancestorVia
    ? `; ${name} is further down the chain: ${ancestorVia.map((p, i) => `${p} (chain level ${child.depth + 1 + i})`).join(', then ')}` +
      ` ${ancestorVia.length === 1 ? 'is' : 'are'} between them`
    : '';
  return new VhdxError(
    'parent-linkage-mismatch',
    `${accepted ? 'accepted with ignoreLinkage: ' : ''}the child${child.location === undefined ? '' : ` ${child.location}`} names a parent with DataWriteGuid ${describeLinkage(link)}, ` +
      `but ${name} has {${parent.dataWriteGuid}}: it is another disk, or one written after the child was made${below} ` +
      '(the ignoreLinkage option reads through it, which is right only when its data did not change)',
    { structure: 'parent locator', field: 'parent_linkage', file: parentOf(child, location), linkage },
  );
}

/**
 * How an accepted parent links to the child; a mismatch leaves a problem, a warning when the caller asked
 * for it (ignoreLinkage).
 */
function linkageOf(
  child: ChildLevel,
  parent: VhdxInfo,
  location: string | undefined,
  ok: boolean,
  onMismatch: OnMismatch,
  via?: string[],
): Pick<FoundParent<ChainImage>, 'linkage' | 'problems' | 'mismatch'> {
  if (ok) return { linkage: 'ok', problems: [] };
  const warn = onMismatch === 'warn';
  const e = mismatchError(child, parent, location, via, warn);
  const p = problemOf(e);
  return { linkage: 'mismatch', problems: [warn ? { ...p, severity: 'warning' } : p], mismatch: e.linkage! };
}

function tooDeep(depth: number, max: number): VhdxError {
  return new VhdxError('chain-too-deep', `the chain has more than ${max} parents (option maxChainDepth) at level ${depth}`, where());
}

/**
 * Finds, checks and opens the parent of `child` (and through `opener`, its
 * own parents in turn).
 * @throws VhdxError `parent-missing` naming every place tried; `parent-linkage-mismatch` (both GUIDs, in
 *   `linkage`); `parent-sector-size-mismatch`, `parent-size-mismatch`; `chain-loop`; `chain-too-deep`; any
 *   error of opening a parent, its `file` saying which.
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
  let mismatch: { error: VhdxError; candidate: ParentCandidate } | undefined;
  for (const c of candidates) {
    let source: ReadableFile;
    try {
      source = await c.open();
    } catch (err) {
      tried.push(`${c.label} (${err instanceof Error ? err.message.replace(/^.*?: /, '') : String(err)})`);
      continue;
    }
    const found = await tryCandidate(child, source, c.location, opener, search.ignoreLinkage ? 'warn' : 'skip');
    if ('image' in found) return found;
    mismatch ??= { error: found.mismatch, candidate: c };
    tried.push(`${c.label} (DataWriteGuid does not match)`);
  }
  if (mismatch && search.reportMismatch) {
    // nothing better was found: open it to show and check its chain, its mismatch a problem
    const found = await tryCandidate(child, await mismatch.candidate.open(), mismatch.candidate.location, opener, 'report');
    if ('image' in found) return found;
  }
  if (mismatch) throw mismatch.error;
  const hint = candidates.length === 0 ? '; pass the parent option or resolveParent' : '';
  throw new VhdxError(
    'parent-missing',
    `parent ${describeLinkage(link)} not found; tried: ${tried.join('; ') || 'nothing'}${hint}`,
    where(),
  );
}

/** How a given parent's mismatch is handled: the caller's choice, else refused (or, for reports, a problem). */
function givenOnMismatch(search: { ignoreLinkage: boolean; reportMismatch?: boolean }): OnMismatch {
  return search.ignoreLinkage ? 'warn' : search.reportMismatch ? 'report' : 'refuse';
}

/** A parent the caller gave: an opened image, or an input to open. Its linkage is not negotiable (no other place is tried). */
async function acceptGiven<I extends ChainImage>(
  child: ChildLevel,
  given: I | SourceInput,
  search: ParentSearch<I>,
  opener: LevelOpener<I>,
): Promise<FoundParent<I>> {
  const image = opener.asImage(given);
  if (image) return { ...acceptOpenedParent(child, image, search), image, owned: false };
  let opened: { source: ReadableFile; location?: string };
  try {
    opened = await search.openInput(given as SourceInput);
  } catch (err) {
    throw withFile(err, parentOf(child, typeof given === 'string' ? given : undefined), 'open-failed');
  }
  // a mismatch says where the file given sits, when the child's own chain leads to it
  const ancestors = (guid: string) => ancestorPath(child, guid, search, opener);
  const found = await tryCandidate(child, opened.source, opened.location, opener, givenOnMismatch(search), ancestors);
  if ('image' in found) return found;
  throw found.mismatch;
}

/**
 * Where a file that is not `child`'s parent sits below it: the child's own parent is found through its
 * locator, then that one's, and so on; returns the paths from the child's parent down to the level whose
 * parent has DataWriteGuid `guid`, or undefined when the chain does not lead there (or cannot be followed).
 * Best effort: a level that cannot be read ends the search.
 */
async function ancestorPath<I extends ChainImage>(
  child: ChildLevel,
  guid: string,
  search: ParentSearch<I>,
  opener: LevelOpener<I>,
): Promise<string[] | undefined> {
  const via: string[] = [];
  let link = child.model.parentLink!;
  let at = child.location;
  for (let depth = child.depth + 1; depth <= search.maxChainDepth; depth++) {
    const next = await matchingCandidate({ locator: link.entries, child: at, depth }, link.linkage, search, opener);
    if (!next?.model.parentLink || next.location === undefined || via.includes(next.location)) return undefined;
    via.push(next.location);
    if (next.model.parentLink.linkage.includes(guid)) return via;
    link = next.model.parentLink;
    at = next.location;
  }
  return undefined;
}

/** The first place the locator names that holds a file with one of the `linkage` DataWriteGuids (loaded, then closed). */
async function matchingCandidate<I extends ChainImage>(
  request: ParentRequest,
  linkage: string[],
  search: ParentSearch<I>,
  opener: LevelOpener<I>,
): Promise<{ model: ImageModel; location: string | undefined } | undefined> {
  for (const c of search.findCandidates(request).candidates) {
    let source: ReadableFile | undefined;
    try {
      source = await c.open();
      const model = await opener.load(source);
      if (linkage.includes(model.info.dataWriteGuid)) return { model, location: c.location };
    } catch {
      // not readable: not the one
    } finally {
      await source?.close?.();
    }
  }
  return undefined;
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
  rules: { ignoreLinkage: boolean; reportMismatch?: boolean; maxChainDepth: number },
): Pick<FoundParent<ChainImage>, 'linkage' | 'problems' | 'mismatch'> {
  const location = image.info.chain[0]?.location;
  const label = location ?? 'given by the caller';
  const file = parentOf(child, location);
  if (image.identities().some((id) => child.seen.has(id))) {
    throw new VhdxError('chain-loop', `parent ${label} leads back to a file already in the chain`, { ...where(), file });
  }
  const total = child.depth + image.info.chain.length;
  if (total > rules.maxChainDepth) throw tooDeep(total, rules.maxChainDepth);
  const ok = child.model.parentLink!.linkage.includes(image.info.dataWriteGuid);
  const onMismatch = givenOnMismatch(rules);
  if (!ok && onMismatch === 'refuse') throw mismatchError(child, image.info, location);
  checkGeometry(child.model, image.info, label, file);
  return linkageOf(child, image.info, location, ok, onMismatch);
}

/**
 * Loads a candidate and accepts it, or (`skip`, `refuse`) says its linkage does not match, closing it
 * and giving what it is.
 */
async function tryCandidate<I extends ChainImage>(
  child: ChildLevel,
  source: ReadableFile,
  location: string | undefined,
  opener: LevelOpener<I>,
  onMismatch: OnMismatch,
  ancestors?: (guid: string) => Promise<string[] | undefined>,
): Promise<FoundParent<I> | { mismatch: VhdxError }> {
  let model: ImageModel;
  let handedOver = false;
  const label = location ?? 'given by the caller';
  const file = parentOf(child, location);
  try {
    const key = locationKey(location);
    if (key !== undefined && child.seen.has(key)) {
      throw new VhdxError('chain-loop', `parent ${label} is already in the chain`, { ...where(), file });
    }
    try {
      model = await opener.load(source);
    } catch (err) {
      throw withFile(err, file);
    }
    const id = identityOf(model.info);
    if (child.seen.has(id)) throw new VhdxError('chain-loop', `parent ${label} is a file already in the chain`, { ...where(), file });
    const ok = child.model.parentLink!.linkage.includes(model.info.dataWriteGuid);
    const via = ok || !ancestors ? undefined : await ancestors(model.info.dataWriteGuid);
    if (!ok && (onMismatch === 'skip' || onMismatch === 'refuse')) {
      await source.close?.();
      return { mismatch: mismatchError(child, model.info, location, via) };
    }
    checkGeometry(child.model, model.info, label, file);
    const seen = new Set(child.seen).add(id);
    if (key !== undefined) seen.add(key);
    handedOver = true; // complete() closes the source when it fails
    const image = await opener.complete(source, model, location, child.depth + 1, seen);
    return { image, owned: true, ...linkageOf(child, model.info, location, ok, onMismatch, via) };
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
