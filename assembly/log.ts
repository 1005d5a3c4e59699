// Log entry data-sector reassembly. Each data descriptor names a 4 KiB target
// sector; its bytes are split between the descriptor (leading 8, trailing 4)
// and a "data" sector (the 4084 in between), framed by the sequence number.

const SIG_DESC: u32 = 0x63736564; // "desc"
const SIG_ZERO: u32 = 0x6f72657a; // "zero"
const SIG_DATA: u32 = 0x61746164; // "data"

export const LOG_BAD_DESCRIPTOR_SIGNATURE: i32 = 1;
export const LOG_BAD_DESCRIPTOR_SEQUENCE: i32 = 2;
export const LOG_MISALIGNED_OFFSET: i32 = 3;
export const LOG_BAD_ZERO_LENGTH: i32 = 4;
export const LOG_BAD_DATA_SIGNATURE: i32 = 5;
export const LOG_BAD_DATA_SEQUENCE: i32 = 6;

function fail(index: u32, reason: i32): i32 {
  return -(1 + ((<i32>index << 4) | reason));
}

/**
 * Checks `descCount` 32-byte descriptors at `descPtr` against the entry's
 * sequence number and, for every data descriptor in order, the next 4 KiB
 * data sector at `dataPtr`; writes one rebuilt 4 KiB sector per data
 * descriptor to `outPtr`. Returns the number of sectors rebuilt, or
 * -(1 + (descriptorIndex << 4 | reason)) on the first failure.
 */
export function logReassemble(
  descPtr: usize,
  descCount: u32,
  dataPtr: usize,
  seqLo: u32,
  seqHi: u32,
  outPtr: usize,
): i32 {
  const seq = (<u64>seqHi << 32) | <u64>seqLo;
  let sectors: usize = 0;
  for (let i: u32 = 0; i < descCount; i++) {
    const d = descPtr + (<usize>i << 5);
    const sig = load<u32>(d);
    if (load<u64>(d, 24) != seq) {
      if (sig == SIG_DESC || sig == SIG_ZERO) return fail(i, LOG_BAD_DESCRIPTOR_SEQUENCE);
      return fail(i, LOG_BAD_DESCRIPTOR_SIGNATURE);
    }
    if ((load<u64>(d, 16) & 4095) != 0) {
      if (sig == SIG_DESC || sig == SIG_ZERO) return fail(i, LOG_MISALIGNED_OFFSET);
    }
    if (sig == SIG_ZERO) {
      const len = load<u64>(d, 8);
      if (len == 0 || (len & 4095) != 0) return fail(i, LOG_BAD_ZERO_LENGTH);
      continue;
    }
    if (sig != SIG_DESC) return fail(i, LOG_BAD_DESCRIPTOR_SIGNATURE);
    const src = dataPtr + (sectors << 12);
    if (load<u32>(src) != SIG_DATA) return fail(i, LOG_BAD_DATA_SIGNATURE);
    if (load<u32>(src, 4) != seqHi || load<u32>(src, 4092) != seqLo) {
      return fail(i, LOG_BAD_DATA_SEQUENCE);
    }
    const dst = outPtr + (sectors << 12);
    store<u64>(dst, load<u64>(d, 8)); // leading bytes
    memory.copy(dst + 8, src + 8, 4084);
    store<u32>(dst, load<u32>(d, 4), 4092); // trailing bytes
    sectors++;
  }
  return <i32>sectors;
}
