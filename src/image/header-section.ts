// The header section (the file's first 1 MiB): file identifier, two headers,
// two region tables. Parsed once per open, by the random-access reader and
// the streaming decoder alike; it says where everything else is.
import { VhdxError } from '../errors.js';
import { hex } from '../format/bytes.js';
import { GUIDS, isNilGuid } from '../format/guid.js';
import { HEADER_OFFSETS, HEADER_SIZE, parseHeader, type Header } from '../format/header.js';
import { hasVhdxSignature, parseFileIdentifier } from '../format/identifier.js';
import { HEADER_AREA_END, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE, parseRegionTable, type RegionTable } from '../format/region-table.js';
import { checkLimit, type ResolvedLimits } from './limits.js';
import { problemOf, type Problem, type RegionInfo } from './types.js';

/** What the header section says. */
export interface HeaderSection {
  creator: string;
  /** The current header and which copy it is. */
  header: Header;
  currentHeader: 1 | 2;
  log: RegionInfo;
  bat: RegionInfo;
  metadata: RegionInfo;
  /** The log and every known region, in table order (for overlap checks and reports). */
  regions: RegionInfo[];
  /** True when the log holds entries to replay. */
  dirty: boolean;
}

function describe(err: unknown): Problem {
  if (err instanceof VhdxError) return problemOf(err);
  throw err;
}

/**
 * Picks the current header: the valid copy with the higher sequence number.
 * A damaged copy is recorded in `problems`.
 * @throws VhdxError `CORRUPT` (`headers-invalid`) when neither copy is valid.
 */
function chooseHeader(head: Uint8Array, problems: Problem[]): { header: Header; index: 1 | 2 } {
  const parsed: (Header | undefined)[] = [];
  const errors: Problem[] = [];
  HEADER_OFFSETS.forEach((off, i) => {
    try {
      parsed[i] = parseHeader(head.subarray(off, off + HEADER_SIZE), off, i === 0 ? 'header 1' : 'header 2');
    } catch (err) {
      errors.push(describe(err));
    }
  });
  const [h1, h2] = parsed;
  if (!h1 && !h2) {
    throw new VhdxError('headers-invalid', `both headers are invalid: ${errors.map((e) => e.message).join('; ')}`, {
      structure: 'headers',
      offset: HEADER_OFFSETS[0],
    });
  }
  problems.push(...errors);
  if (h1 && h2) {
    // Disk2vhd writes two identical headers with equal sequence numbers.
    return h2.sequenceNumber > h1.sequenceNumber ? { header: h2, index: 2 } : { header: h1, index: 1 };
  }
  return h1 ? { header: h1, index: 1 } : { header: h2!, index: 2 };
}

/**
 * Picks a valid region table (the first when both are valid; their
 * difference is recorded in `problems`).
 * @throws VhdxError `CORRUPT` (`region-tables-invalid`) when neither copy is valid.
 */
function chooseRegionTable(head: Uint8Array, problems: Problem[]): RegionTable {
  const tables: (RegionTable | undefined)[] = [];
  const errors: Problem[] = [];
  REGION_TABLE_OFFSETS.forEach((off, i) => {
    try {
      tables[i] = parseRegionTable(head.subarray(off, off + REGION_TABLE_SIZE), off, i === 0 ? 'region table 1' : 'region table 2');
    } catch (err) {
      errors.push(describe(err));
    }
  });
  if (!tables[0] && !tables[1]) {
    throw new VhdxError('region-tables-invalid', `both region tables are invalid: ${errors.map((e) => e.message).join('; ')}`, {
      structure: 'region tables',
      offset: REGION_TABLE_OFFSETS[0],
    });
  }
  problems.push(...errors);
  if (tables[0] && tables[1]) {
    const a = head.subarray(REGION_TABLE_OFFSETS[0], REGION_TABLE_OFFSETS[0] + REGION_TABLE_SIZE);
    const b = head.subarray(REGION_TABLE_OFFSETS[1], REGION_TABLE_OFFSETS[1] + REGION_TABLE_SIZE);
    if (!sameBytes(a, b)) {
      problems.push({
        code: 'CORRUPT',
        reason: 'region-tables-differ',
        message: 'the two region tables differ; the first is used',
        structure: 'region table 2',
        offset: REGION_TABLE_OFFSETS[1],
      });
    }
  }
  return (tables[0] ?? tables[1])!;
}

/** Byte equality without a closure per byte (the tables are 64 KiB). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0 && a.length % 4 === 0) {
    const x = new Uint32Array(a.buffer, a.byteOffset, a.length / 4);
    const y = new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** @throws VhdxError `CORRUPT` (`region-overlap`) naming the first two areas that overlap. */
