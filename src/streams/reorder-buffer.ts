// File order in, virtual order out, synchronously and with no stream
// machinery. Bytes arrive in file order; each is routed by the file-order
// inverse of the BAT: bytes of the block due next pass straight through,
// bytes of later blocks wait here (bounded), and blocks that are not stored
// come out as zeros, generated only when the caller asks for output.
import { VhdxError } from '../errors.js';
import { MiB } from '../format/bytes.js';

/** What the reorder buffer needs to know of an image: where each block's payload lies. */
export interface PayloadMap {
  readonly blockSize: number;
  readonly virtualSize: number;
  readonly blockCount: number;
  /** True when the block's payload is stored in the file (otherwise it reads as zeros). */
  isStored(block: number): boolean;
  /** Per block, its payload's file offset in MiB (stored blocks only). */
  readonly offsetsMiB: ArrayLike<number>;
  /** The stored blocks in file order, with their offsets in MiB. */
  readonly order: { readonly blocks: ArrayLike<number>; readonly offsetsMiB: ArrayLike<number> };
  /**
   * The file reads as zeros from the input's end up to this offset (a
   * replayed log's last_file_offset); 0 when input must cover every block.
   */
  readonly zerosUntil: number;
  /** A replayed log's changes to file bytes at `position`: `piece` itself when none, else a changed copy. */
  patch?(piece: Uint8Array, position: number): Uint8Array;
}

/** Largest zero piece handed out for blocks that are not stored. */
export const ZERO_PIECE = 4 * MiB;

/**
 * The error for input that would need more than `maxBufferBytes` held.
 * @returns VhdxError LIMIT_EXCEEDED `reorder-buffer-full`
 */
export function bufferFull(maxBufferBytes: number, why: string, offset: number): VhdxError {
  return new VhdxError(
    'reorder-buffer-full',
    `more than ${maxBufferBytes} bytes would have to be held because ${why} payload in the file; ` +
      'raise maxBufferBytes or use openVhdx() with a re-readable source (file, Blob, URL)',
    { structure: 'payload', offset },
  );
}

interface Held {
  pieces: Uint8Array[];
  bytes: number;
}

/**
 * Reorders payload from file order into virtual order.
 *
 * {@link accept} takes file bytes; {@link next} hands out the disk's bytes
 * in order, one piece per call, until it returns undefined (more input
 * needed, or {@link finished}). Pieces may be views of accepted bytes: the
 * caller must be done with every piece {@link next} hands out before it
 * reuses an accepted buffer. Absent blocks come out as views of one zero
 * buffer (at most {@link ZERO_PIECE} each), one per call, so zeros are made
 * at the consumer's pace and never materialised at once.
 */
export class ReorderBuffer {
  private current = 0; // next virtual block to finish
  private currentDone = 0; // bytes of it received (stored) or handed out (zeros)
  private readonly held = new Map<number, Held>();
  private heldTotal = 0;
  private clearUntil = 0; // blocks in [current, clearUntil) need no more input
  private cursor = 0; // index into the file-order arrays
  private readonly ready: Uint8Array[] = []; // pieces due before anything else
  private readyHead = 0;
  private inputEnd = -1; // input length once ended
  private zeros: Uint8Array | undefined;

  /**
   * @param maxBufferBytes most bytes held for blocks stored ahead of their turn
   */
  constructor(
    private readonly map: PayloadMap,
    private readonly maxBufferBytes: number,
  ) {}

  /** Bytes held for blocks stored ahead of their turn. */
  get heldBytes(): number {
    return this.heldTotal;
  }

  /** True once every byte of the disk has been handed out. */
  get finished(): boolean {
    return this.current >= this.map.blockCount && this.readyHead >= this.ready.length;
  }

  /**
   * Takes file bytes at `position` (positions ascend from call to call).
   * Returns how many it took: fewer than `bytes.length` when the rest
   * belongs to a block due after stretches still to be handed out (zeros, or
   * held blocks now complete); take output with {@link next} until it
   * returns undefined, then offer the rest again. Holding the rest instead
   * would make in-order files fill the buffer.
   *
   * @param transient the caller will overwrite `bytes` once this call's output has been taken:
   *   bytes held for later blocks are then copied (otherwise they are held as views)
   * @throws VhdxError LIMIT_EXCEEDED `reorder-buffer-full` when more than maxBufferBytes would be held
   */
  accept(bytes: Uint8Array, position: number, transient: boolean): number {
    const { order, blockSize } = this.map;
    const offs = order.offsetsMiB;
    const end = position + bytes.length;
    let pos = position;
    while (pos < end) {
      while (this.cursor < offs.length && offs[this.cursor]! * MiB + blockSize <= pos) this.cursor++;
      if (this.cursor >= offs.length) break; // past the last block: nothing more to route
      const start = offs[this.cursor]! * MiB;
      if (start > pos) {
        pos = Math.min(end, start); // a gap (log, regions, unused space)
        continue;
      }
      const block = order.blocks[this.cursor]!;
      const n = Math.min(end - pos, start + blockSize - pos);
      const take = Math.min(n, this.blockLength(block) - (pos - start)); // the last block may be partial
      if (take > 0 && block >= this.current) {
        if (block > this.current && !this.waitsForInput(block)) return pos - position;
        const from = pos - position;
        const piece = take === bytes.length ? bytes : bytes.subarray(from, from + take);
        const patched = this.map.patch ? this.map.patch(piece, pos) : piece;
        if (block === this.current) this.pass(patched, take);
        else this.hold(block, transient && patched === piece ? piece.slice() : patched, pos);
      }
      pos += n;
    }
    return bytes.length;
  }

