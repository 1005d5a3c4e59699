// Where the filesystems of a disk are: a GPT (header at LBA 1, 512- or
// 4096-byte sectors, header and entry array checked by their CRC-32), an MBR
// (four primary entries and the chain of logical partitions in an extended
// one), or neither (the whole disk is one region). Only the primary GPT is
// read. Any doubt about the table refuses the whole disk: a wrong table could
// put a partition's free space over another partition's data.
import { dataView, readAscii, readU64, readUtf16 } from '../format/bytes.js';
import { readGuid } from '../format/guid.js';
import { crc32 } from './checksums.js';
import { Refusal, type ReadFunction, readDisk } from './read.js';
import type { DiskRange, PartitionTable } from './types.js';

/** A region of the disk that may hold a filesystem. */
export interface Region {
  index: number;
  offset: number;
  length: number;
  type?: string;
  name?: string;
}

/** The disk's division: its regions, and the stretches the table itself occupies (never free). */
export interface Layout {
  table: PartitionTable;
  sectorSize: number;
  regions: Region[];
  /** Where the table's own structures lie (MBR, EBRs, GPT header and array, space outside the usable LBAs). */
  reserved: DiskRange[];
}

const GPT_TYPES: Record<string, string> = {
  '0fc63daf-8483-4772-8e79-3d69d8477de4': 'Linux filesystem',
  'c12a7328-f81f-11d2-ba4b-00a0c93ec93b': 'EFI system',
  'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7': 'Microsoft basic data',
  'e3c9e316-0b5c-4db8-817d-f92df00215ae': 'Microsoft reserved',
  '0657fd6d-a4ab-4313-8e05-25b5c8ee4b14': 'Linux swap',
  'e6d6d379-f507-44c2-a23c-238f2a3df928': 'Linux LVM',
  '21686148-6449-6e6f-744e-656564454649': 'BIOS boot',
  '4f68bce3-e8cd-4db1-96e7-fbcaf984b709': 'Linux root (x86-64)',
};

const MBR_TYPES: Record<number, string> = {
  7: 'NTFS/exFAT',
  11: 'FAT32',
  12: 'FAT32 (LBA)',
  130: 'Linux swap',
  131: 'Linux',
  142: 'Linux LVM',
  239: 'EFI system',
};

const EXTENDED = new Set([0x05, 0x0f, 0x85]);
const PROTECTIVE = 0xee;
/** Most logical partitions followed down an EBR chain. */
const MAX_LOGICAL = 128;
/** Most bytes of GPT entry array read (the usual array is 16 KiB), whatever the memory allowed. */
const MAX_GPT_ARRAY = 1024 * 1024;

interface MbrEntry {
  slot: number;
  status: number;
  type: number;
  start: number;
  count: number;
}

function mbrEntries(sector: Uint8Array): MbrEntry[] {
  const dv = dataView(sector);
  const out: MbrEntry[] = [];
  for (let slot = 0; slot < 4; slot++) {
    const at = 446 + slot * 16;
    out.push({ slot, status: sector[at]!, type: sector[at + 4]!, start: dv.getUint32(at + 8, true), count: dv.getUint32(at + 12, true) });
  }
  return out;
}

function hasBootSignature(sector: Uint8Array): boolean {
  return sector[510] === 0x55 && sector[511] === 0xaa;
}

/** True when sector 0 reads as an MBR partition table: the signature, sane status bytes, at least one used entry. */
function looksLikeMbr(sector: Uint8Array): boolean {
  if (!hasBootSignature(sector)) return false;
  const entries = mbrEntries(sector);
  if (entries.some((e) => e.status !== 0 && e.status !== 0x80)) return false;
  return entries.some((e) => e.type !== 0 && e.count !== 0);
}

/**
 * Finds the partition table of a disk. `fsAtZero` says whether a filesystem
 * superblock sits at the start of the disk (then a table as well is ambiguous).
 */
