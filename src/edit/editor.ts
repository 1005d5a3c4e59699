// Changing an open image in place: writes, discards, flush and close. The
// image model (image/load.ts) is the one source of truth: this editor changes
// the file, then the model the image reads through, after each applied change.
//
// Orders kept (MS-VHDX 2.2.2, 2.3; docs/writing.md):
// - before the first change, one header update with a new FileWriteGuid, and
//   a new DataWriteGuid as well before the first change a reader can see;
// - a block's payload is written and flushed before the log entry mapping it;
// - every BAT change goes through the log (journal.ts);
// - a block placed in reused space is written whole, so no old byte shows
//   (in pieces of at most PLACE_CHUNK bytes: memory is bounded by that, not the block size),
//   except a differencing child's PARTIALLY_PRESENT block (below).
//
// Differencing files (MS-VHDX 2.5.1.2; bitmap.ts): a write into a block that
// is neither FULLY_PRESENT nor ZERO writes only its whole sectors (edges as
// the chain reads them) into the block's payload (new or freed space), then
// one log entry sets their bits with the BAT entry (PARTIALLY_PRESENT) and,
// for a chunk without one, the bitmap block's entry; the block becomes
// FULLY_PRESENT once every sector's bit is set. Sectors already present are
// written in place with no entry. A ZERO block written in part is placed
// whole as in other files (its other sectors must keep reading zeros, not
// the parent). See docs/writing.md for the measurement behind this.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { BlockState, batIndexOfBlock, writeBatEntry } from '../format/bat.js';
import { randomGuid } from '../format/guid.js';
import type { ImageEditor } from '../image/image.js';
import type { ImageModel } from '../image/load.js';
import type { RegionInfo } from '../image/types.js';
import { ChildBitmaps } from './bitmap.js';
import type { Journal } from './journal.js';
import { commitPatches, wholeSectors, type Patch } from './sectors.js';

/** Bytes of a block written at once when it is placed whole (in reused space). */
export const PLACE_CHUNK = 4 * MiB;

/** One BAT change: payload block `block` gets `state` at `offsetMiB`. */
interface BatChange {
  block: number;
  state: number;
  offsetMiB: number;
  /** A PARTIALLY_PRESENT block's new sector bitmap bits. */
  bits?: Uint8Array;
}

/** Reads the virtual disk as the image sees it (parents included). */
export type DiskReader = (offset: number, length: number) => Promise<Uint8Array>;

/** The piece of one write that falls in one block. */
interface Piece {
  block: number;
  /** Byte offset within the block. */
  at: number;
  data: Uint8Array;
}

/** The editor of one writable image. */
export class Editor implements ImageEditor {
  private readonly blockSize: number;
  private readonly sectorSize: number;
  private readonly differencing: boolean;
  private readonly fixed: boolean;
  /** A differencing file's sector bitmaps. */
  private readonly bitmaps: ChildBitmaps | undefined;
  /** File offsets (bytes) of blocks freed by discards, for reuse. */
  private readonly free: number[] = [];
  private fileGuidNew = false;
  private dataGuidNew = false;
  /**
   * Operations run one at a time, in call order: `pending` counts those
   * started and not yet done; when it is 0 the next one starts at once,
   * otherwise after `last`, the latest one started.
   */
  private pending = 0;
  private last: Promise<unknown> = Promise.resolve();
  /** The first failure: the file is consistent on disk, but this editor's view may not be. */
  private failed: unknown;

  constructor(
    private readonly journal: Journal,
    private readonly model: ImageModel,
    private readonly bat: RegionInfo,
    private readonly readDisk: DiskReader,
    /** The FileWriteGuid is already new (a log replayed at open). */
    fileGuidNew = false,
  ) {
    this.fileGuidNew = fileGuidNew;
    this.blockSize = model.blockSize;
    this.sectorSize = model.logicalSectorSize;
    this.differencing = model.info.type === 'differencing';
    this.fixed = model.info.type === 'fixed';
    this.bitmaps = this.differencing ? new ChildBitmaps(model, bat) : undefined;
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.run(() => this.doWrite(offset, data));
  }

  discard(offset: number, length: number): Promise<void> {
    return this.run(() => this.doDiscard(offset, length));
  }

  flush(): Promise<void> {
    return this.run(() => this.journal.flush());
  }

