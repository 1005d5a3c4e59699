// The BAT of an existing file: decoded by the WASM kernel into per-block
// states and offsets, then checked: every entry's state, and where present
// blocks sit (inside the file, clear of each other and of every region).
import { VhdxError } from '../errors.js';
import { MiB, hex } from '../format/bytes.js';
import { BLOCK_STATE_NAMES, batEntryCount, batIndexOfBlock, chunkRatio, payloadBlockCount, readBatEntry } from '../format/bat.js';
import { decodeBat, fileOrder } from '../wasm/kernels.js';
import { checkLimit, type ResolvedLimits } from './limits.js';
import type { Metadata } from './metadata.js';
import { readExact, type ByteReader } from './reader.js';
import { reportAll, type Problem, type RegionInfo } from './types.js';

/** Where every payload block of the disk is. */
export interface BlockMap {
  blockCount: number;
  chunkRatio: number;
  /** Per-block payload state (BlockState values). */
  states: Uint8Array;
  /** Per-block file offset in MiB (0 when not stored). */
  offsetsMiB: Uint32Array;
  /** Present blocks in file order. */
  order: { blocks: Uint32Array; offsetsMiB: Uint32Array };
}

/**
 * Reads, decodes and checks the BAT. Every invalid entry is listed in
 * `problems`; the first one is thrown.
 * @throws VhdxError `CORRUPT` (`bat-region-too-small`, `bat-entry-state`,
 *   `bat-entry-overlap`, `bat-entry-in-region`); `TRUNCATED` (`bat-entry-past-eof`);
 *   `LIMIT_EXCEEDED` (`bat-over-limit`).
 */
export async function loadBat(r: ByteReader, bat: RegionInfo, meta: Metadata, regions: RegionInfo[], limits: ResolvedLimits, problems: Problem[]): Promise<BlockMap> {
  const { blockSize, hasParent: differencing } = meta.fileParameters;
  const blockCount = payloadBlockCount(meta.virtualSize, blockSize);
  const ratio = chunkRatio(meta.logicalSectorSize, blockSize);
  const entries = batEntryCount(blockCount, ratio, differencing);
  if (entries * 8 > bat.length) {
    throw new VhdxError('bat-region-too-small', `the BAT needs ${entries} entries (${entries * 8} bytes) but its region is ${bat.length} bytes`, {
      structure: 'bat',
      offset: bat.offset,
    });
  }
  checkLimit('bat-over-limit', entries * 8, limits, bat.offset);
  const batBytes = await readExact(r, bat.offset, entries * 8, 'bat');
  const decoded = decodeBat(batBytes, blockCount, ratio, differencing);
  if (decoded.firstBadEntry >= 0) {
    const bad = badEntries(batBytes, ratio, differencing, bat.offset, decoded.firstBadEntry);
    if (bad.length === 0) {
      // the kernel and the slow path disagree: still fail on what the kernel found
      const e = readBatEntry(batBytes, decoded.firstBadEntry);
      const at = bat.offset + decoded.firstBadEntry * 8;
      bad.push(new VhdxError('bat-entry-state', `entry ${decoded.firstBadEntry} has state ${e.state} at ${e.offsetMiB} MiB`, { structure: 'bat', offset: at }));
    }
    throw reportAll(problems, bad);
  }
  const { states, offsetsMiB } = decoded;
  const order = fileOrder(states, offsetsMiB);
  const misplaced = checkPlacement(order, blockSize, meta.virtualSize, regions, r.size, bat.offset, ratio);
  if (misplaced.length) throw reportAll(problems, misplaced);
  return { blockCount, chunkRatio: ratio, states, offsetsMiB, order };
}

/** Every invalid BAT entry from `first` on, at most 1000 (the slow path, for reports). */
function badEntries(bat: Uint8Array, ratio: number, differencing: boolean, batOffset: number, first: number): VhdxError[] {
  const out: VhdxError[] = [];
  for (let i = first; i * 8 < bat.length && out.length < 1000; i++) {
    const { state, offsetMiB } = readBatEntry(bat, i);
    const bitmap = i % (ratio + 1) === ratio;
    const ok = bitmap ? state === 0 || state === 6 : state <= 3 || state === 6 || (state === 7 && differencing);
    const offsetOk = state < 6 || (offsetMiB > 0 && offsetMiB <= 0xffffffff);
    if (!ok || !offsetOk) {
      out.push(
        new VhdxError('bat-entry-state', `${bitmap ? 'sector bitmap' : 'payload'} entry ${i} has state ${state} (${BLOCK_STATE_NAMES[state] ?? 'invalid'}) at ${offsetMiB} MiB`, {
          structure: 'bat',
          offset: batOffset + i * 8,
        }),
      );
    }
  }
  return out;
}

/**
 * Present blocks may not overlap each other or any region, and (when the
 * file size is known) must lie in the file up to the end of the disk.
 * Returns every block that breaks a rule (at most 1000), in file order.
 */
function checkPlacement(
  order: BlockMap['order'],
  blockSize: number,
  virtualSize: number,
  regions: RegionInfo[],
  fileSize: number | undefined,
  batOffset: number,
  ratio: number,
): VhdxError[] {
  const out: VhdxError[] = [];
  const blockMiB = blockSize / MiB;
  const sorted = [...regions].sort((a, b) => a.offset - b.offset);
  let ri = 0;
  for (let i = 0; i < order.blocks.length && out.length < 1000; i++) {
    const block = order.blocks[i]!;
    const start = order.offsetsMiB[i]! * MiB;
    const where = { structure: 'bat' as const, offset: batOffset + batIndexOfBlock(block, ratio) * 8 };
    if (i + 1 < order.blocks.length && order.offsetsMiB[i]! + blockMiB > order.offsetsMiB[i + 1]!) {
      out.push(new VhdxError('bat-entry-overlap', `block ${block} at ${hex(start)} overlaps block ${order.blocks[i + 1]} at ${hex(order.offsetsMiB[i + 1]! * MiB)}`, where));
    }
    while (ri < sorted.length && sorted[ri]!.offset + sorted[ri]!.length <= start) ri++;
    const reg = sorted[ri];
    if (reg && reg.offset < start + blockSize) {
      out.push(new VhdxError('bat-entry-in-region', `block ${block} at ${hex(start)} overlaps the ${reg.name} region at ${hex(reg.offset)}`, where));
    }
    if (fileSize !== undefined) {
      const needed = Math.min(blockSize, virtualSize - block * blockSize);
      if (start + needed > fileSize) {
        out.push(new VhdxError('bat-entry-past-eof', `block ${block} at ${hex(start)} needs ${needed} bytes but the file ends at ${fileSize}`, where));
      }
    }
  }
  return out;
}
