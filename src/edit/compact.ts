// Compacting a dynamic or differencing file in place (vhdx compact):
//   1. blocks that hold no data lose their file space: payload that reads all
//      zero (in a child: the block as the chain reads it) becomes ZERO, and
//      entries of blocks that read without payload (ZERO, UNMAPPED, UNDEFINED,
//      NOT_PRESENT) but still name an offset keep their state and lose it; a
//      child's sector bitmap with no PARTIALLY_PRESENT block left is dropped;
//   2. blocks (and bitmaps) past the packed size move into the holes, highest
//      first into the lowest hole that fits: copied, flushed, the BAT change
//      logged and applied (a hole is never a block's old place, so nothing a
//      BAT entry names is overwritten);
//   3. the file is cut after the last structure (journal.ts logs the target
//      size first, as MS-VHDX 2.3.1.1 asks before a file shrinks).
// The disk reads the same throughout; DataWriteGuid is kept (children stay
// linked), FileWriteGuid changes. The file never grows: no extra space but the log.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { BlockState, batIndexOfBlock, readBatEntry } from '../format/bat.js';
import { randomGuid } from '../format/guid.js';
import { HEADER_SECTION_SIZE, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE, parseRegionTable } from '../format/region-table.js';
import type { OpenVhdxOptions, VhdxImage, VirtualRange } from '../image/image.js';
import type { ImageModel } from '../image/load.js';
import type { ByteReader } from '../image/reader.js';
import { findUnusedRanges } from '../guest/index.js';
import type { GuestOptions, GuestReport } from '../guest/types.js';
import { isAllZero } from '../wasm/kernels.js';
import type { InPlaceAccess } from './access.js';
import type { Journal } from './journal.js';
import { commitBatEntries, type BatEntryChange } from './bat-log.js';
import type { EditSession } from './open.js';

/** Options of `compactVhdx`. */
export interface CompactOptions extends OpenVhdxOptions {
  /** Work out what would be reclaimed and write nothing. Default false. */
  dryRun?: boolean;
  /**
   * Ranges of the virtual disk the caller knows hold no data (a filesystem's
   * free space): every whole block inside them is discarded (reads as zeros
   * afterwards) and loses its space. Parts of blocks are left as they are.
   */
  discardRanges?: VirtualRange[];
  /**
   * Read the filesystems inside the disk (partitions through GPT or MBR, or a
   * whole-disk filesystem; ext4 today, see docs/fs-trim.md) and discard every
   * whole block none of them uses, as Hyper-V's Optimize-VHD does with NTFS. A
   * filesystem that is not clean, or that the reader does not fully trust, is
   * refused and left as it is; `fsTrim` in the result says what was found per
   * partition. `true`, or the reader's options. Default false.
   */
  fsTrim?: boolean | GuestOptions;
  /** Called as the work goes: bytes read or moved so far, of `total` (which grows once the moves are known). */
  onProgress?(done: number, total: number): void;
}

/** What a compaction did (or, with `dryRun`, would do). */
export interface CompactResult {
  dryRun: boolean;
  fileSizeBefore: number;
  fileSizeAfter: number;
  /** `fileSizeBefore - fileSizeAfter`. */
  reclaimedBytes: number;
  /** Payload blocks that gave up their file space (all-zero or discarded data, or a state that reads without it). */
  blocksFreed: number;
  /** Of those, blocks that held data the disk read as zeros or `discardRanges` covered. */
  zeroBlocks: number;
  /** A child's sector bitmap blocks dropped (no PARTIALLY_PRESENT block left in their chunk). */
  bitmapsFreed: number;
  /** Payload and sector bitmap blocks moved into holes. */
  blocksMoved: number;
  /** With `fsTrim`: what was found inside the disk, per partition, and the free space discarded. */
  fsTrim?: GuestReport;
}

/** Something in the file that can move: a payload block or a child's sector bitmap block. */
interface Movable {
  /** BAT index of its entry. */
  index: number;
  /** Payload block number, or -1 for a sector bitmap (then `chunk`). */
  block: number;
  chunk: number;
  state: number;
  atMiB: number;
  lengthMiB: number;
}