function checkDisjoint(areas: RegionInfo[]): void {
  for (let i = 0; i < areas.length; i++) {
    for (let j = i + 1; j < areas.length; j++) {
      const a = areas[i]!;
      const b = areas[j]!;
      if (a.offset < b.offset + b.length && b.offset < a.offset + a.length) {
        throw new VhdxError(
          'region-overlap',
          `${a.name} [${hex(a.offset)}, +${a.length}) overlaps ${b.name} [${hex(b.offset)}, +${b.length})`,
          {
            structure: 'region tables',
            offset: b.offset,
          },
        );
      }
    }
  }
}

/**
 * Parses the header section from the file's first bytes (up to 1 MiB).
 * Damage that the second copy repairs goes to `problems`.
 * @throws VhdxError `NOT_VHDX` (`not-vhdx`); `TRUNCATED` (`header-section-truncated`);
 *   `CORRUPT` (`headers-invalid`, `region-tables-invalid`, `region-missing`,
 *   `region-overlap`); `UNSUPPORTED` (`region-unknown-required`).
 */
export function parseHeaderSection(head: Uint8Array, problems: Problem[]): HeaderSection {
  if (!hasVhdxSignature(head))
    throw new VhdxError('not-vhdx', 'no "vhdxfile" signature at offset 0', { structure: 'file identifier', offset: 0 });
  if (head.length < HEADER_AREA_END) {
    throw new VhdxError('header-section-truncated', `file is ${head.length} bytes; the headers and region tables need ${HEADER_AREA_END}`, {
      structure: 'header section',
      offset: head.length,
    });
  }
  const { creator } = parseFileIdentifier(head);
  const { header, index } = chooseHeader(head, problems);
  const table = chooseRegionTable(head, problems);
  const log: RegionInfo = { name: 'log', offset: header.logOffset, length: header.logLength };
  let bat: RegionInfo | undefined;
  let metadata: RegionInfo | undefined;
  const regions: RegionInfo[] = [log];
  for (const e of table.entries) {
    const info: RegionInfo = { name: e.guid, offset: e.fileOffset, length: e.length, required: e.required };
    if (e.guid === GUIDS.batRegion) {
      bat = { ...info, name: 'bat' };
      regions.push(bat);
    } else if (e.guid === GUIDS.metadataRegion) {
      metadata = { ...info, name: 'metadata' };
      regions.push(metadata);
    } else if (e.required) {
      throw new VhdxError('region-unknown-required', `required region ${e.guid} is unknown`, {
        structure: 'region tables',
        offset: e.fileOffset,
      });
    }
    // unknown optional regions are ignored, as the format asks
  }
  const first = REGION_TABLE_OFFSETS[0];
  if (!bat) throw new VhdxError('region-missing', 'the region table has no BAT region', { structure: 'region tables', offset: first });
  if (!metadata)
    throw new VhdxError('region-missing', 'the region table has no metadata region', { structure: 'region tables', offset: first });
  checkDisjoint(regions);
  return { creator, header, currentHeader: index, log, bat, metadata, regions, dirty: !isNilGuid(header.logGuid) };
}

/**
 * The regions a reader must hold before it can map payload (metadata, BAT,
 * and the log when dirty), each checked against its limit first.
 * @throws VhdxError `LIMIT_EXCEEDED` (`bat-over-limit`, `metadata-over-limit`, `log-over-limit`).
 */
export function structureRegions(section: HeaderSection, limits: ResolvedLimits): RegionInfo[] {
  checkLimit('bat-over-limit', section.bat.length, limits, section.bat.offset);
  checkLimit('metadata-over-limit', section.metadata.length, limits, section.metadata.offset);
  const needed = [section.metadata, section.bat];
  if (section.dirty) {
    checkLimit('log-over-limit', section.log.length, limits, section.log.offset);
    needed.push(section.log);
  }
  return needed;
}

/**
 * Checks that every region lies in a file of `fileSize` bytes. A clean log
 * past the end is only a problem: nothing needs to be read from it.
 * @throws VhdxError `TRUNCATED` (`region-past-eof`).
 */
export function checkRegionsInFile(section: HeaderSection, fileSize: number, problems: Problem[]): void {
  for (const reg of section.regions) {
    if (reg.offset + reg.length <= fileSize) continue;
    const err = new VhdxError('region-past-eof', `${reg.name} region ends at ${reg.offset + reg.length}, past the ${fileSize}-byte file`, {
      structure: reg.name === 'log' ? 'log' : reg.name === 'bat' ? 'bat' : 'metadata region',
      offset: reg.offset,
    });
    if (reg === section.log && !section.dirty) problems.push(problemOf(err));
    else throw err;
  }
}
