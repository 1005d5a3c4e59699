// Reading a chain split into many small stretches: neighbouring stretches of
// one file are read together (src/image/read-plan.ts), and the Node file
// path reads a window of the disk at a time; the bytes stay the chain's.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataWindows, longestInPlace, planReads, type DataExtent } from '../src/image/read-plan.js';
import * as node from '../src/node/index.js';
import { openVhdx } from '../src/index.js';
import { firstDifference } from './helpers/bytes.js';
import { collect, makeRaw } from './helpers/images.js';
import { tempDir } from './helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const dir = tempDir('vhdx-read-plan-');
afterAll(() => dir.cleanup());

const data = (offset: number, length: number, fileOffset: number, level = 0): DataExtent => ({
  kind: 'data',
  offset,
  length,
  fileOffset,
  level,
});

describe('planReads', () => {
  it('gathers stretches of one file within the gap into one read, gaps included', () => {
    const reads = planReads([data(0, 4 * KiB, MiB), data(80 * KiB, 4 * KiB, MiB + 80 * KiB)], 256 * KiB, 4 * MiB);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ level: 0, fileOffset: MiB, length: 84 * KiB });
    expect(reads[0]!.pieces.map((p) => p.offset)).toEqual([0, 80 * KiB]);
  });

  it('reads apart what is further apart than the gap, in another file, or behind in the file', () => {
    const far = planReads([data(0, 4 * KiB, 0), data(MiB, 4 * KiB, MiB)], 256 * KiB, 4 * MiB);
    expect(far).toHaveLength(2);
    const levels = planReads([data(0, 4 * KiB, 0, 0), data(4 * KiB, 4 * KiB, 4 * KiB, 1)], 256 * KiB, 4 * MiB);
    expect(levels.map((r) => r.level)).toEqual([0, 1]);
    const behind = planReads([data(0, 4 * KiB, 8 * MiB), data(4 * KiB, 4 * KiB, 0)], 256 * KiB, 4 * MiB);
    expect(behind).toHaveLength(2);
  });

  it('interleaved levels each keep gathering their own stretches', () => {
    const reads = planReads(
      [
        data(0, 4 * KiB, 0, 1),
        data(4 * KiB, 60 * KiB, 4 * KiB, 0),
        data(64 * KiB, 4 * KiB, 64 * KiB, 1),
        data(68 * KiB, 4 * KiB, 68 * KiB, 0),
      ],
      256 * KiB,
      4 * MiB,
    );
    expect(reads.map((r) => [r.level, r.pieces.length, r.length])).toEqual([
      [1, 2, 68 * KiB],
      [0, 2, 68 * KiB],
    ]);
  });

  it('keeps a read within the span; one long extent is one read of its own length', () => {
    const spans = planReads([data(0, 3 * MiB, 0), data(3 * MiB, 2 * MiB, 3 * MiB)], 256 * KiB, 4 * MiB);
    expect(spans.map((r) => r.length)).toEqual([3 * MiB, 2 * MiB]);
    const long = planReads([data(0, 64 * MiB, 0)], 256 * KiB, 4 * MiB);
    expect(long).toEqual([{ level: 0, fileOffset: 0, length: 64 * MiB, pieces: [data(0, 64 * MiB, 0)] }]);
  });
});

describe('longestInPlace', () => {
  it('picks the longest read of several stretches lying in the file as on the disk', () => {
    const reads = planReads(
      [
        data(0, 4 * KiB, MiB, 0),
        data(8 * KiB, 4 * KiB, MiB + 8 * KiB, 0),
        data(4 * KiB, 4 * KiB, 0, 1),
        data(64 * KiB, 4 * KiB, 56 * KiB, 1), // 4 KiB closer in the file than on the disk: not in place
        data(MiB, 4 * KiB, 9 * MiB, 2), // one stretch alone: read in place anyway
      ],
      256 * KiB,
      4 * MiB,
    );
    expect(reads.map((r) => [r.level, r.length])).toEqual([
      [0, 12 * KiB],
      [1, 60 * KiB],
      [2, 4 * KiB],
    ]);
    expect(longestInPlace(reads)).toBe(reads[0]);
    expect(longestInPlace(reads.slice(1))).toBeUndefined();
  });
});

