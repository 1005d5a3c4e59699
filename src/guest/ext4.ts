// Reads an ext2/3/4 filesystem's block bitmaps to find the blocks it does not
// use, refusing whatever it cannot vouch for. Nothing is written. What is
// read: the primary superblock (1024 bytes at offset 1024), the group
// descriptor table after it (in bounded chunks, twice), and each initialized
// group's block bitmap where its descriptor points (bounded batches).
// Nothing else (no inodes, no journal): the verdict rests on the bitmaps,
// their checksums and their descriptors' free counts agreeing.
import { dataView } from '../format/bytes.js';
import { ready } from '../wasm/instance.js';
import { crc16, ext4Crc32c } from './checksums.js';
import { EXT4_MAGIC, EXT4_MAGIC_AT, EXT4_SUPERBLOCK } from './probe.js';
import { Refusal, type RegionReader } from './read.js';
import type { FreeRuns } from './ranges.js';

// s_state
const STATE_VALID = 0x1;
const STATE_ERROR = 0x2;
const STATE_ORPHANS = 0x4;

/** Incompatible features: without knowing each, the bitmaps cannot be trusted to mean what they seem. */
const INCOMPAT_READ: Record<number, string> = {
  2: 'filetype',
  64: 'extents',
  128: '64bit',
  256: 'mmp',
  512: 'flex_bg',
  1024: 'ea_inode',
  8192: 'csum_seed',
  16384: 'large_dir',
  32768: 'inline_data',
  65536: 'encrypt',
  131072: 'casefold',
};
const INCOMPAT_NOT_READ: Record<number, string> = {
  1: 'compression',
  8: 'journal_dev',
  16: 'meta_bg',
  4096: 'dirdata',
};
const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_CSUM_SEED = 0x2000;

const RO_COMPAT_READ: Record<number, string> = {
  1: 'sparse_super',
  2: 'large_file',
  8: 'huge_file',
  16: 'gdt_csum',
  32: 'dir_nlink',
  64: 'extra_isize',
  256: 'quota',
  1024: 'metadata_csum',
  4096: 'readonly',
  8192: 'project',
  16384: 'shared_blocks',
  32768: 'verity',
};
const RO_COMPAT_NOT_READ: Record<number, string> = {
  4: 'btree_dir',
  128: 'snapshot',
  512: 'bigalloc',
  2048: 'replica',
};
const RO_COMPAT_SPARSE_SUPER = 0x1;
const RO_COMPAT_GDT_CSUM = 0x10;
const RO_COMPAT_METADATA_CSUM = 0x400;
const RO_COMPAT_ORPHAN_PRESENT = 0x10000;

// compat features change nothing a reader of bitmaps relies on, except these
const COMPAT_RESIZE_INODE = 0x10;
const COMPAT_LAZY_BG = 0x40;
const COMPAT_SPARSE_SUPER2 = 0x200;

// bg_flags
const BG_BLOCK_UNINIT = 0x2;

/** The superblock fields the reader relies on, each checked. */
export interface Ext4Geometry {
  blockSize: number;
  blocksCount: number;
  firstDataBlock: number;
  blocksPerGroup: number;
  groupCount: number;
  descSize: number;
  is64bit: boolean;
  gdtBlocks: number;
  reservedGdtBlocks: number;
  inodeTableBlocks: number;
  sparseSuper: boolean;
  sparseSuper2Groups: number[] | undefined;
  checksum: 'metadata_csum' | 'gdt_csum';
  csumSeed: number;
  uuid: Uint8Array;
  freeBlocks: number;
  features: string[];
}

function flagNames(value: number, names: Record<number, string>): string[] {
  const out: string[] = [];
  for (let bit = 1; bit !== 0 && bit <= value; bit = (bit << 1) >>> 0) if (value & bit && names[bit]) out.push(names[bit]!);
  return out;
}

