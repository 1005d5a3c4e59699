// Plain-signature wrappers over the WASM kernels: Uint8Array in, numbers or
// typed arrays out. Each call copies into the module's IN area, runs the
// kernel and copies results out without awaiting in between.
import { VhdxError } from '../errors.js';
import { kernels } from './instance.js';

const CRC_STEP = 64 * 1024; // keeps the copied bytes in L2 while the CRC reads them back

/**
 * The bytes of any view or buffer; a Uint8Array as it is (the hot paths pass those).
 * @throws VhdxError `INVALID_ARGUMENT` (`not-bytes`) for anything else, naming `caller`.
 */
export function bytesOf(data: unknown, caller: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer))
    return new Uint8Array(data);
  throw new VhdxError('not-bytes', `${caller} takes an ArrayBuffer or an ArrayBufferView, got ${data === null ? 'null' : typeof data}`);
}

/**
 * CRC-32C (Castagnoli) of the bytes of `data` (any ArrayBufferView, its
 * bytes; or an ArrayBuffer). Pass a previous result as `seed` to continue
 * over data split into pieces: `crc32c(b, crc32c(a)) === crc32c(a+b)`.
 * @throws VhdxError `INVALID_ARGUMENT` (`not-bytes`) for anything else;
 *   `UNSUPPORTED` (`wasm-unavailable`) where the kernels cannot load synchronously (call `init()` first).
 */
export function crc32c(input: ArrayBufferView | ArrayBufferLike, seed = 0): number {
  const data = bytesOf(input, 'crc32c');
  const k = kernels();
  const fn = k.exports.crc32c;
  const mem = k.bytes();
  let crc = seed >>> 0;
  for (let off = 0; off < data.length; off += CRC_STEP) {
    const end = Math.min(data.length, off + CRC_STEP);
    mem.set(data.subarray(off, end), k.inPtr);
    crc = fn(k.inPtr, end - off, crc) >>> 0;
  }
  return crc;
}

const ZERO_FIRST_STEP = 4096;

/**
 * True when every byte of `data` (any ArrayBufferView, its bytes; or an
 * ArrayBuffer) is zero. Starts with a small window so that data blocks
 * (which usually differ from zero early) cost little.
 * @throws VhdxError `INVALID_ARGUMENT` (`not-bytes`) for anything else;
 *   `UNSUPPORTED` (`wasm-unavailable`) where the kernels cannot load synchronously (call `init()` first).
 */
export function isAllZero(input: ArrayBufferView | ArrayBufferLike): boolean {
  const data = bytesOf(input, 'isAllZero');
  const k = kernels();
  const fn = k.exports.isZero;
  const mem = k.bytes();
  let step = ZERO_FIRST_STEP;
  for (let off = 0; off < data.length; ) {
    const end = Math.min(data.length, off + step);
    mem.set(data.subarray(off, end), k.inPtr);
    if (fn(k.inPtr, end - off) === 0) return false;
    off = end;
    if (step < k.areaSize) step = Math.min(k.areaSize, step * 4);
  }
  return true;
}

/**
 * The sectors of `a` and `b` (same length; `sector` bytes each, a power of two from 512 to 4096,
 * the last one possibly short) that differ, as [first, end) sector pairs.
 * @throws VhdxError `UNSUPPORTED` (`wasm-unavailable`) where the kernels cannot load synchronously (call `init()` first).
 */
export function changedSectorRuns(a: Uint8Array, b: Uint8Array, sector: number): number[] {
  const k = kernels();
  const fn = k.exports.sectorsDiffer;
  // half of IN for each side; one flag byte per sector in OUT
  const step = Math.floor(k.areaSize / 2 / sector) * sector;
  const aPtr = k.inPtr;
  const bPtr = k.inPtr + step;
  const runs: number[] = [];
  let open = -1;
  for (let off = 0; off < a.length; off += step) {
    const end = Math.min(a.length, off + step);
    const mem = k.bytes();
    mem.set(a.subarray(off, end), aPtr);
    mem.set(b.subarray(off, end), bPtr);
    const first = off / sector;
    const sectors = Math.ceil((end - off) / sector);
    const differing = fn(aPtr, bPtr, end - off, sector, k.outPtr);
    if (differing === 0 || differing === sectors) {
      // the common cases: nothing or everything changed in this step
      if (differing === 0 && open >= 0) {
        runs.push(open, first);
        open = -1;
      } else if (differing === sectors && open < 0) open = first;
      continue;
    }
    for (let s = 0; s < sectors; s++) {
      const differs = mem[k.outPtr + s] !== 0;
      if (differs && open < 0) open = first + s;
      else if (!differs && open >= 0) {
        runs.push(open, first + s);
        open = -1;
      }
    }
  }
  if (open >= 0) runs.push(open, Math.ceil(a.length / sector));
  return runs;
}