/** The freeing and moving a compaction does. */
interface CompactPlan {
  /** BAT entries that give up their space (state kept, or ZERO for data that reads zero). */
  freed: BatEntryChange[];
  zeroBlocks: number;
  bitmapsFreed: number;
  moves: { item: Movable; toMiB: number }[];
  /** Where the file ends once packed. */
  endMiB: number;
  fileSize: number;
  /** Bytes of data blocks looked at. */
  scanTotal: number;
}

/**
 * Compacts a VHDX in place through `access` (see the entries' `compactVhdx`).
 * @throws VhdxError `INVALID_ARGUMENT` (`operation-not-supported`) for a fixed
 *   disk, before anything is written; as a writable open; `IO`.
 */
export async function compactWith(access: InPlaceAccess, options: CompactOptions = {}): Promise<CompactResult> {
  const refuseFixed = (model: ImageModel) => {
    if (model.info.type === 'fixed') {
      throw new VhdxError(
        'operation-not-supported',
        'a fixed disk keeps every block in the file and cannot be compacted: convert it to dynamic first (vhdx convert --type dynamic)',
        { structure: 'metadata item' },
      );
    }
  };
  if (options.dryRun) {
    const { image, file } = await access.readOnly();
    try {
      const model = image.loadedModel;
      refuseFixed(model);
      const trim = await guestFree(image, options);
      const plan = await planCompact(image, model, file, image.info.regions, trim.options);
      return resultOf(plan, true, trim.report);
    } finally {
      await image.close();
    }
  }
  const session = await access.editable(refuseFixed);
  try {
    const { image, model, journal } = session;
    const trim = await guestFree(image, options);
    const plan = await planCompact(image, model, journal, image.info.regions, trim.options);
    await applyCompact(session, plan, trim.options);
    return resultOf(plan, false, trim.report);
  } finally {
    await session.image.close();
  }
}

/**
 * With `fsTrim`, the free space of the filesystems inside the disk (read
 * through the image, so a child's is the chain's), added to `discardRanges`.
 * Read before anything is written: a refusal only leaves that partition out.
 */
async function guestFree(image: VhdxImage, options: CompactOptions): Promise<{ options: CompactOptions; report?: GuestReport }> {
  if (!options.fsTrim) return { options };
  const report = await findUnusedRanges(
    (offset, length) => image.read(offset, length),
    image.info.virtualSize,
    options.fsTrim === true ? {} : options.fsTrim,
  );
  const free = report.free.map((r) => ({ start: r.offset, end: r.offset + r.length }));
  return { options: { ...options, discardRanges: [...(options.discardRanges ?? []), ...free] }, report };
}

function resultOf(plan: CompactPlan, dryRun: boolean, fsTrim: GuestReport | undefined): CompactResult {
  const fileSizeAfter = Math.min(plan.fileSize, plan.endMiB * MiB);
  return {
    ...(fsTrim ? { fsTrim } : {}),
    dryRun,
    fileSizeBefore: plan.fileSize,
    fileSizeAfter,
    reclaimedBytes: plan.fileSize - fileSizeAfter,
    blocksFreed: plan.freed.length - plan.bitmapsFreed,
    zeroBlocks: plan.zeroBlocks,
    bitmapsFreed: plan.bitmapsFreed,
    blocksMoved: plan.moves.length,
  };
}

/** Bytes read at once when a block is looked at or copied. */
const PIECE = 4 * MiB;

/** Bytes of a stored block read first: data usually shows in them, and the rest of the block is never read. */
const HEAD = 64 * 1024;
/** Blocks looked at concurrently, so a read is in flight while the last one is tested. */
const SCAN_AHEAD = 2;

/** Fills `target` from `offset`, returning the bytes filled (what lies past them reads as zeros). */
type Fill = (target: Uint8Array, offset: number) => Promise<number>;

/**
 * True when `length` bytes from `start` are all zero, read into `buf` (of
 * {@link PIECE} bytes): a small head first, then the rest in pieces of
 * `buf`'s size, stopping at the first data.
 */
async function readsZero(fill: Fill, buf: Uint8Array, start: number, length: number): Promise<boolean> {
  for (let at = 0; at < length; ) {
    const view = buf.subarray(0, Math.min(at === 0 ? HEAD : buf.length, length - at));
    const got = await fill(view, start + at);
    if (!isAllZero(view.subarray(0, got))) return false;
    at += view.length;
  }
  return true;
}

