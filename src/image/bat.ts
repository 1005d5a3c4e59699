// The BAT of an existing file: decoded by the WASM kernel into per-block
// states and offsets, then checked: every entry's state, and where present
// blocks sit (inside the file, clear of each other and of every region).
import { VhdxError } from '../errors.js';
import { MiB, hex } from '../format/bytes.js';
import {
  BLOCK_STATE_NAMES,
  BlockState,
  batEntryCount,
  batIndexOfBlock,
  chunkRatio,
  payloadBlockCount,
  readBatEntry,
} from '../format/bat.js';
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
  /** Differencing files only: per chunk, its sector bitmap block's file offset in MiB (0 when not present). */
  bitmapOffsetsMiB?: Uint32Array;
}

/**
 * Reads, decodes and checks the BAT. Every invalid entry is listed in
 * `problems`; the first one is thrown.
 * A differencing file's sector bitmap blocks are placed by the same rules,
 * and every chunk holding a PARTIALLY_PRESENT block must have one.
 * @throws VhdxError `CORRUPT` (`bat-region-too-small`, `bat-entry-state`,
 *   `bat-entry-overlap`, `bat-entry-in-region`, `bitmap-missing`); `TRUNCATED` (`bat-entry-past-eof`);
 *   `LIMIT_EXCEEDED` (`bat-over-limit`).
 */
export async function loadBat(
  r: ByteReader,
  bat: RegionInfo,
  meta: Metadata,
  regions: RegionInfo[],
  limits: ResolvedLimits,
  problems: Problem[],
): Promise<BlockMap> {
  const { blockSize, hasParent: differencing } = meta.fileParameters;
  const blockCount = payloadBlockCount(meta.virtualSize, blockSize);
  const ratio = chunkRatio(meta.logicalSectorSize, blockSize);
  const entries = batEntryCount(blockCount, ratio, differencing);
  if (entries * 8 > bat.length) {
    throw new VhdxError(
      'bat-region-too-small',
      `the BAT needs ${entries} entries (${entries * 8} bytes) but its region is ${bat.length} bytes`,
      {
        structure: 'bat',
        offset: bat.offset,
      },
    );
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
      bad.push(
        new VhdxError('bat-entry-state', `entry ${decoded.firstBadEntry} has state ${e.state} at ${e.offsetMiB} MiB`, {
          structure: 'bat',
          offset: at,
        }),
      );
    }
    throw reportAll(problems, bad);
  }
  const { states, offsetsMiB } = decoded;
  const order = fileOrder(states, offsetsMiB);
  const misplaced = checkPlacement(order, blockSize, meta.virtualSize, regions, r.size, bat.offset, ratio);
  if (misplaced.length) throw reportAll(problems, misplaced);
  const map: BlockMap = { blockCount, chunkRatio: ratio, states, offsetsMiB, order };
  if (differencing) {
    const bitmaps = bitmapEntries(batBytes, blockCount, ratio, bat.offset);
    if (bitmaps.bad.length) throw reportAll(problems, bitmaps.bad);
    const wrong = [
      ...missingBitmaps(states, bitmaps.offsetsMiB, ratio, bat.offset),
      ...checkBitmapPlacement(
        bitmaps.offsetsMiB,
        order,
        { blockSize, ratio, virtualSize: meta.virtualSize, sectorSize: meta.logicalSectorSize },
        regions,
        r.size,
        bat.offset,
      ),
    ];
    if (wrong.length) throw reportAll(problems, wrong);
    map.bitmapOffsetsMiB = bitmaps.offsetsMiB;
  }
  return map;
}

/** Index in the BAT of chunk `chunk`'s sector bitmap entry. */
function bitmapEntryIndex(chunk: number, ratio: number): number {
  return chunk * (ratio + 1) + ratio;
}

/** The sector bitmap entries of a differencing file (the kernel checked their states; offsets are checked here). */
function bitmapEntries(
  bat: Uint8Array,
  blockCount: number,
  ratio: number,
  batOffset: number,
): { offsetsMiB: Uint32Array; bad: VhdxError[] } {
  const chunks = Math.ceil(blockCount / ratio);
  const offsetsMiB = new Uint32Array(chunks);
  const bad: VhdxError[] = [];
  for (let c = 0; c < chunks; c++) {
    const i = bitmapEntryIndex(c, ratio);
    const { state, offsetMiB } = readBatEntry(bat, i);
    if (state !== 6) continue;
    if (offsetMiB === 0 || offsetMiB > 0xffffffff) {
      if (bad.length < 1000)
        bad.push(
          new VhdxError('bat-entry-state', `sector bitmap entry ${i} is present at ${offsetMiB} MiB`, {
            structure: 'bat',
            offset: batOffset + i * 8,
          }),
        );
      continue;
    }
    offsetsMiB[c] = offsetMiB;
  }
  return { offsetsMiB, bad };
}