export async function readLayout(
  read: ReadFunction,
  diskSize: number,
  mbrSectorSize: number,
  fsAtZero: boolean,
  bufferBytes: number,
): Promise<Layout> {
  const sector0 = await readDisk(read, 0, Math.min(512, diskSize));
  const mbr = sector0.length === 512 && looksLikeMbr(sector0);
  const protective = mbr && mbrEntries(sector0).some((e) => e.type === PROTECTIVE);
  const gptAt = await findGptHeader(read, diskSize);
  const table: PartitionTable = protective || gptAt !== undefined ? 'gpt' : mbr ? 'mbr' : 'none';
  try {
    if (table === 'gpt') {
      if (gptAt === undefined) throw new Refusal('table-damaged', 'the MBR says GPT (type 0xee) but no GPT header was found at LBA 1');
      if (mbr && !protective)
        throw new Refusal('table-ambiguous', 'the disk holds both an MBR without a protective entry and a GPT header');
      if (fsAtZero) throw new Refusal('table-ambiguous', 'the disk holds both a GPT and a filesystem superblock at its start');
      return await readGpt(read, diskSize, gptAt, Math.min(MAX_GPT_ARRAY, bufferBytes));
    }
    if (table === 'mbr') {
      if (fsAtZero)
        throw new Refusal('table-ambiguous', 'the disk holds both an MBR partition table and a filesystem superblock at its start');
      return await readMbr(read, diskSize, mbrSectorSize, sector0);
    }
  } catch (err) {
    // say which kind of table was refused
    throw err instanceof Refusal ? new Refusal(err.reason, err.message, table) : err;
  }
  return { table, sectorSize: mbrSectorSize, regions: [{ index: 0, offset: 0, length: diskSize }], reserved: [] };
}

async function findGptHeader(read: ReadFunction, diskSize: number): Promise<number | undefined> {
  for (const sectorSize of [512, 4096]) {
    if (2 * sectorSize > diskSize) continue;
    const sig = await readDisk(read, sectorSize, 8);
    if (readAscii(sig, 0, 8) === 'EFI PART') return sectorSize;
  }
  return undefined;
}

function checkedLba(value: number, what: string, diskSectors: number): number {
  if (!Number.isSafeInteger(value) || value >= diskSectors)
    throw new Refusal('table-damaged', `GPT ${what} ${value} lies past the disk's ${diskSectors} sectors`);
  return value;
}

async function readGpt(read: ReadFunction, diskSize: number, ss: number, maxArray: number): Promise<Layout> {
  const diskSectors = Math.floor(diskSize / ss);
  const header = await readDisk(read, ss, ss);
  const dv = dataView(header);
  const headerSize = dv.getUint32(12, true);
  if (headerSize < 92 || headerSize > ss) throw new Refusal('table-damaged', `GPT header size ${headerSize} is outside 92..${ss}`);
  const copy = header.slice(0, headerSize);
  copy.fill(0, 16, 20);
  const stored = dv.getUint32(16, true);
  const actual = crc32(copy);
  if (stored !== actual) {
    throw new Refusal('table-damaged', `GPT header CRC-32 is 0x${stored.toString(16)}, the header's bytes give 0x${actual.toString(16)}`);
  }
  if (readU64(dv, 24) !== 1) throw new Refusal('table-damaged', `GPT header says it lies at LBA ${readU64(dv, 24)}, not 1`);
  const firstUsable = checkedLba(readU64(dv, 40), 'first usable LBA', diskSectors);
  const lastUsable = checkedLba(readU64(dv, 48), 'last usable LBA', diskSectors);
  const arrayLba = checkedLba(readU64(dv, 72), 'entry array LBA', diskSectors);
  const count = dv.getUint32(80, true);
  const entrySize = dv.getUint32(84, true);
  if (entrySize < 128 || entrySize % 8 !== 0 || entrySize > 4096)
    throw new Refusal('table-damaged', `GPT entry size ${entrySize} is not a multiple of 8 in 128..4096`);
  const arrayBytes = count * entrySize;
  if (arrayBytes > maxArray)
    throw new Refusal('over-limit', `GPT entry array of ${arrayBytes} bytes is larger than the ${maxArray} allowed`);
  const arrayEnd = arrayLba * ss + arrayBytes;
  if (firstUsable > lastUsable + 1 || arrayLba < 2 || arrayEnd > diskSize) {
    throw new Refusal(
      'table-damaged',
      `GPT usable LBAs ${firstUsable}..${lastUsable} or entry array at LBA ${arrayLba} impossible on a disk of ${diskSectors} sectors`,
    );
  }
  const usableStart = firstUsable * ss;
  const usableEnd = (lastUsable + 1) * ss;
  if (arrayLba * ss < usableEnd && arrayEnd > usableStart)
    throw new Refusal('table-damaged', 'GPT entry array lies inside the usable LBAs');
  const array = await readDisk(read, arrayLba * ss, arrayBytes);
  const arrayCrc = crc32(array);
  if (arrayCrc !== dv.getUint32(88, true)) {
    throw new Refusal(
      'table-damaged',
      `GPT entry array CRC-32 is 0x${dv.getUint32(88, true).toString(16)}, its bytes give 0x${arrayCrc.toString(16)}`,
    );
  }
  const regions: Region[] = [];
  const av = dataView(array);
  for (let i = 0; i < count; i++) {
    const at = i * entrySize;
    if (array.subarray(at, at + 16).every((b) => b === 0)) continue; // an unused entry
    const first = readU64(av, at + 32);
    const last = readU64(av, at + 40);
    if (!Number.isSafeInteger(last) || first > last || last >= diskSectors) {
      throw new Refusal('table-damaged', `GPT entry ${i + 1} spans LBAs ${first}..${last}, impossible on a disk of ${diskSectors} sectors`);
    }
    const type = readGuid(array, at);
    const name = readUtf16(array, at + 56, Math.min(72, entrySize - 56)) || GPT_TYPES[type];
    regions.push({ index: i + 1, offset: first * ss, length: (last - first + 1) * ss, type, ...(name ? { name } : {}) });
  }
  const reserved: DiskRange[] = [{ offset: 0, length: usableStart }];
  if (usableEnd < diskSize) reserved.push({ offset: usableEnd, length: diskSize - usableEnd });
  return { table: 'gpt', sectorSize: ss, regions, reserved };
}