function unknownBits(value: number, ...known: Record<number, string>[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < 32; i++) {
    const bit = 2 ** i;
    if (value & bit && !known.some((k) => k[bit] !== undefined)) out.push(bit);
  }
  return out;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Parses and checks the superblock; a refusal for anything the reader cannot vouch for. */
export function parseSuperblock(sb: Uint8Array, regionLength: number): Ext4Geometry {
  const dv = dataView(sb);
  const u32 = (at: number): number => dv.getUint32(at, true);
  const u16 = (at: number): number => dv.getUint16(at, true);
  if (u16(EXT4_MAGIC_AT) !== EXT4_MAGIC) throw new Refusal('superblock-invalid', 'no ext2/3/4 magic at offset 1080');
  const rev = u32(0x4c);
  if (rev > 1) throw new Refusal('unsupported-feature', `superblock revision ${rev} (known: 0, 1)`);
  const compat = rev === 0 ? 0 : u32(0x5c);
  const incompat = rev === 0 ? 0 : u32(0x60);
  const roCompat = rev === 0 ? 0 : u32(0x64);

  // Checksum first: with metadata_csum every other field is only as good as it.
  const metadataCsum = (roCompat & RO_COMPAT_METADATA_CSUM) !== 0;
  if (metadataCsum) {
    if (sb[0x175] !== 1) throw new Refusal('unsupported-feature', `metadata checksum type ${sb[0x175]} (known: 1, crc32c)`);
    const stored = u32(0x3fc);
    const actual = ext4Crc32c(0xffffffff, sb.subarray(0, 0x3fc));
    if (stored !== actual) throw new Refusal('superblock-checksum', `superblock CRC-32C is ${hex(stored)}, its bytes give ${hex(actual)}`);
  }

  const state = u16(0x3a);
  if (!(state & STATE_VALID) || state & STATE_ERROR) {
    throw new Refusal('not-clean', `the filesystem was not cleanly unmounted or has errors (s_state ${hex(state)}); run e2fsck first`);
  }
  if (state & STATE_ORPHANS) throw new Refusal('recovery-needed', 'orphan inodes are being recovered (s_state has the orphan bit)');
  if (rev > 0 && u32(0x194) !== 0)
    throw new Refusal('not-clean', `the filesystem has recorded ${u32(0x194)} errors (s_error_count); run e2fsck first`);
  if (incompat & INCOMPAT_RECOVER)
    throw new Refusal('recovery-needed', 'the journal needs recovery (needs_recovery is set); mount or run e2fsck first');
  if (roCompat & RO_COMPAT_ORPHAN_PRESENT) throw new Refusal('recovery-needed', 'the orphan file holds inodes to process (orphan_present)');
  if (rev > 0 && u32(0xe8) !== 0) throw new Refusal('recovery-needed', `the orphan list is not empty (s_last_orphan ${u32(0xe8)})`);

  const unknownIncompat = unknownBits(incompat & ~INCOMPAT_RECOVER, INCOMPAT_READ, INCOMPAT_NOT_READ);
  const unknownRo = unknownBits(roCompat & ~RO_COMPAT_ORPHAN_PRESENT, RO_COMPAT_READ, RO_COMPAT_NOT_READ);
  if (unknownIncompat.length || unknownRo.length) {
    const names = [...unknownIncompat.map((b) => `incompat ${hex(b)}`), ...unknownRo.map((b) => `ro_compat ${hex(b)}`)];
    throw new Refusal('unknown-feature', `unknown feature flag${names.length > 1 ? 's' : ''}: ${names.join(', ')}`);
  }
  const notRead = [...flagNames(incompat, INCOMPAT_NOT_READ), ...flagNames(roCompat, RO_COMPAT_NOT_READ)];
  if (compat & COMPAT_LAZY_BG) notRead.push('lazy_bg');
  if (notRead.length) throw new Refusal('unsupported-feature', `feature${notRead.length > 1 ? 's' : ''} not read: ${notRead.join(', ')}`);

  const gdtCsum = (roCompat & RO_COMPAT_GDT_CSUM) !== 0;
  if (gdtCsum && metadataCsum) throw new Refusal('superblock-invalid', 'both gdt_csum and metadata_csum are set');
  if (!gdtCsum && !metadataCsum) {
    throw new Refusal(
      'descriptors-unchecked',
      'the group descriptors carry no checksum (neither gdt_csum nor metadata_csum), so damage could not be detected',
    );
  }

  const logBlock = u32(0x18);
  if (logBlock > 6) throw new Refusal('superblock-invalid', `block size 2^(10+${logBlock}) is outside 1 KiB..64 KiB`);
  const blockSize = 1024 << logBlock;
  if (u32(0x1c) !== logBlock)
    throw new Refusal('superblock-invalid', `cluster size log ${u32(0x1c)} differs from block size log ${logBlock} without bigalloc`);
  const is64bit = (incompat & INCOMPAT_64BIT) !== 0;
  const blocksCount = u32(0x4) + (is64bit ? u32(0x150) * 2 ** 32 : 0);
  const firstDataBlock = u32(0x14);
  if (firstDataBlock !== (blockSize === 1024 ? 1 : 0)) {
    throw new Refusal(
      'superblock-invalid',
      `first data block ${firstDataBlock} with ${blockSize}-byte blocks (expected ${blockSize === 1024 ? 1 : 0})`,
    );
  }
  const blocksPerGroup = u32(0x20);
  if (blocksPerGroup !== 8 * blockSize || u32(0x24) !== blocksPerGroup) {
    throw new Refusal(
      'superblock-invalid',
      `${blocksPerGroup} blocks per group (${u32(0x24)} clusters); this reader takes only the ${8 * blockSize} of a full bitmap block`,
    );
  }
  if (blocksCount <= firstDataBlock + 1) throw new Refusal('superblock-invalid', `block count ${blocksCount} is too small`);
  if (!Number.isSafeInteger(blocksCount * blockSize) || blocksCount * blockSize > regionLength) {
    throw new Refusal(
      'outside-region',
      `the filesystem's ${blocksCount} blocks of ${blockSize} bytes run past its ${regionLength}-byte region`,
    );
  }
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const inodesPerGroup = u32(0x28);
  if (inodesPerGroup === 0 || u32(0x0) !== inodesPerGroup * groupCount) {
    throw new Refusal('superblock-invalid', `inode count ${u32(0x0)} is not ${inodesPerGroup} inodes per group times ${groupCount} groups`);
  }
  const inodeSize = rev === 0 ? 128 : u16(0x58);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) {
    throw new Refusal('superblock-invalid', `inode size ${inodeSize} is not a power of two in 128..${blockSize}`);
  }
  let descSize = 32;
  if (is64bit) {
    descSize = u16(0xfe);
    if (descSize < 64 || descSize > 1024 || (descSize & (descSize - 1)) !== 0) {
      throw new Refusal('superblock-invalid', `group descriptor size ${descSize} is not a power of two in 64..1024`);
    }
  }
  const reservedGdtBlocks = rev === 0 ? 0 : u16(0xce);
  if (reservedGdtBlocks > blockSize / 4)
    throw new Refusal('superblock-invalid', `${reservedGdtBlocks} reserved GDT blocks exceed ${blockSize / 4}`);
  if (!(compat & COMPAT_RESIZE_INODE) && reservedGdtBlocks !== 0) {
    throw new Refusal('superblock-invalid', `${reservedGdtBlocks} reserved GDT blocks without resize_inode`);
  }
  const gdtBlocks = Math.ceil((groupCount * descSize) / blockSize);
  if (firstDataBlock + 1 + gdtBlocks + reservedGdtBlocks > Math.min(blocksCount, blocksPerGroup + firstDataBlock)) {
    throw new Refusal(
      'superblock-invalid',
      `the group descriptor table (${gdtBlocks} + ${reservedGdtBlocks} reserved blocks) does not fit in group 0`,
    );
  }
  let sparseSuper2Groups: number[] | undefined;
  if (compat & COMPAT_SPARSE_SUPER2) {
    sparseSuper2Groups = [u32(0x24c), u32(0x250)].filter((g) => g !== 0);
    if (sparseSuper2Groups.some((g) => g >= groupCount))
      throw new Refusal('superblock-invalid', `sparse_super2 backup groups ${sparseSuper2Groups.join(', ')} past the ${groupCount} groups`);
  }
  const uuid = sb.slice(0x68, 0x78);
  const csumSeed = incompat & INCOMPAT_CSUM_SEED ? u32(0x270) : ext4Crc32c(0xffffffff, uuid);
  const freeBlocks = u32(0xc) + (is64bit ? u32(0x158) * 2 ** 32 : 0);
  return {
    blockSize,
    blocksCount,
    firstDataBlock,
    blocksPerGroup,
    groupCount,
    descSize,
    is64bit,
    gdtBlocks,
    reservedGdtBlocks,
    inodeTableBlocks: Math.ceil((inodesPerGroup * inodeSize) / blockSize),
    sparseSuper: (roCompat & RO_COMPAT_SPARSE_SUPER) !== 0,
    sparseSuper2Groups,
    checksum: metadataCsum ? 'metadata_csum' : 'gdt_csum',
    csumSeed,
    uuid,
    freeBlocks,
    features: [...flagNames(incompat, INCOMPAT_READ), ...flagNames(roCompat, RO_COMPAT_READ)],
  };
}

