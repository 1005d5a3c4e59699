// The structure phase of streaming decode: hold the first bytes of the file
// until the header section, metadata and BAT (and a dirty log) have passed,
// then build the image model with the image layer's loader.
//
// This is the decoder's only door into src/image/: everything it needs from
// there (loader, region parsing, log overlay, limits, info types) goes
// through this module.
import { VhdxError, asVhdxError } from '../errors.js';
import { BlockState } from '../format/bat.js';
import { hasVhdxSignature } from '../format/identifier.js';
import { HEADER_AREA_END, HEADER_SECTION_SIZE } from '../format/region-table.js';
import { resolveLimits, type ReadLimits, type ResolvedLimits } from '../image/limits.js';
import { bitmapSpans } from '../image/bitmap.js';
import { DEFAULT_MAX_CHAIN_DEPTH, acceptOpenedParent, startSeen, type ChainImage } from '../image/chain.js';
import { resolveOwnExtents, type OwnExtent } from '../image/extents.js';
import { parseHeaderSection, structureRegions, type HeaderSection } from '../image/header-section.js';
import { loadImage, loadModelBitmaps, type ImageModel } from '../image/load.js';
import { overlayReader, patchedBytes } from '../image/overlay.js';
import type { ByteReader } from '../image/reader.js';
import type { Problem, VhdxInfo } from '../image/types.js';
import { bufferFull, type PayloadMap } from './reorder-buffer.js';

export type { ReadLimits, VhdxInfo, OwnExtent, ChainImage };
export { DEFAULT_MAX_CHAIN_DEPTH };

/** A differencing file's own view of its disk: what the decoder merges with the parent. */
export interface ChildView {
  /** Extents of `[start, end)` as this file alone says them; `parent` where the parent answers. */
  own(start: number, end: number): OwnExtent[];
  /**
   * Accepts `parent` as this file's parent and extends `info.chain` with its chain.
   * @throws VhdxError `chain-loop`, `chain-too-deep`, `parent-linkage-mismatch`,
   *   `parent-sector-size-mismatch`, `parent-size-mismatch`.
   */
  accept(parent: ChainImage, rules: { ignoreLinkage: boolean; maxChainDepth: number }): { problems: Problem[] };
}

/** What the structure phase yields: the image's info and where its payload lies. */
export interface LoadedStructure {
  info: VhdxInfo;
  payload: PayloadMap;
  /** The input must be at least this long, or data a replayed log counts on was lost (0 when clean). */
  flushedFileOffset: number;
  /** Differencing files: their own view, to merge with the parent. */
  child?: ChildView;
}

/** Input bytes held during the structure phase, at their file position. */
export interface HeldInput {
  position: number;
  bytes: Uint8Array;
}

/**
 * Holds the start of a VHDX byte stream until its structures are complete.
 *
 * Until the header section (first 1 MiB) is in, everything is held; then
 * the regions it names are known, and payload held besides them counts
 * against `maxBufferBytes`. Once metadata, BAT and a dirty log have passed,
 * {@link push} returns the loaded structure; the held bytes, payload
 * included, are then taken with {@link takeHeld}.
 */
export class StructureLoader {
  private readonly limits: ResolvedLimits;
  private held: HeldInput[] = [];
  private heldTotal = 0;
  private received = 0;
  private structureEnd = HEADER_SECTION_SIZE; // everything below must be held before the model can be built
  private structureBytes = 0;
  private section: HeaderSection | undefined; // parsed once, when the first 1 MiB is in
  private model: ImageModel | undefined; // built once the structures are in
  private bitmapEnd = 0; // a differencing file's sector bitmaps lie below this
  private signatureChecked = false;

  /**
   * @param limits caps on structures the file may make the loader allocate
   * @param maxBufferBytes most payload held besides the structures
   * @param transient the caller overwrites pushed bytes after each push: they are copied when held
   * @throws VhdxError INVALID_ARGUMENT `invalid-option` for a limit that is not a positive integer
   */
  constructor(
    limits: ReadLimits,
    private readonly maxBufferBytes: number,
    private readonly transient: boolean,
  ) {
    this.limits = resolveLimits(limits);
  }

  /**
   * Holds the next input bytes; returns the structure once it is complete.
   * @throws VhdxError NOT_VHDX `not-vhdx`; LIMIT_EXCEEDED `reorder-buffer-full` when payload before
   *   the metadata, BAT or a differencing file's sector bitmaps exceeds maxBufferBytes (or a structure
   *   its limit); the image loader's errors (CORRUPT, BAD_CHECKSUM, TRUNCATED, UNSUPPORTED) for bad structures
   */
  async push(bytes: Uint8Array): Promise<LoadedStructure | undefined> {
    this.held.push({ position: this.received, bytes: this.transient ? bytes.slice() : bytes });
    this.heldTotal += bytes.length;
    this.received += bytes.length;
    if (!this.signatureChecked && this.received >= 8) {
      this.signatureChecked = true;
      if (!hasVhdxSignature(this.readHeld(0, 8))) throw notVhdx();
    }
    return this.tryLoad(false);
  }

