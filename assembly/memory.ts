// Static layout of the module's linear memory, shared by every kernel.
// JS copies input into IN, calls a kernel synchronously and reads OUT before
// yielding, so one instance can serve many concurrent streams.

/** Bytes available in each of the IN and OUT areas. */
export const AREA_SIZE: usize = 1088 * 1024; // 1 MiB of payload plus room for a descriptor batch

const PAGE: usize = 65536;

// A compile-time address, so table lookups fold into load offsets.
export const CRC_TABLES: usize = memory.data(16 * 256 * 4, 64);
export const IN: usize = (__heap_base + 63) & ~(<usize>63);
export const OUT: usize = IN + AREA_SIZE;
/** Start of the growable scratch area (used for BAT inversion). */
export const SCRATCH: usize = OUT + AREA_SIZE;

function ensureMemory(end: usize): bool {
  const have = <usize>memory.size() * PAGE;
  if (end <= have) return true;
  const pages = <i32>((end - have + PAGE - 1) / PAGE);
  return memory.grow(pages) >= 0;
}

ensureMemory(SCRATCH);

export function inPtr(): usize {
  return IN;
}

export function outPtr(): usize {
  return OUT;
}

export function areaSize(): usize {
  return AREA_SIZE;
}

export function scratchPtr(): usize {
  return SCRATCH;
}

/** Grows memory so that `bytes` of scratch space exist; returns false when the host refuses. */
export function ensureScratch(bytes: usize): bool {
  return ensureMemory(SCRATCH + bytes);
}
