// Bulk BAT translation. A BAT interleaves one sector-bitmap entry after every
// `chunkRatio` payload entries; these kernels turn raw entries into per-block
// state/offset arrays, runs, and the file-order inverse the streaming decoder
// needs to know which block a byte at a given file offset belongs to.
import { OUT } from "./memory";

const STATE_FULLY_PRESENT: u32 = 6;
const STATE_PARTIALLY_PRESENT: u32 = 7;

/**
 * Decodes `entryCount` raw u64 BAT entries starting at global entry index
 * `firstEntry`. Payload entries write their state (u8) to `statesOut` and
 * their file offset in MiB (u32) to `offsetsOut`; sector-bitmap entries are
 * checked and skipped. Returns the number of payload blocks written, or
 * -(1 + i) where i is the chunk-local index of the first invalid entry.
 */
export function batToBlocks(
  batPtr: usize,
  entryCount: u32,
  firstEntry: u32,
  chunkRatio: u32,
  statesOut: usize,
  offsetsOut: usize,
  allowPartial: u32,
): i32 {
  const period = chunkRatio + 1;
  let phase = firstEntry % period; // position of the first entry inside its chunk
  let blocks: usize = 0;
  for (let i: u32 = 0; i < entryCount; i++) {
    const entry = load<u64>(batPtr + (<usize>i << 3));
    const state = <u32>(entry & 7);
    const offsetMiB = entry >>> 20;
    if (phase == chunkRatio) {
      // sector bitmap entry: NOT_PRESENT (0) or PRESENT (6)
      if (state != 0 && state != STATE_FULLY_PRESENT) return -(1 + <i32>i);
      phase = 0;
      continue;
    }
    phase++;
    if (state == 4 || state == 5) return -(1 + <i32>i);
    if (state == STATE_PARTIALLY_PRESENT && allowPartial == 0) return -(1 + <i32>i);
    if (state >= STATE_FULLY_PRESENT) {
      if (offsetMiB == 0 || offsetMiB > 0xffffffff) return -(1 + <i32>i);
      store<u32>(offsetsOut + (blocks << 2), <u32>offsetMiB);
    } else {
      store<u32>(offsetsOut + (blocks << 2), 0);
    }
    store<u8>(statesOut + blocks, <u8>state);
    blocks++;
  }
  return <i32>blocks;
}

/**
 * Merges consecutive blocks into runs of 16 bytes each: first block (u32),
 * block count (u32), state (u32), file offset in MiB (u32). Present blocks
 * join a run only when they sit right after the previous one in the file.
 * Returns the number of runs written to `runsOut`.
 */
export function blocksToRuns(
  statesPtr: usize,
  offsetsPtr: usize,
  count: u32,
  blockMiB: u32,
  runsOut: usize,
): u32 {
  if (count == 0) return 0;
  let runs: usize = 0;
  let start: u32 = 0;
  let state = <u32>load<u8>(statesPtr);
  let offset = load<u32>(offsetsPtr);
  let expected = offset + blockMiB;
  for (let i: u32 = 1; i <= count; i++) {
    let same = false;
    let s: u32 = 0;
    let o: u32 = 0;
    if (i < count) {
      s = <u32>load<u8>(statesPtr + i);
      o = load<u32>(offsetsPtr + (<usize>i << 2));
      same = s == state && (s < STATE_FULLY_PRESENT || o == expected);
    }
    if (same) {
      expected += blockMiB;
      continue;
    }
    const r = runsOut + (runs << 4);
    store<u32>(r, start);
    store<u32>(r, i - start, 4);
    store<u32>(r, state, 8);
    store<u32>(r, offset, 12);
    runs++;
    start = i;
    state = s;
    offset = o;
    expected = o + blockMiB;
  }
  return <u32>runs;
}

/**
 * Sorts `count` u64 keys of the form (fileOffsetMiB << 32 | block) by their
 * high word with a stable two-pass LSD radix sort, using `tmpPtr` (same size)
 * as the second buffer. Keys generated in block order therefore come out in
 * file order with ties broken by block. The result ends in `keysPtr`.
 */
export function sortKeysByOffset(keysPtr: usize, count: u32, tmpPtr: usize): void {
  const counts = OUT; // 65536 u32 counters
  let src = keysPtr;
  let dst = tmpPtr;
  for (let shift: u64 = 32; shift <= 48; shift += 16) {
    memory.fill(counts, 0, 65536 << 2);
    for (let i: u32 = 0; i < count; i++) {
      const d = <usize>((load<u64>(src + (<usize>i << 3)) >>> shift) & 0xffff);
      store<u32>(counts + (d << 2), load<u32>(counts + (d << 2)) + 1);
    }
    let sum: u32 = 0;
    for (let d: usize = 0; d < 65536; d++) {
      const c = load<u32>(counts + (d << 2));
      store<u32>(counts + (d << 2), sum);
      sum += c;
    }
    for (let i: u32 = 0; i < count; i++) {
      const key = load<u64>(src + (<usize>i << 3));
      const d = <usize>((key >>> shift) & 0xffff);
      const pos = load<u32>(counts + (d << 2));
      store<u32>(counts + (d << 2), pos + 1);
      store<u64>(dst + (<usize>pos << 3), key);
    }
    const t = src;
    src = dst;
    dst = t;
  }
  // two passes: the sorted keys are back in keysPtr
}