/** Per-block result of decoding a BAT. */
export interface DecodedBat {
  /** Payload block state (0..7) for each block. */
  states: Uint8Array;
  /** File offset in MiB of each present block (0 when not present). */
  offsetsMiB: Uint32Array;
  /** Index in the BAT of the first invalid entry, or -1. */
  firstBadEntry: number;
}

/**
 * Decodes raw BAT entries into per-block states and offsets. Sector-bitmap
 * entries (one after every `chunkRatio` payload entries) are validated and
 * skipped. Decoding stops at the first invalid entry.
 */
export function decodeBat(bat: Uint8Array, blockCount: number, chunkRatio: number, allowPartial: boolean): DecodedBat {
  const k = kernels();
  const states = new Uint8Array(blockCount);
  const offsetsMiB = new Uint32Array(blockCount);
  // IN holds entries; OUT holds 1 byte of state plus 4 of offset per entry.
  const perCall = Math.floor(k.areaSize / 8) & ~7;
  const statesOut = k.outPtr;
  const offsetsOut = k.outPtr + perCall;
  const totalEntries = Math.floor(bat.length / 8);
  let blocks = 0;
  for (let entry = 0; entry < totalEntries && blocks < blockCount; entry += perCall) {
    const count = Math.min(perCall, totalEntries - entry);
    const mem = k.bytes();
    mem.set(bat.subarray(entry * 8, (entry + count) * 8), k.inPtr);
    const got = k.exports.batToBlocks(k.inPtr, count, entry, chunkRatio, statesOut, offsetsOut, allowPartial ? 1 : 0);
    if (got < 0) return { states, offsetsMiB, firstBadEntry: entry + (-got - 1) };
    const take = Math.min(got, blockCount - blocks);
    states.set(mem.subarray(statesOut, statesOut + take), blocks);
    offsetsMiB.set(new Uint32Array(mem.buffer, offsetsOut, take), blocks);
    blocks += take;
  }
  return { states, offsetsMiB, firstBadEntry: -1 };
}

/**
 * Runs of consecutive blocks with one state (and, when present, contiguous
 * in the file): quads of [firstBlock, blockCount, state, fileOffsetMiB].
 */
export function blockRuns(states: Uint8Array, offsetsMiB: Uint32Array, blockMiB: number): Uint32Array {
  const k = kernels();
  const perCall = 65536;
  let runs = new Uint32Array(1024);
  let used = 0; // in quads
  for (let first = 0; first < states.length; first += perCall) {
    const count = Math.min(perCall, states.length - first);
    let mem = k.bytes();
    const statesPtr = k.inPtr;
    const offsetsPtr = k.inPtr + perCall;
    mem.set(states.subarray(first, first + count), statesPtr);
    new Uint32Array(mem.buffer, offsetsPtr, count).set(offsetsMiB.subarray(first, first + count));
    const n = k.exports.blocksToRuns(statesPtr, offsetsPtr, count, blockMiB, k.outPtr);
    mem = k.bytes();
    const got = new Uint32Array(mem.buffer, k.outPtr, n * 4);
    let from = 0;
    if (used > 0) {
      // join a run that continues across the call boundary
      const last = (used - 1) * 4;
      const state = runs[last + 2]!;
      const contiguous = state < 6 || runs[last + 3]! + runs[last + 1]! * blockMiB === got[3];
      if (got[2] === state && contiguous) {
        runs[last + 1]! += got[1]!;
        from = 1;
      }
    }
    if ((used + n - from) * 4 > runs.length) {
      const bigger = new Uint32Array(Math.max(runs.length * 2, (used + n) * 4));
      bigger.set(runs.subarray(0, used * 4));
      runs = bigger;
    }
    for (let i = from; i < n; i++) {
      const o = (used + i - from) * 4;
      runs[o] = got[i * 4]! + first;
      runs[o + 1] = got[i * 4 + 1]!;
      runs[o + 2] = got[i * 4 + 2]!;
      runs[o + 3] = got[i * 4 + 3]!;
    }
    used += n - from;
  }
  return runs.slice(0, used * 4);
}

