// VHDX -> raw, push-style and free of stream machinery: the structure loader
// until the model is built, then the reorder buffer. The WHATWG adapter
// (decoder.ts) and the Node stdin path (node/decode-chunks.ts) drive it; `emit`
// is where each is told about its consumer's pace.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import type { VhdxImage } from '../image/image.js';
import { ChainMerger } from './chain-merge.js';
import { ReorderBuffer } from './reorder-buffer.js';
import { DEFAULT_MAX_CHAIN_DEPTH, StructureLoader, type LoadedStructure, type ReadLimits, type VhdxInfo } from './structure-loader.js';

export type { ReadLimits, VhdxInfo };

/** Options of {@link VhdxDecoderStream} and {@link DecoderCore}. */
export interface VhdxDecoderOptions extends ReadLimits {
  /**
   * Most payload bytes held while they wait: blocks stored out of virtual
   * order, and payload that precedes the BAT or metadata. Default 64 MiB,
   * which suits a serverless function; a file needing more fails with
   * LIMIT_EXCEEDED (open it with openVhdx() from a re-readable source instead).
   */
  maxBufferBytes?: number;
  /**
   * The parent of a differencing file, opened with `openVhdx` (it stays yours): the child's
   * payload streams in, the parent is read at random where the child leaves stretches to it.
   * Ignored for a file without a parent; without it a differencing file fails with `parent-missing`.
   */
  parent?: VhdxImage;
  /** Accept a parent whose DataWriteGuid is not the one the child's locator names. Default false. */
  ignoreLinkage?: boolean;
  /** Most parents the chain may have (default 16). */
  maxChainDepth?: number;
}

export const DEFAULT_MAX_BUFFER = 64 * MiB;

/**
 * Receives one piece of the raw disk. A returned promise holds the decoder
 * until it settles: that is how a consumer slows it down. Pieces may be
 * views of pushed input or of a shared zero buffer: treat them as read-only.
 */
export type EmitPiece = (piece: Uint8Array) => void | Promise<void>;

/** How a driver of {@link DecoderCore} works with it. */
export interface DecoderDriver {
  /** The caller overwrites pushed buffers once push has settled: bytes held for later are copied. */
  transientInput?: boolean;
  /** Called with the image's info before the first piece is emitted. */
  onInfo?(info: VhdxInfo): void;
  /** Called once, with the reason, when decoding fails or is stopped with {@link DecoderCore.fail}. */
  onFail?(reason: unknown): void;
}

/**
 * Decodes a VHDX byte stream pushed in file order into the raw disk,
 * handed to `emit` in virtual order. {@link push} returns once everything
 * the bytes allow has been emitted (and every emit has settled), so with
 * `transientInput` a caller may overwrite a pushed buffer as soon as push
 * returns: only held bytes are copied.
 */
export class DecoderCore {
  /** Resolves with the image's info once its structures have passed. */
  readonly info: Promise<VhdxInfo>;
  private resolveInfo!: (info: VhdxInfo) => void;
  private rejectInfo!: (reason: unknown) => void;
  private readonly loader: StructureLoader;
  private readonly maxBufferBytes: number;
  private reorder: ReorderBuffer | undefined;
  private merger: ChainMerger | undefined;
  private flushedFileOffset = 0;
  private received = 0;
  private failure: { reason: unknown } | undefined;

  /**
   * @param driver see {@link DecoderDriver}
   * @throws VhdxError INVALID_ARGUMENT `invalid-option` for a bad maxBufferBytes or read limit
   */
  constructor(
    private readonly options: VhdxDecoderOptions = {},
    private readonly driver: DecoderDriver = {},
  ) {
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER;
    this.loader = new StructureLoader(options, this.maxBufferBytes, !!driver.transientInput);
    if (!Number.isSafeInteger(this.maxBufferBytes) || this.maxBufferBytes <= 0) {
      throw new VhdxError('invalid-option', 'maxBufferBytes must be a positive integer', { structure: 'options', field: 'maxBufferBytes' });
    }
    const depth = options.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH;
    if (!Number.isSafeInteger(depth) || depth < 0) {
      throw new VhdxError('invalid-option', 'maxChainDepth must be a non-negative integer', {
        structure: 'options',
        field: 'maxChainDepth',
      });
    }
    this.info = new Promise((resolve, reject) => {
      this.resolveInfo = resolve;
      this.rejectInfo = reject;
    });
    this.info.catch(() => {}); // a caller need not wait for it
  }

