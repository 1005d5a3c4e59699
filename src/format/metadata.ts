// The metadata region: a 64 KiB table of entries pointing at items inside the
// region, and the codecs of the six items the format defines.
import { VhdxError, type VhdxErrorReason } from '../errors.js';
import { KiB, MiB, TiB, dataView, isPowerOfTwo, readAscii, readU64, readUtf16, writeAscii, writeU64, writeUtf16 } from './bytes.js';
import { GUIDS, readGuid, writeGuid } from './guid.js';

/** Bytes of the metadata table at the start of the metadata region; items lie past it (64 KiB, MS-VHDX 2.6.1). */
export const METADATA_TABLE_SIZE = 64 * KiB;
/** Most entries a metadata table may hold (MS-VHDX 2.6.1.1). */
export const MAX_METADATA_ENTRIES = 2047;
/** Largest metadata item in bytes (1 MiB, MS-VHDX 2.6.1.2). */
export const MAX_METADATA_ITEM = MiB;
/** Largest virtual disk in bytes (64 TiB, MS-VHDX 2.6.2.2). */
export const MAX_VIRTUAL_SIZE = 64 * TiB;
/** Smallest payload block in bytes (1 MiB); block sizes are powers of two (MS-VHDX 2.6.2.1). */
export const MIN_BLOCK_SIZE = MiB;
/** Largest payload block in bytes (256 MiB, MS-VHDX 2.6.2.1). */
export const MAX_BLOCK_SIZE = 256 * MiB;
const SIGNATURE = 'metadata';
const ENTRY_SIZE = 32;

/** One metadata table entry (MS-VHDX 2.6.1.2). */
export interface MetadataEntry {
  /** Which item: one of the system items in {@link GUIDS}, or any GUID for a user item. */
  itemId: string;
  /** Offset of the item in bytes relative to the start of the region; 0 exactly when `length` is 0. */
  offset: number;
  /** Bytes of the item, at most 1 MiB. */
  length: number;
  /** A user item, not a system item; an `itemId` may appear once as each. */
  isUser: boolean;
  /** Describes the virtual disk rather than this file: kept when the disk is forked into a child or merged into its parent. */
  isVirtualDisk: boolean;
  /** A reader that does not know `itemId` must refuse the file. */
  isRequired: boolean;
}

/**
 * Parses the table at the start of the metadata region (`regionOffset` for messages).
 *
 * @throws VhdxError `TRUNCATED` (`structure-truncated`: fewer than 64 KiB); `CORRUPT` (`metadata-signature`,
 * `metadata-entry-count`, `metadata-item-length`: over 1 MiB, `metadata-item-offset`: inside the table, past
 * the region, or set without a length, `metadata-item-duplicate`).
 */
export function parseMetadataTable(b: Uint8Array, regionOffset: number, regionLength: number): MetadataEntry[] {
  const fail = (reason: VhdxErrorReason, message: string, field?: string, rel = 0) =>
    new VhdxError(reason, message, { structure: 'metadata table', field, offset: regionOffset + rel });
  if (b.length < METADATA_TABLE_SIZE) throw fail('structure-truncated', `need ${METADATA_TABLE_SIZE} bytes, have ${b.length}`);
  if (readAscii(b, 0, 8) !== SIGNATURE) throw fail('metadata-signature', 'signature is not "metadata"', 'signature');
  const dv = dataView(b);
  const count = dv.getUint16(10, true);
  if (count > MAX_METADATA_ENTRIES) {
    throw fail('metadata-entry-count', `entry count ${count} exceeds ${MAX_METADATA_ENTRIES}`, 'entry_count', 10);
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
      throw fail('metadata-item-length', `item ${e.itemId} length ${e.length} exceeds 1 MiB`, `${field} length`, at + 20);
    }
    if ((e.length === 0) !== (e.offset === 0)) {
      throw fail('metadata-item-offset', `item ${e.itemId} has offset ${e.offset} with length ${e.length}`, `${field} offset`, at + 16);
    }
    if (e.length > 0 && (e.offset < METADATA_TABLE_SIZE || e.offset + e.length > regionLength)) {
      const area = `[${e.offset}, +${e.length}) lies outside the region's item area`;
      throw fail('metadata-item-offset', `item ${e.itemId} ${area}`, `${field} offset`, at + 16);
    }
    const key = `${e.isUser ? 'u' : 's'}:${e.itemId}`;
    if (seen.has(key)) throw fail('metadata-item-duplicate', `item ${e.itemId} appears twice`, field, at);
    seen.add(key);
    entries.push(e);
  }
  return entries;
}

