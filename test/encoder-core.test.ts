// The encoder core on its own: pieces out through a callback, no streams.
import { beforeAll, describe, expect, it } from 'vitest';
import { VhdxEncoderStream, init, scanAllocation } from '../src/index.js';
import { EncoderCore, type VhdxEncoderOptions } from '../src/streams/encoder-core.js';
import { blockPatternRaw, chunkedStream, makeRaw } from './helpers/images.js';
import { reasonOf } from './helpers/reasons.js';

const MiB = 1024 * 1024;
const guids = {
  fileWrite: '11111111-1111-4111-8111-111111111111',
  dataWrite: '22222222-2222-4222-8222-222222222222',
  virtualDisk: '33333333-3333-4333-8333-333333333333',
};

beforeAll(() => init());

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** The core's pieces for `raw` pushed in chunks of `size`. */
function encodeWithCore(raw: Uint8Array, options: VhdxEncoderOptions, size = MiB): { core: EncoderCore; pieces: Uint8Array[] } {
  const pieces: Uint8Array[] = [];
  const core = new EncoderCore(options, (p) => void pieces.push(p));
  for (let at = 0; at < raw.length; at += size) core.push(raw.subarray(at, at + size));
  core.finish();
  return { core, pieces };
}

async function streamPieces(raw: Uint8Array, options: VhdxEncoderOptions, size = MiB): Promise<Uint8Array[]> {
  const pieces: Uint8Array[] = [];
  const stream = chunkedStream(raw, [size]).pipeThrough(new VhdxEncoderStream(options));
  for await (const p of stream as unknown as AsyncIterable<Uint8Array>) pieces.push(p);
  return pieces;
}

describe('EncoderCore', () => {
  it('emits the prefix, then the pieces VhdxEncoderStream produces', async () => {
    const raw = makeRaw(5 * MiB + 1024, 'mixed', 7);
    const map = await scanAllocation(raw, { blockSize: MiB });
    for (const options of [
      { virtualSize: raw.length, blockSize: MiB, guids },
      { allocationMap: map, guids },
    ] as VhdxEncoderOptions[]) {
      const { core, pieces } = encodeWithCore(raw, options, 700_000);
      expect(pieces[0]!.length).toBe(core.plan.info.payloadOffset);
      const fromStream = await streamPieces(raw, options, 700_000);
      expect(pieces.map((p) => p.length)).toEqual(fromStream.map((p) => p.length));
      expect(same(Buffer.concat(pieces), Buffer.concat(fromStream))).toBe(true);
      expect(Buffer.concat(pieces).length).toBe(core.plan.outputSize);
    }
  });

  it('emits a pushed chunk as the same view, and stored runs across blocks as one view of it', async () => {
    const out: Uint8Array[] = [];
    const plain = new EncoderCore({ virtualSize: 4 * MiB, blockSize: MiB }, (p) => void out.push(p));
    plain.start();
    out.length = 0;
    const chunk = new Uint8Array(3 * MiB).fill(1);
    plain.push(chunk);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(chunk);

    const raw = blockPatternRaw(4 * MiB, MiB, (b) => b !== 2); // blocks 0, 1, 3 stored
    const map = await scanAllocation(raw, { blockSize: MiB });
    const pieces: Uint8Array[] = [];
    const sparse = new EncoderCore({ allocationMap: map }, (p) => void pieces.push(p));
    sparse.start();
    pieces.length = 0;
    const all = raw.slice();
    sparse.push(all);
    expect(pieces).toHaveLength(2); // blocks 0-1 as one run, block 3
    expect(pieces[0]!.buffer).toBe(all.buffer);
    expect(pieces[0]!.length).toBe(2 * MiB);
    expect(pieces[1]!.byteOffset).toBe(3 * MiB);
    const inOne = raw.slice(0, MiB);
    const again = new EncoderCore({ allocationMap: map }, (p) => void pieces.push(p));
    again.start();
    pieces.length = 0;
    again.push(inOne);
    expect(pieces[0]).toBe(inOne);
  });

  it('pads a stored partial last block at finish', () => {
    const { pieces, core } = encodeWithCore(new Uint8Array(MiB + 512).fill(3), { virtualSize: MiB + 512, blockSize: MiB });
    expect(pieces[pieces.length - 1]!.length).toBe(MiB - 512);
    expect(pieces.reduce((n, p) => n + p.length, 0)).toBe(core.plan.outputSize);
  });

  it('fails with the reason for each problem', async () => {
    const raw = blockPatternRaw(4 * MiB, MiB, (b) => b === 1);
    const map = await scanAllocation(raw, { blockSize: MiB });
    const sink = () => {};
    const core = () => new EncoderCore({ virtualSize: 2 * MiB, blockSize: MiB }, sink);
    expect(await reasonOf(() => core().push(new Uint8Array(2 * MiB + 512)))).toBe('input-too-long');
    expect(
      await reasonOf(() => {
        const c = core();
        c.push(new Uint8Array(MiB));
        c.finish();
      }),
    ).toBe('input-truncated');
    const changed = raw.slice();
    changed[2 * MiB + 10] = 1;
    expect(await reasonOf(() => new EncoderCore({ allocationMap: map }, sink).push(changed))).toBe('map-contradicts-input');
    expect(await reasonOf(() => new EncoderCore({ virtualSize: 8 * MiB, allocationMap: map }, sink))).toBe('map-mismatch');
    expect(await reasonOf(() => new EncoderCore({ allocationMap: map, type: 'fixed' }, sink))).toBe('invalid-option');
    expect(await reasonOf(() => new EncoderCore({ virtualSize: 1000 }, sink))).toBe('invalid-option');
  });
});
