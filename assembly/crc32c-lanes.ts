// CRC-32C over 4 KiB superblocks with 128-bit SIMD and no carry-less multiply
// (wasm has none). The scalar slicing-by-16 loop is bound by ALU work: about
// 70 shift/mask/load/xor operations per 16 bytes. Here each superblock is cut
// into 16 segments of 256 bytes and lane j of every i8x16 vector runs the
// plain byte-at-a-time CRC of segment j, so one vector step advances 16
// bytes at about 29 vector operations:
// - a table entry is linear in its index (T[a ^ b] = T[a] ^ T[b]), so the
//   256-entry lookup is T[low nibble] ^ T[high nibble << 4]; sixteen-entry
//   tables fit i8x16.swizzle, one swizzle per output byte;
// - each lane's 32-bit register lives in four byte planes (plane 0 holds the
//   low bytes), so "register >> 8" is a renaming of planes, not work.
// The 16 segment registers are then folded into one with
// reg(A ++ B) = reg(A) shifted over |B| zero bytes ^ reg_from_zero(B).
import { CRC_TABLES } from "./memory";

/** Bytes per superblock: 16 lanes x one segment each. */
export const SUPERBLOCK: usize = 4096;

// The low and high nibble tables, one vector per output byte: L0..L3, H0..H3.
const NIBBLE_TABLES: usize = memory.data(8 * 16, 16);
// Four byte-indexed tables that move a register over 256 zero bytes.
const SHIFT_TABLES: usize = memory.data(4 * 256 * 4, 64);
const COLUMNS: usize = memory.data(16 * 16, 64);
const LANE_REGISTERS: usize = memory.data(16 * 4, 16);

// @ts-ignore: decorator
@inline function byteStep(reg: u32): u32 {
  return (reg >>> 8) ^ load<u32>(CRC_TABLES + (<usize>(reg & 0xff) << 2));
}

/** Fills the lane tables; CRC_TABLES (table 0) must already be built. */
export function buildLaneTables(): void {
  for (let n: usize = 0; n < 16; n++) {
    const low = load<u32>(CRC_TABLES + (n << 2));
    const high = load<u32>(CRC_TABLES + (n << 6));
    for (let k: usize = 0; k < 4; k++) {
      store<u8>(NIBBLE_TABLES + (k << 4) + n, <u8>(low >>> (<u32>k << 3)));
      store<u8>(NIBBLE_TABLES + 64 + (k << 4) + n, <u8>(high >>> (<u32>k << 3)));
    }
  }
  // Shift each single-bit register over one segment of zeros; every other
  // entry follows by linearity, one XOR each.
  for (let k: usize = 0; k < 4; k++) {
    const table = SHIFT_TABLES + (k << 10);
    store<u32>(table, 0);
    for (let n: usize = 1; n < 256; n++) {
      const lowBit = n & (0 - n);
      if (n == lowBit) {
        let reg = <u32>n << (<u32>k << 3);
        for (let i = 0; i < 256; i++) reg = byteStep(reg);
        store<u32>(table + (n << 2), reg);
      } else {
        store<u32>(table + (n << 2), load<u32>(table + ((n ^ lowBit) << 2)) ^ load<u32>(table + (lowBit << 2)));
      }
    }
  }
}

