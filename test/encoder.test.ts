// VhdxEncoderStream behaviour: options, errors, backpressure and cancellation.
import { describe, expect, it } from 'vitest';
import { VhdxEncoderStream, VhdxError, scanAllocation } from '../src/node/index.js';
import { blockPatternRaw, chunkedStream, collect, makeRaw } from './helpers/images.js';
import { storedBlocks } from './helpers/vhdx-inspect.js';

const MiB = 1024 * 1024;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VhdxError);
    return (err as VhdxError).code;
  }
  return undefined;
}

async function rejectionOf(p: Promise<unknown>): Promise<VhdxError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VhdxError);
    return err as VhdxError;
  }
  throw new Error('expected a rejection');
}

describe('options', () => {
  it.each([
    ['missing virtualSize', {}],
    ['zero virtualSize', { virtualSize: 0 }],
    ['virtualSize not a sector multiple', { virtualSize: 1000 }],
    ['virtualSize not a 4096 multiple', { virtualSize: 4096 + 512, logicalSectorSize: 4096 as const }],
    ['virtualSize over 64 TiB', { virtualSize: 64 * 2 ** 40 + 512 }],
    ['fractional virtualSize', { virtualSize: 512.5 }],
    ['blockSize not a power of two', { virtualSize: MiB, blockSize: 3 * MiB }],
    ['blockSize under 1 MiB', { virtualSize: MiB, blockSize: 512 * 1024 }],
    ['blockSize over 256 MiB', { virtualSize: MiB, blockSize: 512 * MiB }],
    ['bad logical sector', { virtualSize: MiB, logicalSectorSize: 1024 as 512 }],
    ['bad physical sector', { virtualSize: MiB, physicalSectorSize: 2048 as 512 }],
    ['logSize not a MiB multiple', { virtualSize: MiB, logSize: MiB + 1 }],
    ['zero logSize', { virtualSize: MiB, logSize: 0 }],
    ['bad type', { virtualSize: MiB, type: 'sparse' as 'fixed' }],
    ['bad GUID', { virtualSize: MiB, guids: { virtualDisk: 'nope' } }],
    ['creator too long', { virtualSize: MiB, creator: 'x'.repeat(300) }],
  ])('rejects %s with INVALID_ARGUMENT before any byte flows', (_, options) => {
    expect(codeOf(() => new VhdxEncoderStream(options as never))).toBe('INVALID_ARGUMENT');
  });

  it('accepts 64 TiB exactly and reports the output size up front', () => {
    const enc = new VhdxEncoderStream({ virtualSize: 64 * 2 ** 40, type: 'fixed' });
    expect(enc.layout.blockSize).toBe(32 * MiB);
    expect(enc.outputSize).toBe(enc.layout.payloadOffset + 64 * 2 ** 40);
  });

  it('rejects an allocation map that does not fit the disk', async () => {
    const map = await scanAllocation(new Uint8Array(4 * MiB), { blockSize: MiB });
    expect(codeOf(() => new VhdxEncoderStream({ virtualSize: 8 * MiB, allocationMap: map }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new VhdxEncoderStream({ allocationMap: map, type: 'fixed' }))).toBe('INVALID_ARGUMENT');
  });

  it('makes reproducible output when the GUIDs are fixed', async () => {
    const raw = makeRaw(3 * MiB, 'mixed');
    const guids = {
      fileWrite: '11111111-1111-4111-8111-111111111111',
      dataWrite: '22222222-2222-4222-8222-222222222222',
      virtualDisk: '33333333-3333-4333-8333-333333333333',
    };
    const a = await collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, guids })));
    const b = await collect(
      chunkedStream(raw, [777]).pipeThrough(new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, guids })),
    );
    expect(Buffer.compare(a, b)).toBe(0);
    const c = await collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB })));
    expect(Buffer.compare(a, c)).not.toBe(0);
  });
});