  close(): Promise<void> {
    return this.run(async () => {
      await this.journal.endSession();
      this.failed = new VhdxError('image-not-writable', 'the image is closed');
    });
  }

  /**
   * Says the header already carries a new FileWriteGuid and DataWriteGuid
   * (written by the caller through the same journal, e.g. a commit that
   * recorded the DataWriteGuid in its child first): no other is written.
   */
  guidsWritten(): void {
    this.fileGuidNew = true;
    this.dataGuidNew = true;
  }

  /**
   * Writes several ranges (in order, not overlapping) as one change where it
   * can: the blocks they place are written, then one flush and one journaled
   * BAT change maps them all (a commit's batch). A range that touches a block
   * placed earlier in the batch first has the batch mapped, so a block is
   * never placed twice.
   */
  writeMany(writes: { offset: number; data: Uint8Array }[]): Promise<void> {
    return this.run(async () => {
      if (!writes.some((w) => w.data.length > 0)) return;
      await this.beforeChange(true);
      let changes: BatChange[] = [];
      const placed = new Set<number>();
      const mapPlaced = async () => {
        if (changes.length === 0) return;
        // the payload is durable before the entries that map it
        await this.journal.flush();
        await this.commitBat(changes);
        changes = [];
        placed.clear();
      };
      for (const w of writes) {
        for (const p of this.blocksOf(w.offset, w.data.length)) {
          if (placed.has(p.block)) await mapPlaced();
          const piece: Piece = { block: p.block, at: p.at, data: w.data.subarray(p.from, p.from + p.length) };
          if (this.model.states[p.block] === BlockState.FULLY_PRESENT) await this.writeInPlace(piece);
          else {
            const change = await this.placeBlock(piece);
            if (change) changes.push(change);
            placed.add(p.block);
          }
        }
      }
      await mapPlaced();
    });
  }

  /**
   * Runs a read of the image in call order among the operations: it sees every
   * write and discard called before it and none called after (a later discard
   * may free, and a later write reuse, the space it reads). Its failure is its
   * own: the editor goes on.
   */
  inOrder<T>(read: () => Promise<T>): Promise<T> {
    return this.run(read, false);
  }

  /**
   * Runs `op` after every operation called before it (at once when none is
   * left: a write into the page cache then needs no extra promise hops).
   * A failure of a `changes` op stops the editor: every later one rejects with it.
   */
  private run<T>(op: () => Promise<T>, changes = true): Promise<T> {
    const start = async (): Promise<T> => {
      try {
        if (changes && this.failed !== undefined) throw this.failed;
        try {
          return await op();
        } catch (err) {
          if (changes) this.failed = err;
          throw err;
        }
      } finally {
        this.pending--;
      }
    };
    const next = this.pending++ === 0 ? start() : this.last.then(start, start);
    this.last = next;
    return next;
  }

  /** The header update the format asks for before the first change (and the first visible one). */
  private async beforeChange(visible: boolean): Promise<void> {
    if (this.fileGuidNew && (this.dataGuidNew || !visible)) return;
    const changes: { fileWriteGuid?: string; dataWriteGuid?: string } = {};
    if (!this.fileGuidNew) changes.fileWriteGuid = randomGuid();
    if (visible && !this.dataGuidNew) changes.dataWriteGuid = randomGuid();
    await this.journal.updateHeader(changes);
    this.fileGuidNew = true;
    if (visible) this.dataGuidNew = true;
    const info = this.model.info;
    info.fileWriteGuid = this.journal.header.fileWriteGuid;
    info.dataWriteGuid = this.journal.header.dataWriteGuid;
    info.chain[0]!.dataWriteGuid = info.dataWriteGuid;
    info.headerSequenceNumber = this.journal.header.sequenceNumber;
    info.currentHeader = this.journal.slot === 0 ? 1 : 2;
  }

  /** Cuts `[offset, offset + length)` into the blocks it touches. */
  private *blocksOf(offset: number, length: number): Generator<{ block: number; at: number; length: number; from: number }> {
    for (let pos = offset, end = offset + length; pos < end; ) {
      const block = Math.floor(pos / this.blockSize);
      const at = pos - block * this.blockSize;
      const n = Math.min(end - pos, this.blockSize - at);
      yield { block, at, length: n, from: pos - offset };
      pos += n;
    }
  }