/** A {@link Fill} from a reader, into the caller's buffer when the reader can. */
function fillOf(r: Pick<ByteReader, 'read' | 'readInto'>): Fill {
  if (r.readInto) return (target, offset) => r.readInto!(target, offset);
  return async (target, offset) => {
    const got = await r.read(offset, target.length);
    const n = Math.min(got.length, target.length);
    target.set(got.subarray(0, n));
    return n;
  };
}

/** True when some range of `ranges` covers `[start, end)` whole (ranges may touch). */
function covered(ranges: { start: number; end: number }[], start: number, end: number): boolean {
  let reach = start;
  for (const r of ranges) {
    if (r.start > reach) break;
    if (r.end > reach) reach = r.end;
    if (reach >= end) return true;
  }
  return reach >= end;
}

async function planCompact(
  image: VhdxImage,
  model: ImageModel,
  file: ByteReader,
  regions: { offset: number; length: number }[],
  options: CompactOptions,
): Promise<CompactPlan> {
  const { blockSize, blockCount, chunkRatio: ratio, states, offsetsMiB } = model;
  const fileSize = file.size ?? 0;
  const bat = image.info.regions.find((r) => r.name === 'bat')!;
  const differencing = model.bitmapOffsetsMiB !== undefined;
  const entries = differencing ? Math.ceil(blockCount / ratio) * (ratio + 1) : batIndexOfBlock(blockCount - 1, ratio) + 1;
  const raw = await file.read(bat.offset, entries * 8);
  const discards = (options.discardRanges ?? [])
    .map((r) => ({ start: r.start ?? 0, end: r.end ?? model.virtualSize }))
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start);
  let scanTotal = 0;
  for (let b = 0; b < blockCount; b++) if (states[b]! >= BlockState.FULLY_PRESENT) scanTotal += blockLength(model, b);
  let scanned = 0;
  const freed: BatEntryChange[] = [];
  const keptState = new Uint8Array(states);
  let zeroBlocks = 0;
  // a fully present block's payload is what the disk reads there (in a child too): read from the file
  // at its place; a partially present one through the chain
  // (each block looked at has a buffer of its own, reused: block i's is free again when block i + SCAN_AHEAD starts)
  const fromFile = fillOf(file);
  const throughChain = fillOf(image);
  const buffers = Array.from({ length: SCAN_AHEAD }, () => new Uint8Array(Math.min(PIECE, blockSize)));
  let started = 0;
  const emptyBlock = (b: number): Promise<boolean> => {
    const start = b * blockSize;
    const length = blockLength(model, b);
    const buf = buffers[started++ % SCAN_AHEAD]!;
    if (covered(discards, start, start + length)) return Promise.resolve(true);
    if (states[b] === BlockState.FULLY_PRESENT) return readsZero(fromFile, buf, offsetsMiB[b]! * MiB, length);
    return readsZero(throughChain, buf, start, length);
  };
  const stored: number[] = [];
  for (let b = 0; b < blockCount; b++) if (states[b]! >= BlockState.FULLY_PRESENT) stored.push(b);
  const ahead: Promise<boolean>[] = [];
  let next = 0;
  for (let b = 0; b < blockCount; b++) {
    const index = batIndexOfBlock(b, ratio);
    const state = states[b]!;
    if (state < BlockState.FULLY_PRESENT) {
      if (readBatEntry(raw, index).offsetMiB !== 0) freed.push({ index, state, offsetMiB: 0 });
      continue;
    }
    // the blocks after this one already being read (each promise's failure is awaited in turn)
    while (next < stored.length && ahead.length < SCAN_AHEAD) {
      const p = emptyBlock(stored[next++]!);
      p.catch(() => undefined);
      ahead.push(p);
    }
    const empty = await ahead.shift()!;
    scanned += blockLength(model, b);
    options.onProgress?.(scanned, scanTotal);
    if (!empty) continue;
    freed.push({ index, state: BlockState.ZERO, offsetMiB: 0 });
    keptState[b] = BlockState.ZERO;
    zeroBlocks++;
  }
  // a child's sector bitmaps with no partially present block left
  let bitmapsFreed = 0;
  const keptBitmaps = model.bitmapOffsetsMiB?.slice();
  if (keptBitmaps) {
    for (let c = 0; c < keptBitmaps.length; c++) {
      if (keptBitmaps[c] === 0) continue;
      let needed = false;
      for (let b = c * ratio; b < Math.min(blockCount, (c + 1) * ratio) && !needed; b++)
        needed = keptState[b] === BlockState.PARTIALLY_PRESENT;
      if (needed) continue;
      freed.push({ index: c * (ratio + 1) + ratio, state: 0, offsetMiB: 0 });
      keptBitmaps[c] = 0;
      bitmapsFreed++;
    }
  }
  // what stays where it is, and what may move
  const fixed = await structureSpans(file, regions);
  const movable: Movable[] = [];
  const blockMiB = blockSize / MiB;
  for (let b = 0; b < blockCount; b++) {
    if (keptState[b]! < BlockState.FULLY_PRESENT) continue;
    movable.push({
      index: batIndexOfBlock(b, ratio),
      block: b,
      chunk: -1,
      state: keptState[b]!,
      atMiB: offsetsMiB[b]!,
      lengthMiB: blockMiB,
    });
  }
  if (keptBitmaps) {
    keptBitmaps.forEach((at, c) => {
      if (at !== 0)
        movable.push({ index: c * (ratio + 1) + ratio, block: -1, chunk: c, state: BlockState.FULLY_PRESENT, atMiB: at, lengthMiB: 1 });
    });
  }
  const { moves, endMiB } = planMoves(fixed, movable);
  return { freed, zeroBlocks, bitmapsFreed, moves, endMiB, fileSize, scanTotal };
}

