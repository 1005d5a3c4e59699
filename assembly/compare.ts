// "Which sectors differ?" — the child writer's hot path: each block of the
// new disk against the parent's, sector by sector. A sector is left at its
// first differing word, so changed data costs little and equal data is read once.

/** Sets byte k of `out` to 1 when sector k of [a, a+len) differs from b's, else 0; returns how many differ. */
export function sectorsDiffer(a: usize, b: usize, len: usize, sector: usize, out: usize): i32 {
  let count = 0;
  let k: usize = 0;
  for (let at: usize = 0; at < len; at += sector) {
    const end = min(len, at + sector);
    let i = at;
    let differs = false;
    if (ASC_FEATURE_SIMD) {
      while (i + 64 <= end) {
        const x = v128.or(
          v128.or(v128.xor(v128.load(a + i), v128.load(b + i)), v128.xor(v128.load(a + i, 16), v128.load(b + i, 16))),
          v128.or(v128.xor(v128.load(a + i, 32), v128.load(b + i, 32)), v128.xor(v128.load(a + i, 48), v128.load(b + i, 48))),
        );
        if (v128.any_true(x)) {
          differs = true;
          break;
        }
        i += 64;
      }
    } else {
      while (i + 32 <= end) {
        const x =
          (load<u64>(a + i) ^ load<u64>(b + i)) |
          (load<u64>(a + i, 8) ^ load<u64>(b + i, 8)) |
          (load<u64>(a + i, 16) ^ load<u64>(b + i, 16)) |
          (load<u64>(a + i, 24) ^ load<u64>(b + i, 24));
        if (x != 0) {
          differs = true;
          break;
        }
        i += 32;
      }
    }
    while (!differs && i < end) {
      if (load<u8>(a + i) != load<u8>(b + i)) differs = true;
      i++;
    }
    store<u8>(out + k, differs ? 1 : 0);
    if (differs) count++;
    k++;
  }
  return count;
}