  /** Bytes of block `block` that lie on the disk (the last block may be cut by the disk's end). */
  private blockLength(block: number): number {
    return Math.min(this.blockSize, this.model.virtualSize - block * this.blockSize);
  }

  private async doWrite(offset: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    if (!this.fileGuidNew || !this.dataGuidNew) await this.beforeChange(true);
    // the common case first: a write inside one present block
    const block = Math.floor(offset / this.blockSize);
    const at = offset - block * this.blockSize;
    if (at + data.length <= this.blockSize && this.model.states[block] === BlockState.FULLY_PRESENT) {
      await this.writeInPlace({ block, at, data });
      return;
    }
    const changes: BatChange[] = [];
    for (const p of this.blocksOf(offset, data.length)) {
      const piece: Piece = { block: p.block, at: p.at, data: data.subarray(p.from, p.from + p.length) };
      if (this.model.states[p.block] === BlockState.FULLY_PRESENT) await this.writeInPlace(piece);
      else {
        const change = await this.placeBlock(piece);
        if (change) changes.push(change);
      }
    }
    if (changes.length === 0) return;
    // the payload is durable before the entries that map it
    await this.journal.flush();
    await this.commitBat(changes);
  }

  /** Writes a piece into a present block, whole logical sectors at a time (the edges read first). */
  private async writeInPlace(p: Piece): Promise<void> {
    const base = this.model.offsetsMiB[p.block]! * MiB;
    const ss = this.sectorSize;
    // whole sectors: straight to the file, no extra promise (the common small write)
    if (p.at % ss === 0 && p.data.length % ss === 0) {
      await this.journal.write(p.data, base + p.at);
      return;
    }
    const { start, bytes } = await wholeSectors(p.at, p.data, ss, (at) => this.journal.read(base + at, ss));
    await this.journal.write(bytes, base + start);
  }

  /**
   * Gives a block that is not fully present a place holding `p`, with what
   * the disk reads there now (zeros) around it; a differencing child's block
   * that reads its parent gets only the piece's sectors ({@link writeSectors}).
   * Returns the BAT change, if any.
   */
  private async placeBlock(p: Piece): Promise<BatChange | undefined> {
    if (this.bitmaps && this.model.states[p.block] !== BlockState.ZERO) return this.writeSectors(p, this.bitmaps);
    const { offset, fresh } = await this.newSpace();
    if (fresh) {
      // new space reads as zeros: only the piece is written (whole sectors)
      const ss = this.sectorSize;
      const from = Math.floor(p.at / ss) * ss;
      const to = Math.ceil((p.at + p.data.length) / ss) * ss;
      const buf = new Uint8Array(to - from);
      buf.set(p.data, p.at - from);
      await this.journal.write(buf, offset + from);
    } else {
      await this.writeWhole(p, offset);
    }
    return { block: p.block, state: BlockState.FULLY_PRESENT, offsetMiB: offset / MiB };
  }

  /** Space for a new block: freed by a discard (`fresh` false: old bytes there), else at the end of the file. */
  private async newSpace(): Promise<{ offset: number; fresh: boolean }> {
    if (this.free.length) return { offset: this.free.pop()!, fresh: false };
    const offset = Math.ceil(this.journal.size / MiB) * MiB;
    await this.journal.grow(offset + this.blockSize);
    return { offset, fresh: true };
  }

  /**
   * A differencing child's block that reads (in whole or in part) its parent:
   * the piece's whole sectors, the edges as the chain reads them, go to the
   * block's payload (new or freed space when it has none: its other sectors
   * keep clear bits, so old bytes there never show). Returns the change that
   * sets their bits (FULLY_PRESENT once all are set), or undefined when they
   * were all set already (a plain write).
   */
  private async writeSectors(p: Piece, bitmaps: ChildBitmaps): Promise<BatChange | undefined> {
    const ss = this.sectorSize;
    const diskAt = p.block * this.blockSize;
    const { start, bytes } = await wholeSectors(p.at, p.data, ss, (at) => this.readDisk(diskAt + at, ss));
    const bits = bitmaps.withSectors(p.block, start / ss, (start + bytes.length) / ss);
    const offset =
      this.model.states[p.block] === BlockState.PARTIALLY_PRESENT ? this.model.offsetsMiB[p.block]! * MiB : (await this.newSpace()).offset;
    await this.journal.write(bytes, offset + start);
    if (!bits) return undefined;
    const offsetMiB = offset / MiB;
    if (bitmaps.full(p.block, bits)) return { block: p.block, state: BlockState.FULLY_PRESENT, offsetMiB };
    await bitmaps.ensureBlock(p.block, this.journal);
    return { block: p.block, state: BlockState.PARTIALLY_PRESENT, offsetMiB, bits };
  }

