// What a streaming reader must hold before it can map payload: the regions
// named by the header section, each checked against its limit first.
import { GUIDS, isNilGuid } from '../format/guid.js';
import { checkLimit, type ResolvedLimits } from './limits.js';
import { chooseHeader, chooseRegionTable } from './load.js';
import type { Problem, RegionInfo } from './types.js';

/**
 * Parses the header section (first 1 MiB) and returns the regions whose
 * bytes are needed: metadata and BAT, and the log when it is dirty.
 */
export function parseHeaderSectionRegions(head: Uint8Array, limits: ResolvedLimits): RegionInfo[] {
  const ignored: Problem[] = [];
  const { header } = chooseHeader(head, ignored);
  const table = chooseRegionTable(head, ignored);
  const needed: RegionInfo[] = [];
  for (const e of table.entries) {
    if (e.guid === GUIDS.batRegion) {
      checkLimit(e.length, limits.maxBatBytes, 'bat', 'maxBatBytes', e.fileOffset);
      needed.push({ name: 'bat', offset: e.fileOffset, length: e.length });
    } else if (e.guid === GUIDS.metadataRegion) {
      checkLimit(e.length, limits.maxMetadataBytes, 'metadata region', 'maxMetadataBytes', e.fileOffset);
      needed.push({ name: 'metadata', offset: e.fileOffset, length: e.length });
    }
  }
  if (!isNilGuid(header.logGuid)) {
    checkLimit(header.logLength, limits.maxLogBytes, 'log', 'maxLogBytes', header.logOffset);
    needed.push({ name: 'log', offset: header.logOffset, length: header.logLength });
  }
  return needed;
}