describe('dataWindows', () => {
  it('cuts extents at window edges and yields each window holding data once', () => {
    const windows = [...dataWindows([data(MiB, 6 * MiB, 100 * MiB, 2), data(9 * MiB, KiB, 0)], 4 * MiB)];
    expect(windows).toEqual([
      { position: MiB, length: 3 * MiB, extents: [data(MiB, 3 * MiB, 100 * MiB, 2)] },
      { position: 4 * MiB, length: 3 * MiB, extents: [data(4 * MiB, 3 * MiB, 103 * MiB, 2)] },
      { position: 9 * MiB, length: KiB, extents: [data(9 * MiB, KiB, 0)] },
    ]);
    // two extents in one window: the window spans both, the gap between them included
    expect([...dataWindows([data(0, KiB, 0), data(2 * MiB, KiB, 5 * MiB, 1)], 4 * MiB)]).toEqual([
      { position: 0, length: 2 * MiB + KiB, extents: [data(0, KiB, 0), data(2 * MiB, KiB, 5 * MiB, 1)] },
    ]);
  });

  it('yields nothing for no data', () => {
    expect([...dataWindows([], 4 * MiB)]).toEqual([]);
  });
});

/** The disk with one 4 KiB run changed in every `stride` bytes from `first` on: a child of many small stretches. */
function scattered(disk: Uint8Array, first: number, stride: number, seed: number): Uint8Array {
  const out = disk.slice();
  for (let at = first; at + 4 * KiB <= out.length; at += stride) out.fill(((seed + at / stride) & 0xff) | 1, at, at + 4 * KiB);
  return out;
}

describe('a chain of many small stretches', () => {
  const SIZE = 24 * MiB;
  const base = makeRaw(SIZE, 'mixed', 5);
  const mid = scattered(base, 0, 80 * KiB, 1);
  const top = scattered(mid, 40 * KiB, 120 * KiB, 2);

  async function chainFiles(): Promise<string> {
    const paths = ['base.raw', 'mid.raw', 'top.raw'].map((n) => join(dir.path, n));
    for (const [i, d] of [base, mid, top].entries()) writeFileSync(paths[i]!, d);
    await node.convertRawFileToVhdx(paths[0]!, join(dir.path, 'base.vhdx'), { blockSize: 2 * MiB });
    await node.convertRawFileToChild(paths[1]!, join(dir.path, 'mid.avhdx'), join(dir.path, 'base.vhdx'));
    await node.convertRawFileToChild(paths[2]!, join(dir.path, 'top.avhdx'), join(dir.path, 'mid.avhdx'));
    return join(dir.path, 'top.avhdx');
  }

  it('reads as the disk through read(), stream() and the Node file path, in far fewer reads than stretches', async () => {
    const topPath = await chainFiles();
    const files = ['top.avhdx', 'mid.avhdx', 'base.vhdx'].map((n) => readFileSync(join(dir.path, n)));
    let reads = 0;
    const counted = (bytes: Uint8Array) => ({
      size: bytes.length,
      read: async (offset: number, length: number) => {
        reads++;
        return bytes.subarray(offset, offset + length);
      },
    });
    const parent = await openVhdx(counted(files[1]!), { parent: await openVhdx(counted(files[2]!)) });
    const image = await openVhdx(counted(files[0]!), { parent });
    const stretches = image.extents().filter((e) => e.kind === 'data').length;
    expect(stretches).toBeGreaterThan(500); // the case this is about
    reads = 0;
    const whole = await image.read(0, SIZE);
    expect(firstDifference(whole, top)).toBe(-1);
    expect(reads).toBeLessThan(stretches / 10);
    expect(firstDifference(await collect(image.stream()), top)).toBe(-1);
    // an unaligned read crossing levels and windows
    expect(firstDifference(await image.read(3 * MiB + 1234, 5 * MiB), top.subarray(3 * MiB + 1234, 8 * MiB + 1234))).toBe(-1);

    const out = join(dir.path, 'flat.raw');
    const result = await node.convertVhdxFileToRaw(topPath, out);
    expect(result.virtualSize).toBe(SIZE);
    expect(firstDifference(readFileSync(out), top)).toBe(-1);
    // windows smaller than a block and not a divisor of the stride: stretches cut at every edge
    await node.convertVhdxFileToRaw(topPath, out, { chunkSize: 96 * KiB });
    expect(firstDifference(readFileSync(out), top)).toBe(-1);
  });
});