  /**
   * Ends the input; returns the structure, or throws why it cannot be had.
   * @throws VhdxError NOT_VHDX `not-vhdx`; TRUNCATED `header-section-truncated` inside the header
   *   section, `input-truncated` before metadata and BAT (or the image loader's reason); as {@link push}
   */
  async end(): Promise<LoadedStructure> {
    const loaded = await this.tryLoad(true);
    if (!loaded) {
      throw new VhdxError('input-truncated', `input ended at ${this.received} before the metadata and BAT were complete`, {
        structure: 'input',
        offset: this.received,
      });
    }
    return loaded;
  }

  /** The bytes held so far, in order; the loader lets go of them. */
  takeHeld(): HeldInput[] {
    const held = this.held;
    this.held = [];
    this.heldTotal = 0;
    return held;
  }

  private async tryLoad(ended: boolean): Promise<LoadedStructure | undefined> {
    try {
      if (!this.section) {
        if (this.received < HEADER_SECTION_SIZE && !ended) return undefined;
        this.findRegions();
      }
      if (!this.model) {
        if (this.received < this.structureEnd && !ended) return this.holdPayload('the BAT or metadata comes after');
        this.model = await loadImage(this.reader(ended), this.limits, [], this.section, true);
        const spans = bitmapSpans(this.model, {
          blockSize: this.model.blockSize,
          virtualSize: this.model.virtualSize,
          sectorSize: this.model.logicalSectorSize,
        });
        this.bitmapEnd = spans.reduce((end, b) => Math.max(end, b.offset + b.length), 0);
      }
      // a differencing file's sector bitmaps may lie anywhere: payload before them is held
      if (this.received < this.bitmapEnd && !ended) return this.holdPayload('a sector bitmap comes after');
      await loadModelBitmaps(overlayReader(this.reader(ended), this.model.overlay), this.model, this.limits);
      return structureOf(this.model);
    } catch (err) {
      // the image layer reports its own failures as VhdxError; anything else is a bug met on this input
      throw asVhdxError(err, 'structure-unreadable', 'decoding failed');
    }
  }

  /** Keeps holding input while structures are still to come, within maxBufferBytes of payload. */
  private holdPayload(why: string): undefined {
    // structures are bounded by their own limits; what else is held while waiting counts here
    const payload = this.heldTotal - HEADER_SECTION_SIZE - this.structureBytes;
    if (payload > this.maxBufferBytes) throw bufferFull(this.maxBufferBytes, why, this.received);
    return undefined;
  }

  private findRegions(): void {
    if (this.received < HEADER_AREA_END) {
      if (this.received < 8 || !hasVhdxSignature(this.readHeld(0, 8))) throw notVhdx();
      throw new VhdxError('header-section-truncated', `input ended at ${this.received}, inside the headers and region tables`, {
        structure: 'header section',
        offset: this.received,
      });
    }
    const section = parseHeaderSection(this.readHeld(0, HEADER_SECTION_SIZE), []);
    const needed = structureRegions(section, this.limits);
    this.structureEnd = Math.max(HEADER_SECTION_SIZE, ...needed.map((r) => r.offset + r.length));
    this.structureBytes = needed.reduce((n, r) => n + r.length, 0);
    this.section = section;
  }

  /** A copy of held bytes in [offset, offset + length), cut short at the input's end. */
  private readHeld(offset: number, length: number): Uint8Array {
    const end = Math.min(offset + length, this.received);
    const out = new Uint8Array(Math.max(0, end - offset));
    for (const { position, bytes } of this.held) {
      const from = Math.max(offset, position);
      const to = Math.min(end, position + bytes.length);
      if (from < to) out.set(bytes.subarray(from - position, to - position), from - offset);
    }
    return out;
  }

  private reader(ended: boolean): ByteReader {
    return { size: ended ? this.received : undefined, read: async (offset, length) => this.readHeld(offset, length) };
  }
}

function notVhdx(): VhdxError {
  return new VhdxError('not-vhdx', 'no "vhdxfile" signature at offset 0', { structure: 'file identifier', offset: 0 });
}

/** The decoder's view of a loaded model. */
function structureOf(model: ImageModel): LoadedStructure {
  const { states, overlay } = model;
  const payload: PayloadMap = {
    blockSize: model.blockSize,
    virtualSize: model.virtualSize,
    blockCount: model.blockCount,
    isStored: (block) => states[block]! >= BlockState.FULLY_PRESENT,
    offsetsMiB: model.offsetsMiB,
    order: model.order,
    zerosUntil: overlay?.lastFileOffset ?? 0,
  };
  // file bytes as a replayed log leaves them, copied only when it changes them
  if (overlay) payload.patch = (piece, position) => patchedBytes(overlay, position, piece);
  const loaded: LoadedStructure = { info: model.info, payload, flushedFileOffset: overlay?.flushedFileOffset ?? 0 };
  if (model.parentLink) loaded.child = childView(model);
  return loaded;
}

function childView(model: ImageModel): ChildView {
  return {
    own: (start, end) => resolveOwnExtents(model, model.bitmaps, start, end),
    accept(parent, rules) {
      const level = { model, location: undefined, depth: 0, seen: startSeen(model.info, undefined) };
      const { linkage, problems, mismatch } = acceptOpenedParent(level, parent, rules);
      model.info.chain[0]!.parentLinkage = linkage;
      if (mismatch) model.info.chain[0]!.mismatch = mismatch;
      model.info.chain.push(...parent.info.chain);
      return { problems };
    },
  };
}
