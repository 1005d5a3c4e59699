// The hole map: where the file system says a file's data is. Node 26 (node:ffi)
// and Bun (bun:ffi) can ask; Node 20-25 cannot, and must say so rather than guess.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canMapHoles, holeMapOf, type HoleMap } from '../src/node/holes.js';
import { tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const major = Number(process.versions.node.split('.')[0]);
const hasFfi = major >= 26 || (globalThis as { Bun?: unknown }).Bun !== undefined;

/** Every data extent the map reports, walked as a converter walks it. */
function extentsOf(map: HoleMap, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let at = map.nextData(0); at < size; ) {
    const end = map.nextHole(at);
    out.push([at, end]);
    at = map.nextData(end);
  }
  return out;
}

/** A file of `size` bytes with data written at each [offset, length). */
function sparseFile(dir: string, name: string, size: number, data: Array<[number, number]>): { path: string; fd: number } {
  const path = join(dir, name);
  const fd = openSync(path, 'w+');
  ftruncateSync(fd, size);
  for (const [offset, length] of data) writeSync(fd, new Uint8Array(length).fill(1), 0, length, offset);
  return { path, fd };
}

describe('the hole map', () => {
  it(`is ${hasFfi ? 'available' : 'unavailable'} on this runtime (node ${process.versions.node})`, async () => {
    expect(await canMapHoles()).toBe(hasFfi);
  });

  it('finds the data extents of sparse files: holes at the start, the middle, the end, or everywhere', async () => {
    const dir = tempDir();
    try {
      const cases: Array<{ name: string; size: number; data: Array<[number, number]> }> = [
        {
          name: 'holes-around',
          size: 64 * MiB,
          data: [
            [8 * MiB, MiB],
            [32 * MiB, 2 * MiB],
          ],
        },
        { name: 'data-first', size: 16 * MiB, data: [[0, MiB]] },
        { name: 'data-last', size: 16 * MiB, data: [[15 * MiB, MiB]] },
        { name: 'all-hole', size: 16 * MiB, data: [] },
      ];
      for (const c of cases) {
        const { fd } = sparseFile(dir.path, c.name, c.size, c.data);
        try {
          const map = await holeMapOf(fd, c.size);
          if (!hasFfi) {
            expect(map, c.name).toBeUndefined();
            continue;
          }
          expect(map, c.name).toBeDefined();
          // file systems may round extents out to their own block size; never in
          const found = extentsOf(map!, c.size);
          expect(found.length, c.name).toBe(c.data.length);
          for (const [i, [offset, length]] of c.data.entries()) {
            const [start, end] = found[i]!;
            expect(start, c.name).toBeLessThanOrEqual(offset);
            expect(end, c.name).toBeGreaterThanOrEqual(offset + length);
            expect(end - start, c.name).toBeLessThan(length + 2 * MiB);
          }
        } finally {
          closeSync(fd);
        }
      }
    } finally {
      dir.cleanup();
    }
  });

  it('gives no map for a file with no hole (nothing to skip), as for a file system that cannot say', async () => {
    const dir = tempDir();
    try {
      const { fd } = sparseFile(dir.path, 'dense', 4 * MiB, [[0, 4 * MiB]]);
      try {
        expect(await holeMapOf(fd, 4 * MiB)).toBeUndefined();
      } finally {
        closeSync(fd);
      }
    } finally {
      dir.cleanup();
    }
  });

  it('prints no ExperimentalWarning while loading the foreign-function interface', async () => {
    const warnings: string[] = [];
    const listener = (w: Error) => warnings.push(w.message);
    process.on('warning', listener);
    try {
      await canMapHoles();
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off('warning', listener);
    }
    expect(warnings.filter((w) => /FFI/.test(w))).toEqual([]);
  });
});

