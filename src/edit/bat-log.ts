// BAT entries changed through the log by index: payload and sector bitmap
// entries alike (in-place operations move both). Whole 4 KiB BAT sectors are
// read from the file, which holds every applied change, changed, and
// journaled at most MAX_ENTRY_SECTORS to an entry (journal.ts).
import { writeBatEntry } from '../format/bat.js';
import type { LogWrite } from '../format/log.js';
import type { RegionInfo } from '../image/types.js';
import { LOG_SECTOR, type Journal } from './journal.js';
import { commitAll } from './sectors.js';

/** One BAT entry's new value. */
export interface BatEntryChange {
  /** Index in the BAT (payload and sector bitmap entries interleaved). */
  index: number;
  state: number;
  offsetMiB: number;
}

/** The 4 KiB BAT sectors `changes` touch, changed, in file order. */
export async function batSectorWrites(journal: Journal, bat: RegionInfo, changes: BatEntryChange[]): Promise<LogWrite[]> {
  const sectors = new Map<number, Uint8Array>();
  for (const c of changes) {
    const byte = bat.offset + c.index * 8;
    const at = byte - (byte % LOG_SECTOR);
    let sector = sectors.get(at);
    if (!sector) {
      sector = (await journal.read(at, LOG_SECTOR)).slice();
      sectors.set(at, sector);
    }
    writeBatEntry(sector, (byte - at) / 8, { state: c.state, offsetMiB: c.offsetMiB });
  }
  return [...sectors].sort((a, b) => a[0] - b[0]).map(([fileOffset, data]) => ({ fileOffset, data }));
}

/** Journals `changes` (entry written and flushed, applied, flushed; see journal.ts). */
export async function commitBatEntries(journal: Journal, bat: RegionInfo, changes: BatEntryChange[]): Promise<void> {
  await commitAll(journal, await batSectorWrites(journal, bat, changes));
}
