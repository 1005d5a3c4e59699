// The metadata region of an existing file: the table, then the system items
// this library needs, each checked by its format parser.
import { VhdxError } from '../errors.js';
import { GUIDS } from '../format/guid.js';
import {
  METADATA_TABLE_SIZE,
  parseFileParameters,
  parseMetadataTable,
  parseParentLocator,
  parseSectorSize,
  parseVirtualDiskId,
  parseVirtualDiskSize,
  type FileParameters,
} from '../format/metadata.js';
import { checkLimit, type ResolvedLimits } from './limits.js';
import { readExact, type ByteReader } from './reader.js';
import type { RegionInfo } from './types.js';

/** The metadata items an image needs. */
export interface Metadata {
  fileParameters: FileParameters;
  virtualSize: number;
  virtualDiskId: string;
  logicalSectorSize: number;
  physicalSectorSize: number;
  /** For differencing disks: the parent locator's key/value pairs. */
  parentLocator?: Record<string, string>;
  /** For differencing disks: the parent locator's type GUID. */
  parentLocatorType?: string;
}

const KNOWN_ITEMS = new Set<string>(Object.values(GUIDS));

/** Where an item sits, for its parser's errors. */
type ItemWhere = { structure: 'metadata item'; field: string; offset: number };

/**
 * Reads and checks the metadata region.
 * @throws VhdxError `LIMIT_EXCEEDED` (`metadata-over-limit`); `CORRUPT`
 *   (`metadata-item-missing`, `virtual-size-unaligned`, and the format
 *   parsers' reasons); `UNSUPPORTED` (`metadata-unknown-required`); `TRUNCATED`.
 */
export async function loadMetadata(r: ByteReader, region: RegionInfo, limits: ResolvedLimits): Promise<Metadata> {
  checkLimit('metadata-over-limit', region.length, limits, region.offset);
  const bytes = await readExact(r, region.offset, region.length, 'metadata region');
  const entries = parseMetadataTable(bytes.subarray(0, METADATA_TABLE_SIZE), region.offset, region.length);
  const found = new Map<string, { item: Uint8Array; where: ItemWhere }>();
  for (const e of entries) {
    if (e.isUser) continue;
    if (!KNOWN_ITEMS.has(e.itemId)) {
      if (e.isRequired) {
        throw new VhdxError('metadata-unknown-required', `required metadata item ${e.itemId} is unknown`, {
          structure: 'metadata table',
          offset: region.offset,
        });
      }
      continue;
    }
    found.set(e.itemId, {
      item: bytes.subarray(e.offset, e.offset + e.length),
      where: { structure: 'metadata item', field: e.itemId, offset: region.offset + e.offset },
    });
  }
  const need = <T>(id: string, name: string, parse: (item: Uint8Array, where: ItemWhere) => T): T => {
    const got = found.get(id);
    if (!got)
      throw new VhdxError('metadata-item-missing', `required metadata item ${name} is missing`, {
        structure: 'metadata table',
        offset: region.offset,
      });
    return parse(got.item, got.where);
  };
  const fileParameters = need(GUIDS.fileParameters, 'File Parameters', parseFileParameters);
  const virtualSize = need(GUIDS.virtualDiskSize, 'Virtual Disk Size', parseVirtualDiskSize);
  const logicalSectorSize = need(GUIDS.logicalSectorSize, 'Logical Sector Size', parseSectorSize);
  const physicalSectorSize = need(GUIDS.physicalSectorSize, 'Physical Sector Size', parseSectorSize);
  const virtualDiskId = need(GUIDS.virtualDiskId, 'Virtual Disk Id', parseVirtualDiskId);
  if (virtualSize % logicalSectorSize !== 0) {
    throw new VhdxError(
      'virtual-size-unaligned',
      `virtual disk size ${virtualSize} is not a multiple of the ${logicalSectorSize}-byte logical sector`,
      found.get(GUIDS.virtualDiskSize)!.where,
    );
  }
  const meta: Metadata = { fileParameters, virtualSize, virtualDiskId, logicalSectorSize, physicalSectorSize };
  const locator = found.get(GUIDS.parentLocator);
  if (locator) {
    const parsed = parseParentLocator(locator.item, locator.where);
    meta.parentLocator = parsed.entries;
    meta.parentLocatorType = parsed.locatorType;
  }
  return meta;
}
