// Builds differencing VHDX files (Hyper-V checkpoints, .avhdx) the way the
// format describes them, with any mix of block states, sector bitmaps and
// parent locators, and computes what the flattened chain must read as. The
// library cannot create children yet, so the tests make their own.
import { batEntryCount, batIndexOfBlock, chunkRatio, writeBatEntry } from '../../src/format/bat.js';
import { GUIDS, NIL_GUID } from '../../src/format/guid.js';
import { parseHeader, serializeHeader } from '../../src/format/header.js';
import { serializeFileIdentifier } from '../../src/format/identifier.js';
import { serializeMetadataRegion } from '../../src/format/metadata.js';
import { serializeRegionTable } from '../../src/format/region-table.js';
import { pseudoRandomBytes } from './reference.js';

const MiB = 1024 * 1024;

/** What one payload block of a child holds. */
export type ChildBlock =
  | { state: 'not-present' | 'undefined' | 'zero' | 'unmapped' }
  | { state: 'full'; data: Uint8Array }
  /** `sectors(k)`: whether sector k of the block is in this file; `data` holds the whole block (absent sectors are ignored). */
  | { state: 'partial'; data: Uint8Array; sectors: (sector: number) => boolean };

const STATE_CODE = { 'not-present': 0, undefined: 1, zero: 2, unmapped: 3, full: 6, partial: 7 } as const;

export interface ChildSpec {
  virtualSize: number;
  blockSize: number;
  lss: 512 | 4096;
  pss?: 512 | 4096;
  /** The parent's DataWriteGuid (canonical, no braces); written as `{guid}` in parent_linkage. */
  parentLinkage: string;
  parentLinkage2?: string;
  relativePath?: string;
  volumePath?: string;
  absoluteWin32Path?: string;
  /** Replaces the locator's key/value pairs entirely (for malformed locators). */
  locatorEntries?: Record<string, string>;
  /** Replaces the locator type GUID. */
  locatorType?: string;
  /** No Parent Locator item at all, HasParent still set. */
  noLocator?: boolean;
  /** Blocks by index; the rest are NOT_PRESENT. */
  blocks: Map<number, ChildBlock>;
  /** Sector bitmap entries forced NOT_PRESENT (chunk indexes), for 'bitmap-missing'. */
  dropBitmaps?: number[];
  /** Give every chunk a bitmap block, even without partial blocks. */
  allBitmaps?: boolean;
  dataWriteGuid?: string;
  fileWriteGuid?: string;
}

/** The current header's DataWriteGuid of a VHDX file: what a child's parent_linkage names. */
export function dataWriteGuidOf(file: Uint8Array): string {
  const a = parseHeader(file.subarray(64 * 1024, 68 * 1024), 64 * 1024);
  const b = parseHeader(file.subarray(128 * 1024, 132 * 1024), 128 * 1024);
  return (b.sequenceNumber > a.sequenceNumber ? b : a).dataWriteGuid;
}

let guidCounter = 0x100;
/** A fresh deterministic GUID, so no two test files share write GUIDs by accident. */
export function testGuid(): string {
  guidCounter++;
  return `d1ff0000-0000-4000-8000-${guidCounter.toString(16).padStart(12, '0')}`;
}

