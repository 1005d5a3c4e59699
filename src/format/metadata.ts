// The metadata region: a 64 KiB table of entries pointing at items inside the
// region, and the codecs of the six items the format defines.
import { VhdxError } from '../errors.js';
import { KiB, MiB, TiB, dataView, isPowerOfTwo, readAscii, readU64, readUtf16, writeAscii, writeU64, writeUtf16 } from './bytes.js';
import { GUIDS, readGuid, writeGuid } from './guid.js';

export const METADATA_TABLE_SIZE = 64 * KiB;
export const MAX_METADATA_ENTRIES = 2047;
export const MAX_METADATA_ITEM = MiB;
export const MAX_VIRTUAL_SIZE = 64 * TiB;
export const MIN_BLOCK_SIZE = MiB;
export const MAX_BLOCK_SIZE = 256 * MiB;
const SIGNATURE = 'metadata';
const ENTRY_SIZE = 32;

export interface MetadataEntry {
  itemId: string;
  /** Offset of the item relative to the start of the region. */
  offset: number;
  length: number;
  isUser: boolean;
  isVirtualDisk: boolean;
  isRequired: boolean;
}

/** Parses the table at the start of the metadata region (`regionOffset` for messages). */
export function parseMetadataTable(b: Uint8Array, regionOffset: number, regionLength: number): MetadataEntry[] {
  const where = (field?: string, rel = 0) => ({ structure: 'metadata table', field, offset: regionOffset + rel });
  if (b.length < METADATA_TABLE_SIZE) throw new VhdxError('TRUNCATED', `need ${METADATA_TABLE_SIZE} bytes`, where());
  if (readAscii(b, 0, 8) !== SIGNATURE) throw new VhdxError('CORRUPT', 'signature is not "metadata"', where('signature'));
  const dv = dataView(b);
  const count = dv.getUint16(10, true);
  if (count > MAX_METADATA_ENTRIES) {
    throw new VhdxError('CORRUPT', `entry count ${count} exceeds ${MAX_METADATA_ENTRIES}`, where('entry_count', 10));
  }
  const entries: MetadataEntry[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const at = 32 + i * ENTRY_SIZE;
    const flags = dv.getUint32(at + 24, true);
    const e: MetadataEntry = {
      itemId: readGuid(b, at),
      offset: dv.getUint32(at + 16, true),
      length: dv.getUint32(at + 20, true),
      isUser: (flags & 1) !== 0,
      isVirtualDisk: (flags & 2) !== 0,
      isRequired: (flags & 4) !== 0,
    };
    const field = `entry ${i}`;
    if (e.length > MAX_METADATA_ITEM) {
      throw new VhdxError('CORRUPT', `item ${e.itemId} length ${e.length} exceeds 1 MiB`, where(`${field} length`, at + 20));
    }
    if ((e.length === 0) !== (e.offset === 0)) {
      throw new VhdxError('CORRUPT', `item ${e.itemId} has offset ${e.offset} with length ${e.length}`, where(`${field} offset`, at + 16));
    }
    if (e.length > 0 && (e.offset < METADATA_TABLE_SIZE || e.offset + e.length > regionLength)) {
      throw new VhdxError('CORRUPT', `item ${e.itemId} [${e.offset}, +${e.length}) lies outside the region's item area`, where(`${field} offset`, at + 16));
    }
    const key = `${e.isUser ? 'u' : 's'}:${e.itemId}`;
    if (seen.has(key)) throw new VhdxError('CORRUPT', `item ${e.itemId} appears twice`, where(field, at));
    seen.add(key);
    entries.push(e);
  }
  return entries;
}

export interface FileParameters {
  blockSize: number;
  /** Set for fixed disks: blocks stay allocated. */
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
}

export interface ParentLocator {
  locatorType: string;
  entries: Record<string, string>;
}

/** The system metadata items a disk is described by. */
export interface DiskMetadata {
  fileParameters: FileParameters;
  virtualDiskSize: number;
  virtualDiskId: string;
  logicalSectorSize: number;
  physicalSectorSize: number;
  parentLocator?: ParentLocator;
}

type Where = { structure: string; field?: string; offset: number };

function expectLength(item: Uint8Array, want: number, where: Where): void {
  if (item.length < want) throw new VhdxError('CORRUPT', `item is ${item.length} bytes, needs ${want}`, where);
}

export function parseFileParameters(item: Uint8Array, where: Where): FileParameters {
  expectLength(item, 8, where);
  const dv = dataView(item);
  const blockSize = dv.getUint32(0, true);
  const flags = dv.getUint32(4, true);
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new VhdxError('CORRUPT', `block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`, { ...where, field: 'block_size' });
  }
  return { blockSize, leaveBlocksAllocated: (flags & 1) !== 0, hasParent: (flags & 2) !== 0 };
}

export function parseVirtualDiskSize(item: Uint8Array, where: Where): number {
  expectLength(item, 8, where);
  const size = readU64(dataView(item), 0);
  if (size === 0 || size > MAX_VIRTUAL_SIZE) {
    throw new VhdxError('CORRUPT', `virtual disk size ${size} is zero or over 64 TiB`, { ...where, field: 'virtual_disk_size' });
  }
  return size;
}

