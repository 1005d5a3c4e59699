// VHDX -> raw as a stream pair, in one pass over the file.
//
// Bytes arrive in file order; the raw disk leaves in virtual order. Until the
// metadata and BAT have passed, everything is held (bounded). Afterwards each
// byte is routed by the file-order inverse of the BAT: bytes of the block due
// next pass straight through, bytes of later blocks wait in a bounded reorder
// buffer, and blocks that are not stored come out as zeros, generated only as
// fast as the consumer reads them.
import { VhdxError, asVhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';
import { BlockState } from '../format/bat.js';
import { hasVhdxSignature } from '../format/identifier.js';
import { resolveLimits, type ReadLimits, type ResolvedLimits } from '../image/limits.js';
import { loadImage, type ImageModel } from '../image/load.js';
import type { ByteReader } from '../image/reader.js';
import { parseHeaderSection, structureRegions, type HeaderSection } from '../image/header-section.js';
import { HEADER_AREA_END, HEADER_SECTION_SIZE } from '../format/region-table.js';
import type { VhdxInfo } from '../image/types.js';
import { patchedBytes } from '../image/overlay.js';
import { ready } from '../wasm/instance.js';
import { ReadableStreamImpl, WritableStreamImpl, asBytes, byteStrategy } from '../runtime/web-streams.js';

/** Options of {@link VhdxDecoderStream}. */
export interface VhdxDecoderOptions extends ReadLimits {
  /**
   * Most payload bytes held while they wait: blocks stored out of virtual
   * order, and payload that precedes the BAT or metadata. Default 64 MiB,
   * which suits a serverless function; a file needing more fails with
   * LIMIT_EXCEEDED (open it with openVhdx() from a re-readable source instead).
   */
  maxBufferBytes?: number;
}

export const DEFAULT_MAX_BUFFER = 64 * MiB;
const ZERO_CHUNK = 4 * MiB;
const OUT_QUEUE = 8 * MiB;

interface Held {
  pieces: Uint8Array[];
  bytes: number;
}

/**
 * Converts a VHDX byte stream into the raw disk, like `DecompressionStream`:
 *
 * ```ts
 * const raw = (await fetch(url)).body!.pipeThrough(new VhdxDecoderStream());
 * ```
 *
 * Zero stretches are emitted as views of one zero buffer per stream: treat
 * output chunks as read-only.
 */
export class VhdxDecoderStream implements GenericTransformStream {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves with the image's info once its structures have streamed past. */
  readonly info: Promise<VhdxInfo>;

  constructor(options: VhdxDecoderOptions = {}) {
    const core = new DecoderCore(resolveLimits(options), options.maxBufferBytes ?? DEFAULT_MAX_BUFFER);
    if (!Number.isSafeInteger(core.maxBuffer) || core.maxBuffer <= 0) {
      throw new VhdxError('INVALID_ARGUMENT', 'maxBufferBytes must be a positive integer');
    }
    this.info = core.infoPromise;
    this.writable = new WritableStreamImpl<Uint8Array>(
      {
        start: () => ready().then(() => undefined),
        write: (chunk) => core.write(asBytes(chunk)),
        close: () => core.end(),
        abort: (reason) => core.fail(reason),
      },
      byteStrategy(),
    );
    this.readable = new ReadableStreamImpl<Uint8Array>(
      {
        start: (c) => core.attach(c),
        pull: () => core.pull(),
        cancel: (reason) => core.cancel(reason),
      },
      byteStrategy(OUT_QUEUE),
    );
  }
}

class DecoderCore {
  readonly infoPromise: Promise<VhdxInfo>;
  private resolveInfo!: (i: VhdxInfo) => void;
  private rejectInfo!: (e: unknown) => void;
  private out!: ReadableStreamDefaultController<Uint8Array>;

  private filePos = 0;
  private early: { pos: number; bytes: Uint8Array }[] = [];
  private earlyBytes = 0;
  private structureEnd = HEADER_SECTION_SIZE; // everything below must be held before the model can be built
  private structureBytes = 0;
  private model: ImageModel | undefined;

  private current = 0; // next virtual block to emit
  private currentDone = 0; // bytes of it emitted (zeros) or received (data)
  private held = new Map<number, Held>();
  private heldBytes = 0;
  private clearUntil = 0; // blocks in [current, clearUntil) need no more input
  private cursor = 0; // index into the file-order arrays
  private ended = false;
  private error: unknown;
  private zeros: Uint8Array | undefined;
  private wake: (() => void)[] = [];

  constructor(
    private readonly limits: ResolvedLimits,
    readonly maxBuffer: number,
  ) {
    this.infoPromise = new Promise((resolve, reject) => {
      this.resolveInfo = resolve;
      this.rejectInfo = reject;
    });
    this.infoPromise.catch(() => {});
  }

  attach(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.out = c;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  private changed(): Promise<void> {
    return new Promise((r) => this.wake.push(r));
  }

  private check(): void {
    if (this.error !== undefined) throw this.error;
  }

  fail(reason: unknown): void {
    if (this.error !== undefined) return;
    this.error = reason;
    this.rejectInfo(reason);
    try {
      this.out?.error(reason);
    } catch {
      // already closed or errored
    }
    this.held.clear();
    this.early = [];
    this.notify();
  }

  cancel(reason: unknown): void {
    this.fail(reason ?? new VhdxError('IO', 'output cancelled'));
  }

  // ---- input side ----

  async write(bytes: Uint8Array): Promise<void> {
    this.check();
    try {
      if (!this.model) {
        this.hold(bytes);
        await this.tryBuild();
      } else {
        await this.route(bytes, this.filePos);
        this.filePos += bytes.length;
      }
    } catch (err) {
      const e = asVhdxError(err, 'CORRUPT', 'decoding failed');
      this.fail(e);
      throw e;
    }
  }

  async end(): Promise<void> {
    this.check();
    this.ended = true;
    try {
      if (!this.model) await this.tryBuild();
      if (!this.model) {
        throw new VhdxError('TRUNCATED', `input ended at ${this.filePos} before the metadata and BAT were complete`, { offset: this.filePos });
      }
      const flushed = this.model.overlay?.flushedFileOffset ?? 0;
      if (this.filePos < flushed) {
        throw new VhdxError('CORRUPT', `the input is ${this.filePos} bytes but the log says ${flushed} were flushed: data was lost`, { structure: 'log entry', field: 'flushed_file_offset' });
      }
    } catch (err) {
      const e = asVhdxError(err, 'CORRUPT', 'decoding failed');
      this.fail(e);
      throw e;
    }
    this.notify();
  }

  private hold(bytes: Uint8Array): void {
    if (this.filePos < 8 && this.filePos + bytes.length >= 8 && this.early.length === 0 && !hasVhdxSignature(bytes)) {
      throw new VhdxError('NOT_VHDX', 'no "vhdxfile" signature at offset 0', { structure: 'file identifier', offset: 0 });
    }
    this.early.push({ pos: this.filePos, bytes });
    this.earlyBytes += bytes.length;
    this.filePos += bytes.length;
    // structures are bounded by their own limits; what else is held counts here
    const payload = this.earlyBytes - HEADER_SECTION_SIZE - this.structureBytes;
    if (this.regionsKnown && payload > this.maxBuffer) this.overLimit('the BAT or metadata comes after');
  }

  private overLimit(why: string): never {
    throw new VhdxError(
      'LIMIT_EXCEEDED',
      `more than ${this.maxBuffer} bytes would have to be held because ${why} payload in the file; raise maxBufferBytes or use openVhdx() with a re-readable source (file, Blob, URL)`,
      { offset: this.filePos },
    );
  }

  /** A reader over the held bytes, for the structure loader. */
  private earlyReader(): ByteReader {
    return {
      size: this.ended ? this.filePos : undefined,
      read: async (offset, length) => {
        const end = Math.min(offset + length, this.filePos);
        const out = new Uint8Array(Math.max(0, end - offset));
        for (const { pos, bytes } of this.early) {
          const from = Math.max(offset, pos);
          const to = Math.min(end, pos + bytes.length);
          if (from < to) out.set(bytes.subarray(from - pos, to - pos), from - offset);
        }
        return out;
      },
    };
  }

  private regionsKnown = false;
  private section: HeaderSection | undefined;

  private async tryBuild(): Promise<void> {
    if (!this.regionsKnown) {
      if (this.filePos < HEADER_SECTION_SIZE && !this.ended) return;
      if (this.filePos < HEADER_AREA_END) {
        const head = await this.earlyReader().read(0, 8);
        if (!hasVhdxSignature(head)) throw new VhdxError('NOT_VHDX', 'no "vhdxfile" signature at offset 0', { structure: 'file identifier', offset: 0 });
        throw new VhdxError('TRUNCATED', `input ended at ${this.filePos}, inside the headers and region tables`, { structure: 'header section', offset: this.filePos });
      }
      const reader = this.earlyReader();
      const head = await reader.read(0, HEADER_SECTION_SIZE);
      this.section = parseHeaderSection(head, []);
      const needed = structureRegions(this.section, this.limits);
      this.structureEnd = Math.max(HEADER_SECTION_SIZE, ...needed.map((r) => r.offset + r.length));
      this.structureBytes = needed.reduce((n, r) => n + r.length, 0);
      this.regionsKnown = true;
    }
    if (this.filePos < this.structureEnd && !this.ended) return;
    const model = await loadImage(this.earlyReader(), this.limits, [], this.section);
    if (model.info.type === 'differencing') {
      throw new VhdxError('UNSUPPORTED', 'differencing disks need their parent chain, which is not supported yet', { structure: 'metadata' });
    }
    this.model = model;
    this.resolveInfo(model.info);
    // wake the reader first: routing the held bytes may wait for it to
    // consume zeros of blocks that come before them
    this.notify();
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const { pos, bytes } of early) await this.route(bytes, pos);
    this.notify();
  }

  // ---- routing ----

  private blockLength(block: number): number {
    const m = this.model!;
    return Math.min(m.blockSize, m.virtualSize - block * m.blockSize);
  }

  private present(block: number): boolean {
    return this.model!.states[block]! >= BlockState.FULLY_PRESENT;
  }

  /** True when a stored block before `block` still lacks input. */
  private waitsForInput(block: number): boolean {
    if (this.clearUntil < this.current) this.clearUntil = this.current;
    while (this.clearUntil < block) {
      const b = this.clearUntil;
      if (this.present(b)) {
        const got = b === this.current ? this.currentDone : (this.held.get(b)?.bytes ?? 0);
        if (got < this.blockLength(b)) return true;
      }
      this.clearUntil++;
    }
    return false;
  }

  private async route(bytes: Uint8Array, base: number): Promise<void> {
    const { order, blockSize } = this.model!;
    const offs = order.offsetsMiB;
    const end = base + bytes.length;
    let pos = base;
    while (pos < end) {
      while (this.cursor < offs.length && offs[this.cursor]! * MiB + blockSize <= pos) this.cursor++;
      if (this.cursor >= offs.length) return; // past the last block: nothing more to route
      const start = offs[this.cursor]! * MiB;
      if (start > pos) {
        pos = Math.min(end, start); // a gap (log, regions, unused space)
        continue;
      }
      const block = order.blocks[this.cursor]!;
      const inBlock = pos - start;
      const n = Math.min(end - pos, start + blockSize - pos);
      const want = this.blockLength(block) - inBlock;
      if (want > 0) await this.deliver(block, this.patch(bytes.subarray(pos - base, pos - base + Math.min(n, want)), pos));
      pos += n;
    }
  }

  /** Applies a replayed log to payload bytes at file offset `pos` (copying only when it changes them). */
  private patch(piece: Uint8Array, pos: number): Uint8Array {
    return patchedBytes(this.model!.overlay, pos, piece);
  }

  private async deliver(block: number, piece: Uint8Array): Promise<void> {
    if (block > this.current && !this.waitsForInput(block)) {
      // Only zeros or complete blocks lie between: wait for the consumer
      // instead of buffering, so in-order files never fill the reorder buffer.
      while (block > this.current && this.error === undefined) await this.changed();
      this.check();
    }
    if (block === this.current) {
      this.enqueue(piece);
      this.currentDone += piece.length;
      if (this.currentDone >= this.blockLength(block)) this.advance();
      // Backpressure: wait for the consumer. A pull() parked waiting for
      // input is released first; while it stays pending the stream never
      // calls pull() again, and that call is what reports the consumer's read.
      while (this.out.desiredSize !== null && this.out.desiredSize <= 0 && this.error === undefined) {
        this.notify();
        await this.changed();
      }
      this.check();
      return;
    }
    let h = this.held.get(block);
    if (!h) this.held.set(block, (h = { pieces: [], bytes: 0 }));
    h.pieces.push(piece);
    h.bytes += piece.length;
    this.heldBytes += piece.length;
    if (this.heldBytes > this.maxBuffer) this.overLimit(`block ${block} is stored before earlier blocks`);
  }

  private enqueue(piece: Uint8Array): void {
    this.out.enqueue(piece);
  }

  private advance(): void {
    this.current++;
    this.currentDone = 0;
    const h = this.held.get(this.current);
    if (h) {
      this.held.delete(this.current);
      this.heldBytes -= h.bytes;
      for (const p of h.pieces) this.enqueue(p);
      this.currentDone = h.bytes;
      if (this.current < this.model!.blockCount && this.currentDone >= this.blockLength(this.current)) this.advance();
    }
    this.notify();
  }

  // ---- output side ----

  async pull(): Promise<void> {
    for (;;) {
      if (this.error !== undefined) return;
      const m = this.model;
      if (!m) {
        await this.changed();
        continue;
      }
      if (this.current >= m.blockCount) {
        this.out.close();
        return;
      }
      if (!this.present(this.current)) {
        this.zeros ??= new Uint8Array(Math.min(ZERO_CHUNK, m.blockSize));
        const n = Math.min(this.zeros.length, this.blockLength(this.current) - this.currentDone);
        this.enqueue(this.zeros.subarray(0, n));
        this.currentDone += n;
        if (this.currentDone >= this.blockLength(this.current)) this.advance();
        else this.notify();
        return;
      }
      if (this.out.desiredSize !== null && this.out.desiredSize <= 0) {
        this.notify();
        return;
      }
      if (this.ended) {
        const start = m.offsetsMiB[this.current]! * MiB + this.currentDone;
        const need = this.blockLength(this.current) - this.currentDone;
        if (m.overlay && start >= this.filePos && start + need <= m.overlay.lastFileOffset) {
          // past the input's end but within the log's last_file_offset: zeros
          this.enqueue(this.patch(new Uint8Array(need), start));
          this.advance();
          continue;
        }
        this.fail(new VhdxError('TRUNCATED', `input ended at ${this.filePos} before block ${this.current} (file offset ${start}) was complete`, { offset: start }));
        return;
      }
      this.notify(); // let a writer blocked on backpressure continue
      await this.changed();
    }
  }
}