/** The File Parameters item (MS-VHDX 2.6.2.1). */
export interface FileParameters {
  /** Bytes per payload block: a power of two from 1 MiB to 256 MiB. */
  blockSize: number;
  /** Set for fixed disks: blocks stay allocated. */
  leaveBlocksAllocated: boolean;
  /** Set for a differencing disk, which then needs a Parent Locator item. */
  hasParent: boolean;
}

/** The Parent Locator item of a differencing disk (MS-VHDX 2.6.2.6). */
export interface ParentLocator {
  /** Kind of parent; {@link GUIDS}.vhdxParentLocatorType for a VHDX parent. */
  locatorType: string;
  /** Key/value pairs, e.g. `parent_linkage` and `relative_path` for a VHDX parent (MS-VHDX 2.6.2.6.3). */
  entries: Record<string, string>;
}

/** The system metadata items a disk is described by. */
export interface DiskMetadata {
  fileParameters: FileParameters;
  /** Bytes: a multiple of the logical sector size, at most 64 TiB (MS-VHDX 2.6.2.2). */
  virtualDiskSize: number;
  /** GUID identifying the disk (page 83 data, MS-VHDX 2.6.2.3). */
  virtualDiskId: string;
  /** Bytes: 512 or 4096 (MS-VHDX 2.6.2.4). */
  logicalSectorSize: number;
  /** Bytes: 512 or 4096 (MS-VHDX 2.6.2.5). */
  physicalSectorSize: number;
  /** Present for differencing disks only. */
  parentLocator?: ParentLocator;
}

/** The metadata items the format defines, by the names errors give them. */
export type MetadataItemName =
  | 'File Parameters'
  | 'Virtual Disk Size'
  | 'Virtual Disk Id'
  | 'Logical Sector Size'
  | 'Physical Sector Size'
  | 'Parent Locator';

/**
 * Where an item sits, for errors: its absolute file offset and, in `field`,
 * its name (errors use the parser's own item name when `field` is absent).
 */
export interface MetadataItemLocation {
  /** Absolute file offset of the item in bytes. */
  offset: number;
  /** The item's name in errors. */
  field?: MetadataItemName | (string & Record<never, never>);
}

// `name` stands in when the caller gave none; the two sector-size items share a parser, so it has none
function itemError(reason: VhdxErrorReason, message: string, at: MetadataItemLocation, name?: MetadataItemName): VhdxError {
  return new VhdxError(reason, message, { structure: 'metadata item', field: at.field ?? name, offset: at.offset });
}

function expectLength(item: Uint8Array, want: number, at: MetadataItemLocation, name?: MetadataItemName): void {
  if (item.length < want) throw itemError('metadata-item-size', `item is ${item.length} bytes, needs ${want}`, at, name);
}

/**
 * Parses the File Parameters item (MS-VHDX 2.6.2.1).
 * @throws VhdxError `CORRUPT` (`metadata-item-size`: under 8 bytes, `block-size-invalid`: not a power of two
 * from 1 MiB to 256 MiB).
 */
export function parseFileParameters(item: Uint8Array, at: MetadataItemLocation): FileParameters {
  const name = 'File Parameters';
  expectLength(item, 8, at, name);
  const dv = dataView(item);
  const blockSize = dv.getUint32(0, true);
  const flags = dv.getUint32(4, true);
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw itemError('block-size-invalid', `block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`, at, name);
  }
  return { blockSize, leaveBlocksAllocated: (flags & 1) !== 0, hasParent: (flags & 2) !== 0 };
}

/**
 * Parses the Virtual Disk Size item (MS-VHDX 2.6.2.2). Alignment to the logical sector is the caller's check.
 * @throws VhdxError `CORRUPT` (`metadata-item-size`: under 8 bytes, `virtual-size-invalid`: zero or over 64 TiB).
 */
export function parseVirtualDiskSize(item: Uint8Array, at: MetadataItemLocation): number {
  const name = 'Virtual Disk Size';
  expectLength(item, 8, at, name);
  const size = readU64(dataView(item), 0);
  if (size === 0 || size > MAX_VIRTUAL_SIZE) {
    throw itemError('virtual-size-invalid', `virtual disk size ${size} is zero or over 64 TiB`, at, name);
  }
  return size;
}