function isPowerOf(n: number, base: number): boolean {
  while (n > 1 && n % base === 0) n /= base;
  return n === 1;
}

/** True when group `g` holds a superblock backup and a copy of the descriptor table. */
export function groupHasSuper(geo: Ext4Geometry, g: number): boolean {
  if (g === 0) return true;
  if (geo.sparseSuper2Groups) return geo.sparseSuper2Groups.includes(g);
  if (!geo.sparseSuper) return true;
  return g === 1 || isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7);
}

/** One group descriptor, checked. */
interface Descriptor {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  flags: number;
  bitmapCsum: number;
  bitmapCsumBits: 16 | 32;
}

function descriptorChecksum(geo: Ext4Geometry, g: number, desc: Uint8Array): number {
  const group = new Uint8Array(4);
  dataView(group).setUint32(0, g, true);
  if (geo.checksum === 'metadata_csum') {
    let c = ext4Crc32c(geo.csumSeed, group);
    c = ext4Crc32c(c, desc.subarray(0, 0x1e));
    c = ext4Crc32c(c, new Uint8Array(2));
    if (geo.descSize > 0x20) c = ext4Crc32c(c, desc.subarray(0x20, geo.descSize));
    return c & 0xffff;
  }
  let c = crc16(0xffff, geo.uuid);
  c = crc16(c, group);
  c = crc16(c, desc.subarray(0, 0x1e));
  if (geo.descSize > 0x20) c = crc16(c, desc.subarray(0x20, geo.descSize));
  return c;
}

