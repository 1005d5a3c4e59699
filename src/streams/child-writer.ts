// The positional writer's differencing mode: the new disk arrives in order,
// the parent is read at random, and only blocks with a changed sector take
// file space (see src/layout/child.ts for how each block is stored), placed
// by the placement engine (layout/sparse.ts). Each chunk's sector bitmap has
// its place before the payload, so the file decodes as a stream.
import { VhdxError, inputTooLong } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { BlockState, payloadBlockCount } from '../format/bat.js';
import type { VhdxImage } from '../image/image.js';
import {
  SECTOR_BITMAP_BLOCK,
  childBatRegion,
  childMetadataRegion,
  planChildBlock,
  planChildLayout,
  setBitmapBits,
  type ChildParentLink,
} from '../layout/child.js';
import type { ResolvedCreateOptions, VhdxCreateOptions } from '../layout/options.js';
import type { Layout, Placed } from '../layout/plan.js';
import { BlockPlacement, type SparseSummary } from '../layout/sparse.js';
import type { ScatteredPiece, WriteBatch } from './write-batch.js';

/** How the blocks of a child were stored. */
export interface ChildBlockCounts {
  fullyPresent: number;
  partiallyPresent: number;
  zero: number;
  /** Sector bitmap blocks (1 MiB each) in the file. */
  sectorBitmaps: number;
}

/** Writes a child of `parent` holding what the input changes (nothing when the input is empty). */
export class ChildBlockWriter {
  private readonly layout: Layout;
  private readonly sector: number;
  private readonly block: Uint8Array;
  /** The parent's bytes of the block being received and of the next, read ahead (see prefetch); block b's in [b % 2]. */
  private readonly previous: [Uint8Array, Uint8Array];
  private readonly parentReads = new Map<number, Promise<Uint8Array>>();
  private readonly zeros: Uint8Array;
  private readonly states: Uint8Array;
  private readonly space: BlockPlacement;
  /** Where the sector bitmaps' places start: one 1 MiB place per chunk, before the payload (a hole where unused). */
  private readonly bitmapsAt: number;
  private readonly bitmapOffsetsMiB: Uint32Array;
  /** The sector bitmap of the chunk being written. */
  private readonly chunkBits = new Uint8Array(SECTOR_BITMAP_BLOCK);
  private chunkHasPartial = false;
  private received = 0;
  private readonly counts: ChildBlockCounts = { fullyPresent: 0, partiallyPresent: 0, zero: 0, sectorBitmaps: 0 };

  constructor(
    opts: ResolvedCreateOptions,
    private readonly parent: VhdxImage,
    private readonly link: ChildParentLink,
    private readonly batch: WriteBatch,
  ) {
    const virtualSize = parent.info.virtualSize;
    this.layout = planChildLayout(opts, virtualSize);
    this.sector = opts.logicalSectorSize;
    this.block = new Uint8Array(opts.blockSize);
    this.previous = [new Uint8Array(opts.blockSize), new Uint8Array(opts.blockSize)];
    this.zeros = new Uint8Array(opts.blockSize);
    this.states = new Uint8Array(this.layout.blockCount);
    const chunks = Math.ceil(this.layout.blockCount / this.layout.chunkRatio);
    this.bitmapOffsetsMiB = new Uint32Array(chunks);
    this.bitmapsAt = this.layout.payloadOffset;
    this.space = new BlockPlacement(this.bitmapsAt + chunks * SECTOR_BITMAP_BLOCK, opts.blockSize, this.layout.blockCount);
  }

  /** Accepts the next bytes of the new disk. @throws VhdxError `input-too-long` past the parent's size */
  async write(bytes: Uint8Array): Promise<void> {
    const { blockSize, virtualSize } = this.layout;
    if (this.received + bytes.length > virtualSize) {
      throw inputTooLong('the input', "the parent's disk", virtualSize);
    }
    for (let at = 0; at < bytes.length; ) {
      const inBlock = this.received % blockSize;
      const b = Math.floor(this.received / blockSize);
      const length = Math.min(blockSize, virtualSize - b * blockSize);
      const n = Math.min(bytes.length - at, length - inBlock);
      if (inBlock === 0) {
        this.prefetch(b);
        this.prefetch(b + 1);
      }
      // a whole block in one piece is compared where it is (it is done with before write() returns)
      const whole = inBlock === 0 && n === length;
      if (!whole) this.block.set(bytes.subarray(at, at + n), inBlock);
      at += n;
      this.received += n;
      if (inBlock + n === length) await this.endBlock(b, whole ? bytes.subarray(at - n, at) : this.block.subarray(0, length));
    }
  }