/** Present blocks in the order they sit in the file. */
export interface FileOrder {
  /** Block indices, sorted by file offset. */
  blocks: Uint32Array;
  /** Their file offsets in MiB, ascending. */
  offsetsMiB: Uint32Array;
}

/**
 * The file-order inverse of a BAT: which virtual block sits at each file
 * offset. Only blocks with a state of 6 or 7 (present) are included.
 * @throws VhdxError `wasm-memory` when the module's memory cannot grow to sort them.
 */
export function fileOrder(states: Uint8Array, offsetsMiB: Uint32Array): FileOrder {
  let present = 0;
  for (let i = 0; i < states.length; i++) if (states[i]! >= 6) present++;
  const k = kernels();
  if (!k.exports.ensureScratch(present * 16)) {
    throw new VhdxError('wasm-memory', `cannot grow WebAssembly memory for ${present} present blocks`, { structure: 'bat' });
  }
  const keysPtr = k.exports.scratchPtr();
  const tmpPtr = keysPtr + present * 8;
  let mem = k.bytes();
  const keys = new Uint32Array(mem.buffer, keysPtr, present * 2);
  let j = 0;
  for (let i = 0; i < states.length; i++) {
    if (states[i]! < 6) continue;
    keys[j++] = i; // low word: block
    keys[j++] = offsetsMiB[i]!; // high word: offset
  }
  k.exports.sortKeysByOffset(keysPtr, present, tmpPtr);
  mem = k.bytes();
  const sorted = new Uint32Array(mem.buffer, keysPtr, present * 2);
  const blocks = new Uint32Array(present);
  const offs = new Uint32Array(present);
  for (let i = 0; i < present; i++) {
    blocks[i] = sorted[i * 2]!;
    offs[i] = sorted[i * 2 + 1]!;
  }
  return { blocks, offsetsMiB: offs };
}

/** Why a log entry's descriptors or data sectors were rejected. */
export const LOG_REASONS = [
  '',
  'descriptor signature is neither "desc" nor "zero"',
  'descriptor sequence number differs from the entry',
  'descriptor file offset is not 4 KiB aligned',
  'zero descriptor length is zero or not a 4 KiB multiple',
  'data sector signature is not "data"',
  'data sector sequence number differs from the entry',
] as const;

/** Result of reassembling one log entry's data sectors. */
export type Reassembled = { ok: true; sectors: Uint8Array } | { ok: false; descriptor: number; reason: string };

const LOG_BATCH = 128;

/**
 * Checks a log entry's descriptors and data sectors and rebuilds every target
 * sector of its data descriptors, in descriptor order (4 KiB each).
 * `entry` is the whole entry; `descriptorCount` comes from its header.
 */
export function reassembleLogEntry(
  entry: Uint8Array,
  descriptorCount: number,
  dataSectorStart: number,
  seqLo: number,
  seqHi: number,
  dataDescriptorCount: number,
): Reassembled {
  const k = kernels();
  const sectors = new Uint8Array(dataDescriptorCount * 4096);
  let dataIndex = 0;
  for (let first = 0; first < descriptorCount; first += LOG_BATCH) {
    const count = Math.min(LOG_BATCH, descriptorCount - first);
    const descStart = 64 + first * 32;
    const dataStart = dataSectorStart + dataIndex * 4096;
    const dataLen = Math.min(count * 4096, Math.max(0, entry.length - dataStart));
    let mem = k.bytes();
    const descPtr = k.inPtr;
    const dataPtr = k.inPtr + LOG_BATCH * 32;
    mem.set(entry.subarray(descStart, descStart + count * 32), descPtr);
    mem.set(entry.subarray(dataStart, dataStart + dataLen), dataPtr);
    if (dataLen < count * 4096) mem.fill(0, dataPtr + dataLen, dataPtr + count * 4096);
    const got = k.exports.logReassemble(descPtr, count, dataPtr, seqLo >>> 0, seqHi >>> 0, k.outPtr);
    if (got < 0) {
      const code = -got - 1;
      return { ok: false, descriptor: first + (code >> 4), reason: LOG_REASONS[code & 15] ?? 'invalid' };
    }
    if (dataIndex + got > dataDescriptorCount) {
      return { ok: false, descriptor: first, reason: 'more data descriptors than counted' };
    }
    mem = k.bytes();
    sectors.set(mem.subarray(k.outPtr, k.outPtr + got * 4096), dataIndex * 4096);
    dataIndex += got;
  }
  return { ok: true, sectors };
}