/** Every chunk with a PARTIALLY_PRESENT block whose sector bitmap is not present (at most 1000). */
function missingBitmaps(states: Uint8Array, bitmapOffsetsMiB: Uint32Array, ratio: number, batOffset: number): VhdxError[] {
  const out: VhdxError[] = [];
  for (let c = 0; c < bitmapOffsetsMiB.length && out.length < 1000; c++) {
    if (bitmapOffsetsMiB[c] !== 0) continue;
    const end = Math.min(states.length, (c + 1) * ratio);
    for (let b = c * ratio; b < end; b++) {
      if (states[b] !== BlockState.PARTIALLY_PRESENT) continue;
      const i = bitmapEntryIndex(c, ratio);
      out.push(
        new VhdxError(
          'bitmap-missing',
          `block ${b} is PARTIALLY_PRESENT but the sector bitmap of its chunk ${c} (entry ${i}) is not present`,
          { structure: 'bat', offset: batOffset + i * 8 },
        ),
      );
      break;
    }
  }
  return out;
}

/** The geometry a sector bitmap's placement is checked with. */
interface BitmapGeometry {
  blockSize: number;
  ratio: number;
  virtualSize: number;
  sectorSize: number;
}

/** Bytes of chunk `c`'s sector bitmap that describe sectors of the disk (the last chunk may need fewer than 1 MiB). */
export function bitmapBytesUsed(c: number, g: BitmapGeometry): number {
  const chunkBytes = g.ratio * g.blockSize;
  const sectors = (Math.min(g.virtualSize, (c + 1) * chunkBytes) - c * chunkBytes) / g.sectorSize;
  return Math.ceil(sectors / 8);
}

/**
 * Present sector bitmap blocks (1 MiB each) may not overlap each other, a
 * payload block or a region, and must lie in the file, up to the last byte
 * that describes a sector of the disk, when its size is known.
 */
function checkBitmapPlacement(
  bitmapOffsetsMiB: Uint32Array,
  order: BlockMap['order'],
  geometry: BitmapGeometry,
  regions: RegionInfo[],
  fileSize: number | undefined,
  batOffset: number,
): VhdxError[] {
  const { blockSize, ratio } = geometry;
  const out: VhdxError[] = [];
  const blockMiB = blockSize / MiB;
  const present: number[] = [];
  for (let c = 0; c < bitmapOffsetsMiB.length; c++) if (bitmapOffsetsMiB[c] !== 0) present.push(c);
  present.sort((a, b) => bitmapOffsetsMiB[a]! - bitmapOffsetsMiB[b]!);
  present.forEach((c, k) => {
    if (out.length >= 1000) return;
    const startMiB = bitmapOffsetsMiB[c]!;
    const start = startMiB * MiB;
    const where = { structure: 'bat' as const, offset: batOffset + bitmapEntryIndex(c, ratio) * 8 };
    const next = present[k + 1];
    if (next !== undefined && bitmapOffsetsMiB[next]! < startMiB + 1) {
      out.push(
        new VhdxError('bat-entry-overlap', `the sector bitmap of chunk ${c} at ${hex(start)} overlaps that of chunk ${next}`, where),
      );
    }
    // the first payload block ending after the bitmap's start
    let lo = 0;
    let hi = order.offsetsMiB.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order.offsetsMiB[mid]! + blockMiB <= startMiB) lo = mid + 1;
      else hi = mid;
    }
    if (lo < order.offsetsMiB.length && order.offsetsMiB[lo]! < startMiB + 1) {
      out.push(
        new VhdxError('bat-entry-overlap', `the sector bitmap of chunk ${c} at ${hex(start)} overlaps block ${order.blocks[lo]}`, where),
      );
    }
    const reg = regions.find((g) => g.offset < start + MiB && start < g.offset + g.length);
    if (reg)
      out.push(
        new VhdxError('bat-entry-in-region', `the sector bitmap of chunk ${c} at ${hex(start)} overlaps the ${reg.name} region`, where),
      );
    if (fileSize !== undefined && start + bitmapBytesUsed(c, geometry) > fileSize) {
      out.push(
        new VhdxError(
          'bat-entry-past-eof',
          `the sector bitmap of chunk ${c} at ${hex(start)} runs past the end of the ${fileSize}-byte file`,
          where,
        ),
      );
    }
  });
  return out;
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
        new VhdxError(
          'bat-entry-state',
          `${bitmap ? 'sector bitmap' : 'payload'} entry ${i} has state ${state} (${BLOCK_STATE_NAMES[state] ?? 'invalid'}) at ${offsetMiB} MiB`,
          {
            structure: 'bat',
            offset: batOffset + i * 8,
          },
        ),
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
      out.push(
        new VhdxError(
          'bat-entry-overlap',
          `block ${block} at ${hex(start)} overlaps block ${order.blocks[i + 1]} at ${hex(order.offsetsMiB[i + 1]! * MiB)}`,
          where,
        ),
      );
    }
    while (ri < sorted.length && sorted[ri]!.offset + sorted[ri]!.length <= start) ri++;
    const reg = sorted[ri];
    if (reg && reg.offset < start + blockSize) {
      out.push(
        new VhdxError(
          'bat-entry-in-region',
          `block ${block} at ${hex(start)} overlaps the ${reg.name} region at ${hex(reg.offset)}`,
          where,
        ),
      );
    }
    if (fileSize !== undefined) {
      const needed = Math.min(blockSize, virtualSize - block * blockSize);
      if (start + needed > fileSize) {
        out.push(
          new VhdxError(
            'bat-entry-past-eof',
            `block ${block} at ${hex(start)} needs ${needed} bytes but the file ends at ${fileSize}`,
            where,
          ),
        );
      }
    }
  }
  return out;
}
