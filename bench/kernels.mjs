// Kernel benchmarks: each kernel beside its peers in the same process.
import { Bench } from 'tinybench';
import { createCRC32 } from 'hash-wasm';
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { crc32c, isAllZero, init } from '../dist/index.js';
import * as format from '../dist/format/index.js';
import { decodeBat } from '../dist/wasm/kernels.js';
import { readFileSync } from 'node:fs';
import { report } from './report.mjs';

// Pure-JS slicing-by-8 CRC-32C: the best a plain JS table method does.
const T8 = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let i = 256; i < 2048; i++) t[i] = (t[i - 256] >>> 8) ^ t[t[i - 256] & 0xff];
  return t;
})();
function jsCrc32c(buf) {
  let crc = ~0;
  let i = 0;
  const n8 = buf.length & ~7;
  for (; i < n8; i += 8) {
    const a = (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)) ^ crc;
    const b = buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24);
    crc =
      T8[1792 + (a & 0xff)] ^
      T8[1536 + ((a >>> 8) & 0xff)] ^
      T8[1280 + ((a >>> 16) & 0xff)] ^
      T8[1024 + (a >>> 24)] ^
      T8[768 + (b & 0xff)] ^
      T8[512 + ((b >>> 8) & 0xff)] ^
      T8[256 + ((b >>> 16) & 0xff)] ^
      T8[b >>> 24];
  }
  for (; i < buf.length; i++) crc = (crc >>> 8) ^ T8[(crc ^ buf[i]) & 0xff];
  return ~crc >>> 0;
}

function jsIsZero(buf) {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}

function randomBytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

async function instantiationBench() {
  console.log('\nModule instantiation (compile + instantiate from bytes, median of 50)');
  for (const name of ['vhdx.wasm', 'vhdx.simd.wasm']) {
    const bytes = readFileSync(new URL(`../dist/wasm/${name}`, import.meta.url));
    const times = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await WebAssembly.instantiate(bytes, {});
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(`  ${name.padEnd(16)} ${bytes.length} bytes, ${times[25].toFixed(2)} ms`);
  }
}

export async function kernelBench({ time = 400 } = {}) {
  await instantiationBench();
  await init();
  const rows = [];
  const hw = await createCRC32(0x82f63b78);
  for (const size of [4096, 65536, 1 << 20]) {
    const data = randomBytes(size);
    const bench = new Bench({ time, warmup: true });
    bench
      .add('vhdx-stream (wasm)', () => crc32c(data))
      .add('hash-wasm', () => {
        hw.init();
        hw.update(data);
        return hw.digest('binary');
      })
      .add('pure JS slicing-by-8', () => jsCrc32c(data))
      .add('@node-rs/crc32 (native SSE4.2)', () => nativeCrc32c(data));
    await bench.run();
    rows.push(...report(`CRC-32C ${size / 1024} KiB`, bench, size, 'vhdx-stream (wasm)'));
  }
  for (const size of [65536, 1 << 20]) {
    const zeros = new Uint8Array(size);
    const bench = new Bench({ time, warmup: true });
    bench.add('vhdx-stream (wasm, incl. copy-in)', () => isAllZero(zeros)).add('pure JS Uint32Array loop', () => jsIsZero(zeros));
    await bench.run();
    rows.push(...report(`zero detection ${size / 1024} KiB (all-zero block)`, bench, size, 'vhdx-stream (wasm, incl. copy-in)'));
  }
  {
    const blocks = 1 << 18;
    const ratio = format.chunkRatio(512, 32 * 1024 * 1024);
    const entries = format.batEntryCount(blocks, ratio, false);
    const bat = new Uint8Array(entries * 8);
    let off = 4;
    for (let e = 0; e < entries; e++) {
      if ((e + 1) % (ratio + 1) === 0) continue;
      if (e % 3) off += 32;
      format.writeBatEntry(bat, e, e % 3 ? { state: 6, offsetMiB: off } : { state: 2, offsetMiB: 0 });
    }
    const bench = new Bench({ time, warmup: true });
    bench.add('vhdx-stream decodeBat (wasm)', () => decodeBat(bat, blocks, ratio, false));
    await bench.run();
    rows.push(...report(`BAT decode, ${blocks} entries (${bat.length / 1024} KiB)`, bench, bat.length, 'vhdx-stream decodeBat (wasm)'));
  }
  return rows;
}

/** Pure TypeScript reassembly of one entry's data sectors, for comparison. */
function jsReassemble(entry, count, seq) {
  const dv = new DataView(entry.buffer, entry.byteOffset, entry.byteLength);
  const descSectors = Math.ceil((count + 2) / 128);
  const out = new Uint8Array(count * 4096);
  for (let i = 0; i < count; i++) {
    const d = 64 + i * 32;
    if (dv.getUint32(d, true) !== 0x63736564 || dv.getBigUint64(d + 24, true) !== seq) throw new Error('desc');
    const s = (descSectors + i) * 4096;
    if (dv.getUint32(s, true) !== 0x61746164) throw new Error('data');
    if (((BigInt(dv.getUint32(s + 4, true)) << 32n) | BigInt(dv.getUint32(s + 4092, true))) !== seq) throw new Error('seq');
    out.set(entry.subarray(d + 8, d + 16), i * 4096);
    out.set(entry.subarray(s + 8, s + 4092), i * 4096 + 8);
    out.set(entry.subarray(d + 4, d + 8), i * 4096 + 4092);
  }
  return out;
}

export async function logBench({ time = 400 } = {}) {
  const { replayLog } = await import('../dist/image/log-replay.js');
  const { reassembleLogEntry } = await import('../dist/wasm/kernels.js');
  await init();
  const guid = '5a5a5a5a-1234-4abc-8def-0123456789ab';
  const seq = 7n;
  // 1 MiB log holding one entry of 253 data descriptors (2 descriptor sectors + 253 data sectors)
  const count = 253;
  const writes = Array.from({ length: count }, (_, i) => ({ fileOffset: 8 * 1048576 + i * 65536, data: new Uint8Array(4096).fill(i) }));
  const entry = format.buildLogEntry({ sequenceNumber: seq, tail: 0, logGuid: guid, flushedFileOffset: 0, lastFileOffset: 0, writes });
  const log = new Uint8Array(1 << 20);
  log.set(entry);
  /** @type {any} a header with only the fields replay reads */
  const header = { logOffset: 1 << 20, logLength: 1 << 20, logGuid: guid };
  const reader = { size: undefined, read: async () => log };
  const limits = { maxBatBytes: 1 << 30, maxMetadataBytes: 1 << 30, maxLogBytes: 1 << 30, maxBitmapBytes: 1 << 30 };
  const bench = new Bench({ time, warmup: true });
  bench
    .add('vhdx-stream reassembly (wasm)', () => reassembleLogEntry(entry, count, 2 * 4096, Number(seq), 0, count))
    .add('pure TypeScript reassembly', () => jsReassemble(entry, count, seq));
  await bench.run();
  report(
    `log reassembly, one entry of ${count} data sectors (${(entry.length / 1024).toFixed(0)} KiB)`,
    bench,
    count * 4096,
    'vhdx-stream reassembly (wasm)',
  );
  const full = new Bench({ time, warmup: true });
  full.add('full replay (scan, checksum, reassemble, overlay)', () => replayLog(reader, header, limits, []));
  await full.run();
  const r = /** @type {any} */ (full.tasks[0].result);
  console.log(`  replaying a 1 MiB log full of data descriptors: ${(r.latency?.p50 ?? r.period).toFixed(2)} ms median`);
}
