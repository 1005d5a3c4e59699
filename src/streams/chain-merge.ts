// A differencing file streamed in: its own bytes come out of the reorder
// buffer in virtual order, and every stretch it leaves to its parent is read
// from the parent image at random and put in their place (MS-VHDX 2.5.1.1:
// NOT_PRESENT blocks and a PARTIALLY_PRESENT block's absent sectors read the
// parent; this library also reads UNDEFINED and UNMAPPED blocks there).
import type { OwnExtent } from './structure-loader.js';

/** Reads `length` bytes of the parent's disk at `offset` into a new array the merger may change. */
export type ReadParent = (offset: number, length: number) => Promise<Uint8Array>;

/**
 * Merges the child's pieces, handed over in virtual order, with its parent.
 * Pieces the child answers alone pass through untouched; the others become
 * parent bytes with the child's own stretches copied over them.
 */
export class ChainMerger {
  private position = 0;

  constructor(
    private readonly own: (start: number, end: number) => OwnExtent[],
    private readonly readParent: ReadParent,
  ) {}

  /** Emits `piece` (the next bytes of the child's disk) merged with the parent; a promise while the parent is read. */
  emit(piece: Uint8Array, emit: (piece: Uint8Array) => void | Promise<void>): void | Promise<void> {
    const start = this.position;
    this.position += piece.length;
    const extents = this.own(start, start + piece.length);
    if (!extents.some((e) => e.kind === 'parent')) return emit(piece);
    return this.merged(piece, start, extents).then(emit);
  }

  private async merged(piece: Uint8Array, start: number, extents: OwnExtent[]): Promise<Uint8Array> {
    const out = await this.readParent(start, piece.length);
    for (const e of extents) {
      if (e.kind === 'parent') continue;
      const at = e.offset - start;
      out.set(piece.subarray(at, at + e.length), at);
    }
    return out;
  }
}