function mbrRegion(index: number, e: MbrEntry, startLba: number, ss: number): Region {
  const name = MBR_TYPES[e.type];
  return { index, offset: startLba * ss, length: e.count * ss, type: e.type.toString(16).padStart(2, '0'), ...(name ? { name } : {}) };
}

async function readMbr(read: ReadFunction, diskSize: number, ss: number, sector0: Uint8Array): Promise<Layout> {
  const diskSectors = Math.floor(diskSize / ss);
  const regions: Region[] = [];
  const reserved: DiskRange[] = [{ offset: 0, length: ss }];
  const inside = (start: number, count: number, lo: number, hi: number): boolean => start >= lo && count >= 1 && start + count <= hi;
  let extended: MbrEntry | undefined;
  for (const e of mbrEntries(sector0)) {
    if (e.type === 0 || e.count === 0) continue;
    if (!inside(e.start, e.count, 1, diskSectors)) {
      throw new Refusal(
        'table-damaged',
        `MBR entry ${e.slot + 1} spans sectors ${e.start}..${e.start + e.count - 1}, past the disk's ${diskSectors}`,
      );
    }
    if (EXTENDED.has(e.type)) {
      if (extended) throw new Refusal('table-damaged', 'the MBR lists two extended partitions');
      extended = e;
    } else regions.push(mbrRegion(e.slot + 1, e, e.start, ss));
  }
  if (extended) {
    const extStart = extended.start;
    const extEnd = extended.start + extended.count;
    const seen = new Set<number>();
    let next = 0; // the next EBR, relative to the extended partition's start
    for (let n = 0; ; n++) {
      if (n >= MAX_LOGICAL) throw new Refusal('table-damaged', `the chain of logical partitions runs past ${MAX_LOGICAL} entries`);
      const ebrLba = extStart + next;
      if (seen.has(ebrLba) || ebrLba >= extEnd)
        throw new Refusal('table-damaged', `an EBR link points at sector ${ebrLba}, seen before or outside the extended partition`);
      seen.add(ebrLba);
      const ebr = await readDisk(read, ebrLba * ss, 512);
      if (!hasBootSignature(ebr)) throw new Refusal('table-damaged', `the EBR at sector ${ebrLba} lacks its 0x55aa signature`);
      reserved.push({ offset: ebrLba * ss, length: ss });
      const [logical, link] = mbrEntries(ebr) as [MbrEntry, MbrEntry];
      if (logical.type !== 0 && logical.count !== 0) {
        const start = ebrLba + logical.start;
        if (!inside(start, logical.count, ebrLba + 1, extEnd)) {
          throw new Refusal(
            'table-damaged',
            `logical partition ${5 + n} spans sectors ${start}..${start + logical.count - 1}, outside its extended partition`,
          );
        }
        regions.push(mbrRegion(5 + n, logical, start, ss));
      }
      if (link.type === 0 || link.count === 0) break;
      if (!EXTENDED.has(link.type))
        throw new Refusal('table-damaged', `the EBR at sector ${ebrLba} links with type 0x${link.type.toString(16)}`);
      next = link.start;
    }
  }
  return { table: 'mbr', sectorSize: ss, regions, reserved };
}
