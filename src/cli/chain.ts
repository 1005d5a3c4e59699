// A differencing VHDX's chain as the commands show it: the library options
// --parent and --ignore-linkage stand for, the chain's levels in `info`, and
// the one warning line for a parent accepted despite a changed DataWriteGuid.
import type { ChainOptions } from '../image/image.js';
import type { LinkageMismatch } from '../errors.js';
import type { VhdxInfo } from '../image/types.js';
import type { ChainFlags } from './args.js';

export type { ChainFlags };

/** The library's chain options for `flags` (a --parent path is opened as a path). */
export function chainOptions(flags: ChainFlags | undefined): Pick<ChainOptions, 'parent' | 'ignoreLinkage'> {
  if (!flags) return {};
  return { ...(flags.parent !== undefined ? { parent: flags.parent } : {}), ...(flags.ignoreLinkage ? { ignoreLinkage: true } : {}) };
}

/** What a level is called: the path it was opened from, else its place in the chain. */
function levelName(info: VhdxInfo, level: number): string {
  return info.chain[level]?.location ?? `level ${level}`;
}

/** A path as messages show it: relative to the working folder when it lies below it. */
function shown(path: string | undefined, fallback: string): string {
  if (path === undefined) return fallback;
  const cwd = `${process.cwd()}/`;
  return path.startsWith(cwd) ? path.slice(cwd.length) : path;
}

/**
 * What is known of a parent whose DataWriteGuid is not the one its child names, in the command line's
 * words: both GUIDs, what that means, and where the file given sits when the child's own chain leads to it.
 */
export function linkageText(m: LinkageMismatch): string {
  const child = shown(m.child, 'the child');
  const parent = shown(m.parent, 'the parent given');
  const expected = m.expected.map((g) => `{${g}}`).join(' or ');
  let text =
    `${child} expects its parent to have DataWriteGuid ${expected}, but ${parent} has {${m.actual}}: ` +
    `${parent} is another disk, or one written after ${child} was made`;
  const via = m.ancestorVia;
  if (via?.length) {
    const last = shown(via[via.length - 1], '');
    text +=
      via.length === 1
        ? `. ${parent} is the parent of ${last}, which is this file's parent`
        : `. ${parent} is the parent of ${last}, further down this file's chain (${via.map((p) => shown(p, '')).join(', then ')})`;
  }
  return text;
}

/** The advice after {@link linkageText} when reading was refused. */
export function linkageAdvice(m: LinkageMismatch): string {
  const via = m.ancestorVia?.[0];
  const real = via === undefined ? '' : `; give --parent ${shown(via, '')} (or leave --parent out: the locator finds it)`;
  return `${real}. --ignore-linkage reads through it anyway: use it only when you know its data did not change since the child was made`;
}

/** A parent read through with --ignore-linkage, as the warning says it. */
export function linkageAccepted(m: LinkageMismatch): string {
  const skipped = m.ancestorVia?.length ? `, without the changes in ${m.ancestorVia.map((p) => shown(p, '')).join(' and ')}` : '';
  return `${linkageText(m)}; read anyway because of --ignore-linkage${skipped}`;
}

/** A refused parent (error `parent-linkage-mismatch`) as the command line says it. */
export function linkageError(m: LinkageMismatch): string {
  return `${linkageText(m)}${linkageAdvice(m)}`;
}

/**
 * One `vhdx: warning: …` line for every level whose parent's DataWriteGuid is not the one the level's
 * locator names: read through because of --ignore-linkage (`accepted`), or only shown (info, check).
 */
export function linkageWarnings(info: VhdxInfo, accepted = true): string[] {
  return info.chain
    .map((level) => level.mismatch)
    .filter((m): m is LinkageMismatch => m !== undefined)
    .map((m) => `vhdx: warning: ${accepted ? linkageAccepted(m) : linkageError(m)}`);
}

/** Writes {@link linkageWarnings} to stderr. */
export function warnLinkage(info: VhdxInfo, accepted = true): void {
  for (const line of linkageWarnings(info, accepted)) process.stderr.write(`${line}\n`);
}

/** True when `info` is a differencing file (its chain has, or should have, more than one level). */
export function isDifferencing(info: VhdxInfo): boolean {
  return info.chain.length > 1 || info.chain[0]?.parentLinkage !== 'none';
}

/**
 * The chain as `info` prints it, one level a line, child first: path, type,
 * block size, bytes stored, and the link to its parent (ok, mismatch, missing, none).
 */
export function chainLines(info: VhdxInfo, human: (n: number) => string): string[] {
  const lines = info.chain.map(
    (level, i) =>
      `  ${i}  ${levelName(info, i)}: ${level.type}, block size ${human(level.blockSize)}, ` +
      `${human(level.allocatedBytes)} allocated (${level.allocatedBytes} bytes), parent ${level.parentLinkage}`,
  );
  const last = info.chain[info.chain.length - 1];
  if (last?.parentLinkage === 'missing') lines.push(`  ${info.chain.length}  (parent not found)`);
  return ['chain (0 is this file):', ...lines];
}

/** The chain as `info --json` gives it: one object a level, child first. */
export function chainJson(info: VhdxInfo): Record<string, unknown>[] {
  return info.chain.map((level, i) => ({
    level: i,
    path: level.location ?? null,
    type: level.type,
    blockSize: level.blockSize,
    allocatedBytes: level.allocatedBytes,
    dataWriteGuid: level.dataWriteGuid,
    linkage: level.parentLinkage,
  }));
}

/**
 * The warning line for a streamed child (`child`, as the decoder describes it) whose parent
 * (`parent`, given by --parent) was accepted with --ignore-linkage, written to stderr.
 */
export function warnStreamedLinkage(child: VhdxInfo, parent: VhdxInfo | undefined): void {
  if (!child.parentLocator || !parent) return;
  const expected = [child.parentLocator.parent_linkage, child.parentLocator.parent_linkage2]
    .filter((v): v is string => v !== undefined)
    .map((v) => v.replace(/^\{|\}$/g, '').toLowerCase());
  if (expected.includes(parent.dataWriteGuid.toLowerCase())) return;
  const at = parent.chain[0]?.location;
  const m: LinkageMismatch = { expected, actual: parent.dataWriteGuid, ...(at !== undefined ? { parent: at } : {}) };
  process.stderr.write(`vhdx: warning: ${linkageAccepted(m)}\n`);
}
