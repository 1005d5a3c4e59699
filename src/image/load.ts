// Reading an existing file's structure: file identifier, current header,
// region table, metadata and BAT, with every field checked before use.
// Damage that a second copy repairs is recorded as a problem, not thrown.
import { VhdxError } from '../errors.js';
import { MiB, hex } from '../format/bytes.js';
import { BLOCK_STATE_NAMES, BlockState, batEntryCount, batIndexOfBlock, chunkRatio, payloadBlockCount, readBatEntry } from '../format/bat.js';
import { GUIDS, isNilGuid } from '../format/guid.js';
import { HEADER_OFFSETS, HEADER_SIZE, parseHeader, type Header } from '../format/header.js';
import { hasVhdxSignature, parseFileIdentifier } from '../format/identifier.js';
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
import { HEADER_AREA_END, HEADER_SECTION_SIZE, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE, parseRegionTable, type RegionTable } from '../format/region-table.js';
import { decodeBat, fileOrder } from '../wasm/kernels.js';
import { checkLimit, type ResolvedLimits } from './limits.js';
import { overlayReader, replayLog, type LogOverlay } from './log-replay.js';
import type { Problem, RegionInfo, VhdxInfo } from './types.js';

/** Where a loader gets bytes. `size` is unknown for streams. */
export interface ByteReader {
  readonly size: number | undefined;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Everything needed to map virtual offsets to file offsets. */
export interface ImageModel {
  info: VhdxInfo;
  header: Header;
  blockSize: number;
  virtualSize: number;
  blockCount: number;
  chunkRatio: number;
  /** Per-block payload state (BlockState values). */
  states: Uint8Array;
  /** Per-block file offset in MiB (0 when not stored). */
  offsetsMiB: Uint32Array;
  /** Present blocks in file order. */
  order: { blocks: Uint32Array; offsetsMiB: Uint32Array };
  /** Problems that did not stop the open (damaged copies, oddities). */
  problems: Problem[];
  /** The replayed log, for dirty images: every file read goes through it. */
  overlay?: LogOverlay;
}


function describe(err: unknown): Problem {
  if (err instanceof VhdxError) return { code: err.code, message: err.message, structure: err.structure, offset: err.offset };
  return { code: 'CORRUPT', message: String(err) };
}

async function readExact(r: ByteReader, offset: number, length: number, what: string): Promise<Uint8Array> {
  if (r.size !== undefined && offset + length > r.size) {
    throw new VhdxError('TRUNCATED', `${what} [${offset}, +${length}) runs past the end of the ${r.size}-byte file`, {
      structure: what,
      offset,
    });
  }
  const b = await r.read(offset, length);
  if (b.length < length) {
    throw new VhdxError('TRUNCATED', `${what} [${offset}, +${length}) cut short at ${offset + b.length}`, { structure: what, offset });
  }
  return b;
}

export function chooseHeader(head: Uint8Array, problems: Problem[]): { header: Header; index: 1 | 2 } {
  const parsed: (Header | undefined)[] = [];
  const errors: Problem[] = [];
  HEADER_OFFSETS.forEach((off, i) => {
    try {
      parsed[i] = parseHeader(head.subarray(off, off + HEADER_SIZE), off, `header ${i + 1}`);
    } catch (err) {
      errors.push(describe(err));
    }
  });
  const [h1, h2] = parsed;
  if (!h1 && !h2) {
    throw new VhdxError('CORRUPT', `both headers are invalid: ${errors.map((e) => e.message).join('; ')}`, {
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

export function chooseRegionTable(head: Uint8Array, problems: Problem[]): RegionTable {
  const tables: (RegionTable | undefined)[] = [];
  const errors: Problem[] = [];
  REGION_TABLE_OFFSETS.forEach((off, i) => {
    try {
      tables[i] = parseRegionTable(head.subarray(off, off + REGION_TABLE_SIZE), off, `region table ${i + 1}`);
    } catch (err) {
      errors.push(describe(err));
    }
  });
  if (!tables[0] && !tables[1]) {
    throw new VhdxError('CORRUPT', `both region tables are invalid: ${errors.map((e) => e.message).join('; ')}`, {
      structure: 'region tables',
      offset: REGION_TABLE_OFFSETS[0],
    });
  }
  problems.push(...errors);
  if (tables[0] && tables[1]) {
    const a = head.subarray(REGION_TABLE_OFFSETS[0], REGION_TABLE_OFFSETS[0] + REGION_TABLE_SIZE);
    const b = head.subarray(REGION_TABLE_OFFSETS[1], REGION_TABLE_OFFSETS[1] + REGION_TABLE_SIZE);
    if (!sameBytes(a, b)) {
      problems.push({ code: 'CORRUPT', message: 'the two region tables differ; the first is used', structure: 'region table 2', offset: REGION_TABLE_OFFSETS[1] });
    }
  }
  return (tables[0] ?? tables[1])!;
}

/** Byte equality without a closure per byte (the tables are 64 KiB). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
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

function overlaps(a: { offset: number; length: number }, b: { offset: number; length: number }): boolean {
  return a.offset < b.offset + b.length && b.offset < a.offset + a.length;
}

/** Checks that no two areas overlap; throws CORRUPT naming the pair. */
function checkDisjoint(areas: RegionInfo[]): void {
  for (let i = 0; i < areas.length; i++) {
    for (let j = i + 1; j < areas.length; j++) {
      if (overlaps(areas[i]!, areas[j]!)) {
        throw new VhdxError('CORRUPT', `${areas[i]!.name} [${hex(areas[i]!.offset)}, +${areas[i]!.length}) overlaps ${areas[j]!.name} [${hex(areas[j]!.offset)}, +${areas[j]!.length})`, {
          structure: 'region table',
          offset: areas[j]!.offset,
        });
      }
    }
  }
}

interface Metadata {
  fileParameters: FileParameters;
  virtualSize: number;
  virtualDiskId: string;
  logicalSectorSize: number;
  physicalSectorSize: number;
  parentLocator?: Record<string, string>;
}

async function loadMetadata(r: ByteReader, region: RegionInfo, limits: ResolvedLimits): Promise<Metadata> {
  checkLimit(region.length, limits.maxMetadataBytes, 'metadata region', 'maxMetadataBytes', region.offset);
  const bytes = await readExact(r, region.offset, region.length, 'metadata region');
  const entries = parseMetadataTable(bytes.subarray(0, METADATA_TABLE_SIZE), region.offset, region.length);
  const found = new Map<string, Uint8Array>();
  const where: Record<string, { structure: string; offset: number }> = {};
  for (const e of entries) {
    if (e.isUser) continue;
    const known = Object.values(GUIDS).includes(e.itemId as never);
    if (!known) {
      if (e.isRequired) {
        throw new VhdxError('UNSUPPORTED', `required metadata item ${e.itemId} is unknown`, { structure: 'metadata table', offset: region.offset });
      }
      continue;
    }
    found.set(e.itemId, bytes.subarray(e.offset, e.offset + e.length));
    where[e.itemId] = { structure: `metadata item ${e.itemId}`, offset: region.offset + e.offset };
  }
  const need = (id: string, name: string): Uint8Array => {
    const item = found.get(id);
    if (!item) throw new VhdxError('CORRUPT', `required metadata item ${name} is missing`, { structure: 'metadata table', offset: region.offset });
    return item;
  };
  const fileParameters = parseFileParameters(need(GUIDS.fileParameters, 'File Parameters'), where[GUIDS.fileParameters]!);
  const virtualSize = parseVirtualDiskSize(need(GUIDS.virtualDiskSize, 'Virtual Disk Size'), where[GUIDS.virtualDiskSize]!);
  const logicalSectorSize = parseSectorSize(need(GUIDS.logicalSectorSize, 'Logical Sector Size'), where[GUIDS.logicalSectorSize]!);
  const physicalSectorSize = parseSectorSize(need(GUIDS.physicalSectorSize, 'Physical Sector Size'), where[GUIDS.physicalSectorSize]!);
  const virtualDiskId = parseVirtualDiskId(need(GUIDS.virtualDiskId, 'Virtual Disk Id'), where[GUIDS.virtualDiskId]!);
  if (virtualSize % logicalSectorSize !== 0) {
    throw new VhdxError('CORRUPT', `virtual disk size ${virtualSize} is not a multiple of the ${logicalSectorSize}-byte logical sector`, where[GUIDS.virtualDiskSize]!);
  }
  const meta: Metadata = { fileParameters, virtualSize, virtualDiskId, logicalSectorSize, physicalSectorSize };
  const locator = found.get(GUIDS.parentLocator);
  if (locator) meta.parentLocator = parseParentLocator(locator, where[GUIDS.parentLocator]!).entries;
  return meta;
}

/** Loads and validates the structure of an image. Throws VhdxError on anything fatal. */
export async function loadImage(source: ByteReader, limits: ResolvedLimits, problems: Problem[] = []): Promise<ImageModel> {
  let r = source;
  const first = await r.read(0, Math.min(r.size ?? HEADER_SECTION_SIZE, HEADER_SECTION_SIZE));
  if (!hasVhdxSignature(first)) throw new VhdxError('NOT_VHDX', 'no "vhdxfile" signature at offset 0', { structure: 'file identifier', offset: 0 });
  if (first.length < HEADER_AREA_END) {
    throw new VhdxError('TRUNCATED', `file is ${first.length} bytes; the headers and region tables need ${HEADER_AREA_END}`, { structure: 'header section', offset: first.length });
  }
  const { creator } = parseFileIdentifier(first);
  const { header, index } = chooseHeader(first, problems);
  const table = chooseRegionTable(first, problems);

  const log: RegionInfo = { name: 'log', offset: header.logOffset, length: header.logLength };
  let bat: RegionInfo | undefined;
  let metadata: RegionInfo | undefined;
  const regions: RegionInfo[] = [log];
  for (const e of table.entries) {
    const info: RegionInfo = { name: e.guid, offset: e.fileOffset, length: e.length, required: e.required };
    if (e.guid === GUIDS.batRegion) bat = { ...info, name: 'bat' };
    else if (e.guid === GUIDS.metadataRegion) metadata = { ...info, name: 'metadata' };
    else if (e.required) throw new VhdxError('UNSUPPORTED', `required region ${e.guid} is unknown`, { structure: 'region table', offset: e.fileOffset });
    else continue; // unknown optional regions are ignored, as the format asks
    regions.push(e.guid === GUIDS.batRegion ? bat! : metadata!);
  }
  if (!bat) throw new VhdxError('CORRUPT', 'the region table has no BAT region', { structure: 'region table', offset: REGION_TABLE_OFFSETS[0] });
  if (!metadata) throw new VhdxError('CORRUPT', 'the region table has no metadata region', { structure: 'region table', offset: REGION_TABLE_OFFSETS[0] });
  checkDisjoint(regions);
  if (r.size !== undefined) {
    for (const reg of regions) {
      if (reg.offset + reg.length > r.size) {
        const p: Problem = { code: 'TRUNCATED', message: `${reg.name} region ends at ${reg.offset + reg.length}, past the ${r.size}-byte file`, structure: reg.name, offset: reg.offset };
        if (reg === log && isNilGuid(header.logGuid)) problems.push(p);
        else throw new VhdxError(p.code, p.message, p);
      }
    }
  }
  // A dirty log is replayed into an overlay; everything past the header
  // section is then read through it. The file itself is never written.
  let overlay: LogOverlay | undefined;
  if (!isNilGuid(header.logGuid)) {
    overlay = await replayLog(r, header, limits, problems, (o, l) => readExact(r, o, l, 'log'));
    r = overlayReader(r, overlay);
  }

  const meta = await loadMetadata(r, metadata, limits);
  const { blockSize } = meta.fileParameters;
  const differencing = meta.fileParameters.hasParent;
  const blockCount = payloadBlockCount(meta.virtualSize, blockSize);
  const ratio = chunkRatio(meta.logicalSectorSize, blockSize);
  const entries = batEntryCount(blockCount, ratio, differencing);
  if (entries * 8 > bat.length) {
    throw new VhdxError('CORRUPT', `the BAT needs ${entries} entries (${entries * 8} bytes) but its region is ${bat.length} bytes`, { structure: 'bat', offset: bat.offset });
  }
  checkLimit(entries * 8, limits.maxBatBytes, 'bat', 'maxBatBytes', bat.offset);
  const batBytes = await readExact(r, bat.offset, entries * 8, 'bat');
  const decoded = decodeBat(batBytes, blockCount, ratio, differencing);
  if (decoded.firstBadEntry >= 0) {
    problems.push(...listBadEntries(batBytes, ratio, differencing, bat.offset, decoded.firstBadEntry));
    const e = readBatEntry(batBytes, decoded.firstBadEntry);
    throw new VhdxError('CORRUPT', `entry ${decoded.firstBadEntry} has state ${e.state} (${BLOCK_STATE_NAMES[e.state] ?? 'invalid'}) at ${e.offsetMiB} MiB`, {
      structure: 'bat',
      offset: bat.offset + decoded.firstBadEntry * 8,
    });
  }
  const { states, offsetsMiB } = decoded;
  const order = fileOrder(states, offsetsMiB);
  checkBlockPlacement(order, blockSize, meta.virtualSize, regions, r.size, bat.offset, ratio);

  let allocatedBlocks = 0;
  for (let i = 0; i < states.length; i++) if (states[i]! >= BlockState.FULLY_PRESENT) allocatedBlocks++;
  const info: VhdxInfo = {
    virtualSize: meta.virtualSize,
    blockSize,
    logicalSectorSize: meta.logicalSectorSize,
    physicalSectorSize: meta.physicalSectorSize,
    type: differencing ? 'differencing' : meta.fileParameters.leaveBlocksAllocated ? 'fixed' : 'dynamic',
    creator,
    fileWriteGuid: header.fileWriteGuid,
    dataWriteGuid: header.dataWriteGuid,
    virtualDiskId: meta.virtualDiskId,
    log: {
      state: overlay ? 'dirty' : 'clean',
      offset: header.logOffset,
      length: header.logLength,
      guid: header.logGuid,
      entriesReplayed: overlay?.entriesReplayed ?? 0,
      sectorsReplayed: overlay?.sectorsReplayed ?? 0,
    },
    allocatedBlocks,
    allocatedBytes: allocatedBlocks * blockSize,
    blockCount,
    fileSize: r.size,
    currentHeader: index,
    headerSequenceNumber: header.sequenceNumber,
    regions,
  };
  if (meta.parentLocator) info.parentLocator = meta.parentLocator;
  const model: ImageModel = { info, header, blockSize, virtualSize: meta.virtualSize, blockCount, chunkRatio: ratio, states, offsetsMiB, order, problems };
  if (overlay) model.overlay = overlay;
  return model;
}

/** Every invalid BAT entry from `first` on (the slow path, for reports). */
function listBadEntries(bat: Uint8Array, ratio: number, differencing: boolean, batOffset: number, first: number): Problem[] {
  const out: Problem[] = [];
  for (let i = first; i * 8 < bat.length && out.length < 1000; i++) {
    const { state, offsetMiB } = readBatEntry(bat, i);
    const bitmap = i % (ratio + 1) === ratio;
    const ok = bitmap
      ? state === 0 || state === 6
      : state <= 3 || state === 6 || (state === 7 && differencing);
    const offsetOk = state < 6 || (offsetMiB > 0 && offsetMiB <= 0xffffffff);
    if (!ok || !offsetOk) {
      out.push({
        code: 'CORRUPT',
        message: `${bitmap ? 'sector bitmap' : 'payload'} entry ${i} has state ${state} (${BLOCK_STATE_NAMES[state] ?? 'invalid'}) at ${offsetMiB} MiB`,
        structure: 'bat',
        offset: batOffset + i * 8,
      });
    }
  }
  return out.slice(1); // the first is thrown by the caller
}

/**
 * Present blocks may not overlap each other or any region, and (when the
 * file size is known) must lie in the file up to the end of the disk.
 */
function checkBlockPlacement(
  order: { blocks: Uint32Array; offsetsMiB: Uint32Array },
  blockSize: number,
  virtualSize: number,
  regions: RegionInfo[],
  fileSize: number | undefined,
  batOffset: number,
  ratio: number,
): void {
  const blockMiB = blockSize / MiB;
  const sorted = [...regions].sort((a, b) => a.offset - b.offset);
  let ri = 0;
  for (let i = 0; i < order.blocks.length; i++) {
    const block = order.blocks[i]!;
    const start = order.offsetsMiB[i]! * MiB;
    const where = { structure: 'bat', offset: batOffset + batIndexOfBlock(block, ratio) * 8 };
    if (i + 1 < order.blocks.length && order.offsetsMiB[i]! + blockMiB > order.offsetsMiB[i + 1]!) {
      throw new VhdxError('CORRUPT', `block ${block} at ${hex(start)} overlaps block ${order.blocks[i + 1]} at ${hex(order.offsetsMiB[i + 1]! * MiB)}`, where);
    }
    while (ri < sorted.length && sorted[ri]!.offset + sorted[ri]!.length <= start) ri++;
    const reg = sorted[ri];
    if (reg && reg.offset < start + blockSize) {
      throw new VhdxError('CORRUPT', `block ${block} at ${hex(start)} overlaps the ${reg.name} region at ${hex(reg.offset)}`, where);
    }
    if (fileSize !== undefined) {
      const needed = Math.min(blockSize, virtualSize - block * blockSize);
      if (start + needed > fileSize) {
        throw new VhdxError('TRUNCATED', `block ${block} at ${hex(start)} needs ${needed} bytes but the file ends at ${fileSize}`, where);
      }
    }
  }
}