  /**
   * Marks the end of the input, `inputLength` bytes in all. Stored blocks
   * still incomplete then come out as zeros where a replayed log says the
   * file reads as zeros past its end; otherwise {@link next} throws.
   */
  end(inputLength: number): void {
    this.inputEnd = inputLength;
  }

  /**
   * The next piece of the disk, or undefined when more input is needed (or
   * all is done: see {@link finished}).
   * @throws VhdxError TRUNCATED `input-truncated` after {@link end} when a stored block's bytes never came
   */
  next(): Uint8Array | undefined {
    if (this.readyHead < this.ready.length) return this.takeReady();
    const block = this.current;
    if (block >= this.map.blockCount) return undefined;
    if (this.map.isStored(block)) return this.inputEnd < 0 ? undefined : this.pastEnd(block);
    const n = Math.min(ZERO_PIECE, this.blockLength(block) - this.currentDone);
    this.zeros ??= new Uint8Array(Math.min(ZERO_PIECE, this.map.blockSize));
    this.currentDone += n;
    if (this.currentDone >= this.blockLength(block)) this.advance();
    return this.zeros.subarray(0, n);
  }

  /** Drops everything held (after a failure). */
  clear(): void {
    this.held.clear();
    this.heldTotal = 0;
    this.ready.length = 0;
    this.readyHead = 0;
  }

  private takeReady(): Uint8Array {
    const piece = this.ready[this.readyHead]!;
    this.ready[this.readyHead++] = undefined!; // let the piece go once handed out
    if (this.readyHead === this.ready.length) {
      this.ready.length = 0;
      this.readyHead = 0;
    }
    return piece;
  }

  /** A stored block's bytes the input never reached: zeros within the log's last_file_offset, else an error. */
  private pastEnd(block: number): Uint8Array {
    const start = this.map.offsetsMiB[block]! * MiB + this.currentDone;
    const need = this.blockLength(block) - this.currentDone;
    if (start < this.inputEnd || start + need > this.map.zerosUntil) {
      throw new VhdxError('input-truncated', `input ended at ${this.inputEnd} before block ${block} (file offset ${start}) was complete`, {
        structure: 'payload',
        offset: start,
      });
    }
    const n = Math.min(ZERO_PIECE, need);
    this.zeros ??= new Uint8Array(Math.min(ZERO_PIECE, this.map.blockSize));
    const zeros = this.zeros.subarray(0, n);
    const piece = this.map.patch ? this.map.patch(zeros, start) : zeros;
    this.currentDone += n;
    if (this.currentDone >= this.blockLength(block)) this.advance();
    return piece;
  }

  private blockLength(block: number): number {
    const { blockSize, virtualSize } = this.map;
    return Math.min(blockSize, virtualSize - block * blockSize);
  }

  /** Bytes of the block due now: straight out, in order. */
  private pass(piece: Uint8Array, length: number): void {
    this.ready.push(piece);
    this.currentDone += length;
    if (this.currentDone >= this.blockLength(this.current)) this.advance();
  }

  private hold(block: number, piece: Uint8Array, position: number): void {
    let h = this.held.get(block);
    if (!h) {
      h = { pieces: [], bytes: 0 };
      this.held.set(block, h);
    }
    h.pieces.push(piece);
    h.bytes += piece.length;
    this.heldTotal += piece.length;
    if (this.heldTotal > this.maxBufferBytes) {
      throw bufferFull(this.maxBufferBytes, `block ${block} is stored before earlier blocks`, position);
    }
  }

  /** True when a stored block before `block` still lacks input. */
  private waitsForInput(block: number): boolean {
    if (this.clearUntil < this.current) this.clearUntil = this.current;
    while (this.clearUntil < block) {
      const b = this.clearUntil;
      if (this.map.isStored(b)) {
        const got = b === this.current ? this.currentDone : (this.held.get(b)?.bytes ?? 0);
        if (got < this.blockLength(b)) return true;
      }
      this.clearUntil++;
    }
    return false;
  }

  /** Moves past the finished block; a held block that is next comes out. */
  private advance(): void {
    for (;;) {
      this.current++;
      this.currentDone = 0;
      const h = this.held.get(this.current);
      if (!h) break;
      this.held.delete(this.current);
      this.heldTotal -= h.bytes;
      for (const p of h.pieces) this.ready.push(p);
      this.currentDone = h.bytes;
      if (this.currentDone < this.blockLength(this.current)) break;
    }
  }
}
