// Little-endian field access shared by every structure codec.

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const TWO_32 = 4294967296;

export function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Reads a u64 as a number. Exact below 2^53; larger values come back
 * rounded, which every caller rejects through its own bound (VHDX stops at 2^46).
 */
export function readU64(dv: DataView, off: number): number {
  return dv.getUint32(off + 4, true) * TWO_32 + dv.getUint32(off, true);
}

export function writeU64(dv: DataView, off: number, value: number): void {
  dv.setUint32(off, value % TWO_32, true);
  dv.setUint32(off + 4, Math.floor(value / TWO_32), true);
}

export function readAscii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(b[off + i]!);
  return s;
}

export function writeAscii(b: Uint8Array, off: number, text: string): void {
  for (let i = 0; i < text.length; i++) b[off + i] = text.charCodeAt(i);
}

/** Decodes UTF-16LE up to the first NUL or `len` bytes. */
export function readUtf16(b: Uint8Array, off: number, len: number): string {
  const codes: number[] = [];
  for (let i = 0; i + 1 < len; i += 2) {
    const c = b[off + i]! | (b[off + i + 1]! << 8);
    if (c === 0) break;
    codes.push(c);
  }
  return String.fromCharCode(...codes);
}

/** Encodes `text` as UTF-16LE; returns the number of bytes written. */
export function writeUtf16(b: Uint8Array, off: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    b[off + 2 * i] = c & 0xff;
    b[off + 2 * i + 1] = c >> 8;
  }
  return text.length * 2;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

export function isMultipleOf(n: number, unit: number): boolean {
  return Number.isSafeInteger(n) && n % unit === 0;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
