// combineCrc32c against a direct CRC-32C of the concatenation, the combine
// math past 4 GiB by its algebra (no 4 GiB buffers), and the S3 header
// encoding against the AWS SDK's published CRC-32C checksum values.
import { describe, expect, it } from 'vitest';
import { combineCrc32c, crc32cBase64, crc32cCombine, crc32cFromBase64 } from '../src/wasm/crc-combine.js';
import { crc32c } from '../src/wasm/kernels.js';
import { ready } from '../src/wasm/instance.js';
import { VhdxError } from '../src/errors.js';
import { pseudoRandomBytes } from './helpers/reference.js';

const GiB = 1024 ** 3;
const text = (s: string) => new TextEncoder().encode(s);

/** A deterministic generator of split points. */
function splitter(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

describe('combineCrc32c', () => {
  it('equals the CRC-32C of the concatenation for random splits, empty parts included', async () => {
    await ready();
    const data = pseudoRandomBytes(200_000, 7);
    const whole = crc32c(data);
    for (let seed = 1; seed <= 40; seed++) {
      const next = splitter(seed);
      const cuts = Array.from({ length: next(8) }, () => next(data.length + 1));
      if (seed % 4 === 0) cuts.push(cuts[0] ?? 0, 0, data.length); // empty parts at the start, middle and end
      cuts.sort((a, b) => a - b);
      const bounds = [0, ...cuts, data.length];
      const parts = bounds.slice(1).map((end, i) => {
        const piece = data.subarray(bounds[i]!, end);
        return { crc: crc32c(piece), length: piece.length };
      });
      expect(combineCrc32c(parts), `seed ${seed}`).toBe(whole);
    }
  });

  it('gives 0 for no parts and for empty parts only; one part is its own CRC', async () => {
    await ready();
    expect(combineCrc32c([])).toBe(0);
    expect(
      combineCrc32c([
        { crc: 0, length: 0 },
        { crc: 0, length: 0 },
      ]),
    ).toBe(0);
    const one = crc32c(text('abc'));
    expect(combineCrc32c([{ crc: one, length: 3 }])).toBe(one);
  });

  it('appending n bytes equals continuing the CRC over them (small n, every length up to 70)', async () => {
    await ready();
    const a = crc32c(text('prefix bytes'));
    const data = pseudoRandomBytes(70, 3);
    for (let n = 0; n <= data.length; n++) {
      const b = data.subarray(0, n);
      expect(crc32cCombine(a, crc32c(b), n)).toBe(crc32c(b, a));
    }
  });

  it('past 4 GiB: combining is associative across lengths whose sum passes 2^32 and 2^33', async () => {
    await ready();
    // A·(B·C) and (A·B)·C only agree when x^(8(m+n)) = x^(8m)·x^(8n) mod P, so this checks
    // the operator for lengths past 2^32 against products of smaller ones (which the
    // direct-CRC tests above pin down bit by bit).
    const [a, b, c] = [1, 2, 3].map((s) => crc32c(pseudoRandomBytes(32, s)));
    const cases: [number, number][] = [
      [3 * GiB, 3 * GiB + 123],
      [2 ** 32 - 1, 1],
      [2 ** 32, 2 ** 32],
      [5 * GiB, 7],
      [2 ** 52, 2 ** 52 - 1],
    ];
    for (const [m, n] of cases) {
      const left = crc32cCombine(crc32cCombine(a!, b!, m), c!, n);
      const right = crc32cCombine(a!, crc32cCombine(b!, c!, n), m + n);
      expect(left, `${m} + ${n}`).toBe(right);
    }
    // five 1 GiB appends one after another equal one 5 GiB append
    let chained = a!;
    for (let i = 0; i < 5; i++) chained = crc32cCombine(chained, 0, GiB);
    expect(crc32cCombine(a!, 0, 5 * GiB)).toBe(chained);
    expect(crc32cCombine(a!, 0, 5 * GiB)).not.toBe(crc32cCombine(a!, 0, 5 * GiB + 1));
  });

  it('rejects lengths that are not non-negative safe integers, naming the part', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) {
      const err = (() => {
        try {
          combineCrc32c([{ crc: 0, length: bad }]);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(VhdxError);
      expect((err as VhdxError).reason).toBe('invalid-option');
      expect((err as VhdxError).field).toBe('parts[0].length');
    }
  });
});

describe('S3 header encoding', () => {
  // The AWS SDK for JavaScript v3's S3 flexible-checksum tests (clients/client-s3,
  // "Flexible Checksums") and AWS CRT's checksum tests publish these values for
  // x-amz-checksum-crc32c.
  const vectors: [string, string][] = [
    ['', 'AAAAAA=='],
    ['abc', 'Nks/tw=='],
    ['Hello world', 'crUfeA=='],
  ];

  it("base64 of the big-endian CRC-32C matches AWS's published values", async () => {
    await ready();
    for (const [input, header] of vectors) {
      expect(crc32cBase64(crc32c(text(input))), input).toBe(header);
      expect(crc32cFromBase64(header)).toBe(crc32c(text(input)));
    }
  });

  it("a combined CRC encodes to AWS's value for the whole string", async () => {
    await ready();
    const parts = ['Hello', ' ', 'world'].map((s) => ({ crc: crc32c(text(s)), length: s.length }));
    expect(crc32cBase64(combineCrc32c(parts))).toBe('crUfeA==');
  });

  it('refuses text that is not base64 of four bytes', () => {
    for (const bad of ['', 'AAAA', '!!!!', 'AAAAAAAA']) {
      expect(() => crc32cFromBase64(bad)).toThrow(VhdxError);
    }
  });
});
