// The small raw disk the library checks use, made the same way in Node and
// in the browser: 1 MiB blocks of random data, zeros, a lone byte, and a
// short last block, so every block state and the partial tail are exercised.

export const DISK_BLOCK = 1024 * 1024;
/** Which blocks hold data (1) or are all zero (0); the last one is 512 bytes long. */
export const DISK_PRESENT = [1, 0, 1, 0, 1, 1, 1];
export const DISK_SIZE = 6 * DISK_BLOCK + 512;

/** The disk's bytes (deterministic: xorshift32 from a fixed seed). */
export function makeDisk(): Uint8Array {
  const raw = new Uint8Array(DISK_SIZE);
  let x = 0x9e3779b9;
  const fill = (start: number, end: number) => {
    for (let i = start; i < end; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      raw[i] = x & 255;
    }
  };
  fill(0, DISK_BLOCK);
  raw[3 * DISK_BLOCK - 1] = 0x5a; // block 2: one non-zero byte, at its very end
  fill(4 * DISK_BLOCK, DISK_SIZE);
  return raw;
}
