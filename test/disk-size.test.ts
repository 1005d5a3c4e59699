// The one rule for the size of a disk made from raw input, and the zeros
// that fill out its last sector.
import { describe, expect, it } from 'vitest';
import { VhdxError } from '../src/errors.js';
import { checkVirtualSize, diskSizeFor, diskSizeForInput, sizedChunks, withZeroTail, zeroPieces } from '../src/layout/disk-size.js';

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

/** The VhdxError `run` throws (or its promise rejects with). */
async function refusal(run: () => unknown): Promise<VhdxError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(VhdxError);
    return err as VhdxError;
  }
  throw new Error('not refused');
}

async function* pieces(...lengths: number[]) {
  for (const n of lengths) yield new Uint8Array(n).fill(1);
}

async function drain(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of chunks) n += c.length;
  return n;
}

describe('a requested virtualSize against the input (the --size rule)', () => {
  it('zero, or not whole sectors naming the nearest multiple: invalid-option on options.virtualSize', async () => {
    for (const [size, sector, says] of [
      [0, 512, /must be larger than zero/],
      [1000, 512, /1000 is not a whole number of 512-byte sectors; the nearest is 1024$/],
      [100, 512, /the nearest is 512$/],
      [9 * MiB + 512, 4096, /the nearest is 9437184$/],
    ] as const) {
      const e = await refusal(() => checkVirtualSize(size, sector));
      expect({ reason: e.reason, structure: e.structure, field: e.field }).toEqual({
        reason: 'invalid-option',
        structure: 'options',
        field: 'virtualSize',
      });
      expect(e.message).toMatch(says);
      expect(e.message).not.toMatch(/--/); // no command-line flag in the library's words
    }
    expect(() => checkVirtualSize(undefined, 512)).not.toThrow();
  });

  it('an input longer than the size: input-too-long on options.virtualSize, the size as offset', async () => {
    const e = await refusal(() => diskSizeForInput(2048, 1024, 512));
    expect({ reason: e.reason, structure: e.structure, field: e.field, offset: e.offset }).toEqual({
      reason: 'input-too-long',
      structure: 'options',
      field: 'virtualSize',
      offset: 1024,
    });
    expect(e.message).toMatch(/the input \(2048 bytes\) is longer than virtualSize \(1024 bytes\)$/);
  });

  it('the size asked for, or the input rounded up to a whole sector (said, for a notice)', () => {
    expect(diskSizeForInput(1000, 4096, 512)).toEqual({ virtualSize: 4096, roundedUp: false });
    expect(diskSizeForInput(1024, undefined, 512)).toEqual({ virtualSize: 1024, roundedUp: false });
    expect(diskSizeForInput(1000, undefined, 512)).toEqual({ virtualSize: 1024, roundedUp: true });
    expect(diskSizeForInput(1000, undefined, 4096)).toEqual({ virtualSize: 4096, roundedUp: true });
  });

  it('sizedChunks: zeros up to the size or the next sector, said at the end; longer input fails as it passes', async () => {
    const sized: unknown[] = [];
    expect(await drain(sizedChunks(pieces(600, 400), undefined, 512, (size, bytes) => sized.push({ ...size, bytes })))).toBe(1024);
    expect(sized).toEqual([{ virtualSize: 1024, roundedUp: true, bytes: 1000 }]);
    expect(await drain(sizedChunks(pieces(512), 4096, 512))).toBe(4096);
    let passed = 0;
    const long = (async function* () {
      for await (const c of pieces(512, 512, 512)) {
        passed += c.length;
        yield c;
      }
    })();
    const e = await refusal(() => drain(sizedChunks(long, 1024, 512)));
    expect({ reason: e.reason, field: e.field, offset: e.offset }).toEqual({
      reason: 'input-too-long',
      field: 'virtualSize',
      offset: 1024,
    });
    expect(e.message).toMatch(/the input \(at least 1536 bytes\)/);
    expect(passed).toBe(1536);
    expect((await refusal(() => drain(sizedChunks(pieces(1), 1000, 512)))).reason).toBe('invalid-option');
  });
});
