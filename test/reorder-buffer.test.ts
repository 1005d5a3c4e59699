// The reorder buffer on its own: file bytes in, disk bytes out in virtual
// order, with hand-made payload maps (no VHDX structures involved).
import { describe, expect, it } from 'vitest';
import { VhdxError } from '../src/index.js';
import { ReorderBuffer, ZERO_PIECE, type PayloadMap } from '../src/streams/reorder-buffer.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { reasonOf } from './helpers/reasons.js';

const MiB = 1024 * 1024;

/** A map whose block `b` is stored at `stored[b]` MiB (absent when undefined). */
function mapOf(blockSize: number, virtualSize: number, stored: (number | undefined)[], extra: Partial<PayloadMap> = {}): PayloadMap {
  const blockCount = Math.ceil(virtualSize / blockSize);
  const offsetsMiB = new Uint32Array(blockCount);
  const byOffset: [number, number][] = [];
  stored.forEach((off, b) => {
    if (off === undefined) return;
    offsetsMiB[b] = off;
    byOffset.push([off, b]);
  });
  byOffset.sort((a, b) => a[0] - b[0]);
  return {
    blockSize,
    virtualSize,
    blockCount,
    isStored: (b) => stored[b] !== undefined,
    offsetsMiB,
    order: { blocks: Uint32Array.from(byOffset, ([, b]) => b), offsetsMiB: Uint32Array.from(byOffset, ([off]) => off) },
    zerosUntil: 0,
    ...extra,
  };
}

/** Every piece available now. */
function drain(buffer: ReorderBuffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = buffer.next(); p; p = buffer.next()) out.push(p);
  return out;
}

function concat(pieces: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(pieces));
}