// Byte interleave of two vectors' low / high halves: four rounds of it on
// rows (i, i + 8) transpose a 16 x 16 byte matrix.
// @ts-ignore: decorator
@inline function zipLow(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
// @ts-ignore: decorator
@inline function zipHigh(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/**
 * Loads 16 bytes from each of the 16 segments at `at` and stores them to
 * COLUMNS transposed: vector t holds byte t of every segment, lane j from
 * segment j. Straight-line so the whole matrix stays in registers.
 */
// @ts-ignore: decorator
@inline function loadColumns(at: usize): void {
  const r0 = v128.load(at, 0), r1 = v128.load(at, 256), r2 = v128.load(at, 512), r3 = v128.load(at, 768);
  const r4 = v128.load(at, 1024), r5 = v128.load(at, 1280), r6 = v128.load(at, 1536), r7 = v128.load(at, 1792);
  const r8 = v128.load(at, 2048), r9 = v128.load(at, 2304), r10 = v128.load(at, 2560), r11 = v128.load(at, 2816);
  const r12 = v128.load(at, 3072), r13 = v128.load(at, 3328), r14 = v128.load(at, 3584), r15 = v128.load(at, 3840);
  const a0 = zipLow(r0, r8), a1 = zipHigh(r0, r8), a2 = zipLow(r1, r9), a3 = zipHigh(r1, r9);
  const a4 = zipLow(r2, r10), a5 = zipHigh(r2, r10), a6 = zipLow(r3, r11), a7 = zipHigh(r3, r11);
  const a8 = zipLow(r4, r12), a9 = zipHigh(r4, r12), a10 = zipLow(r5, r13), a11 = zipHigh(r5, r13);
  const a12 = zipLow(r6, r14), a13 = zipHigh(r6, r14), a14 = zipLow(r7, r15), a15 = zipHigh(r7, r15);
  const b0 = zipLow(a0, a8), b1 = zipHigh(a0, a8), b2 = zipLow(a1, a9), b3 = zipHigh(a1, a9);
  const b4 = zipLow(a2, a10), b5 = zipHigh(a2, a10), b6 = zipLow(a3, a11), b7 = zipHigh(a3, a11);
  const b8 = zipLow(a4, a12), b9 = zipHigh(a4, a12), b10 = zipLow(a5, a13), b11 = zipHigh(a5, a13);
  const b12 = zipLow(a6, a14), b13 = zipHigh(a6, a14), b14 = zipLow(a7, a15), b15 = zipHigh(a7, a15);
  const c0 = zipLow(b0, b8), c1 = zipHigh(b0, b8), c2 = zipLow(b1, b9), c3 = zipHigh(b1, b9);
  const c4 = zipLow(b2, b10), c5 = zipHigh(b2, b10), c6 = zipLow(b3, b11), c7 = zipHigh(b3, b11);
  const c8 = zipLow(b4, b12), c9 = zipHigh(b4, b12), c10 = zipLow(b5, b13), c11 = zipHigh(b5, b13);
  const c12 = zipLow(b6, b14), c13 = zipHigh(b6, b14), c14 = zipLow(b7, b15), c15 = zipHigh(b7, b15);
  v128.store(COLUMNS, zipLow(c0, c8), 0);
  v128.store(COLUMNS, zipHigh(c0, c8), 16);
  v128.store(COLUMNS, zipLow(c1, c9), 32);
  v128.store(COLUMNS, zipHigh(c1, c9), 48);
  v128.store(COLUMNS, zipLow(c2, c10), 64);
  v128.store(COLUMNS, zipHigh(c2, c10), 80);
  v128.store(COLUMNS, zipLow(c3, c11), 96);
  v128.store(COLUMNS, zipHigh(c3, c11), 112);
  v128.store(COLUMNS, zipLow(c4, c12), 128);
  v128.store(COLUMNS, zipHigh(c4, c12), 144);
  v128.store(COLUMNS, zipLow(c5, c13), 160);
  v128.store(COLUMNS, zipHigh(c5, c13), 176);
  v128.store(COLUMNS, zipLow(c6, c14), 192);
  v128.store(COLUMNS, zipHigh(c6, c14), 208);
  v128.store(COLUMNS, zipLow(c7, c15), 224);
  v128.store(COLUMNS, zipHigh(c7, c15), 240);
}

/** Moves a register over one segment (256 bytes) of zeros. */
// @ts-ignore: decorator
@inline function overSegment(reg: u32): u32 {
  return (
    (load<u32>(SHIFT_TABLES + (<usize>(reg & 0xff) << 2)) ^ load<u32>(SHIFT_TABLES + 1024 + (<usize>((reg >>> 8) & 0xff) << 2))) ^
    (load<u32>(SHIFT_TABLES + 2048 + (<usize>((reg >>> 16) & 0xff) << 2)) ^ load<u32>(SHIFT_TABLES + 3072 + (<usize>(reg >>> 24) << 2)))
  );
}

/**
 * Runs the CRC register `reg` (not inverted) over `count` superblocks at
 * `ptr` and returns the register after them.
 */
export function crcSuperblocks(ptr: usize, count: usize, reg: u32): u32 {
  const nibble = i8x16.splat(0x0f);
  const l0 = v128.load(NIBBLE_TABLES, 0), l1 = v128.load(NIBBLE_TABLES, 16);
  const l2 = v128.load(NIBBLE_TABLES, 32), l3 = v128.load(NIBBLE_TABLES, 48);
  const h0 = v128.load(NIBBLE_TABLES, 64), h1 = v128.load(NIBBLE_TABLES, 80);
  const h2 = v128.load(NIBBLE_TABLES, 96), h3 = v128.load(NIBBLE_TABLES, 112);
  const zero = i8x16.splat(0);
  for (; count > 0; count--, ptr += SUPERBLOCK) {
    // Segment 0 continues the running register; the others start from zero.
    let p0 = i8x16.replace_lane(zero, 0, <i8>reg);
    let p1 = i8x16.replace_lane(zero, 0, <i8>(reg >>> 8));
    let p2 = i8x16.replace_lane(zero, 0, <i8>(reg >>> 16));
    let p3 = i8x16.replace_lane(zero, 0, <i8>(reg >>> 24));
    for (let at = ptr, end = ptr + 256; at < end; at += 16) {
      loadColumns(at);
      for (let t: usize = 0; t < 256; t += 16) {
        const index = v128.xor(p0, v128.load(COLUMNS + t));
        const low = v128.and(index, nibble);
        const high = v128.and(i16x8.shr_u(index, 4), nibble);
        const next0 = v128.xor(p1, v128.xor(i8x16.swizzle(l0, low), i8x16.swizzle(h0, high)));
        const next1 = v128.xor(p2, v128.xor(i8x16.swizzle(l1, low), i8x16.swizzle(h1, high)));
        const next2 = v128.xor(p3, v128.xor(i8x16.swizzle(l2, low), i8x16.swizzle(h2, high)));
        p3 = v128.xor(i8x16.swizzle(l3, low), i8x16.swizzle(h3, high));
        p0 = next0;
        p1 = next1;
        p2 = next2;
      }
    }
    // Planes back to 16 little-endian u32 registers, lane order kept.
    const planes01Low = zipLow(p0, p1), planes01High = zipHigh(p0, p1);
    const planes23Low = zipLow(p2, p3), planes23High = zipHigh(p2, p3);
    v128.store(LANE_REGISTERS, i16x8.shuffle(planes01Low, planes23Low, 0, 8, 1, 9, 2, 10, 3, 11), 0);
    v128.store(LANE_REGISTERS, i16x8.shuffle(planes01Low, planes23Low, 4, 12, 5, 13, 6, 14, 7, 15), 16);
    v128.store(LANE_REGISTERS, i16x8.shuffle(planes01High, planes23High, 0, 8, 1, 9, 2, 10, 3, 11), 32);
    v128.store(LANE_REGISTERS, i16x8.shuffle(planes01High, planes23High, 4, 12, 5, 13, 6, 14, 7, 15), 48);
    reg = load<u32>(LANE_REGISTERS);
    for (let j: usize = 4; j < 64; j += 4) reg = overSegment(reg) ^ load<u32>(LANE_REGISTERS + j);
  }
  return reg;
}