  /**
   * Starts reading the parent's side of block `b` (once): while the block before it is compared and
   * written and the input's next bytes arrive. Block b+2's read reuses b's buffer; it starts when
   * block b+1's first bytes arrive, after b was done with.
   */
  private prefetch(b: number): void {
    if (b >= this.layout.blockCount || this.parentReads.has(b)) return;
    const { blockSize, virtualSize } = this.layout;
    const start = b * blockSize;
    const reading = this.parentBlock(start, Math.min(blockSize, virtualSize - start), this.previous[b % 2]!);
    reading.catch(() => {}); // awaited at the block's end; the input may stop before it
    this.parentReads.set(b, reading);
  }

  /** The parent's bytes of `[start, +length)`, in `buffer` (zeros, without a read, where the parent holds no data). */
  private async parentBlock(start: number, length: number, buffer: Uint8Array): Promise<Uint8Array> {
    const extents = this.parent.extents({ start, end: start + length });
    if (!extents.some((e) => e.kind === 'data')) return this.zeros.subarray(0, length);
    const previous = buffer.subarray(0, length);
    for (const e of extents) if (e.kind !== 'data') previous.fill(0, e.offset - start, e.offset - start + e.length);
    await this.parent.readExtentsInto(previous, start, extents);
    return previous;
  }

  private async endBlock(b: number, next: Uint8Array): Promise<void> {
    const { blockSize, chunkRatio } = this.layout;
    const length = next.length;
    const reading = this.parentReads.get(b)!;
    this.parentReads.delete(b);
    const previous = await reading;
    const plan = planChildBlock(next, previous, this.sector);
    const firstBit = (b % chunkRatio) * (blockSize / this.sector);
    this.states[b] = plan.state;
    if (plan.state === BlockState.ZERO) this.counts.zero++;
    else if (plan.state === BlockState.FULLY_PRESENT) {
      await this.put(next, this.space.allocate(b));
      setBitmapBits(this.chunkBits, firstBit, firstBit + blockSize / this.sector);
      this.counts.fullyPresent++;
    } else if (plan.state === BlockState.PARTIALLY_PRESENT) {
      const at = this.space.allocate(b);
      const { runs } = plan;
      const pieces: ScatteredPiece[] = [];
      for (let i = 0; i < runs.length; i += 2) {
        const from = runs[i]! * this.sector;
        const to = Math.min(length, runs[i + 1]! * this.sector);
        pieces.push({ data: next.subarray(from, to), position: at + from });
        setBitmapBits(this.chunkBits, firstBit + runs[i]!, firstBit + runs[i + 1]!);
      }
      await this.batch.addScattered(pieces);
      const last = pieces[pieces.length - 1]!;
      this.space.wrote(last.position + last.data.length);
      this.chunkHasPartial = true;
      this.counts.partiallyPresent++;
    }
    if ((b + 1) % chunkRatio === 0 || b === this.layout.blockCount - 1) await this.endChunk(Math.floor(b / chunkRatio));
  }

  /** A chunk with a partially present block gets its bitmap block, at the chunk's place before the payload. */
  private async endChunk(chunk: number): Promise<void> {
    if (this.chunkHasPartial) {
      const at = this.bitmapsAt + chunk * SECTOR_BITMAP_BLOCK;
      this.bitmapOffsetsMiB[chunk] = at / MiB;
      await this.put(this.chunkBits, at);
      this.counts.sectorBitmaps++;
    }
    this.chunkBits.fill(0);
    this.chunkHasPartial = false;
  }

  private async put(data: Uint8Array, position: number): Promise<void> {
    await this.batch.add(data, position);
    this.space.wrote(position + data.length);
  }

