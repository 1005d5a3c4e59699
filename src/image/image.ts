// The random-access reader: an open file (opened by open.ts), and the chain
// of parents a differencing file reads through.
import { VhdxError, asVhdxError, type LinkageMismatch } from '../errors.js';
import { MiB } from '../format/bytes.js';
import type { HttpSourceOptions } from '../sources/index.js';
import type { ParentRequest } from '../sources/parent.js';
import type { CustomFile, ReadableFile, SourceInput } from '../sources/types.js';
import { ReadableStreamImpl, byteStrategy } from '../runtime/web-streams.js';
import { bytesOf } from '../wasm/kernels.js';
import { identityOf } from './chain.js';
import type { ReadLimits } from './limits.js';
import { holesAsZeros, pushMerged, resolveOwnExtents } from './extents.js';
import type { ImageModel } from './load.js';
import { overlayReader } from './overlay.js';
import { GATHER_SPAN, longestInPlace, planReads, type DataExtent, type PlannedRead } from './read-plan.js';
import type { ByteReader } from './reader.js';
import { problemOf, type Extent, type Problem, type VhdxInfo } from './types.js';

/** Gather buffers an image keeps for reuse: as many as reads commonly run at once (a pipeline's read-ahead). */
const KEPT_GATHER_BUFFERS = 4;

/** How a differencing file's parents are found and accepted (options of {@link openVhdx} and {@link checkVhdx}). */
export interface ChainOptions {
  /**
   * The parent of the file opened: an opened image (it stays yours: closing the child does not close it)
   * or an input to open (bytes, Blob, URL, `{ size, read }`; in Node also a path). Its own parents are
   * found as usual. Ignored for a file without a parent.
   */
  parent?: VhdxImage | SourceInput;
  /**
   * Asked for every parent of the chain before the locator's paths are tried; return an image or an
   * input, or undefined to let the default lookup go on.
   */
  resolveParent?(request: ParentRequest): VhdxImage | SourceInput | undefined | Promise<VhdxImage | SourceInput | undefined>;
  /** Accept a parent whose DataWriteGuid is not the one the locator names (a warning in `check()`). Default false. */
  ignoreLinkage?: boolean;
  /** Most parents followed (default 16); a deeper chain fails with `chain-too-deep`. */
  maxChainDepth?: number;
  /**
   * Open a differencing file whose parent cannot be found anyway: `info` and `check()` work
   * (the chain says `missing`), reading fails with `parent-missing`. Default false.
   */
  allowMissingParent?: boolean;
}

/** Options of {@link openVhdx}. */
export interface OpenVhdxOptions extends ReadLimits, HttpSourceOptions, ChainOptions {
  /** Largest single read `stream()` issues (default 4 MiB). */
  chunkSize?: number;
  /** Bytes `stream()` reads ahead of its consumer (default 16 MiB). */
  readAhead?: number;
  /**
   * Open the file to change it in place: the image gets {@link VhdxImage.write},
   * {@link VhdxImage.discard}, {@link VhdxImage.flush} and {@link VhdxImage.close}
   * writes the headers back. A dirty log is replayed onto the file first.
   * Inputs: a Node path or FileHandle (`vhdx-stream/node`), an OPFS
   * `FileSystemSyncAccessHandle`, or a {@link CustomFile}. Default false. See docs/writing.md.
   * A Node path or FileHandle makes its small writes on the calling thread
   * (the Node entry's `syncWriteLimit` option, default 64 KiB).
   */
  writable?: boolean;
}

/**
 * What a writable open attaches to an image (made by edit/): every change of
 * the file goes through it.
 */
export interface ImageEditor {
  write(offset: number, data: Uint8Array): Promise<void>;
  discard(offset: number, length: number): Promise<void>;
  flush(): Promise<void>;
  /** Everything applied and flushed, the headers closed; the file stays open. */
  close(): Promise<void>;
  /** Runs a read after the operations called before it, before those called after. */
  inOrder<T>(read: () => Promise<T>): Promise<T>;
}

/** The result of {@link VhdxImage.check}. */
export interface CheckReport {
  /** True when nothing is wrong (warnings aside). */
  ok: boolean;
  problems: Problem[];
}

/** A byte range of the virtual disk: `[start, end)`. */
export interface VirtualRange {
  start?: number;
  end?: number;
}

/** A differencing image's parent, once found (or the error saying why not). */
export interface ParentLinkState {
  image?: VhdxImage;
  /** How the parent's DataWriteGuid matched the locator (`mismatch`: accepted with ignoreLinkage, or for a report). */
  linkage?: 'ok' | 'mismatch';
  /** What is known of a mismatch. */
  mismatch?: LinkageMismatch;
  owned: boolean;
  problems: Problem[];
  missing?: VhdxError;
}