/** A spec-conformant differencing VHDX: log @1, metadata @2, BAT @3 MiB, then payload blocks, then sector bitmap blocks. */
export function buildChild(s: ChildSpec): Uint8Array {
  const { blockSize, lss, virtualSize } = s;
  const blocks = Math.ceil(virtualSize / blockSize);
  const ratio = chunkRatio(lss, blockSize);
  const chunks = Math.ceil(blocks / ratio);
  const entries = batEntryCount(blocks, ratio, true);
  const batLength = Math.max(MiB, Math.ceil((entries * 8) / MiB) * MiB);
  const stored = [...s.blocks.entries()].filter(([, b]) => b.state === 'full' || b.state === 'partial').sort((x, y) => x[0] - y[0]);
  const bitmapChunks = new Set<number>();
  for (let c = 0; c < chunks; c++) if (s.allBitmaps) bitmapChunks.add(c);
  for (const [i, b] of s.blocks) if (b.state === 'partial') bitmapChunks.add(Math.floor(i / ratio));
  const payloadStart = 3 * MiB + batLength;
  const bitmapStart = payloadStart + stored.length * blockSize;
  const chunkList = [...bitmapChunks].sort((a, b) => a - b);
  const file = new Uint8Array(bitmapStart + chunkList.length * MiB);

  file.set(serializeFileIdentifier({ creator: 'differencing test builder' }), 0);
  const dataWriteGuid = s.dataWriteGuid ?? testGuid();
  const fileWriteGuid = s.fileWriteGuid ?? testGuid();
  const header = (seq: bigint) =>
    serializeHeader({
      sequenceNumber: seq,
      fileWriteGuid,
      dataWriteGuid,
      logGuid: NIL_GUID,
      logVersion: 0,
      version: 1,
      logLength: MiB,
      logOffset: MiB,
    });
  file.set(header(1n), 64 * 1024);
  file.set(header(2n), 128 * 1024);
  const regions = serializeRegionTable({
    entries: [
      { guid: GUIDS.metadataRegion, fileOffset: 2 * MiB, length: MiB, required: true },
      { guid: GUIDS.batRegion, fileOffset: 3 * MiB, length: batLength, required: true },
    ],
  });
  file.set(regions, 192 * 1024);
  file.set(regions, 256 * 1024);

  const entriesOf = (): Record<string, string> => {
    if (s.locatorEntries) return s.locatorEntries;
    const e: Record<string, string> = { parent_linkage: `{${s.parentLinkage.toLowerCase()}}` };
    if (s.parentLinkage2) e.parent_linkage2 = `{${s.parentLinkage2.toLowerCase()}}`;
    if (s.relativePath !== undefined) e.relative_path = s.relativePath;
    if (s.volumePath !== undefined) e.volume_path = s.volumePath;
    if (s.absoluteWin32Path !== undefined) e.absolute_win32_path = s.absoluteWin32Path;
    return e;
  };
  file.set(
    serializeMetadataRegion({
      fileParameters: { blockSize, leaveBlocksAllocated: false, hasParent: true },
      virtualDiskSize: virtualSize,
      virtualDiskId: testGuid(),
      logicalSectorSize: lss,
      physicalSectorSize: s.pss ?? 4096,
      ...(s.noLocator ? {} : { parentLocator: { locatorType: s.locatorType ?? GUIDS.vhdxParentLocatorType, entries: entriesOf() } }),
    }),
    2 * MiB,
  );

  const bat = file.subarray(3 * MiB, 3 * MiB + batLength);
  for (const [i, b] of s.blocks) writeBatEntry(bat, batIndexOfBlock(i, ratio), { state: STATE_CODE[b.state], offsetMiB: 0 });
  const sectorsPerBlock = blockSize / lss;
  const bitmapAt = new Map(chunkList.map((c, i) => [c, bitmapStart + i * MiB]));
  stored.forEach(([i, b], k) => {
    const at = payloadStart + k * blockSize;
    writeBatEntry(bat, batIndexOfBlock(i, ratio), { state: STATE_CODE[b.state], offsetMiB: at / MiB });
    const length = Math.min(blockSize, virtualSize - i * blockSize);
    if (b.state === 'full') {
      file.set(b.data.subarray(0, length), at);
      return;
    }
    if (b.state !== 'partial') return;
    // absent sectors hold junk: a reader that ignores the bitmap shows it
    file.fill(0xee, at, at + blockSize);
    const bitmap = bitmapAt.get(Math.floor(i / ratio))!;
    const first = (i % ratio) * sectorsPerBlock;
    for (let k2 = 0; k2 < sectorsPerBlock; k2++) {
      if (k2 * lss >= length || !b.sectors(k2)) continue;
      file.set(b.data.subarray(k2 * lss, (k2 + 1) * lss), at + k2 * lss);
      const bit = first + k2;
      file[bitmap + (bit >> 3)]! |= 1 << (bit & 7);
    }
  });
  // a fully present block's sectors are all in this file: their bits are set too
  for (const [i, b] of s.blocks) {
    const bitmap = bitmapAt.get(Math.floor(i / ratio));
    if (b.state !== 'full' || bitmap === undefined) continue;
    const first = (i % ratio) * sectorsPerBlock;
    for (let k2 = 0; k2 < sectorsPerBlock; k2++) file[bitmap + ((first + k2) >> 3)]! |= 1 << ((first + k2) & 7);
  }
  const drop = new Set(s.dropBitmaps ?? []);
  for (const [c, at] of bitmapAt) {
    if (drop.has(c)) continue;
    writeBatEntry(bat, c * (ratio + 1) + ratio, { state: 6, offsetMiB: at / MiB });
  }
  return file;
}