function parseDescriptor(geo: Ext4Geometry, g: number, desc: Uint8Array): Descriptor {
  const dv = dataView(desc);
  const stored = dv.getUint16(0x1e, true);
  const actual = descriptorChecksum(geo, g, desc);
  if (stored !== actual)
    throw new Refusal('descriptor-checksum', `group ${g}'s descriptor checksum is ${hex(stored)}, its bytes give ${hex(actual)}`);
  const wide = geo.descSize >= 64;
  const lohi = (lo: number, hi: number): number => dv.getUint32(lo, true) + (wide ? dv.getUint32(hi, true) * 2 ** 32 : 0);
  const d: Descriptor = {
    blockBitmap: lohi(0x0, 0x20),
    inodeBitmap: lohi(0x4, 0x24),
    inodeTable: lohi(0x8, 0x28),
    freeBlocks: dv.getUint16(0xc, true) + (wide ? dv.getUint16(0x2c, true) * 0x10000 : 0),
    flags: dv.getUint16(0x12, true),
    bitmapCsum: dv.getUint16(0x18, true) + (geo.descSize >= 0x3c ? dv.getUint16(0x38, true) * 0x10000 : 0),
    bitmapCsumBits: geo.descSize >= 0x3c ? 32 : 16,
  };
  // The metadata must lie inside the filesystem, past the primary superblock and descriptor table.
  const low = geo.firstDataBlock + 1 + geo.gdtBlocks + geo.reservedGdtBlocks;
  const check = (what: string, start: number, count: number): void => {
    if (start < low || start + count > geo.blocksCount) {
      throw new Refusal(
        'descriptor-invalid',
        `group ${g}'s ${what} at block ${start} (${count} blocks) lies outside blocks ${low}..${geo.blocksCount - 1}`,
      );
    }
  };
  check('block bitmap', d.blockBitmap, 1);
  check('inode bitmap', d.inodeBitmap, 1);
  check('inode table', d.inodeTable, geo.inodeTableBlocks);
  if (d.freeBlocks > groupBlocks(geo, g))
    throw new Refusal('descriptor-invalid', `group ${g} claims ${d.freeBlocks} free blocks of ${groupBlocks(geo, g)}`);
  return d;
}

