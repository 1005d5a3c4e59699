// A differencing VHDX's chain as the commands show it: the library options
// --parent and --ignore-linkage stand for, the chain's levels in `info`, and
// the one warning line for a parent accepted despite a changed DataWriteGuid.
import type { ChainOptions } from '../image/image.js';
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

/**
 * One `vhdx: warning: …` line for every level whose parent was accepted
 * with --ignore-linkage although its DataWriteGuid is not the one the level's locator names.
 */
export function linkageWarnings(info: VhdxInfo): string[] {
  const lines: string[] = [];
  info.chain.forEach((level, i) => {
    if (level.parentLinkage !== 'mismatch') return;
    const parent = info.chain[i + 1];
    const guid = parent ? ` (DataWriteGuid {${parent.dataWriteGuid}})` : '';
    lines.push(
      `vhdx: warning: the parent ${levelName(info, i + 1)}${guid} of ${levelName(info, i)} changed since the child was made;` +
        ' read anyway because of --ignore-linkage',
    );
  });
  return lines;
}

/** Writes {@link linkageWarnings} to stderr. */
export function warnLinkage(info: VhdxInfo): void {
  for (const line of linkageWarnings(info)) process.stderr.write(`${line}\n`);
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

/** The GUIDs a child's locator names as its parent's DataWriteGuid (parent_linkage, parent_linkage2). */
function linkageGuids(locator: Record<string, string>): string[] {
  return [locator.parent_linkage, locator.parent_linkage2]
    .filter((v): v is string => v !== undefined)
    .map((v) => v.replace(/^\{|\}$/g, '').toLowerCase());
}

/**
 * The warning line for a streamed child (`child`, as the decoder describes it) whose parent
 * (`parent`, given by --parent) was accepted with --ignore-linkage, written to stderr.
 */
export function warnStreamedLinkage(child: VhdxInfo, parent: VhdxInfo | undefined): void {
  if (!child.parentLocator || !parent) return;
  if (linkageGuids(child.parentLocator).includes(parent.dataWriteGuid.toLowerCase())) return;
  const at = parent.chain[0]?.location ?? 'given';
  process.stderr.write(
    `vhdx: warning: the parent ${at} (DataWriteGuid {${parent.dataWriteGuid}}) changed since the child was made;` +
      ' read anyway because of --ignore-linkage\n',
  );
}
