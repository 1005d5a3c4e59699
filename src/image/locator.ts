// What a differencing file's Parent Locator says about its parent (MS-VHDX
// 2.6.2.6.3): which DataWriteGuid the parent must have, and where to look.
import { VhdxError } from '../errors.js';
import { GUIDS, isGuid } from '../format/guid.js';
import type { Metadata } from './metadata.js';

/** The parent a differencing file names. */
export interface ParentLink {
  /** parent_linkage, then parent_linkage2 when present: lowercase canonical GUIDs without braces. */
  linkage: string[];
  /** Where to look, in the order the format asks for: relative_path, volume_path, absolute_win32_path. */
  paths: { key: 'relative_path' | 'volume_path' | 'absolute_win32_path'; value: string }[];
  /** Every key/value pair, as stored. */
  entries: Readonly<Record<string, string>>;
}

const PATH_KEYS = ['relative_path', 'volume_path', 'absolute_win32_path'] as const;

/** A linkage value: a GUID in braces (the format writes lowercase; any case is accepted). */
function linkageGuid(value: string | undefined): string | undefined {
  const m = value === undefined ? null : /^\{([^{}]*)\}$/.exec(value.trim());
  return m && isGuid(m[1]!) ? m[1]!.toLowerCase() : undefined;
}

/**
 * The parent link of a differencing file.
 * @throws VhdxError `CORRUPT` (`metadata-item-missing`: HasParent without a Parent Locator;
 *   `locator-malformed`: no valid parent_linkage, an invalid parent_linkage2, or no path);
 *   `UNSUPPORTED` (`differencing-unsupported`: a parent that is not a VHDX file).
 */
export function parentLinkOf(meta: Metadata, metadataOffset: number): ParentLink {
  const where = { structure: 'parent locator' as const, offset: metadataOffset };
  const entries = meta.parentLocator;
  if (!entries) {
    throw new VhdxError('metadata-item-missing', 'the file has a parent (HasParent) but no Parent Locator item', {
      structure: 'metadata table',
      offset: metadataOffset,
    });
  }
  if (meta.parentLocatorType !== GUIDS.vhdxParentLocatorType) {
    throw new VhdxError(
      'differencing-unsupported',
      `the parent locator type ${meta.parentLocatorType} is not a VHDX parent; only VHDX parents are supported`,
      where,
    );
  }
  const first = linkageGuid(entries.parent_linkage);
  if (!first)
    throw new VhdxError('locator-malformed', `parent_linkage is ${JSON.stringify(entries.parent_linkage ?? null)}, not a GUID in braces`, {
      ...where,
      field: 'parent_linkage',
    });
  const linkage = [first];
  if (entries.parent_linkage2 !== undefined) {
    const second = linkageGuid(entries.parent_linkage2);
    if (!second)
      throw new VhdxError('locator-malformed', `parent_linkage2 is ${JSON.stringify(entries.parent_linkage2)}, not a GUID in braces`, {
        ...where,
        field: 'parent_linkage2',
      });
    linkage.push(second);
  }
  const paths = PATH_KEYS.filter((key) => entries[key] !== undefined && entries[key] !== '').map((key) => ({ key, value: entries[key]! }));
  if (paths.length === 0)
    throw new VhdxError('locator-malformed', 'the locator holds none of relative_path, volume_path, absolute_win32_path', where);
  return { linkage, paths, entries };
}

/** Where the parent is looked for, for messages. */
export function describeLinkage(link: ParentLink): string {
  return link.linkage.map((g) => `{${g}}`).join(' or ');
}