/** First block of group `g`. */
function groupStart(geo: Ext4Geometry, g: number): number {
  return geo.firstDataBlock + g * geo.blocksPerGroup;
}

/** Blocks in group `g` (the last may be short). */
function groupBlocks(geo: Ext4Geometry, g: number): number {
  return Math.min(geo.blocksPerGroup, geo.blocksCount - groupStart(geo, g));
}

/** Blocks at the start of group `g` taken by a superblock backup and the descriptor table copy (reserved blocks included). */
function baseMetadataBlocks(geo: Ext4Geometry, g: number): number {
  return groupHasSuper(geo, g) ? 1 + geo.gdtBlocks + geo.reservedGdtBlocks : 0;
}

/** The metadata extents a descriptor names: [start, count] each. */
function ownMetadata(geo: Ext4Geometry, d: Descriptor): [number, number][] {
  return [
    [d.blockBitmap, 1],
    [d.inodeBitmap, 1],
    [d.inodeTable, geo.inodeTableBlocks],
  ];
}

/** Reads descriptors in bounded chunks, calling `each` in group order. */
async function forEachDescriptor(
  region: RegionReader,
  geo: Ext4Geometry,
  chunkBytes: number,
  each: (g: number, d: Descriptor) => void | Promise<void>,
): Promise<void> {
  const tableAt = (geo.firstDataBlock + 1) * geo.blockSize;
  const perChunk = Math.max(1, Math.floor(chunkBytes / geo.descSize));
  for (let first = 0; first < geo.groupCount; first += perChunk) {
    const n = Math.min(perChunk, geo.groupCount - first);
    const bytes = await region.at(tableAt + first * geo.descSize, n * geo.descSize, `group descriptors ${first}..${first + n - 1}`);
    for (let i = 0; i < n; i++) {
      const g = first + i;
      await each(g, parseDescriptor(geo, g, bytes.subarray(i * geo.descSize, (i + 1) * geo.descSize)));
    }
  }
}

/** Group flags gathered in the first pass: which groups are uninitialized, which hold other groups' metadata. */
const UNINIT = 1;
const HOSTS_FOREIGN = 2;

export interface Ext4Result {
  geometry: Ext4Geometry;
  /** Free bytes the bitmaps show (before alignment and the minimum run). */
  filesystemFreeBytes: number;
}

/**
 * Finds the free blocks of the ext4 filesystem in `region` and adds them to
 * `runs` as disk byte ranges. A {@link Refusal} for anything it cannot vouch for.
 * Holds at most `bufferBytes` of descriptors and bitmaps at once (plus one
 * byte per group).
 */