/**
 * The file space no block may take, in MiB `[start, end)`: the header
 * section, the log, and every region the table lists (optional ones this
 * reader skips included).
 */
export async function structureSpans(
  file: Pick<ByteReader, 'read'>,
  regions: { offset: number; length: number }[],
): Promise<[number, number][]> {
  const table = parseRegionTable(await file.read(REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE), REGION_TABLE_OFFSETS[0]);
  const all = [...regions, ...table.entries.map((e) => ({ offset: e.fileOffset, length: e.length }))];
  return [
    [0, HEADER_SECTION_SIZE / MiB],
    ...all.map((r): [number, number] => [Math.floor(r.offset / MiB), Math.ceil((r.offset + r.length) / MiB)]),
  ];
}

/** Where the file may end (MiB): after its structures (see {@link structureSpans}). */
export async function structuresEndMiB(file: Pick<ByteReader, 'read'>, regions: { offset: number; length: number }[]): Promise<number> {
  return Math.max(...(await structureSpans(file, regions)).map((s) => s[1]));
}

/** Bytes of block `b` that lie on the disk. */
function blockLength(model: ImageModel, b: number): number {
  return Math.min(model.blockSize, model.virtualSize - b * model.blockSize);
}

/**
 * Moves the highest movable items into the lowest holes that fit below them.
 * Returns the moves and where the file ends afterwards (in MiB).
 */
export function planMoves(fixed: [number, number][], movable: Movable[]): { moves: { item: Movable; toMiB: number }[]; endMiB: number } {
  const used: [number, number][] = [...fixed, ...movable.map((m): [number, number] => [m.atMiB, m.atMiB + m.lengthMiB])].sort(
    (a, b) => a[0] - b[0],
  );
  const holes: { start: number; end: number }[] = [];
  let reach = 0;
  for (const [s, e] of used) {
    if (s > reach) holes.push({ start: reach, end: s });
    reach = Math.max(reach, e);
  }
  const moves: { item: Movable; toMiB: number }[] = [];
  const order = [...movable].sort((a, b) => b.atMiB - a.atMiB);
  let first = 0;
  for (const m of order) {
    while (first < holes.length && holes[first]!.start >= holes[first]!.end) first++;
    for (let h = first; h < holes.length; h++) {
      const hole = holes[h]!;
      if (hole.start >= m.atMiB) break;
      if (hole.end - hole.start < m.lengthMiB) continue;
      moves.push({ item: m, toMiB: hole.start });
      hole.start += m.lengthMiB;
      break;
    }
  }
  const moved = new Map(moves.map((mv) => [mv.item, mv.toMiB]));
  let endMiB = 0;
  for (const [, e] of fixed) endMiB = Math.max(endMiB, e);
  for (const m of movable) endMiB = Math.max(endMiB, (moved.get(m) ?? m.atMiB) + m.lengthMiB);
  return { moves, endMiB };
}

