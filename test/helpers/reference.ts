// Straightforward TypeScript versions of each WASM kernel, written for
// clarity, used as oracles by the unit tests.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function refCrc32c(data: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (let i = 0; i < data.length; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ data[i]!) & 0xff]!;
  return ~crc >>> 0;
}

export function refIsZero(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

/** The sectors of `a` and `b` that differ, as [first, end) pairs, byte by byte. */
export function refChangedSectorRuns(a: Uint8Array, b: Uint8Array, sector: number): number[] {
  const runs: number[] = [];
  const sectors = Math.ceil(a.length / sector);
  for (let k = 0; k < sectors; k++) {
    let differs = false;
    for (let i = k * sector; i < Math.min(a.length, (k + 1) * sector) && !differs; i++) differs = a[i] !== b[i];
    if (!differs) continue;
    if (runs.length > 0 && runs[runs.length - 1] === k) runs[runs.length - 1] = k + 1;
    else runs.push(k, k + 1);
  }
  return runs;
}

export function refDecodeBat(bat: Uint8Array, blockCount: number, ratio: number, allowPartial: boolean) {
  const dv = new DataView(bat.buffer, bat.byteOffset, bat.byteLength);
  const states = new Uint8Array(blockCount);
  const offsets = new Uint32Array(blockCount);
  let block = 0;
  for (let e = 0; e * 8 < bat.length && block < blockCount; e++) {
    const lo = dv.getUint32(e * 8, true);
    const hi = dv.getUint32(e * 8 + 4, true);
    const state = lo & 7;
    const off = hi * 4096 + (lo >>> 20);
    if ((e + 1) % (ratio + 1) === 0) {
      if (state !== 0 && state !== 6) return { states, offsets, firstBadEntry: e };
      continue;
    }
    if (state === 4 || state === 5 || (state === 7 && !allowPartial)) return { states, offsets, firstBadEntry: e };
    if (state >= 6 && (off === 0 || off > 0xffffffff)) return { states, offsets, firstBadEntry: e };
    states[block] = state;
    offsets[block] = state >= 6 ? off : 0;
    block++;
  }
  return { states, offsets, firstBadEntry: -1 };
}

export function refRuns(states: Uint8Array, offsets: Uint32Array, blockMiB: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < states.length; ) {
    let j = i + 1;
    while (j < states.length && states[j] === states[i] && (states[i]! < 6 || offsets[j] === offsets[i]! + (j - i) * blockMiB)) j++;
    out.push(i, j - i, states[i]!, offsets[i]!);
    i = j;
  }
  return out;
}

export function refFileOrder(states: Uint8Array, offsets: Uint32Array) {
  const present: number[] = [];
  for (let i = 0; i < states.length; i++) if (states[i]! >= 6) present.push(i);
  present.sort((a, b) => offsets[a]! - offsets[b]! || a - b);
  return { blocks: present, offsetsMiB: present.map((b) => offsets[b]!) };
}

/** Rebuilds target sectors the slow way, or returns the failing descriptor. */
export function refReassemble(entry: Uint8Array, descCount: number, seq: bigint) {
  const dv = new DataView(entry.buffer, entry.byteOffset, entry.byteLength);
  const descSectors = Math.ceil((descCount + 2) / 128);
  const sectors: Uint8Array[] = [];
  for (let i = 0; i < descCount; i++) {
    const d = 64 + i * 32;
    const sig = String.fromCharCode(entry[d]!, entry[d + 1]!, entry[d + 2]!, entry[d + 3]!);
    if (sig !== 'desc' && sig !== 'zero') return { bad: i };
    if (dv.getBigUint64(d + 24, true) !== seq) return { bad: i };
    if (dv.getBigUint64(d + 16, true) % 4096n !== 0n) return { bad: i };
    if (sig === 'zero') {
      const len = dv.getBigUint64(d + 8, true);
      if (len === 0n || len % 4096n !== 0n) return { bad: i };
      continue;
    }
    const s = (descSectors + sectors.length) * 4096;
    if (s + 4096 > entry.length) return { bad: i };
    if (String.fromCharCode(entry[s]!, entry[s + 1]!, entry[s + 2]!, entry[s + 3]!) !== 'data') return { bad: i };
    const hi = dv.getUint32(s + 4, true);
    const lo = dv.getUint32(s + 4092, true);
    if ((BigInt(hi) << 32n) + BigInt(lo) !== seq) return { bad: i };
    const out = new Uint8Array(4096);
    out.set(entry.subarray(d + 8, d + 16), 0);
    out.set(entry.subarray(s + 8, s + 4092), 8);
    out.set(entry.subarray(d + 4, d + 8), 4092);
    sectors.push(out);
  }
  return { sectors };
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