export async function readExt4(region: RegionReader, runs: FreeRuns, bufferBytes: number): Promise<Ext4Result> {
  const sb = await region.at(EXT4_SUPERBLOCK, 1024, 'the superblock');
  // the checksum kernels: loaded before the superblock's CRC-32C is computed
  await ready();
  const geo = parseSuperblock(sb, region.length);
  if (geo.groupCount > bufferBytes)
    throw new Refusal('over-limit', `${geo.groupCount} groups need more than the ${bufferBytes} bytes allowed`);
  const half = Math.max(geo.blockSize, Math.floor(bufferBytes / 2));

  // Pass 1: every descriptor checked; note uninitialized groups and groups holding others' metadata.
  const groupFlags = new Uint8Array(geo.groupCount);
  let descriptorFree = 0;
  await forEachDescriptor(region, geo, half, (g, d) => {
    descriptorFree += d.freeBlocks;
    if (d.flags & BG_BLOCK_UNINIT) groupFlags[g]! |= UNINIT;
    for (const [start, count] of ownMetadata(geo, d)) {
      const from = Math.floor((start - geo.firstDataBlock) / geo.blocksPerGroup);
      const to = Math.floor((start + count - 1 - geo.firstDataBlock) / geo.blocksPerGroup);
      for (let h = from; h <= to; h++) if (h !== g) groupFlags[h]! |= HOSTS_FOREIGN;
    }
  });
  if (descriptorFree !== geo.freeBlocks) {
    throw new Refusal(
      'free-count-mismatch',
      `the group descriptors count ${descriptorFree} free blocks, the superblock ${geo.freeBlocks}; run e2fsck first`,
    );
  }

  // Pass 2: group by group, bitmaps read in batches of consecutive blocks.
  const scanner = new GroupScanner(region, geo, runs, half);
  await forEachDescriptor(region, geo, half, (g, d) => scanner.push(g, d, groupFlags[g]!));
  await scanner.flush();
  runs.close();
  return { geometry: geo, filesystemFreeBytes: scanner.freeBlocks * geo.blockSize };
}

/** Takes groups in order; reads their bitmaps in batches; adds free runs in block order. */
class GroupScanner {
  freeBlocks = 0;
  private batch: { g: number; d: Descriptor }[] = [];

  constructor(
    private readonly region: RegionReader,
    private readonly geo: Ext4Geometry,
    private readonly runs: FreeRuns,
    private readonly batchBytes: number,
  ) {}

  async push(g: number, d: Descriptor, flags: number): Promise<void> {
    const last = this.batch[this.batch.length - 1];
    const uninit = (flags & UNINIT) !== 0;
    const contiguous =
      last !== undefined && last.d.blockBitmap + 1 === d.blockBitmap && (this.batch.length + 1) * this.geo.blockSize <= this.batchBytes;
    if (!uninit && contiguous) {
      this.batch.push({ g, d });
      return;
    }
    await this.flush();
    if (uninit) this.uninitialized(g, d, flags);
    else this.batch.push({ g, d });
  }