  /**
   * Writes the whole block at `offset`: the piece, zeros elsewhere, in pieces
   * of at most {@link PLACE_CHUNK} bytes, so memory stays bounded whatever the block size.
   */
  private async writeWhole(p: Piece, offset: number): Promise<void> {
    const pieceEnd = p.at + p.data.length;
    for (let at = 0; at < this.blockSize; at += PLACE_CHUNK) {
      const n = Math.min(PLACE_CHUNK, this.blockSize - at);
      if (at >= pieceEnd || at + n <= p.at) {
        // nothing of the piece here: zeros
        await this.journal.writeZeros(offset + at, n);
        continue;
      }
      const buf = new Uint8Array(n);
      const from = Math.max(p.at, at);
      const to = Math.min(pieceEnd, at + n);
      buf.set(p.data.subarray(from - p.at, to - p.at), from - at);
      await this.journal.write(buf, offset + at);
    }
  }

  private async doDiscard(offset: number, length: number): Promise<void> {
    if (length === 0) return;
    const changes: BatChange[] = [];
    const freed: number[] = [];
    for (const p of this.blocksOf(offset, length)) {
      const state = this.model.states[p.block]!;
      if (this.readsZeros(state)) continue;
      const whole = p.at === 0 && p.length >= this.blockLength(p.block);
      if (whole && this.fixed && state === BlockState.FULLY_PRESENT) {
        // a fixed file keeps its blocks: zeros in place
        await this.beforeChange(true);
        await this.journal.writeZeros(this.model.offsetsMiB[p.block]! * MiB, p.length);
      } else if (whole) {
        if (state >= BlockState.FULLY_PRESENT) freed.push(this.model.offsetsMiB[p.block]! * MiB);
        changes.push({ block: p.block, state: BlockState.ZERO, offsetMiB: 0 });
      } else {
        await this.doWrite(offset + p.from, new Uint8Array(p.length));
      }
    }
    if (changes.length === 0) return;
    await this.beforeChange(true);
    await this.commitBat(changes);
    // freed only now: the entries that stop using them are applied and flushed
    this.free.push(...freed);
  }

  /** True when a block in `state` already reads as zeros everywhere. */
  private readsZeros(state: number): boolean {
    if (state === BlockState.ZERO) return true;
    return !this.differencing && state < BlockState.FULLY_PRESENT && state !== BlockState.UNDEFINED;
  }

  /**
   * Journals BAT changes, each with its sector bitmap bits (and a new bitmap
   * block's entry) in the same log entry, then applies them to the model.
   */
  private async commitBat(changes: BatChange[]): Promise<void> {
    const ratio = this.model.chunkRatio;
    const groups = changes.map((c): Patch[] => {
      const entry = new Uint8Array(8);
      writeBatEntry(entry, 0, { state: c.state, offsetMiB: c.offsetMiB });
      const own = { fileOffset: this.bat.offset + batIndexOfBlock(c.block, ratio) * 8, bytes: entry };
      return c.bits ? [own, ...this.bitmaps!.patches(c.block, c.bits)] : [own];
    });
    await commitPatches(this.journal, groups);
    this.applyToModel(changes);
  }

  private applyToModel(changes: BatChange[]): void {
    const m = this.model;
    for (const c of changes) {
      const was = m.states[c.block]!;
      m.states[c.block] = c.state;
      m.offsetsMiB[c.block] = c.offsetMiB;
      if (was === BlockState.PARTIALLY_PRESENT || c.bits) this.bitmaps?.applied(c.block, c.state, c.bits);
      const delta = (c.state >= BlockState.FULLY_PRESENT ? 1 : 0) - (was >= BlockState.FULLY_PRESENT ? 1 : 0);
      m.info.allocatedBlocks += delta;
    }
    m.info.allocatedBytes = m.info.allocatedBlocks * m.blockSize;
    m.info.chain[0]!.allocatedBytes = m.info.allocatedBytes;
    m.info.fileSize = this.journal.size;
  }
}
