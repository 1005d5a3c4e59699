import { createCRC32 } from 'hash-wasm';
import { assert, describe, expect, it, vi } from 'vitest';
import { buildLogEntry } from '../src/format/log.js';
import { writeBatEntry } from '../src/format/bat.js';
import { crc32c, isAllZero, decodeBat, blockRuns, changedSectorRuns, fileOrder, reassembleLogEntry } from '../src/wasm/kernels.js';
import { kernels, ready } from '../src/wasm/instance.js';
import { firstDifference } from './helpers/bytes.js';
import {
  pseudoRandomBytes,
  refChangedSectorRuns,
  refCrc32c,
  refDecodeBat,
  refFileOrder,
  refIsZero,
  refReassemble,
  refRuns,
} from './helpers/reference.js';

async function hashWasmCrc32c(data: Uint8Array): Promise<number> {
  const h = await createCRC32(0x82f63b78);
  h.init();
  h.update(data);
  return parseInt(h.digest('hex'), 16) >>> 0;
}

describe('loading', () => {
  it('loads one shared instance, the SIMD build where the runtime validates it', async () => {
    const k = await ready();
    expect(kernels()).toBe(k);
    expect(k.simd).toBe(true); // Node 20 supports wasm SIMD
  });
});

describe('crc32c kernel', () => {
  it('gives the check value for "123456789"', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('matches hash-wasm and the reference for every length 0..4100 at unaligned offsets', async () => {
    const buf = pseudoRandomBytes(4100 + 16, 7);
    const h = await createCRC32(0x82f63b78);
    for (let len = 0; len <= 4100; len++) {
      const shift = len % 13;
      const data = buf.subarray(shift, shift + len);
      h.init();
      h.update(data);
      const want = parseInt(h.digest('hex'), 16) >>> 0;
      const got = crc32c(data);
      if (got !== want) expect({ len, got }).toEqual({ len, got: want });
      if (len % 97 === 0) expect(got).toBe(refCrc32c(data));
    }
  });

  it.each([4096, 65536, 1 << 20, (1 << 20) * 3 + 5])('matches hash-wasm on %i bytes', async (n) => {
    const data = pseudoRandomBytes(n, n);
    expect(crc32c(data)).toBe(await hashWasmCrc32c(data));
  });

  it('chains: crc(b, crc(a)) == crc(a + b)', () => {
    const data = pseudoRandomBytes(10000, 3);
    for (const cut of [0, 1, 15, 16, 17, 4096, 9999, 10000]) {
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(crc32c(data));
    }
  });

  // The SIMD build runs whole 4 KiB superblocks in 16 lanes of 256-byte
  // segments; these aim at the lane bookkeeping rather than at lengths.
  it('weighs every byte position of a superblock correctly (one set byte at a time)', () => {
    const block = new Uint8Array(4096);
    for (let at = 0; at < block.length; at++) {
      block[at] = 0x80 | (at & 0x7f);
      const got = crc32c(block);
      const want = refCrc32c(block);
      block[at] = 0;
      if (got !== want) expect({ at, got }).toEqual({ at, got: want });
    }
  });

  it('matches the reference over several superblocks plus a tail, with a seed, at unaligned offsets', async () => {
    const buf = pseudoRandomBytes(5 * 4096 + 64, 11);
    const seed = 0x9e3779b9;
    for (const blocks of [1, 2, 5]) {
      for (const tail of [0, 1, 15, 16, 57]) {
        const data = buf.subarray(7, 7 + blocks * 4096 + tail);
        expect(crc32c(data, seed)).toBe(refCrc32c(data, seed));
        expect(crc32c(data)).toBe(await hashWasmCrc32c(data));
      }
    }
  });
});

describe('zero kernel', () => {
  it('finds a single non-zero byte anywhere, at any alignment and length', () => {
    const buf = new Uint8Array(4096 + 200);
    for (const len of [0, 1, 7, 15, 16, 17, 63, 64, 65, 127, 4095, 4096]) {
      for (const start of [0, 1, 3, 8, 15]) {
        const view = buf.subarray(start, start + len);
        expect(isAllZero(view)).toBe(true);
        for (let p = 0; p < len; p += Math.max(1, Math.floor(len / 9))) {
          view[p] = 0x80;
          expect(isAllZero(view)).toBe(refIsZero(view));
          expect(isAllZero(view)).toBe(false);
          view[p] = 0;
        }
        if (len > 0) {
          view[len - 1] = 1;
          expect(isAllZero(view)).toBe(false);
          view[len - 1] = 0;
        }
      }
    }
  });

  it('handles blocks larger than the kernel area', () => {
    const big = new Uint8Array(5 * (1 << 20) + 3);
    expect(isAllZero(big)).toBe(true);
    big[big.length - 1] = 9;
    expect(isAllZero(big)).toBe(false);
    big[big.length - 1] = 0;
    big[3 * (1 << 20)] = 1;
    expect(isAllZero(big)).toBe(false);
  });
});

describe('changed sectors kernel', () => {
  it('finds every changed sector, one byte anywhere in it, at any alignment, sector size and length', () => {
    const old = pseudoRandomBytes(3 * 4096 + 700, 4);
    for (const sector of [512, 4096]) {
      for (const len of [1, 63, 64, 511, 512, 513, 4096, 3 * 4096 + 600]) {
        for (const start of [0, 1, 5, 16]) {
          const a = old.slice(start, start + len);
          const b = old.subarray(start, start + len);
          expect(changedSectorRuns(a, b, sector)).toEqual([]);
          for (const at of [0, len >> 1, len - 1, sector - 1, sector, 2 * sector + 63].filter((x) => x < len)) {
            a[at] = a[at]! ^ 0x40;
            expect(changedSectorRuns(a, b, sector)).toEqual(refChangedSectorRuns(a, b, sector));
          }
          expect(changedSectorRuns(a, b, sector).length).toBeGreaterThan(0);
        }
      }
    }
  });

  it('handles blocks larger than the kernel area: runs continue across its steps', () => {
    const old = pseudoRandomBytes(5 * (1 << 20) + 512, 9);
    const next = old.slice();
    // a run across the first step's end (the area holds 544 KiB of each side), scattered sectors, all of the last MiB
    next.fill(1, 500 * 1024, 600 * 1024);
    for (let at = 2 << 20; at < 3 << 20; at += 80 * 1024) next[at + 7] = next[at + 7]! ^ 1;
    next.fill(3, 4 << 20);
    const runs = changedSectorRuns(next, old, 512);
    expect(runs).toEqual(refChangedSectorRuns(next, old, 512));
    expect(runs.slice(0, 2)).toEqual([1000, 1200]);
    expect(runs.slice(-2)).toEqual([8192, 10241]);
    expect(changedSectorRuns(old, old.slice(), 512)).toEqual([]);
    expect(
      changedSectorRuns(
        old.map((x) => x ^ 0xff),
        old,
        4096,
      ),
    ).toEqual([0, 1281]);
  });
});

function randomBat(blocks: number, ratio: number, seed: number) {
  const entries = blocks + Math.floor((blocks - 1) / ratio);
  const bat = new Uint8Array(entries * 8);
  const rnd = pseudoRandomBytes(entries * 4, seed);
  const states = [0, 1, 2, 3, 6, 6, 6, 6];
  let nextOffset = 4;
  for (let e = 0; e < entries; e++) {
    if ((e + 1) % (ratio + 1) === 0) continue; // sector bitmap: NOT_PRESENT
    const state = states[rnd[e * 4]! & 7]!;
    // mostly sequential, sometimes a jump, sometimes a large offset (> 2^32 bytes)
    let off = 0;
    if (state === 6) {
      off = rnd[e * 4 + 1]! < 40 ? 100000 + rnd[e * 4 + 2]! * 5000 + e : nextOffset;
      nextOffset = off + 1;
    }
    writeBatEntry(bat, e, { state, offsetMiB: off });
  }
  return bat;
}

describe('BAT kernels', () => {
  it.each([
    [1000, 4096],
    [5000, 16],
    [300000, 512],
    [70000, 65536], // crosses the run kernel's call boundary
  ])('decode %i blocks with chunk ratio %i like the reference', (blocks, ratio) => {
    const bat = randomBat(blocks, ratio, blocks);
    const got = decodeBat(bat, blocks, ratio, false);
    const want = refDecodeBat(bat, blocks, ratio, false);
    expect(got.firstBadEntry).toBe(-1);
    expect(want.firstBadEntry).toBe(-1);
    expect(firstDifference(got.states, want.states)).toBe(-1);
    expect(firstDifference(got.offsetsMiB, want.offsets)).toBe(-1);
    expect(Array.from(blockRuns(got.states, got.offsetsMiB, 1))).toEqual(refRuns(want.states, want.offsets, 1));
    const order = fileOrder(got.states, got.offsetsMiB);
    const refOrder = refFileOrder(want.states, want.offsets);
    expect(firstDifference(order.blocks, Uint32Array.from(refOrder.blocks))).toBe(-1);
    expect(firstDifference(order.offsetsMiB, Uint32Array.from(refOrder.offsetsMiB))).toBe(-1);
  });

  it('merges runs across blocks of a larger size and across call boundaries', () => {
    const n = 200000;
    const states = new Uint8Array(n).fill(6);
    const offsets = new Uint32Array(n);
    for (let i = 0; i < n; i++) offsets[i] = 3 + i * 32;
    expect(Array.from(blockRuns(states, offsets, 32))).toEqual([0, n, 6, 3]);
    offsets[150000] = 1; // breaks contiguity twice
    expect(Array.from(blockRuns(states, offsets, 32))).toEqual(refRuns(states, offsets, 32));
  });

  it.each([
    ['state 4', 4, 10],
    ['state 5', 5, 10],
    ['partially present without a parent', 7, 10],
    ['present at offset 0', 6, 0],
  ])('reports the first invalid entry: %s', (_, state, off) => {
    const bat = randomBat(100, 16, 5);
    writeBatEntry(bat, 40, { state, offsetMiB: off });
    expect(decodeBat(bat, 100, 16, false).firstBadEntry).toBe(40);
    expect(refDecodeBat(bat, 100, 16, false).firstBadEntry).toBe(40);
  });

  it('rejects a present sector bitmap state other than 0 or 6', () => {
    const bat = randomBat(100, 16, 5);
    writeBatEntry(bat, 16, { state: 2, offsetMiB: 0 });
    expect(decodeBat(bat, 100, 16, false).firstBadEntry).toBe(16);
  });
});

describe('log reassembly kernel', () => {
  const seq = 0x1234_5678_9abc_def0n;
  function entryWith(writes: number) {
    const ws = [];
    for (let i = 0; i < writes; i++) {
      if (i % 5 === 4) ws.push({ fileOffset: (100 + i) * 4096, zeroLength: 8192 });
      else ws.push({ fileOffset: (100 + i) * 4096, data: pseudoRandomBytes(4096, i + 11) });
    }
    const entry = buildLogEntry({
      sequenceNumber: seq,
      tail: 0,
      logGuid: '11111111-2222-3333-4444-555555555555',
      flushedFileOffset: 1 << 30,
      lastFileOffset: 1 << 30,
      writes: ws,
    });
    return { entry, ws, dataCount: ws.filter((w) => 'data' in w).length };
  }

  it.each([1, 3, 126, 127, 300])('rebuilds the target sectors of %i descriptors like the reference', (n) => {
    const { entry, ws, dataCount } = entryWith(n);
    const descSectors = Math.ceil((n + 2) / 128);
    const got = reassembleLogEntry(entry, n, descSectors * 4096, Number(seq & 0xffffffffn), Number(seq >> 32n), dataCount);
    const want = refReassemble(entry, n, seq);
    expect(dataCount).toBeGreaterThan(0);
    // both must rebuild the entry: a reference that rejects it (or a kernel that does) fails here
    expect(want).not.toHaveProperty('bad');
    assert(got.ok && want.sectors, 'both rebuild the entry');
    expect(want.sectors).toHaveLength(dataCount);
    expect(got.sectors.length).toBe(dataCount * 4096);
    want.sectors.forEach((s, i) => {
      expect(firstDifference(got.sectors.subarray(i * 4096, (i + 1) * 4096), s)).toBe(-1);
    });
    const firstData = ws.find((w) => 'data' in w) as { data: Uint8Array };
    expect(firstDifference(got.sectors.subarray(0, 4096), firstData.data)).toBe(-1);
  });

  it.each([
    ['data signature', (e: Uint8Array, ds: number) => (e[ds * 4096 + 4096] = 0x41), 'data sector signature'],
    [
      'data sequence',
      (e: Uint8Array, ds: number) => (e[ds * 4096 + 4096 + 4092] = e[ds * 4096 + 4096 + 4092]! ^ 1),
      'data sector sequence',
    ],
    ['descriptor signature', (e: Uint8Array) => (e[64 + 32] = 0x41), 'descriptor signature'],
    ['descriptor sequence', (e: Uint8Array) => (e[64 + 32 + 24] = e[64 + 32 + 24]! ^ 1), 'descriptor sequence'],
    ['misaligned offset', (e: Uint8Array) => (e[64 + 32 + 16] = 1), 'not 4 KiB aligned'],
  ])('names the failing descriptor when the %s is wrong', (_, damage, reason) => {
    const { entry, dataCount } = entryWith(6);
    damage(entry, 1);
    const got = reassembleLogEntry(entry, 6, 4096, Number(seq & 0xffffffffn), Number(seq >> 32n), dataCount);
    expect(got.ok).toBe(false);
    if (got.ok) return;
    expect(got.descriptor).toBe(1);
    expect(got.reason).toContain(reason);
    expect(refReassemble(entry, 6, seq).bad).toBe(1);
  });
});

// Last in the file: these load fresh module instances (and so a second copy
// of VhdxError), which would confuse instanceof checks in later tests.
describe('error reasons (fresh module instances)', () => {
  it('wasm-unavailable: a runtime that refuses to compile the module', async () => {
    vi.resetModules();
    // biome-ignore lint/complexity/useArrowFunction: it is called with new, so it must be a function
    const refuse = vi.spyOn(WebAssembly, 'Module').mockImplementation(function () {
      throw new WebAssembly.CompileError('refused');
    });
    try {
      const fresh = await import('../src/index.js');
      const err = (() => {
        try {
          fresh.crc32c(new Uint8Array(1));
        } catch (e) {
          return e;
        }
        throw new Error('expected a failure');
      })();
      expect(err).toBeInstanceOf(fresh.VhdxError);
      expect(err).toMatchObject({ reason: 'wasm-unavailable', code: 'UNSUPPORTED' });
      expect(refuse).toHaveBeenCalled();
    } finally {
      refuse.mockRestore();
      vi.resetModules();
    }
  });

  it('wasm-memory: a module whose memory cannot grow', async () => {
    vi.resetModules();
    vi.doMock('../src/wasm/instance.js', () => ({
      kernels: () => ({ exports: { ensureScratch: () => false, scratchPtr: () => 0 }, bytes: () => new Uint8Array(0) }),
      ready: async () => undefined,
    }));
    try {
      const { fileOrder: freshFileOrder } = await import('../src/wasm/kernels.js');
      const { VhdxError: FreshError } = await import('../src/errors.js');
      expect(() => freshFileOrder(Uint8Array.of(6), Uint32Array.of(4))).toThrow(FreshError);
      expect(() => freshFileOrder(Uint8Array.of(6), Uint32Array.of(4))).toThrow(
        expect.objectContaining({ reason: 'wasm-memory', code: 'LIMIT_EXCEEDED', structure: 'bat' }),
      );
    } finally {
      vi.doUnmock('../src/wasm/instance.js');
      vi.resetModules();
    }
  });
});