  /** Reads the pending bitmaps in one go and scans each. */
  async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const { geo } = this;
    const first = this.batch[0]!;
    const bytes = await this.region.at(
      first.d.blockBitmap * geo.blockSize,
      this.batch.length * geo.blockSize,
      `block bitmaps of groups ${first.g}..${first.g + this.batch.length - 1}`,
    );
    for (let i = 0; i < this.batch.length; i++) {
      const { g, d } = this.batch[i]!;
      this.scan(g, d, bytes.subarray(i * geo.blockSize, (i + 1) * geo.blockSize));
    }
    this.batch = [];
  }

  /** An initialized group: its bitmap, checked by checksum, count and the metadata it must mark used. */
  private scan(g: number, d: Descriptor, bitmap: Uint8Array): void {
    const { geo } = this;
    if (geo.checksum === 'metadata_csum') {
      const full = ext4Crc32c(geo.csumSeed, bitmap.subarray(0, geo.blocksPerGroup / 8));
      const actual = d.bitmapCsumBits === 32 ? full : full & 0xffff;
      if (actual !== d.bitmapCsum)
        throw new Refusal('bitmap-checksum', `group ${g}'s block bitmap checksum is ${hex(d.bitmapCsum)}, its bytes give ${hex(actual)}`);
    }
    const start = groupStart(geo, g);
    const count = groupBlocks(geo, g);
    const free = countFree(bitmap, count);
    if (free !== d.freeBlocks) {
      throw new Refusal(
        'free-count-mismatch',
        `group ${g}'s block bitmap shows ${free} free blocks, its descriptor ${d.freeBlocks}; run e2fsck first`,
      );
    }
    // What the group must hold as used whatever else it says: its backup superblock and table, its own metadata.
    const mustBeUsed: [number, number][] = [[start, baseMetadataBlocks(geo, g)], ...ownMetadata(geo, d)];
    for (const [at, n] of mustBeUsed) {
      for (let b = Math.max(at, start); b < Math.min(at + n, start + count); b++) {
        const i = b - start;
        if (!(bitmap[i >> 3]! & (1 << (i & 7)))) {
          throw new Refusal(
            'free-count-mismatch',
            `group ${g}'s block bitmap marks block ${b}, which holds filesystem metadata, free; run e2fsck first`,
          );
        }
      }
    }
    this.freeBlocks += free;
    this.addFreeRuns(start, bitmap, count);
  }

  /**
   * A group whose bitmap was never written (BLOCK_UNINIT): everything is
   * free but its backup superblock and table and its own metadata, which is
   * how the kernel builds such a bitmap. Conservative: a group that holds
   * other groups' metadata, the last group, or one whose computed count
   * differs from its descriptor's, counts as wholly used.
   */
  private uninitialized(g: number, d: Descriptor, flags: number): void {
    const { geo } = this;
    if (flags & HOSTS_FOREIGN || g === geo.groupCount - 1) return;
    const start = groupStart(geo, g);
    const count = groupBlocks(geo, g);
    const bitmap = new Uint8Array(Math.ceil(count / 8));
    const mark = (at: number, n: number): void => {
      for (let b = Math.max(at, start); b < Math.min(at + n, start + count); b++) bitmap[(b - start) >> 3]! |= 1 << ((b - start) & 7);
    };
    mark(start, baseMetadataBlocks(geo, g));
    for (const [at, n] of ownMetadata(geo, d)) mark(at, n);
    const free = countFree(bitmap, count);
    if (free !== d.freeBlocks) return;
    this.freeBlocks += free;
    this.addFreeRuns(start, bitmap, count);
  }

  /** Adds the runs of zero bits among the first `count` bits of `bitmap` (block `start` is bit 0). */
  private addFreeRuns(start: number, bitmap: Uint8Array, count: number): void {
    const { geo, runs, region } = this;
    const bs = geo.blockSize;
    const base = region.base;
    let runStart = -1;
    const words = Math.floor(count / 32);
    const dv = dataView(bitmap);
    const bit = (i: number): number => bitmap[i >> 3]! & (1 << (i & 7));
    const step = (i: number, used: boolean): void => {
      if (used) {
        if (runStart >= 0) runs.add(base + (start + runStart) * bs, base + (start + i) * bs);
        runStart = -1;
      } else if (runStart < 0) runStart = i;
    };
    for (let w = 0; w < words; w++) {
      const word = dv.getUint32(w * 4, true);
      if (word === 0) {
        if (runStart < 0) runStart = w * 32;
        continue;
      }
      if (word === 0xffffffff) {
        step(w * 32, true);
        continue;
      }
      for (let i = w * 32; i < w * 32 + 32; i++) step(i, bit(i) !== 0);
    }
    for (let i = words * 32; i < count; i++) step(i, bit(i) !== 0);
    if (runStart >= 0) runs.add(base + (start + runStart) * bs, base + (start + count) * bs);
  }
}

/** Zero bits among the first `count` bits of `bitmap`. */
function countFree(bitmap: Uint8Array, count: number): number {
  let used = 0;
  const whole = count >> 3;
  for (let i = 0; i < whole; i++) {
    let v = bitmap[i]!;
    v = v - ((v >> 1) & 0x55);
    v = (v & 0x33) + ((v >> 2) & 0x33);
    used += (v + (v >> 4)) & 0x0f;
  }
  for (let i = whole * 8; i < count; i++) if (bitmap[i >> 3]! & (1 << (i & 7))) used++;
  return count - used;
}