  /**
   * Takes the next input bytes and emits what they complete. Returns a
   * promise only when it has to wait (for the consumer, or while loading
   * the structures), so the common case costs no promise.
   * @throws VhdxError as {@link StructureLoader.push} and {@link ReorderBuffer.accept} do; the reason
   *   given to {@link fail}; whatever `emit` throws. Any error leaves the core failed.
   */
  push(bytes: Uint8Array, emit: EmitPiece): Promise<void> | undefined {
    this.throwIfFailed();
    const position = this.received;
    this.received += bytes.length;
    try {
      const pending = this.reorder ? this.route(bytes, position, !!this.driver.transientInput, emit) : this.load(bytes, emit);
      return pending?.catch((err: unknown) => {
        throw this.fail(err);
      });
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * Ends the input and emits the rest of the disk.
   * @throws VhdxError TRUNCATED (`input-truncated`, `header-section-truncated`) when the input ended
   *   early; CORRUPT `log-flushed-past-eof` when shorter than a replayed log's flushed_file_offset; as push
   */
  async end(emit: EmitPiece): Promise<void> {
    this.throwIfFailed();
    try {
      if (!this.reorder) await this.begin(await this.loader.end(), emit);
      if (this.received < this.flushedFileOffset) {
        throw new VhdxError(
          'log-flushed-past-eof',
          `the input is ${this.received} bytes but the log says ${this.flushedFileOffset} were flushed: data was lost`,
          { structure: 'log entry', field: 'flushed_file_offset' },
        );
      }
      this.reorder!.end(this.received);
      await this.drain(emit); // after end(), the reorder buffer hands out everything or throws
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Stops decoding: later calls throw `reason`, held bytes are dropped, info rejects. Returns the first reason. */
  fail(reason: unknown): unknown {
    if (!this.failure) {
      this.failure = { reason };
      this.rejectInfo(reason);
      this.reorder?.clear();
      this.loader.takeHeld();
      this.driver.onFail?.(reason);
    }
    return this.failure.reason;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.reason;
  }

  private async load(bytes: Uint8Array, emit: EmitPiece): Promise<void> {
    const loaded = await this.loader.push(bytes);
    if (loaded) await this.begin(loaded, emit);
  }

  private async begin(loaded: LoadedStructure, emit: EmitPiece): Promise<void> {
    if (loaded.child) this.merger = this.mergerFor(loaded);
    this.reorder = new ReorderBuffer(loaded.payload, this.maxBufferBytes);
    this.flushedFileOffset = loaded.flushedFileOffset;
    this.resolveInfo(loaded.info);
    this.driver.onInfo?.(loaded.info);
    for (const { position, bytes } of this.loader.takeHeld()) await this.route(bytes, position, false, emit); // already owned
  }

  /**
   * Accepts the `parent` option as the differencing file's parent, before any byte is emitted.
   * @throws VhdxError IO `parent-missing` without a parent (or with one whose own parent is missing);
   *   the chain reasons of {@link ChildView.accept}
   */
  private mergerFor(loaded: LoadedStructure): ChainMerger {
    const parent = this.options.parent;
    const missing = parent?.info.chain.some((level) => level.parentLinkage === 'missing');
    if (!parent || missing) {
      const why = parent
        ? 'the parent given has no parent of its own (it was opened with allowMissingParent)'
        : 'pass the parent option (an image opened with openVhdx)';
      throw new VhdxError('parent-missing', `a differencing file streams only with its parent: ${why}`, { structure: 'parent locator' });
    }
    loaded.child!.accept(parent, {
      ignoreLinkage: !!this.options.ignoreLinkage,
      maxChainDepth: this.options.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH,
    });
    return new ChainMerger(loaded.child!.own, (offset, length) => parent.read(offset, length));
  }

  /** Feeds bytes to the reorder buffer, emitting whenever it needs output taken before it can take more. */
  private route(bytes: Uint8Array, position: number, transient: boolean, emit: EmitPiece): Promise<void> | undefined {
    const reorder = this.reorder!;
    for (let at = 0; ; ) {
      at += reorder.accept(at === 0 ? bytes : bytes.subarray(at), position + at, transient);
      const wait = this.drain(emit);
      const done = at >= bytes.length;
      if (wait) return done ? wait : wait.then(() => this.route(bytes.subarray(at), position + at, transient, emit));
      if (done) return undefined;
    }
  }

  /** Emits every piece available now; a promise when the consumer asks to wait. */
  private drain(emit: EmitPiece): Promise<void> | undefined {
    this.throwIfFailed();
    const reorder = this.reorder!;
    for (let piece = reorder.next(); piece; piece = reorder.next()) {
      const wait = this.merger ? this.merger.emit(piece, emit) : emit(piece);
      if (wait) return wait.then(() => this.drain(emit));
      this.throwIfFailed(); // an emit may have stopped the core (a consumer that cancels)
    }
    return undefined;
  }
}
