// A minimal, independent look at a VHDX's BAT for assertions: which blocks
// are stored where. Uses only the codec, not the image reader under test.
import { GUIDS } from '../../src/format/guid.js';
import { parseRegionTable, REGION_TABLE_OFFSETS } from '../../src/format/region-table.js';
import { blockOfBatIndex, chunkRatio, readBatEntry } from '../../src/format/bat.js';

export function storedBlocks(file: Uint8Array, blockSize: number, logicalSectorSize: number, blockCount: number) {
  const table = parseRegionTable(file.subarray(REGION_TABLE_OFFSETS[0], REGION_TABLE_OFFSETS[0] + 65536), REGION_TABLE_OFFSETS[0]);
  const batEntry = table.entries.find((e) => e.guid === GUIDS.batRegion)!;
  const bat = file.subarray(batEntry.fileOffset, batEntry.fileOffset + batEntry.length);
  const ratio = chunkRatio(logicalSectorSize, blockSize);
  const stored = new Map<number, number>();
  for (let i = 0; i * 8 < bat.length; i++) {
    const block = blockOfBatIndex(i, ratio);
    if (block < 0 || block >= blockCount) continue;
    const e = readBatEntry(bat, i);
    if (e.state === 6) stored.set(block, e.offsetMiB * 1024 * 1024);
  }
  return stored;
}