describe('a VHDX whose stored blocks are holes in its file', () => {
  it('reports those stretches as zeros where the runtime maps holes, and reads the same bytes either way', async () => {
    const { convertRawFileToVhdx, openVhdx } = await import('../src/node/index.js');
    const dir = tempDir();
    try {
      // a fixed disk stores every block; its all-zero stretches are left as holes in the file
      const raw = sparseFile(dir.path, 'in.raw', 32 * MiB, [[9 * MiB, MiB]]);
      closeSync(raw.fd);
      const vhdx = join(dir.path, 'fixed.vhdx');
      await convertRawFileToVhdx(raw.path, vhdx, { type: 'fixed', blockSize: 8 * MiB });
      const image = await openVhdx(vhdx);
      try {
        const data = image.extents().filter((e) => e.kind === 'data');
        const dataBytes = data.reduce((n, e) => n + e.length, 0);
        if (hasFfi) {
          expect(dataBytes).toBeGreaterThanOrEqual(MiB);
          expect(dataBytes).toBeLessThan(3 * MiB);
          expect(data[0]!.offset).toBeLessThanOrEqual(9 * MiB);
        } else expect(dataBytes).toBe(32 * MiB);
        const bytes = await image.read(8 * MiB, 3 * MiB);
        expect(bytes.subarray(0, MiB).every((b) => b === 0)).toBe(true);
        expect(bytes.subarray(MiB, 2 * MiB).every((b) => b === 1)).toBe(true);
        expect(bytes.subarray(2 * MiB).every((b) => b === 0)).toBe(true);
      } finally {
        await image.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});

describe('scanning a sparse raw file', () => {
  it('finds the same blocks by path (holes skipped where mapped) as from its bytes', async () => {
    const { scanAllocation } = await import('../src/node/index.js');
    const { readFileSync } = await import('node:fs');
    const dir = tempDir();
    try {
      const raw = sparseFile(dir.path, 'in.raw', 40 * MiB, [
        [3 * MiB + 4096, 4096],
        [17 * MiB, 3 * MiB],
        [40 * MiB - 4096, 4096],
      ]);
      closeSync(raw.fd);
      const byPath = await scanAllocation(raw.path, { blockSize: MiB });
      const fromBytes = await scanAllocation(new Uint8Array(readFileSync(raw.path)), { blockSize: MiB });
      expect([...byPath.present]).toEqual([...fromBytes.present]);
      expect([...byPath.present].flatMap((p, i) => (p ? [i] : []))).toEqual([3, 17, 18, 19, 39]);
    } finally {
      dir.cleanup();
    }
  });
});

describe('converting files with holes gives the bytes a full read gives', () => {
  const guids = {
    fileWrite: '11111111-1111-4111-8111-111111111111',
    dataWrite: '22222222-2222-4222-8222-222222222222',
    virtualDisk: '33333333-3333-4333-8333-333333333333',
  };

  /** The same bytes as `path`, every one written (no hole for the file system to report). */
  async function denseCopy(path: string, to: string): Promise<string> {
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(to, readFileSync(path));
    return to;
  }

  it('raw -> VHDX (dynamic, fixed, a larger disk) and VHDX -> raw, sparse input beside its dense copy', async () => {
    const { convertRawFileToVhdx, convertVhdxFileToRaw } = await import('../src/node/index.js');
    const { readFileSync } = await import('node:fs');
    const dir = tempDir();
    try {
      // holes at the start and the end, data across a block boundary, a size that is no whole block
      const size = 21 * MiB + 4096;
      const raw = sparseFile(dir.path, 'in.raw', size, [
        [5 * MiB + 8192, 4096],
        [7 * MiB + 512 * 1024, MiB],
        [16 * MiB, 3 * MiB],
      ]);
      closeSync(raw.fd);
      const dense = await denseCopy(raw.path, join(dir.path, 'dense.raw'));
      const variants = [
        { name: 'dynamic', options: { blockSize: 2 * MiB } },
        { name: 'fixed', options: { blockSize: 2 * MiB, type: 'fixed' as const } },
        { name: 'larger', options: { blockSize: 4 * MiB, virtualSize: 40 * MiB } },
      ];
      for (const v of variants) {
        const a = join(dir.path, `${v.name}-sparse.vhdx`);
        const b = join(dir.path, `${v.name}-dense.vhdx`);
        await convertRawFileToVhdx(raw.path, a, { ...v.options, guids });
        await convertRawFileToVhdx(dense, b, { ...v.options, guids });
        expect(Buffer.compare(readFileSync(a), readFileSync(b)), v.name).toBe(0);
        // and back: from the VHDX whose zero stretches are holes, and from its dense copy
        const backA = join(dir.path, `${v.name}-a.raw`);
        const backB = join(dir.path, `${v.name}-b.raw`);
        await convertVhdxFileToRaw(a, backA);
        await convertVhdxFileToRaw(await denseCopy(a, join(dir.path, `${v.name}-dense-copy.vhdx`)), backB);
        const want = new Uint8Array(v.options.virtualSize ?? size);
        want.set(readFileSync(dense));
        expect(Buffer.compare(readFileSync(backA), want), v.name).toBe(0);
        expect(Buffer.compare(readFileSync(backB), want), v.name).toBe(0);
      }
    } finally {
      dir.cleanup();
    }
  });
});

describe('reading a sparse file in order (the stream routes over files)', () => {
  it('gives the file bytes whether holes are mapped or read; mapped holes come as shared zeros, never read', async () => {
    const { readFileChunks } = await import('../src/node/fd-reader.js');
    const { readFileSync } = await import('node:fs');
    const dir = tempDir();
    try {
      const cases: Array<{ name: string; size: number; data: Array<[number, number]> }> = [
        {
          name: 'holes-around',
          size: 64 * MiB + 4096,
          data: [
            [8 * MiB + 4096, 3 * MiB],
            [32 * MiB, 2 * MiB],
            [40 * MiB, 65536],
          ],
        },
        { name: 'data-first', size: 16 * MiB, data: [[0, 5 * MiB]] },
        { name: 'data-last', size: 16 * MiB, data: [[15 * MiB, MiB]] },
        { name: 'all-hole', size: 16 * MiB, data: [] },
      ];
      const chunkSize = 768 * 1024; // read buffers are this long; shared zeros are views of a 1 MiB buffer
      for (const c of cases) {
        const { path, fd } = sparseFile(dir.path, c.name, c.size, c.data);
        try {
          const want = readFileSync(path);
          const holes = await holeMapOf(fd, c.size);
          for (const map of [holes, undefined]) {
            const parts: Buffer[] = [];
            let zeroViewBytes = 0;
            for await (const chunk of readFileChunks(fd, c.size, map, chunkSize)) {
              expect(chunk.length, c.name).toBeGreaterThan(0);
              if (chunk.buffer.byteLength !== chunkSize) zeroViewBytes += chunk.length;
              parts.push(Buffer.from(chunk)); // copied: the read buffers are reused
            }
            expect(Buffer.compare(Buffer.concat(parts), want), c.name).toBe(0);
            const dataBytes = c.data.reduce((n, [, length]) => n + length, 0);
            // file systems may round extents out to their own block size (at most 1 MiB each side here)
            if (map) expect(zeroViewBytes, c.name).toBeGreaterThanOrEqual(c.size - dataBytes - 2 * MiB * c.data.length);
            else expect(zeroViewBytes, c.name).toBe(0);
          }
          if (hasFfi && c.data.length > 0) expect(holes, c.name).toBeDefined();
        } finally {
          closeSync(fd);
        }
      }
    } finally {
      dir.cleanup();
    }
  });

  it('refuses a file that ends before its size (read-failed)', async () => {
    const { readFileChunks } = await import('../src/node/fd-reader.js');
    const dir = tempDir();
    try {
      const { fd } = sparseFile(dir.path, 'short', MiB, [[0, MiB]]);
      try {
        const read = async () => {
          for await (const _ of readFileChunks(fd, 2 * MiB, undefined, MiB)) void _;
        };
        await expect(read()).rejects.toMatchObject({ reason: 'read-failed' });
      } finally {
        closeSync(fd);
      }
    } finally {
      dir.cleanup();
    }
  });
});