/** Byte equality without the matcher's element-by-element diff (slow on MiBs). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

describe('ReorderBuffer', () => {
  const blocks = [0, 1, 2].map((b) => pseudoRandomBytes(MiB, 40 + b));

  it('passes bytes of the block due next straight through: the emitted piece is the accepted buffer', () => {
    const buffer = new ReorderBuffer(mapOf(MiB, 3 * MiB, [4, 5, 6]), MiB);
    for (let b = 0; b < 3; b++) {
      expect(buffer.accept(blocks[b]!, (4 + b) * MiB, true)).toBe(MiB);
      const out = drain(buffer);
      expect(out).toHaveLength(1);
      expect(out[0]).toBe(blocks[b]); // the same object: no copy, even with transient input
      expect(buffer.heldBytes).toBe(0);
    }
    expect(buffer.finished).toBe(true);
  });

  it('hands out a chunk spanning blocks and gaps as views of that chunk', () => {
    const file = new Uint8Array(5 * MiB);
    file.set(blocks[0]!, 2 * MiB);
    file.set(blocks[1]!, 3 * MiB);
    const buffer = new ReorderBuffer(mapOf(MiB, 2 * MiB, [2, 3]), MiB);
    expect(buffer.accept(file.subarray(MiB), MiB, true)).toBe(4 * MiB); // a gap, two blocks, bytes past the last block
    const out = drain(buffer);
    expect(out.every((p) => p.buffer === file.buffer)).toBe(true);
    expect(same(concat(out), concat([blocks[0]!, blocks[1]!]))).toBe(true);
  });

  it('holds blocks stored ahead of their turn and releases them in virtual order', () => {
    for (const transient of [false, true]) {
      const buffer = new ReorderBuffer(mapOf(MiB, 3 * MiB, [6, 5, 4]), 2 * MiB); // stored in reverse
      const inputs = [blocks[2]!.slice(), blocks[1]!.slice()];
      expect(buffer.accept(inputs[0]!, 4 * MiB, transient)).toBe(MiB);
      expect(buffer.next()).toBeUndefined(); // block 0 is still to come
      expect(buffer.heldBytes).toBe(MiB);
      expect(buffer.accept(inputs[1]!, 5 * MiB, transient)).toBe(MiB);
      expect(buffer.heldBytes).toBe(2 * MiB);
      for (const input of inputs) input.fill(0xee); // a reader reusing its buffers
      expect(buffer.accept(blocks[0]!, 6 * MiB, transient)).toBe(MiB);
      const out = drain(buffer);
      expect(buffer.heldBytes).toBe(0);
      expect(buffer.finished).toBe(true);
      if (transient)
        expect(same(concat(out), concat(blocks))).toBe(true); // held copies survived the overwrite
      else expect(out[1]).toBe(inputs[1]); // held as views
    }
  });

  it('counts held bytes and fails with reorder-buffer-full past maxBufferBytes', () => {
    const buffer = new ReorderBuffer(mapOf(MiB, 3 * MiB, [6, 5, 4]), MiB + 10);
    buffer.accept(blocks[2]!, 4 * MiB, false);
    expect(buffer.heldBytes).toBe(MiB);
    let error: unknown;
    try {
      buffer.accept(blocks[1]!, 5 * MiB, false);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(VhdxError);
    expect((error as VhdxError).reason).toBe('reorder-buffer-full');
    expect((error as VhdxError).code).toBe('LIMIT_EXCEEDED');
    expect((error as VhdxError).message).toContain('openVhdx');
  });

  it('makes an absent block as exactly blockLength zeros, one piece per next(), at most ZERO_PIECE each', () => {
    const blockSize = 8 * MiB + 4096; // not a multiple of the zero piece
    const buffer = new ReorderBuffer(mapOf(blockSize, 2 * blockSize, [undefined, 20]), MiB);
    const data = pseudoRandomBytes(blockSize, 9);
    // the stored block is due after the zeros: it is not taken (nor held) until they have been handed out
    expect(buffer.accept(data, 20 * MiB, true)).toBe(0);
    expect(buffer.heldBytes).toBe(0);
    const zeros: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) zeros.push(buffer.next()!);
    expect(zeros.map((z) => z.length)).toEqual([ZERO_PIECE, ZERO_PIECE, 4096]);
    expect(zeros.every((z) => z.buffer === zeros[0]!.buffer && same(z, new Uint8Array(z.length)))).toBe(true);
    expect(zeros[0]!.buffer.byteLength).toBe(ZERO_PIECE); // one shared buffer, never a whole block
    expect(buffer.next()).toBeUndefined(); // now block 1 needs input
    expect(buffer.accept(data, 20 * MiB, true)).toBe(blockSize);
    const out = drain(buffer);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(data);
    expect(buffer.finished).toBe(true);
  });

  it('emits only the virtual part of a partial last block, stored or absent', () => {
    const virtualSize = 2 * MiB + 512;
    const file = new Uint8Array(3 * MiB); // blocks at 0, 1 and 2 MiB, the last padded to a whole block
    file.set(pseudoRandomBytes(3 * MiB, 5));
    const stored = new ReorderBuffer(mapOf(MiB, virtualSize, [0, 1, 2]), MiB);
    expect(stored.accept(file, 0, false)).toBe(3 * MiB);
    const out = drain(stored);
    expect(same(concat(out), file.subarray(0, virtualSize))).toBe(true);
    expect(stored.finished).toBe(true);

    const absent = new ReorderBuffer(mapOf(MiB, virtualSize, [0, 1, undefined]), MiB);
    absent.accept(file.subarray(0, 2 * MiB), 0, false);
    const tail = drain(absent);
    expect(concat(tail).length).toBe(virtualSize);
    expect(tail[tail.length - 1]!.length).toBe(512);
    expect(absent.finished).toBe(true);
  });

  it('after the input ends, a missing stored block is input-truncated unless a log says it reads as zeros', async () => {
    const cut = new ReorderBuffer(mapOf(MiB, 2 * MiB, [4, 5]), MiB);
    cut.accept(blocks[0]!, 4 * MiB, false);
    drain(cut);
    cut.end(5 * MiB);
    expect(await reasonOf(() => cut.next())).toBe('input-truncated');

    const logged = new ReorderBuffer(mapOf(MiB, 2 * MiB, [4, 5], { zerosUntil: 6 * MiB }), MiB);
    logged.accept(blocks[0]!, 4 * MiB, false);
    drain(logged);
    logged.end(5 * MiB);
    const rest = drain(logged);
    expect(same(concat(rest), new Uint8Array(MiB))).toBe(true);
    expect(logged.finished).toBe(true);
  });

  it('applies the map’s patch, copying only the pieces it touches', () => {
    const touchAt = 4 * MiB + 100;
    const patch = (piece: Uint8Array, position: number) => {
      if (touchAt < position || touchAt >= position + piece.length) return piece;
      const copy = piece.slice();
      copy[touchAt - position] = 0x77;
      return copy;
    };
    const buffer = new ReorderBuffer(mapOf(MiB, 2 * MiB, [4, 5], { patch }), MiB);
    const input = concat(blocks.slice(0, 2));
    buffer.accept(input, 4 * MiB, false);
    const [first, second] = drain(buffer);
    expect(first!.buffer).not.toBe(input.buffer);
    expect(first![100]).toBe(0x77);
    expect(input[100]).toBe(blocks[0]![100]); // the input itself is untouched
    expect(second!.buffer).toBe(input.buffer);
  });
});
