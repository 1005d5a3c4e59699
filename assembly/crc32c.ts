// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). Slicing-by-16 for
// the plain build and for what is left after whole 4 KiB superblocks, which
// the SIMD build runs sixteen lanes at a time (crc32c-lanes.ts). Slicing-by-16
// has one table round per 16 bytes on its dependency chain, so it runs close
// to twice as fast as slicing-by-8 on the same tables.
import { CRC_TABLES } from "./memory";
import { SUPERBLOCK, buildLaneTables, crcSuperblocks } from "./crc32c-lanes";

const POLY: u32 = 0x82f63b78;

function buildTables(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(CRC_TABLES + (<usize>n << 2), c);
  }
  for (let t: usize = 1; t < 16; t++) {
    for (let n: usize = 0; n < 256; n++) {
      const prev = load<u32>(CRC_TABLES + ((t - 1) << 10) + (n << 2));
      const next = (prev >>> 8) ^ load<u32>(CRC_TABLES + ((<usize>(prev & 0xff)) << 2));
      store<u32>(CRC_TABLES + (t << 10) + (n << 2), next);
    }
  }
}

buildTables();
if (ASC_FEATURE_SIMD) buildLaneTables();

// @ts-ignore: decorator
@inline function tab(t: usize, b: u32): u32 {
  return load<u32>(CRC_TABLES + (t << 10) + (<usize>(b & 0xff) << 2));
}

/**
 * Continues a CRC-32C: `seed` is the result of the previous call (0 to start).
 * Returns the finalized CRC of everything so far.
 */
export function crc32c(ptr: usize, len: usize, seed: u32): u32 {
  let crc = ~seed;
  if (ASC_FEATURE_SIMD && len >= SUPERBLOCK) {
    const whole = len & ~(SUPERBLOCK - 1);
    crc = crcSuperblocks(ptr, whole / SUPERBLOCK, crc);
    ptr += whole;
    len -= whole;
  }
  // Align to 4 bytes so the word loads below are aligned.
  while (len > 0 && (ptr & 3) != 0) {
    crc = (crc >>> 8) ^ tab(0, crc ^ load<u8>(ptr));
    ptr++;
    len--;
  }
  while (len >= 16) {
    const w0 = load<u32>(ptr) ^ crc;
    const w1 = load<u32>(ptr, 4);
    const w2 = load<u32>(ptr, 8);
    const w3 = load<u32>(ptr, 12);
    // Each lookup is shift, mask, load: the byte index comes out already
    // scaled by 4, and table t's base (CRC_TABLES + t * 1024) is the load
    // immediate. The XOR tree is balanced by hand: neither binaryen nor V8
    // reassociates, and a chain would serialize fifteen XORs.
    const x3 =
      (load<u32>((w3 << 2) & 0x3fc, CRC_TABLES + 3072) ^ load<u32>((w3 >>> 6) & 0x3fc, CRC_TABLES + 2048)) ^
      (load<u32>((w3 >>> 14) & 0x3fc, CRC_TABLES + 1024) ^ load<u32>(w3 >>> 22 & 0x3fc, CRC_TABLES));
    const x2 =
      (load<u32>((w2 << 2) & 0x3fc, CRC_TABLES + 7168) ^ load<u32>((w2 >>> 6) & 0x3fc, CRC_TABLES + 6144)) ^
      (load<u32>((w2 >>> 14) & 0x3fc, CRC_TABLES + 5120) ^ load<u32>(w2 >>> 22 & 0x3fc, CRC_TABLES + 4096));
    const x1 =
      (load<u32>((w1 << 2) & 0x3fc, CRC_TABLES + 11264) ^ load<u32>((w1 >>> 6) & 0x3fc, CRC_TABLES + 10240)) ^
      (load<u32>((w1 >>> 14) & 0x3fc, CRC_TABLES + 9216) ^ load<u32>(w1 >>> 22 & 0x3fc, CRC_TABLES + 8192));
    const x0 =
      (load<u32>((w0 << 2) & 0x3fc, CRC_TABLES + 15360) ^ load<u32>((w0 >>> 6) & 0x3fc, CRC_TABLES + 14336)) ^
      (load<u32>((w0 >>> 14) & 0x3fc, CRC_TABLES + 13312) ^ load<u32>(w0 >>> 22 & 0x3fc, CRC_TABLES + 12288));
    crc = (x3 ^ x2) ^ (x1 ^ x0);
    ptr += 16;
    len -= 16;
  }
  while (len > 0) {
    crc = (crc >>> 8) ^ tab(0, crc ^ load<u8>(ptr));
    ptr++;
    len--;
  }
  return ~crc;
}