describe('stream errors', () => {
  it('errors with TRUNCATED when the input is shorter than virtualSize', async () => {
    const raw = makeRaw(3 * MiB, 'mixed');
    const enc = new VhdxEncoderStream({ virtualSize: 4 * MiB });
    const err = await rejectionOf(collect(chunkedStream(raw).pipeThrough(enc)));
    expect(err.code).toBe('TRUNCATED');
    expect(err.reason).toBe('input-truncated');
    expect(err.offset).toBe(3 * MiB);
  });

  it('errors when the input is longer than virtualSize', async () => {
    const raw = makeRaw(3 * MiB, 'mixed');
    const err = await rejectionOf(collect(chunkedStream(raw).pipeThrough(new VhdxEncoderStream({ virtualSize: 2 * MiB }))));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.reason).toBe('input-too-long');
  });

  it('errors when a block the map calls zero holds data', async () => {
    const raw = blockPatternRaw(4 * MiB, MiB, (b) => b === 1);
    const map = await scanAllocation(raw, { blockSize: MiB });
    const changed = raw.slice();
    changed[2 * MiB + 10] = 1;
    const err = await rejectionOf(collect(chunkedStream(changed).pipeThrough(new VhdxEncoderStream({ allocationMap: map }))));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.reason).toBe('map-contradicts-input');
    expect(err.offset).toBe(2 * MiB);
  });

  it('errors the output with the cause when the input errors', async () => {
    const cause = new Error('network reset');
    let sent = 0;
    const input = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 2) c.enqueue(new Uint8Array(MiB));
        else c.error(cause);
      },
    });
    await expect(collect(input.pipeThrough(new VhdxEncoderStream({ virtualSize: 8 * MiB })))).rejects.toBe(cause);
  });

  it('cancels the input when the consumer cancels', async () => {
    let cancelled: unknown;
    const input = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(MiB));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const reader = input.pipeThrough(new VhdxEncoderStream({ virtualSize: 64 * MiB })).getReader();
    await reader.read();
    await reader.cancel('enough');
    await new Promise((r) => setTimeout(r, 10));
    expect(cancelled).toBe('enough');
  });

  it('respects backpressure: a stalled consumer stops the producer', async () => {
    let pulled = 0;
    const input = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulled += MiB;
          c.enqueue(new Uint8Array(MiB));
        },
      },
      { highWaterMark: 0 },
    );
    const out = input.pipeThrough(new VhdxEncoderStream({ virtualSize: 1024 * MiB }));
    const reader = out.getReader();
    await reader.read(); // the prefix
    await new Promise((r) => setTimeout(r, 50));
    // bounded by the queues (a few MiB each side), nowhere near 1 GiB
    expect(pulled).toBeLessThanOrEqual(16 * MiB);
    await reader.cancel();
  });
});

describe('dynamic output with a scanned map', () => {
  it('stores exactly the blocks with data, in virtual order, and pads the last block', async () => {
    const size = 7 * MiB + 1024;
    const raw = blockPatternRaw(size, MiB, (b) => b % 3 === 0); // blocks 0, 3, 6 hold data; 7 (partial) is zero
    raw[size - 1] = 1; // now block 7 holds data too
    const map = await scanAllocation(new Blob([raw as Uint8Array<ArrayBuffer>]), { blockSize: MiB });
    expect(Array.from(map.present)).toEqual([1, 0, 0, 1, 0, 0, 1, 1]);
    const enc = new VhdxEncoderStream({ allocationMap: map });
    const vhdx = await collect(chunkedStream(raw, [300000]).pipeThrough(enc));
    expect(vhdx.length).toBe(enc.outputSize);
    expect(enc.outputSize).toBe(enc.layout.payloadOffset + 4 * MiB);
    const stored = storedBlocks(vhdx, MiB, 512, 8);
    expect([...stored.keys()].sort((a, b) => a - b)).toEqual([0, 3, 6, 7]);
    for (const [block, offset] of stored) {
      const want = raw.subarray(block * MiB, Math.min(size, (block + 1) * MiB));
      expect(Buffer.compare(vhdx.subarray(offset, offset + want.length), want)).toBe(0);
    }
  });
});
