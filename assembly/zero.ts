// "Is this range all zero?" — the sparse-output hot path. Exits at the
// first non-zero word, so data blocks cost almost nothing.

/** Returns 1 when every byte of [ptr, ptr+len) is zero, else 0. */
export function isZero(ptr: usize, len: usize): i32 {
  while (len > 0 && (ptr & 15) != 0) {
    if (load<u8>(ptr) != 0) return 0;
    ptr++;
    len--;
  }
  if (ASC_FEATURE_SIMD) {
    while (len >= 64) {
      const v = v128.or(
        v128.or(v128.load(ptr), v128.load(ptr, 16)),
        v128.or(v128.load(ptr, 32), v128.load(ptr, 48)),
      );
      if (v128.any_true(v)) return 0;
      ptr += 64;
      len -= 64;
    }
  } else {
    while (len >= 32) {
      const v = load<u64>(ptr) | load<u64>(ptr, 8) | load<u64>(ptr, 16) | load<u64>(ptr, 24);
      if (v != 0) return 0;
      ptr += 32;
      len -= 32;
    }
  }
  while (len > 0) {
    if (load<u8>(ptr) != 0) return 0;
    ptr++;
    len--;
  }
  return 1;
}