/**
 * An open VHDX file, read at random offsets; made by {@link openVhdx}.
 * A dirty log has been replayed in memory: every read sees the disk as the
 * log leaves it, and the file is never written. A differencing file reads
 * through its parents: every read, extent, stream and check sees the merged disk.
 * @throws VhdxError from `read`, `extents` and `stream`: `INVALID_ARGUMENT`
 *   (`range-outside-disk`), `IO` (`parent-missing` when opened with
 *   `allowMissingParent`, `read-failed`), `TRUNCATED` (`payload-truncated`).
 */
export class VhdxImage {
  /** What the file is; `info.chain` lists it and its parents. */
  readonly info: VhdxInfo;
  private readonly zeros: Uint8Array;
  /** File reads as the replayed log leaves them (the source itself when clean). */
  private file: ByteReader;
  /** The writable open's editor; absent for a read-only image. */
  private editor: ImageEditor | undefined;
  private link: ParentLinkState = { owned: false, problems: [] };
  /** Buffers of reads that gather several stretches (GATHER_SPAN bytes each), kept for the next ones. */
  private readonly gatherBuffers: Uint8Array[] = [];

  /** @internal an image is opened by {@link openVhdx}, which checks the file first */
  static create(source: ReadableFile, model: ImageModel, options: OpenVhdxOptions): VhdxImage {
    return new VhdxImage(source, model, options);
  }

  private constructor(
    private readonly source: ReadableFile,
    private readonly model: ImageModel,
    private readonly options: OpenVhdxOptions,
  ) {
    this.info = model.info;
    this.file = overlayReader(source, model.overlay);
    this.zeros = new Uint8Array(Math.min(options.chunkSize ?? 4 * MiB, model.virtualSize));
  }

  /**
   * @internal makes the image writable: the editor changes the file and the
   * model this image reads (the model is the one source of truth for both),
   * and a log replayed onto the file is no longer overlaid.
   */
  attachEditor(editor: ImageEditor): void {
    this.editor = editor;
    this.file = overlayReader(this.source, this.model.overlay);
  }

  /** @internal the model this image reads (edit/ plans in-place operations with it). */
  get loadedModel(): ImageModel {
    return this.model;
  }

  /** True when the image was opened with `writable: true` and is not closed. */
  get writable(): boolean {
    return this.editor !== undefined;
  }

  private editing(): ImageEditor {
    if (!this.editor) throw new VhdxError('image-not-writable', 'this image was not opened with { writable: true } (or is closed)');
    return this.editor;
  }

  /**
   * Writes `data` at byte `offset` of the virtual disk (any offset and length
   * inside it); reads see it at once. Durable after the next {@link flush}
   * (or {@link close}). A differencing file changes only itself, never its parent.
   * Any typed array or ArrayBuffer is written as its bytes, read when the write runs
   * (after the operations called before it): leave them unchanged until it settles.
   * @throws VhdxError `INVALID_ARGUMENT` (`image-not-writable`, `range-outside-disk`, `not-bytes`); `IO` (`write-failed`, `read-failed`).
   */
  async write(offset: number, data: Uint8Array): Promise<void> {
    const editor = this.editing();
    const bytes = bytesOf(data, 'write');
    this.checkRange(offset, bytes.length);
    await editor.write(offset, bytes);
  }

  /**
   * Makes `[offset, offset + length)` read as zeros: whole blocks become ZERO
   * (their space is reused by later writes; in a differencing file the parent
   * never shows through), parts of blocks get zeros written.
   * @throws VhdxError as {@link write}.
   */
  async discard(offset: number, length: number): Promise<void> {
    const editor = this.editing();
    this.checkRange(offset, length);
    await editor.discard(offset, length);
  }

  /**
   * Makes every completed write and discard durable: after a crash the file
   * opens with all of them.
   * @throws VhdxError `INVALID_ARGUMENT` (`image-not-writable`); `IO` (`write-failed`).
   */
  async flush(): Promise<void> {
    await this.editing().flush();
  }

  /** The parent image of a differencing file (undefined for other files, or when the parent is missing). */
  get parent(): VhdxImage | undefined {
    return this.link.image;
  }

  /** @internal records the parent found for this differencing image (or why there is none). */
  attachParent(link: ParentLinkState): void {
    this.link = link;
    const level = this.info.chain[0]!;
    if (link.image) {
      level.parentLinkage = link.linkage ?? 'ok';
      if (link.mismatch) level.mismatch = link.mismatch;
      this.info.chain.push(...link.image.info.chain);
    } else level.parentLinkage = 'missing';
  }

