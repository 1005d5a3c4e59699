// The one rule for the size of a disk made from raw input, and the zeros
// that fill out its last sector.
import { describe, expect, it } from 'vitest';
import { diskSizeFor, withZeroTail, zeroPieces } from '../src/layout/disk-size.js';

const MiB = 1024 * 1024;

describe('diskSizeFor', () => {
  it('keeps an exact multiple of the sector', () => {
    expect(diskSizeFor(20 * MiB, 512)).toBe(20 * MiB);
    expect(diskSizeFor(8192, 4096)).toBe(8192);
  });

  it('rounds one byte over up to the next whole sector', () => {
    expect(diskSizeFor(20 * MiB + 1, 512)).toBe(20 * MiB + 512);
    expect(diskSizeFor(4097, 4096)).toBe(8192);
    expect(diskSizeFor(1, 4096)).toBe(4096);
  });

  it('keeps zero at zero', () => {
    expect(diskSizeFor(0, 512)).toBe(0);
    expect(diskSizeFor(0, 4096)).toBe(0);
  });
});

describe('zero tails', () => {
  it('zeroPieces yields exactly the asked number of zeros in pieces of at most 1 MiB', () => {
    for (const length of [0, 1, 511, MiB, MiB + 1, 3 * MiB + 7]) {
      const pieces = [...zeroPieces(length)];
      expect(pieces.reduce((n, p) => n + p.length, 0)).toBe(length);
      expect(pieces.every((p) => p.length > 0 && p.length <= MiB && p.every((b) => b === 0))).toBe(true);
    }
  });

  it('withZeroTail passes the chunks through, then adds the zeros', async () => {
    async function* chunks() {
      yield Uint8Array.of(1, 2);
      yield Uint8Array.of(3);
    }
    const out: number[] = [];
    for await (const c of withZeroTail(chunks(), 5)) out.push(...c);
    expect(out).toEqual([1, 2, 3, 0, 0, 0, 0, 0]);
  });
});
