// CRC-32C of a concatenation from the CRCs of its pieces, without reading
// the bytes again: what an object store's full-object checksum of a
// multipart upload is. Plain integer arithmetic over GF(2); no kernel needed.
//
// Appending n bytes to a message multiplies its (unconditioned) remainder by
// x^(8n) mod P: the "zeros operator". It is a linear map on 32-bit values,
// built here by repeated squaring of x, and applied as one polynomial
// multiplication mod P (the operator's matrix is the multiplication by that
// polynomial, so this is the matrix method with the matrix kept as its
// first column). The pre- and post-conditioning (all ones in and out) cancel
// out of the combination, leaving crc(A·B) = (x^(8|B|) · crc(A)) xor crc(B).
import { VhdxError } from '../errors.js';

/** CRC-32C's polynomial, bit-reflected (bit 31 is x^0, bit 0 is x^31). */
const POLY = 0x82f63b78;
/** x^0 in the reflected representation. */
const ONE = 0x80000000;

/** a · b mod P, both reflected. */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let bit = ONE; bit !== 0; bit >>>= 1) {
    if (a & bit) product ^= b;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) mod P for k = 0, 1, …; grown on demand (lengths below 2^53 bytes need 56). */
const powers: number[] = [ONE >>> 1];

function xToTwoToThe(k: number): number {
  while (powers.length <= k) {
    const last = powers[powers.length - 1]!;
    powers.push(multiplyModP(last, last));
  }
  return powers[k]!;
}

/** x^(8·length) mod P: the operator that appends `length` bytes. */
function zerosOperator(length: number): number {
  let op = ONE;
  // 8·length = length shifted left by 3: walk length's bits from x^(2^3)
  for (let k = 3, n = length; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) op = multiplyModP(xToTwoToThe(k), op);
  }
  return op;
}

function checkLength(length: unknown, where: string): number {
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw new VhdxError('invalid-option', `${where} must be a non-negative safe integer, got ${String(length)}`, {
      structure: 'options',
      field: where,
    });
  }
  return length;
}

/**
 * CRC-32C of A followed by B, from `crcA` = CRC-32C of A, `crcB` = CRC-32C
 * of B and `lengthB` = B's length in bytes (up to 2^53 - 1; A's length does
 * not matter). Costs O(log lengthB) multiplications, never touches the bytes.
 * @throws VhdxError INVALID_ARGUMENT (`invalid-option`) when `lengthB` is not a non-negative safe integer.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  const n = checkLength(lengthB, 'length');
  return (multiplyModP(zerosOperator(n), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}

/** One piece of a larger byte sequence: its CRC-32C and its length. */
export interface Crc32cPart {
  /** CRC-32C of the part's bytes (as {@link crc32c} returns it). */
  crc: number;
  /** Length of the part in bytes. */
  length: number;
}

/**
 * CRC-32C of the parts' bytes one after another (an S3 full-object checksum
 * of a multipart upload): the parts combined in order. Empty parts change
 * nothing; no parts gives 0, the CRC-32C of no bytes.
 * @throws VhdxError INVALID_ARGUMENT (`invalid-option`) when a length is not a non-negative safe integer.
 */
export function combineCrc32c(parts: readonly Crc32cPart[]): number {
  let crc = 0;
  parts.forEach((part, i) => {
    const length = checkLength(part.length, `parts[${i}].length`);
    crc = crc32cCombine(crc, part.crc, length);
  });
  return crc;
}

/**
 * A CRC-32C as S3's `x-amz-checksum-crc32c` header carries it: the four
 * bytes big-endian, base64-encoded (`crc32c("Hello world")` → `"crUfeA=="`).
 * @throws never: any number is taken as its low 32 bits.
 */
export function crc32cBase64(crc: number): string {
  const c = crc >>> 0;
  return btoa(String.fromCharCode(c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff));
}

/**
 * The number {@link crc32cBase64} encoded.
 * @throws VhdxError INVALID_ARGUMENT (`invalid-option`) when `text` is not base64 of four bytes.
 */
export function crc32cFromBase64(text: string): number {
  let bytes = '';
  try {
    bytes = atob(text);
  } catch {
    // reported below
  }
  if (bytes.length !== 4) {
    throw new VhdxError('invalid-option', `not a base64 CRC-32C: ${JSON.stringify(text)}`, { structure: 'options', field: 'checksum' });
  }
  return ((bytes.charCodeAt(0) << 24) | (bytes.charCodeAt(1) << 16) | (bytes.charCodeAt(2) << 8) | bytes.charCodeAt(3)) >>> 0;
}
