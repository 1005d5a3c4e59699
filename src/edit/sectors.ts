// Bytes changed in place through the log: the 4 KiB sectors a change touches,
// read from the file (which holds every applied change), patched, and
// journaled (groups of patches that must apply together kept in one entry);
// where a metadata item sits, for the changes to it; and a write's whole
// logical sectors, its partial edges read first.
import { METADATA_TABLE_SIZE, parseMetadataTable, type MetadataEntry } from '../format/metadata.js';
import type { LogWrite } from '../format/log.js';
import { sameBytes } from '../image/header-section.js';
import type { RegionInfo } from '../image/types.js';
import { LOG_SECTOR, MAX_ENTRY_SECTORS, type Journal } from './journal.js';

/** The whole sectors that `[fileOffset, fileOffset + bytes.length)` falls in, with `bytes` over them. */
export async function patchedSectors(journal: Journal, fileOffset: number, bytes: Uint8Array): Promise<LogWrite[]> {
  const start = fileOffset - (fileOffset % LOG_SECTOR);
  const end = Math.ceil((fileOffset + bytes.length) / LOG_SECTOR) * LOG_SECTOR;
  const buf = (await journal.read(start, end - start)).slice();
  buf.set(bytes, fileOffset - start);
  const out: LogWrite[] = [];
  for (let at = start; at < end; at += LOG_SECTOR) out.push({ fileOffset: at, data: buf.subarray(at - start, at - start + LOG_SECTOR) });
  return out;
}

/** Journals `writes` in entries of at most MAX_ENTRY_SECTORS sectors, in order. */
export async function commitAll(journal: Journal, writes: LogWrite[]): Promise<void> {
  for (let i = 0; i < writes.length; i += MAX_ENTRY_SECTORS) await journal.commit(writes.slice(i, i + MAX_ENTRY_SECTORS));
}

/** The metadata table's entry for item `itemId` (a system item), if the file has one. */
export async function metadataEntry(journal: Journal, region: RegionInfo, itemId: string): Promise<MetadataEntry | undefined> {
  const table = await journal.read(region.offset, METADATA_TABLE_SIZE);
  return parseMetadataTable(table, region.offset, region.length).find((e) => e.itemId === itemId && !e.isUser);
}

/** Bytes to put at a file offset through the log (a BAT entry, a block's sector bitmap bits). */
export interface Patch {
  fileOffset: number;
  bytes: Uint8Array;
}

/**
 * Journals `groups` of patches, each group wholly in one entry (a group is one
 * change whose parts must apply together, e.g. a block's BAT entry and its
 * bitmap bits), groups packed in order into entries of at most
 * MAX_ENTRY_SECTORS sectors (a larger group gets an entry of its own). The
 * sectors are read from the file (which holds every applied entry), patched,
 * and left out where the patches change nothing; an entry with nothing left
 * is not written.
 */
export async function commitPatches(journal: Journal, groups: Patch[][]): Promise<void> {
  const sectorsOf = (g: Patch[]) => {
    const out = new Set<number>();
    for (const p of g) {
      for (let at = p.fileOffset - (p.fileOffset % LOG_SECTOR); at < p.fileOffset + p.bytes.length; at += LOG_SECTOR) out.add(at);
    }
    return out;
  };
  let entry: Patch[] = [];
  let sectors = new Set<number>();
  for (const g of groups) {
    const mine = sectorsOf(g);
    const union = new Set([...sectors, ...mine]);
    if (entry.length && union.size > MAX_ENTRY_SECTORS) {
      await commitPatchedSectors(journal, entry, sectors);
      entry = [];
      sectors = mine;
    } else sectors = union;
    entry.push(...g);
  }
  if (entry.length) await commitPatchedSectors(journal, entry, sectors);
}

async function commitPatchedSectors(journal: Journal, patches: Patch[], sectors: Set<number>): Promise<void> {
  const before = new Map<number, Uint8Array>();
  const after = new Map<number, Uint8Array>();
  for (const at of sectors) {
    const s = await journal.read(at, LOG_SECTOR);
    before.set(at, s);
    after.set(at, s.slice());
  }
  for (const p of patches) {
    for (let at = p.fileOffset - (p.fileOffset % LOG_SECTOR); at < p.fileOffset + p.bytes.length; at += LOG_SECTOR) {
      const from = Math.max(at, p.fileOffset);
      const to = Math.min(at + LOG_SECTOR, p.fileOffset + p.bytes.length);
      after.get(at)!.set(p.bytes.subarray(from - p.fileOffset, to - p.fileOffset), from - at);
    }
  }
  const writes: LogWrite[] = [...after]
    .filter(([at, data]) => !sameBytes(data, before.get(at)!))
    .sort((a, b) => a[0] - b[0])
    .map(([fileOffset, data]) => ({ fileOffset, data }));
  await journal.commit(writes);
}

/**
 * The whole logical sectors `[first * ss, end * ss)` of a block with `data`
 * over them at `at` (bytes into the block); the edge sectors `data` covers
 * in part are read first with `readSector(byte offset in the block)`.
 */
export async function wholeSectors(
  at: number,
  data: Uint8Array,
  ss: number,
  readSector: (offset: number) => Promise<Uint8Array>,
): Promise<{ start: number; bytes: Uint8Array }> {
  const start = Math.floor(at / ss) * ss;
  const end = Math.ceil((at + data.length) / ss) * ss;
  if (start === at && end === at + data.length) return { start, bytes: data };
  const buf = new Uint8Array(end - start);
  const headPartial = start < at;
  if (headPartial) buf.set(await readSector(start), 0);
  // the last sector, unless it is the first one and was just read
  if (end > at + data.length && (end - ss > start || !headPartial)) buf.set(await readSector(end - ss), end - ss - start);
  buf.set(data, at - start);
  return { start, bytes: buf };
}