/**
 * Parses a Logical or Physical Sector Size item (pass which in `at.field`; MS-VHDX 2.6.2.4, 2.6.2.5).
 * @throws VhdxError `CORRUPT` (`metadata-item-size`: under 4 bytes, `sector-size-invalid`: neither 512 nor 4096).
 */
export function parseSectorSize(item: Uint8Array, at: MetadataItemLocation): number {
  expectLength(item, 4, at);
  const size = dataView(item).getUint32(0, true);
  if (size !== 512 && size !== 4096) {
    throw itemError('sector-size-invalid', `sector size ${size} is neither 512 nor 4096`, at);
  }
  return size;
}

/**
 * Parses the Virtual Disk Id item (MS-VHDX 2.6.2.3).
 * @throws VhdxError `CORRUPT` (`metadata-item-size`: under 16 bytes).
 */
export function parseVirtualDiskId(item: Uint8Array, at: MetadataItemLocation): string {
  expectLength(item, 16, at, 'Virtual Disk Id');
  return readGuid(item, 0);
}

/**
 * Parses the Parent Locator item into its key/value pairs (MS-VHDX 2.6.2.6). Which keys a VHDX parent needs
 * is the reader's business (MS-VHDX 2.6.2.6.3); this checks the item's own shape.
 * @throws VhdxError `CORRUPT` (`metadata-item-size`: under 20 bytes, `locator-malformed`: entries that
 * do not fit, point outside the item, have a zero offset, a zero or odd length, or repeat a key).
 */
export function parseParentLocator(item: Uint8Array, at: MetadataItemLocation): ParentLocator {
  const name = 'Parent Locator';
  expectLength(item, 20, at, name);
  const dv = dataView(item);
  const count = dv.getUint16(18, true);
  if (20 + count * 12 > item.length) {
    throw itemError('locator-malformed', `${count} key/value entries do not fit in ${item.length} bytes`, at, name);
  }
  const entries: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const entry = 20 + i * 12;
    const keyOff = dv.getUint32(entry, true);
    const valueOff = dv.getUint32(entry + 4, true);
    const keyLen = dv.getUint16(entry + 8, true);
    const valueLen = dv.getUint16(entry + 10, true);
    if (keyOff + keyLen > item.length || valueOff + valueLen > item.length) {
      throw itemError('locator-malformed', `key/value entry ${i} points outside the item`, at, name);
    }
    // MS-VHDX 2.6.2.6.2: offsets and lengths greater than zero; UTF-16 needs even lengths
    if (keyOff === 0 || valueOff === 0 || keyLen === 0 || valueLen === 0 || keyLen % 2 !== 0 || valueLen % 2 !== 0) {
      throw itemError('locator-malformed', `key/value entry ${i} has a zero offset or a zero or odd length`, at, name);
    }
    const key = readUtf16(item, keyOff, keyLen);
    if (Object.hasOwn(entries, key)) throw itemError('locator-malformed', `key "${key}" appears twice`, at, name);
    // an own property even for a key like "__proto__"
    Object.defineProperty(entries, key, {
      value: readUtf16(item, valueOff, valueLen),
      enumerable: true,
      writable: true,
      configurable: true,
    });
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

/** The bytes of a Parent Locator item (MS-VHDX 2.6.2.6): header, key/value entries, then the UTF-16 keys and values. */
export function serializeParentLocator(p: ParentLocator): Uint8Array {
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
 * @throws VhdxError `INVALID_ARGUMENT` (`value-unencodable`) when the items do not fit in `regionLength`
 * or a GUID is not in canonical form.
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
  const offsets: number[] = [];
  let cursor = METADATA_TABLE_SIZE;
  for (const item of items) {
    offsets.push(cursor);
    cursor += Math.ceil(item.data.length / 8) * 8;
  }
  if (cursor > regionLength) {
    const message = `metadata items need ${cursor} bytes, the region has ${regionLength}`;
    throw new VhdxError('value-unencodable', message, { structure: 'metadata region', field: 'length' });
  }
  const b = new Uint8Array(regionLength);
  const dv = dataView(b);
  writeAscii(b, 0, SIGNATURE);
  dv.setUint16(10, items.length, true);
  items.forEach((item, i) => {
    const at = 32 + i * ENTRY_SIZE;
    writeGuid(b, at, item.id);
    dv.setUint32(at + 16, offsets[i]!, true);
    dv.setUint32(at + 20, item.data.length, true);
    dv.setUint32(at + 24, (item.isVirtualDisk ? 2 : 0) | 4, true);
    b.set(item.data, offsets[i]!);
  });
  return b;
}
