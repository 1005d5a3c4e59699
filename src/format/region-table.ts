// The region table (64 KiB, stored twice at 192 KiB and 256 KiB): where the
// BAT and metadata regions (and any others) live.
import { VhdxError } from '../errors.js';
import { KiB, MiB, dataView, isMultipleOf, readAscii, readU64, writeAscii, writeU64 } from './bytes.js';
import { checksumWithHole, storeChecksum } from './checksum.js';
import { readGuid, writeGuid } from './guid.js';

export const REGION_TABLE_SIZE = 64 * KiB;
export const REGION_TABLE_OFFSETS = [192 * KiB, 256 * KiB] as const;
export const MAX_REGION_ENTRIES = 2047;
/** Identifier, both headers and both region tables end here; a file shorter than this cannot be VHDX. */
export const HEADER_AREA_END = REGION_TABLE_OFFSETS[1] + REGION_TABLE_SIZE;
/** The header section: everything before the first region may start (1 MiB). */
export const HEADER_SECTION_SIZE = MiB;
const SIGNATURE = 'regi';
const ENTRY_SIZE = 32;
const FIRST_ENTRY = 16;

export interface RegionEntry {
  guid: string;
  fileOffset: number;
  length: number;
  required: boolean;
}

export interface RegionTable {
  entries: RegionEntry[];
}

export function parseRegionTable(b: Uint8Array, fileOffset: number, name = 'region table'): RegionTable {
  const where = (field?: string, rel = 0) => ({ structure: name, field, offset: fileOffset + rel });
  if (b.length < REGION_TABLE_SIZE) throw new VhdxError('TRUNCATED', `need ${REGION_TABLE_SIZE} bytes`, where());
  const table = b.subarray(0, REGION_TABLE_SIZE);
  if (readAscii(table, 0, 4) !== SIGNATURE) throw new VhdxError('CORRUPT', 'signature is not "regi"', where('signature'));
  const dv = dataView(table);
  const stored = dv.getUint32(4, true);
  const actual = checksumWithHole(table, 4);
  if (stored !== actual) {
    throw new VhdxError('BAD_CHECKSUM', `stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`, where('checksum', 4));
  }
  const count = dv.getUint32(8, true);
  if (count > MAX_REGION_ENTRIES) {
    throw new VhdxError('CORRUPT', `entry count ${count} exceeds ${MAX_REGION_ENTRIES}`, where('entry_count', 8));
  }
  const entries: RegionEntry[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const at = FIRST_ENTRY + i * ENTRY_SIZE;
    const e: RegionEntry = {
      guid: readGuid(table, at),
      fileOffset: readU64(dv, at + 16),
      length: dv.getUint32(at + 24, true),
      required: (dv.getUint32(at + 28, true) & 1) !== 0,
    };
    if (e.fileOffset < MiB || !isMultipleOf(e.fileOffset, MiB)) {
      throw new VhdxError('CORRUPT', `region ${e.guid} offset ${e.fileOffset} is not a multiple of 1 MiB at or past 1 MiB`, where(`entry ${i} file_offset`, at + 16));
    }
    if (e.length === 0 || !isMultipleOf(e.length, MiB)) {
      throw new VhdxError('CORRUPT', `region ${e.guid} length ${e.length} is not a positive multiple of 1 MiB`, where(`entry ${i} length`, at + 24));
    }
    if (seen.has(e.guid)) throw new VhdxError('CORRUPT', `region ${e.guid} appears twice`, where(`entry ${i}`, at));
    seen.add(e.guid);
    entries.push(e);
  }
  return { entries };
}

export function serializeRegionTable(t: RegionTable): Uint8Array {
  if (t.entries.length > MAX_REGION_ENTRIES) throw new VhdxError('INVALID_ARGUMENT', 'too many region entries');
  const b = new Uint8Array(REGION_TABLE_SIZE);
  const dv = dataView(b);
  writeAscii(b, 0, SIGNATURE);
  dv.setUint32(8, t.entries.length, true);
  t.entries.forEach((e, i) => {
    const at = FIRST_ENTRY + i * ENTRY_SIZE;
    writeGuid(b, at, e.guid);
    writeU64(dv, at + 16, e.fileOffset);
    dv.setUint32(at + 24, e.length, true);
    dv.setUint32(at + 28, e.required ? 1 : 0, true);
  });
  storeChecksum(b, 4);
  return b;
}
