// Pointing a differencing file at its parent's new place (vhdx set-parent;
// Set-VHD -ParentPath, qemu-img rebase -u). The child is opened writable with
// the parent given, so the chain's checks run first: the parent's
// DataWriteGuid must be the one the locator names (unless ignoreLinkage,
// which links the child to the parent as it is now), and its size and sector
// size must match. The Parent Locator item (MS-VHDX 2.6.2.6) is then rewritten
// through the log: relative_path first, absolute_win32_path when the parent
// has a Windows path, parent_linkage; stale paths (volume_path) dropped, other
// keys kept. The item is rewritten where it is when it fits there, else after
// the last item; its table entry changes in the same log entry.
import { VhdxError } from '../errors.js';
import { GUIDS, randomGuid } from '../format/guid.js';
import { METADATA_TABLE_SIZE, parseMetadataTable, serializeParentLocator } from '../format/metadata.js';
import type { LogWrite } from '../format/log.js';
import type { InPlaceAccess } from './access.js';
import type { EditSession } from './open.js';
import { commitAll, patchedSectors } from './sectors.js';

/** Options of `setParent`. */
export interface SetParentOptions {
  /** Accept a parent whose DataWriteGuid is not the one the locator names, and link the child to it as it is now. Default false. */
  ignoreLinkage?: boolean;
}

/** What the locator says now. */
export interface SetParentResult {
  /** The locator's key/value pairs as written. */
  entries: Record<string, string>;
  /** True when parent_linkage changed (ignoreLinkage with a parent that had changed). */
  relinked: boolean;
}

/** Where the parent is, as the locator will say it. */
export interface ParentPaths {
  /** relative_path: from the child's folder, `\` separators. */
  relativePath: string;
  /** absolute_win32_path, when the parent has a Windows path (`C:\VMs\base.vhdx`). */
  absoluteWin32Path?: string;
}

/**
 * Rewrites a child's parent locator through `access` (opened with the parent given in its options).
 * @throws VhdxError `INVALID_ARGUMENT` (`operation-not-supported` for a file that is not a
 *   differencing disk, `value-unencodable` when the new item does not fit the metadata region);
 *   as a writable open of a chain (`parent-linkage-mismatch` without ignoreLinkage, `parent-size-mismatch`, ...).
 */
export async function setParentWith(access: InPlaceAccess, paths: ParentPaths): Promise<SetParentResult> {
  const session = await access.editable((model) => {
    if (!model.parentLink) {
      throw new VhdxError('operation-not-supported', 'the file has no parent: only a differencing disk has a parent locator to change', {
        structure: 'metadata item',
      });
    }
  });
  try {
    return await rewriteLocator(session, paths);
  } finally {
    await session.image.close();
  }
}

async function rewriteLocator(session: EditSession, paths: ParentPaths): Promise<SetParentResult> {
  const { model, image } = session;
  const parent = image.parent!;
  const relinked = image.info.chain[0]!.parentLinkage === 'mismatch';
  const entries: Record<string, string> = {};
  const linkage = relinked ? `{${parent.info.dataWriteGuid.toLowerCase()}}` : model.parentLink!.entries.parent_linkage!;
  entries.parent_linkage = linkage;
  entries.relative_path = paths.relativePath;
  if (paths.absoluteWin32Path) entries.absolute_win32_path = paths.absoluteWin32Path;
  const dropped = new Set([
    'parent_linkage',
    'relative_path',
    'volume_path',
    'absolute_win32_path',
    ...(relinked ? ['parent_linkage2'] : []),
  ]);
  for (const [k, v] of Object.entries(model.parentLink!.entries)) if (!dropped.has(k)) entries[k] = v;
  await writeLocator(session, entries, relinked);
  return { entries, relinked };
}

/**
 * Writes a child's Parent Locator item with `entries` through its log (in
 * place when it fits before the next item, else after the last one; its table
 * entry in the same change), after a header update with a new FileWriteGuid
 * (and DataWriteGuid when `visible`: the disk may read differently).
 * @throws VhdxError `value-unencodable` when the item does not fit the metadata region.
 */
export async function writeLocator(session: EditSession, entries: Record<string, string>, visible: boolean): Promise<void> {
  const { journal, image } = session;
  const item = serializeParentLocator({ locatorType: GUIDS.vhdxParentLocatorType, entries });
  const region = image.info.regions.find((r) => r.name === 'metadata')!;
  const table = await journal.read(region.offset, METADATA_TABLE_SIZE);
  const items = parseMetadataTable(table, region.offset, region.length);
  const index = items.findIndex((e) => e.itemId === GUIDS.parentLocator && !e.isUser);
  const own = items[index]!;
  // where it goes: in place when it fits before the next item, else after the last one
  const next = Math.min(region.length, ...items.filter((e) => e.offset > own.offset).map((e) => e.offset));
  let at = own.offset;
  if (own.offset + item.length > next) {
    at = Math.ceil(Math.max(...items.map((e) => e.offset + e.length)) / 8) * 8;
    if (at + item.length > region.length) {
      throw new VhdxError(
        'value-unencodable',
        `the new parent locator (${item.length} bytes) does not fit the ${region.length}-byte metadata region`,
        {
          structure: 'parent locator',
          offset: region.offset,
        },
      );
    }
  }
  const field = new Uint8Array(8);
  const dv = new DataView(field.buffer);
  dv.setUint32(0, at, true);
  dv.setUint32(4, item.length, true);
  // the item, then its table entry (offset and length): one change of the log when they fit one entry
  const writes: LogWrite[] = [
    ...(await patchedSectors(journal, region.offset + at, item)),
    ...(await patchedSectors(journal, region.offset + 32 + index * 32 + 16, field)),
  ];
  await journal.updateHeader({ fileWriteGuid: randomGuid(), ...(visible ? { dataWriteGuid: randomGuid() } : {}) });
  await commitAll(journal, writes);
  session.model.parentLink = { ...session.model.parentLink!, entries };
}
