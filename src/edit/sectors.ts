// Bytes changed in place through the log: the 4 KiB sectors a change touches,
// read from the file (which holds every applied change), patched, and
// journaled; and where a metadata item sits, for the changes to it.
import { METADATA_TABLE_SIZE, parseMetadataTable, type MetadataEntry } from '../format/metadata.js';
import type { LogWrite } from '../format/log.js';
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