/**
 * How a reader treats a differencing file's blocks that hold no data:
 * `spec` is this library (NOT_PRESENT, UNDEFINED, UNMAPPED read the parent;
 * ZERO reads zeros), `7zz` is 7-Zip 26 (only NOT_PRESENT reads the parent),
 * `libvhdi` is libvhdi 20210425 (ZERO reads the parent too, against MS-VHDX 2.5.1.1).
 */
export type ReaderRules = 'spec' | '7zz' | 'libvhdi';

/** What a chain reads as, given the parent's disk and a child spec, under `rules`. */
export function flatten(parentDisk: Uint8Array, s: ChildSpec, rules: ReaderRules = 'spec'): Uint8Array {
  const out = parentDisk.slice();
  for (const [i, b] of s.blocks) {
    const start = i * s.blockSize;
    const end = Math.min(s.virtualSize, start + s.blockSize);
    const zeros = b.state === 'zero' ? rules !== 'libvhdi' : (b.state === 'undefined' || b.state === 'unmapped') && rules === '7zz';
    if (zeros) out.fill(0, start, end);
    else if (b.state === 'full') out.set(b.data.subarray(0, end - start), start);
    else if (b.state === 'partial') {
      for (let k = 0; start + k * s.lss < end; k++)
        if (b.sectors(k)) out.set(b.data.subarray(k * s.lss, (k + 1) * s.lss), start + k * s.lss);
    }
  }
  return out;
}

/** A whole chain flattened: `children` from the base's child up to the top. */
export function flattenChain(base: Uint8Array, children: ChildSpec[], rules: ReaderRules = 'spec'): Uint8Array {
  return children.reduce((disk, child) => flatten(disk, child, rules), base);
}

/**
 * A child's blocks in every state, cycling through them from `shift`:
 * FULLY_PRESENT, PARTIALLY_PRESENT with one sector, with a run of sectors and
 * with every bit set, ZERO, UNDEFINED, UNMAPPED, NOT_PRESENT (`omit` leaves
 * states out); the last block is always PARTIALLY_PRESENT, so a partial block
 * sits at the disk's tail.
 */
export function everyState(
  virtualSize: number,
  blockSize: number,
  lss: number,
  seed: number,
  omit: ChildBlock['state'][] = [],
  shift = 0,
): Map<number, ChildBlock> {
  const blocks = new Map<number, ChildBlock>();
  const count = Math.ceil(virtualSize / blockSize);
  const sectors = blockSize / lss;
  const kinds = ['full', 'single', 'run', 'all', 'zero', 'undefined', 'unmapped', 'not-present'] as const;
  const usable = kinds.filter((k) => !omit.includes(k === 'single' || k === 'run' || k === 'all' ? 'partial' : k));
  for (let b = 0; b < count; b++) {
    const data = blockData(blockSize, seed * 1000 + b + 1);
    const kind = b === count - 1 ? 'tail' : usable[(b + shift) % usable.length]!;
    if (kind === 'full') blocks.set(b, { state: 'full', data });
    else if (kind === 'single') blocks.set(b, { state: 'partial', data, sectors: (k) => k === (seed * 7 + b) % sectors });
    else if (kind === 'run') blocks.set(b, { state: 'partial', data, sectors: (k) => k >= sectors / 4 + 3 && k < sectors / 2 + 5 });
    else if (kind === 'all') blocks.set(b, { state: 'partial', data, sectors: () => true });
    else if (kind === 'tail') {
      const inDisk = Math.ceil((virtualSize - b * blockSize) / lss);
      blocks.set(b, { state: 'partial', data, sectors: (k) => k % 3 === 0 || k === inDisk - 1 });
    } else if (kind !== 'not-present') blocks.set(b, { state: kind });
  }
  return blocks;
}

/** A block's worth of recognisable data. */
export function blockData(blockSize: number, seed: number): Uint8Array {
  return pseudoRandomBytes(blockSize, seed);
}