/** Moves copied before one flush and one journaled BAT change (bounded so a crash loses little work). */
const MOVES_PER_COMMIT = 64;

/**
 * Copies within the file through two reused buffers: a piece is read while
 * the one before it is written. `done` waits for the last write.
 */
class Copier {
  private readonly buffers = [new Uint8Array(PIECE), new Uint8Array(PIECE)];
  private turn = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly journal: Journal) {}

  /** Copies `length` (at most {@link PIECE}) bytes from `from` to `to`. */
  async copy(from: number, to: number, length: number): Promise<void> {
    // this buffer's last write was awaited before the other buffer's began
    const buf = this.buffers[this.turn]!.subarray(0, length);
    this.turn ^= 1;
    await this.journal.readInto(buf, from);
    await this.writing;
    this.writing = this.journal.write(buf, to);
    this.writing.catch(() => undefined); // awaited by the next copy or done()
  }

  done(): Promise<void> {
    return this.writing;
  }
}

async function applyCompact(session: EditSession, plan: CompactPlan, options: CompactOptions): Promise<void> {
  const { journal, model, bat } = session;
  if (plan.freed.length === 0 && plan.moves.length === 0 && plan.endMiB * MiB >= journal.size) return;
  // the header update the format asks for before the first change; the disk reads the same, so DataWriteGuid stays
  if (!session.fileGuidNew) {
    await journal.updateHeader({ fileWriteGuid: randomGuid() });
    model.info.fileWriteGuid = journal.header.fileWriteGuid;
    model.info.headerSequenceNumber = journal.header.sequenceNumber;
    model.info.currentHeader = journal.slot === 0 ? 1 : 2;
  }
  // 1. space given up: applied and flushed before any of it is reused
  await commitBatEntries(journal, bat, plan.freed);
  const ratio = model.chunkRatio;
  for (const c of plan.freed) {
    const chunkEntry = (c.index + 1) % (ratio + 1) === 0 && model.bitmapOffsetsMiB;
    if (chunkEntry) {
      model.bitmapOffsetsMiB![(c.index + 1) / (ratio + 1) - 1] = 0;
      continue;
    }
    const b = c.index - Math.floor(c.index / (ratio + 1));
    if (model.states[b]! >= BlockState.FULLY_PRESENT) {
      model.info.allocatedBlocks--;
      if (model.states[b] === BlockState.PARTIALLY_PRESENT) model.bitmaps?.blocks.delete(b);
    }
    model.states[b] = c.state;
    model.offsetsMiB[b] = 0;
  }
  model.info.allocatedBytes = model.info.allocatedBlocks * model.blockSize;
  model.info.chain[0]!.allocatedBytes = model.info.allocatedBytes;
  // 2. moves: copied and flushed before the entries that name the new places
  const moveTotal = plan.moves.reduce((n, mv) => n + mv.item.lengthMiB * MiB, 0);
  const scanTotal = plan.scanTotal;
  let moved = 0;
  const copier = new Copier(journal);
  for (let i = 0; i < plan.moves.length; i += MOVES_PER_COMMIT) {
    const batch = plan.moves.slice(i, i + MOVES_PER_COMMIT);
    for (const { item, toMiB } of batch) {
      const length = item.lengthMiB * MiB;
      for (let at = 0; at < length; at += PIECE) await copier.copy(item.atMiB * MiB + at, toMiB * MiB + at, Math.min(PIECE, length - at));
      moved += length;
      options.onProgress?.(scanTotal + moved, scanTotal + moveTotal);
    }
    await copier.done();
    await journal.flush();
    await commitBatEntries(
      journal,
      bat,
      batch.map(({ item, toMiB }) => ({ index: item.index, state: item.state, offsetMiB: toMiB })),
    );
    for (const { item, toMiB } of batch) {
      if (item.block >= 0) model.offsetsMiB[item.block] = toMiB;
      else model.bitmapOffsetsMiB![item.chunk] = toMiB;
    }
  }
  // 3. the file cut after its last structure
  const end = plan.endMiB * MiB;
  if (end < journal.size) {
    const carry = { fileOffset: bat.offset, data: (await journal.read(bat.offset, 4096)).slice() };
    await journal.shrink(end, carry);
  }
  model.info.fileSize = journal.size;
}