  /** Why a parent somewhere in the chain is missing (opened with `allowMissingParent`), if one is. */
  private missingParent(): VhdxError | undefined {
    return this.link.missing ?? this.link.image?.missingParent();
  }

  /** @internal identities of every level of the chain, for loop detection. */
  identities(): string[] {
    return [identityOf(this.info), ...(this.link.image?.identities() ?? [])];
  }

  private checkRange(offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.model.virtualSize
    ) {
      throw new VhdxError('range-outside-disk', `range [${offset}, +${length}) is outside the ${this.model.virtualSize}-byte disk`);
    }
  }

  /** Extents of `[start, end)` across the chain (no range check). */
  private resolve(start: number, end: number): Extent[] {
    // a clean file's stored stretches that are holes read as zeros (a replayed log may patch bytes over a hole)
    const own = holesAsZeros(
      resolveOwnExtents(this.model, this.model.bitmaps, start, end),
      this.model.overlay ? undefined : this.source.holes,
    );
    if (!this.model.parentLink) return own as Extent[];
    const out: Extent[] = [];
    for (const e of own) {
      if (e.kind !== 'parent') {
        pushMerged(out, e);
        continue;
      }
      const parent = this.link.image;
      if (!parent)
        throw (
          this.link.missing ??
          new VhdxError('parent-missing', 'the parent of this differencing file was not opened', { structure: 'parent locator' })
        );
      // the parent's extents are new objects, made for this call: renumbered in place, not copied
      for (const p of parent.resolve(e.offset, e.offset + e.length)) {
        if (p.kind === 'data') p.level += 1;
        pushMerged(out, p);
      }
    }
    return out as Extent[];
  }

  /**
   * Where the bytes of `[start, end)` come from: file data (in the file of
   * `level`: 0 this one, 1 its parent, …), zeros, or unmapped (reads as zeros).
   */
  extents(range: VirtualRange = {}): Extent[] {
    const start = range.start ?? 0;
    const end = range.end ?? this.model.virtualSize;
    this.checkRange(start, end - start);
    return this.resolve(start, end);
  }

  /**
   * Reads `length` bytes of the virtual disk at `offset`. On a writable image it
   * sees every write and discard called before it, awaited or not, and none called after.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.checkRange(offset, length);
    return this.editor ? this.editor.inOrder(() => this.readNow(offset, length)) : this.readNow(offset, length);
  }

  /** @internal {@link read} at once, outside the editor's order: for the editor itself, inside an operation. */
  readNow(offset: number, length: number): Promise<Uint8Array> {
    this.checkRange(offset, length);
    return this.readExtents(offset, length, this.resolve(offset, offset + length));
  }

  /** Reads `[offset, offset + length)` given its already resolved extents. */
  private async readExtents(offset: number, length: number, extents: Extent[]): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readExtentsInto(out, offset, extents);
    return out;
  }

  /**
   * Reads the data extents among `extents` (as {@link extents} gives them, each within the target) into
   * `target`, which holds the disk from `offset`; its other bytes are left as they are, unless
   * `gapsMayChange` says they are not used (then one read may go straight into place over them).
   * Neighbouring stretches of one file are read together (see read-plan.ts), for callers that walk the
   * extents themselves, like the Node file path.
   * @throws VhdxError as {@link read}
   */
  async readExtentsInto(target: Uint8Array, offset: number, extents: readonly Extent[], gapsMayChange = false): Promise<void> {
    const reads = planReads(extents.filter((e): e is DataExtent => e.kind === 'data'));
    // first: the others then write their stretches over its gaps
    const inPlace = gapsMayChange ? longestInPlace(reads) : undefined;
    if (inPlace) {
      const at = inPlace.pieces[0]!.offset - offset;
      await this.readData(inPlace.fileOffset, target.subarray(at, at + inPlace.length), inPlace.level);
    }
    for (const read of reads) if (read !== inPlace) await this.readPlanned(read, target, offset);
  }

  private async readPlanned(read: PlannedRead, target: Uint8Array, offset: number): Promise<void> {
    const [first] = read.pieces;
    if (read.pieces.length === 1) {
      return this.readData(first!.fileOffset, target.subarray(first!.offset - offset, first!.offset - offset + first!.length), read.level);
    }
    const buffer = this.takeGatherBuffer(read.length);
    try {
      const span = buffer.subarray(0, read.length);
      await this.readData(read.fileOffset, span, read.level);
      for (const e of read.pieces) {
        const from = e.fileOffset - read.fileOffset;
        target.set(span.subarray(from, from + e.length), e.offset - offset);
      }
    } finally {
      this.keepGatherBuffer(buffer);
    }
  }

  /**
   * A kept buffer of at least `length` bytes, else a new one of the next power of two (64 KiB at
   * least): many short reads in flight cost about what they read, not GATHER_SPAN each.
   */
  private takeGatherBuffer(length: number): Uint8Array {
    const fit = this.gatherBuffers.findIndex((b) => b.length >= length);
    if (fit >= 0) return this.gatherBuffers.splice(fit, 1)[0]!;
    return new Uint8Array(Math.min(GATHER_SPAN, 2 ** Math.ceil(Math.log2(Math.max(length, 64 * 1024)))));
  }

  /** Keeps `buffer` for later reads: up to KEPT_GATHER_BUFFERS, the largest ones. */
  private keepGatherBuffer(buffer: Uint8Array): void {
    const kept = this.gatherBuffers;
    if (kept.length < KEPT_GATHER_BUFFERS) {
      kept.push(buffer);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < kept.length; i++) if (kept[i]!.length < kept[smallest]!.length) smallest = i;
    if (kept[smallest]!.length < buffer.length) kept[smallest] = buffer;
  }

  /**
   * Reads file bytes at `fileOffset` into `target` as the replayed log leaves
   * them, from the file of chain level `level` (0 this file, 1 its parent, …),
   * for callers that map extents themselves, like the Node file path.
   */
  async readFileRange(fileOffset: number, target: Uint8Array, level = 0): Promise<void> {
    await this.readData(fileOffset, target, level);
  }

  private async readData(fileOffset: number, target: Uint8Array, level: number): Promise<void> {
    if (level > 0) {
      const parent = this.link.image;
      if (!parent) throw new VhdxError('range-outside-disk', `chain level ${level} does not exist`);
      return parent.readData(fileOffset, target, level - 1);
    }
    let n: number;
    try {
      if (this.file.readInto) n = await this.file.readInto(target, fileOffset);
      else {
        const got = await this.file.read(fileOffset, target.length);
        target.set(got.subarray(0, target.length));
        n = got.length;
      }
    } catch (err) {
      throw asVhdxError(err, 'read-failed', `reading payload at file offset ${fileOffset}`);
    }
    if (n < target.length)
      throw new VhdxError('payload-truncated', `payload at ${fileOffset} cut short after ${n} bytes`, { offset: fileOffset + n });
  }

  /**
   * The raw disk (or `[start, end)` of it) as a stream in virtual order.
   * Zero stretches are emitted as views of one shared zero buffer: treat
   * chunks as read-only.
   */
  stream(range: VirtualRange = {}): ReadableStream<Uint8Array> {
    const start = range.start ?? 0;
    const end = range.end ?? this.model.virtualSize;
    this.checkRange(start, end - start);
    const missing = this.missingParent();
    if (missing) throw missing; // here, not mid-stream
    const chunk = this.zeros.length;
    let pos = start;
    return new ReadableStreamImpl<Uint8Array>(
      {
        pull: async (controller) => {
          if (pos >= end) {
            controller.close();
            return;
          }
          const stop = Math.min(end, pos + chunk);
          const extents = this.resolve(pos, stop);
          const only = extents.length === 1 ? extents[0]! : undefined;
          if (only && only.kind !== 'data') controller.enqueue(this.zeros.subarray(0, stop - pos));
          else controller.enqueue(await this.readExtents(pos, stop - pos, extents));
          pos = stop;
        },
      },
      byteStrategy(this.options.readAhead ?? 16 * MiB),
    );
  }

  /**
   * Every problem found while opening and checking the file and, for a
   * differencing file, its link to its parent and every parent's problems
   * (each with its `level`).
   */
  async check(): Promise<CheckReport> {
    const problems = [...this.model.problems, ...this.link.problems];
    if (this.link.missing) problems.push(problemOf(this.link.missing));
    if (this.link.image) {
      for (const p of (await this.link.image.check()).problems) problems.push({ ...p, level: (p.level ?? 0) + 1 });
    }
    return { ok: problems.every((p) => p.severity === 'warning'), problems };
  }

  /**
   * @internal closes the parents the chain opened (a writable open that
   * fails after they were found).
   */
  async closeParents(): Promise<void> {
    if (this.link.owned) await this.link.image?.close();
  }

  /**
   * Releases the source (file handles), and the parents the chain opened. A
   * writable image first applies and flushes everything and writes headers
   * that say the log is empty.
   */
  async close(): Promise<void> {
    const editor = this.editor;
    this.editor = undefined;
    try {
      await editor?.close();
    } finally {
      await this.closeSource();
    }
  }

  private async closeSource(): Promise<void> {
    try {
      await this.source.close?.();
    } finally {
      if (this.link.owned) await this.link.image?.close();
    }
  }
}