  /**
   * Ends the input: the rest of the file in a safe order (BAT, metadata, then
   * the header section, file identifier last). No input at all makes an empty child.
   * @throws VhdxError `input-truncated` for input shorter than the parent's disk
   */
  finish(): { writes: Placed[]; summary: SparseSummary & { differencing: ChildBlockCounts } } {
    const { layout } = this;
    if (this.received !== 0 && this.received < layout.virtualSize) {
      throw new VhdxError('input-truncated', `input ended after ${this.received} of the parent's ${layout.virtualSize} bytes`, {
        structure: 'input',
        offset: this.received,
      });
    }
    const { space } = this;
    const bat = childBatRegion(layout, this.states, space.offsets(layout.blockCount), this.bitmapOffsetsMiB);
    const { writes, fileSize } = space.finish(layout, bat, childMetadataRegion(layout, this.link));
    return {
      writes,
      summary: {
        virtualSize: layout.virtualSize,
        blockSize: layout.blockSize,
        blockCount: payloadBlockCount(layout.virtualSize, layout.blockSize),
        blocksWritten: space.blocksStored,
        fileSize,
        differencing: { ...this.counts },
      },
    };
  }
}

/** What a child is written against: its parent and where its locator says the parent is. */
export interface ChildWriterOptions {
  /** The parent, opened with `openVhdx`; read at random while the child is written (it stays yours). */
  parent?: VhdxImage;
  /**
   * The locator's relative_path: the parent's path relative to the child's folder, `\` separators.
   * Default: the Node entry computes it from the two paths; elsewhere the last part of the parent's
   * path or URL (the parent beside the child).
   */
  parentRelativePath?: string;
}

function badOption(message: string, field: string): VhdxError {
  return new VhdxError('invalid-option', message, { structure: 'options', field });
}

/**
 * The creation options of a child of `parent`: its virtual size, logical sector size and virtual
 * disk id are the parent's; the block size and physical sector size default to the parent's.
 * @throws VhdxError `invalid-option` for a parent that is not an opened image, a `virtualSize` or
 *   `logicalSectorSize` other than the parent's, `type: 'fixed'`, or no relative path to name
 */
export function childOptionsOf(
  options: VhdxCreateOptions & ChildWriterOptions,
  isImage: (x: unknown) => boolean,
): { create: VhdxCreateOptions; link: ChildParentLink; parent: VhdxImage } {
  const { parent, parentRelativePath, ...rest } = options;
  if (!isImage(parent)) throw badOption('must be an image opened with openVhdx', 'parent');
  const info = parent!.info;
  if (rest.virtualSize !== undefined && rest.virtualSize !== info.virtualSize)
    throw badOption(`must be the parent's ${info.virtualSize} bytes, got ${rest.virtualSize}`, 'virtualSize');
  if (rest.logicalSectorSize !== undefined && rest.logicalSectorSize !== info.logicalSectorSize)
    throw badOption(`must be the parent's ${info.logicalSectorSize}, got ${rest.logicalSectorSize}`, 'logicalSectorSize');
  if (rest.type !== undefined && rest.type !== 'dynamic') throw badOption('a differencing disk is dynamic', 'type');
  const location = info.chain[0]?.location;
  const relativePath = parentRelativePath ?? location?.split(/[\\/]/).pop();
  if (typeof relativePath !== 'string' || relativePath === '')
    throw badOption('the parent was not opened from a path or URL: give parentRelativePath', 'parentRelativePath');
  const create: VhdxCreateOptions = {
    ...rest,
    virtualSize: info.virtualSize,
    logicalSectorSize: info.logicalSectorSize as 512 | 4096,
    physicalSectorSize: rest.physicalSectorSize ?? (info.physicalSectorSize as 512 | 4096),
    blockSize: rest.blockSize ?? info.blockSize,
    guids: { ...rest.guids, virtualDisk: rest.guids?.virtualDisk ?? info.virtualDiskId },
  };
  return { create, link: { dataWriteGuid: info.dataWriteGuid, relativePath }, parent: parent! };
}
