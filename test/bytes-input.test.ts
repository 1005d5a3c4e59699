// crc32c and isAllZero take the bytes of any view or buffer, and refuse
// anything else with a VhdxError (issue: an ArrayBuffer read as all zero, a
// DataView as all zero, crc32c(ArrayBuffer) = 0, Uint32Array hashed as 1 byte).
import { createCRC32 } from 'hash-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { crc32c, init, isAllZero } from '../src/index.js';

let reference: (bytes: Uint8Array) => Promise<number>;
beforeAll(async () => {
  await init();
  reference = async (bytes) => {
    const h = await createCRC32(0x82f63b78);
    h.update(bytes);
    return Number.parseInt(h.digest('hex'), 16);
  };
});

const bytes = new Uint8Array([0, 0, 0, 0, 0, 9, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);

describe('crc32c and isAllZero take any view or buffer', () => {
  const views: [string, ArrayBufferView | ArrayBufferLike, Uint8Array][] = [
    ['ArrayBuffer', bytes.slice().buffer, bytes],
    ['DataView', new DataView(bytes.slice().buffer, 4, 8), bytes.subarray(4, 12)],
    ['Uint32Array', new Uint32Array(bytes.slice().buffer, 4, 2), bytes.subarray(4, 12)],
    ['Float64Array', new Float64Array(bytes.slice().buffer, 8, 1), bytes.subarray(8, 16)],
    ['Buffer', Buffer.from(bytes), bytes],
  ];

  it.each(views)('%s: its bytes, all of them', async (_, input, same) => {
    expect(crc32c(input)).toBe(await reference(same));
    expect(isAllZero(input)).toBe(same.every((b) => b === 0));
  });

  it('an all-zero DataView and ArrayBuffer are zero; one with a byte set is not', () => {
    expect(isAllZero(new ArrayBuffer(64))).toBe(true);
    expect(isAllZero(new DataView(new ArrayBuffer(64)))).toBe(true);
    const b = new ArrayBuffer(64);
    new Uint8Array(b)[63] = 1;
    expect(isAllZero(b)).toBe(false);
    expect(isAllZero(new DataView(b))).toBe(false);
  });

  it.each([
    ['a string', '123'],
    ['a number', 42],
    ['null', null],
    ['an array of numbers', [1, 2, 3]],
  ])('refuses %s with INVALID_ARGUMENT (not-bytes)', (_, value) => {
    for (const fn of [() => crc32c(value as never), () => isAllZero(value as never)]) {
      expect(fn).toThrow(expect.objectContaining({ name: 'VhdxError', code: 'INVALID_ARGUMENT', reason: 'not-bytes' }));
    }
  });
});
