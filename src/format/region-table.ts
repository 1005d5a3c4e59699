// The region table (64 KiB, stored twice at 192 KiB and 256 KiB): where the
// BAT and metadata regions (and any others) live.
import { VhdxError, type VhdxErrorReason, type VhdxStructure } from '../errors.js';
import { KiB, MiB, dataView, isMultipleOf, readAscii, readU64, writeAscii, writeU64 } from './bytes.js';
import { checksumWithHole, storeChecksum } from './checksum.js';
import { readGuid, writeGuid } from './guid.js';

/** Bytes of one region table, checksum included (64 KiB, MS-VHDX 2.2.3). */
export const REGION_TABLE_SIZE = 64 * KiB;
/** File offsets of region table 1 and its copy, region table 2 (192 KiB, 256 KiB; MS-VHDX 2.2.3). */
export const REGION_TABLE_OFFSETS = [192 * KiB, 256 * KiB] as const;
/** Most entries a region table holds: 32-byte entries after the 16-byte header in 64 KiB (MS-VHDX 2.2.3.1). */
export const MAX_REGION_ENTRIES = 2047;
/** Identifier, both headers and both region tables end here; a file shorter than this cannot be VHDX. */
export const HEADER_AREA_END = REGION_TABLE_OFFSETS[1] + REGION_TABLE_SIZE;
/** The header section: everything before the first region may start (1 MiB, MS-VHDX 2.2). */
export const HEADER_SECTION_SIZE = MiB;
const SIGNATURE = 'regi';
const ENTRY_SIZE = 32;
const FIRST_ENTRY = 16;

/** One region table entry (MS-VHDX 2.2.3.2). */
export interface RegionEntry {
  /** What the region holds: `GUIDS.batRegion`, `GUIDS.metadataRegion`, or a region this library does not know. */
  guid: string;
  /** File offset in bytes: a multiple of 1 MiB, at least 1 MiB. */
  fileOffset: number;
  /** Bytes: a positive multiple of 1 MiB. */
  length: number;
  /** A reader that does not know `guid` must refuse the file. */
  required: boolean;
}

/** A decoded region table (MS-VHDX 2.2.3). */
export interface RegionTable {
  /** The entries in stored order, GUIDs unique. */
  entries: RegionEntry[];
}

/** Which copy a region table is, as errors name it. */
export type RegionTableStructure = Extract<VhdxStructure, 'region table 1' | 'region table 2'>;

/**
 * Parses and validates a region table. `structure` names the copy in errors;
 * by default it follows from `fileOffset` (region table 2 at 256 KiB, else 1).
 *
 * Checks each entry on its own; overlaps, missing and unknown required regions are the caller's to judge.
 *
 * @throws VhdxError `TRUNCATED` (`structure-truncated`: fewer than 64 KiB); `CORRUPT` (`region-table-signature`,
 * `region-table-entry-count`, `region-offset`, `region-length`, `region-duplicate`); `BAD_CHECKSUM`
 * (`region-table-checksum`); `UNSUPPORTED` (`wasm-unavailable` when the WebAssembly kernels cannot be loaded).
 */
export function parseRegionTable(
  b: Uint8Array,
  fileOffset: number,
  structure: RegionTableStructure = regionTableAt(fileOffset),
): RegionTable {
  const fail = (reason: VhdxErrorReason, message: string, field?: string, rel = 0) =>
    new VhdxError(reason, message, { structure, field, offset: fileOffset + rel });
  if (b.length < REGION_TABLE_SIZE) throw fail('structure-truncated', `need ${REGION_TABLE_SIZE} bytes, have ${b.length}`);
  const table = b.subarray(0, REGION_TABLE_SIZE);
  if (readAscii(table, 0, 4) !== SIGNATURE) throw fail('region-table-signature', 'signature is not "regi"', 'signature');
  const dv = dataView(table);
  const stored = dv.getUint32(4, true);
  const actual = checksumWithHole(table, 4);
  if (stored !== actual) {
    throw fail('region-table-checksum', `stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`, 'checksum', 4);
  }
  const count = dv.getUint32(8, true);
  if (count > MAX_REGION_ENTRIES) {
    throw fail('region-table-entry-count', `entry count ${count} exceeds ${MAX_REGION_ENTRIES}`, 'entry_count', 8);
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
      const message = `region ${e.guid} offset ${e.fileOffset} is not a multiple of 1 MiB at or past 1 MiB`;
      throw fail('region-offset', message, `entry ${i} file_offset`, at + 16);
    }
    if (e.length === 0 || !isMultipleOf(e.length, MiB)) {
      const message = `region ${e.guid} length ${e.length} is not a positive multiple of 1 MiB`;
      throw fail('region-length', message, `entry ${i} length`, at + 24);
    }
    if (seen.has(e.guid)) throw fail('region-duplicate', `region ${e.guid} appears twice`, `entry ${i}`, at);
    seen.add(e.guid);
    entries.push(e);
  }
  return { entries };
}

function regionTableAt(fileOffset: number): RegionTableStructure {
  return fileOffset === REGION_TABLE_OFFSETS[1] ? 'region table 2' : 'region table 1';
}

/**
 * The 64 KiB image of a region table, checksummed.
 * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) for more than 2047 entries or a GUID not in
 * canonical form; `UNSUPPORTED` (`wasm-unavailable`) when the WebAssembly kernels cannot be loaded.
 */
export function serializeRegionTable(t: RegionTable): Uint8Array {
  if (t.entries.length > MAX_REGION_ENTRIES) {
    throw new VhdxError('value-unencodable', `${t.entries.length} region entries, at most ${MAX_REGION_ENTRIES} fit`, {
      structure: 'region tables',
      field: 'entry_count',
    });
  }
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