export function parseSectorSize(item: Uint8Array, where: Where): number {
  expectLength(item, 4, where);
  const size = dataView(item).getUint32(0, true);
  if (size !== 512 && size !== 4096) {
    throw new VhdxError('CORRUPT', `sector size ${size} is neither 512 nor 4096`, { ...where, field: 'sector_size' });
  }
  return size;
}

export function parseVirtualDiskId(item: Uint8Array, where: Where): string {
  expectLength(item, 16, where);
  return readGuid(item, 0);
}

export function parseParentLocator(item: Uint8Array, where: Where): ParentLocator {
  expectLength(item, 20, where);
  const dv = dataView(item);
  const count = dv.getUint16(18, true);
  if (20 + count * 12 > item.length) {
    throw new VhdxError('CORRUPT', `${count} key/value entries do not fit in ${item.length} bytes`, { ...where, field: 'key_value_count' });
  }
  const entries: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const at = 20 + i * 12;
    const keyOff = dv.getUint32(at, true);
    const valueOff = dv.getUint32(at + 4, true);
    const keyLen = dv.getUint16(at + 8, true);
    const valueLen = dv.getUint16(at + 10, true);
    if (keyOff + keyLen > item.length || valueOff + valueLen > item.length) {
      throw new VhdxError('CORRUPT', `entry ${i} points outside the item`, { ...where, field: 'key_value_entry' });
    }
    entries[readUtf16(item, keyOff, keyLen)] = readUtf16(item, valueOff, valueLen);
  }
  return { locatorType: readGuid(item, 0), entries };
}

interface PlacedItem {
  id: string;
  data: Uint8Array;
  isVirtualDisk: boolean;
}

function u32Item(value: number): Uint8Array {
  const b = new Uint8Array(4);
  dataView(b).setUint32(0, value, true);
  return b;
}

function serializeParentLocator(p: ParentLocator): Uint8Array {
  const keys = Object.keys(p.entries);
  let size = 20 + keys.length * 12;
  for (const k of keys) size += (k.length + p.entries[k]!.length) * 2;
  const b = new Uint8Array(size);
  const dv = dataView(b);
  writeGuid(b, 0, p.locatorType);
  dv.setUint16(18, keys.length, true);
  let cursor = 20 + keys.length * 12;
  keys.forEach((k, i) => {
    const at = 20 + i * 12;
    const v = p.entries[k]!;
    dv.setUint32(at, cursor, true);
    dv.setUint16(at + 8, k.length * 2, true);
    cursor += writeUtf16(b, cursor, k);
    dv.setUint32(at + 4, cursor, true);
    dv.setUint16(at + 10, v.length * 2, true);
    cursor += writeUtf16(b, cursor, v);
  });
  return b;
}

/**
 * Builds a metadata region of `regionLength` bytes: the table, then the items
 * from 64 KiB on, each 8-byte aligned. All system items are marked required.
 */
export function serializeMetadataRegion(m: DiskMetadata, regionLength = MiB): Uint8Array {
  const fp = new Uint8Array(8);
  const fdv = dataView(fp);
  fdv.setUint32(0, m.fileParameters.blockSize, true);
  fdv.setUint32(4, (m.fileParameters.leaveBlocksAllocated ? 1 : 0) | (m.fileParameters.hasParent ? 2 : 0), true);
  const size = new Uint8Array(8);
  writeU64(dataView(size), 0, m.virtualDiskSize);
  const id = new Uint8Array(16);
  writeGuid(id, 0, m.virtualDiskId);
  const items: PlacedItem[] = [
    { id: GUIDS.fileParameters, data: fp, isVirtualDisk: false },
    { id: GUIDS.virtualDiskSize, data: size, isVirtualDisk: true },
    { id: GUIDS.virtualDiskId, data: id, isVirtualDisk: true },
    { id: GUIDS.logicalSectorSize, data: u32Item(m.logicalSectorSize), isVirtualDisk: true },
    { id: GUIDS.physicalSectorSize, data: u32Item(m.physicalSectorSize), isVirtualDisk: true },
  ];
  if (m.parentLocator) items.push({ id: GUIDS.parentLocator, data: serializeParentLocator(m.parentLocator), isVirtualDisk: false });
  const b = new Uint8Array(regionLength);
  const dv = dataView(b);
  writeAscii(b, 0, SIGNATURE);
  dv.setUint16(10, items.length, true);
  let cursor = METADATA_TABLE_SIZE;
  items.forEach((item, i) => {
    const at = 32 + i * ENTRY_SIZE;
    writeGuid(b, at, item.id);
    dv.setUint32(at + 16, cursor, true);
    dv.setUint32(at + 20, item.data.length, true);
    dv.setUint32(at + 24, (item.isVirtualDisk ? 2 : 0) | 4, true);
    b.set(item.data, cursor);
    cursor += Math.ceil(item.data.length / 8) * 8;
  });
  if (cursor > regionLength) throw new VhdxError('INVALID_ARGUMENT', 'metadata items do not fit in the region');
  return b;
}
