// `node bench/child-writes.mjs [count]`: what a 4 KiB random write into a
// differencing child costs (docs/writing.md "Differencing children"):
// - editor: what src/edit/editor.ts does (the block becomes PARTIALLY_PRESENT,
//   its bits set through the log; until December 2026 it was filled from the
//   parent and made FULLY_PRESENT, measured at 7.3 ms and 925 KiB per write);
// - bitmap (a prototype of that design's I/O only, the yardstick it was chosen by): the block becomes PARTIALLY_PRESENT,
//   the 4 KiB payload is written and flushed, then one log entry holding the
//   BAT sector (first touch) and the sector bitmap sector, flushed, applied,
//   flushed; a missing bitmap block grows the file by 1 MiB first. A write
//   whose sectors are already present writes only its payload.
// Both on the same disk, with real flushes (fdatasync); bytes counted at the file.
import { closeSync, fdatasyncSync, ftruncateSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertRawFileToVhdx, createChildFile, openVhdx } from '../dist/node/index.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
const count = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'vhdx-child-bench-'));

/** A file counting what it is asked to write and flush (a CustomFile over a descriptor). */
function countingFile(path) {
  const fd = openSync(path, 'r+');
  const stats = { written: 0, read: 0, flushes: 0 };
  return {
    stats,
    fd,
    get size() {
      return fstatSync(fd).size;
    },
    read(offset, length) {
      const buf = new Uint8Array(length);
      const n = readSync(fd, buf, 0, length, offset);
      stats.read += n;
      return buf.subarray(0, n);
    },
    write(data, position) {
      writeSync(fd, data, 0, data.length, position);
      stats.written += data.length;
    },
    truncate(size) {
      ftruncateSync(fd, size);
    },
    flush() {
      fdatasyncSync(fd);
      stats.flushes++;
    },
    close() {
      closeSync(fd);
    },
  };
}

/** Offsets of `count` random 4 KiB-aligned writes over 1 GiB (seeded). */
function offsets(seed) {
  let x = seed >>> 0;
  const out = [];
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push((x % (GiB / 4096)) * 4096);
  }
  return out;
}

async function parentOf(blockSize) {
  const raw = join(dir, 'parent.raw');
  const fd = openSync(raw, 'w');
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < GiB / MiB; i++) {
    chunk.fill((i % 251) + 1);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  const parent = join(dir, `parent-${blockSize}.vhdx`);
  await convertRawFileToVhdx(raw, parent, { blockSize });
  rmSync(raw);
  return parent;
}

async function editor(parent, blockSize) {
  const child = join(dir, `editor-${blockSize}.avhdx`);
  await createChildFile(child, parent, { blockSize });
  const file = countingFile(child);
  const image = await openVhdx(file, { writable: true, parent });
  const data = new Uint8Array(4096).fill(0x5a);
  const t0 = performance.now();
  for (const at of offsets(7)) await image.write(at, data);
  await image.flush();
  const ms = performance.now() - t0;
  await image.close(); // closes the file too
  rmSync(child); // the next round creates it again (a new child never replaces a file)
  return { ms, ...file.stats };
}

function bitmapPrototype(blockSize) {
  const path = join(dir, `bitmap-${blockSize}.bin`);
  writeFileSync(path, new Uint8Array(0));
  const file = countingFile(path);
  ftruncateSync(file.fd, 4 * MiB); // header section, log, BAT, metadata
  const chunkRatio = (2 ** 23 * 512) / blockSize; // blocks per sector bitmap block
  const blockAt = new Map();
  const present = new Map(); // block -> Set of 4 KiB pages present
  const bitmaps = new Set();
  const page = new Uint8Array(4096).fill(0x5a);
  const entry = (sectors) => new Uint8Array(4096 * (1 + sectors));
  let logAt = MiB;
  const journal = (sectors) => {
    const e = entry(sectors);
    if (logAt + e.length > 2 * MiB) logAt = MiB;
    file.write(e, logAt);
    logAt += e.length;
    file.flush();
    for (let i = 0; i < sectors; i++) file.write(page, 3 * MiB + i * 4096); // applied in place
    file.flush();
  };
  const t0 = performance.now();
  for (const at of offsets(7)) {
    const block = Math.floor(at / blockSize);
    let sectors = 0;
    let offset = blockAt.get(block);
    if (offset === undefined) {
      offset = file.size;
      ftruncateSync(file.fd, offset + blockSize);
      blockAt.set(block, offset);
      present.set(block, new Set());
      sectors++; // the BAT sector
      const chunk = Math.floor(block / chunkRatio);
      if (!bitmaps.has(chunk)) {
        bitmaps.add(chunk);
        ftruncateSync(file.fd, file.size + MiB); // the chunk's bitmap block, zeros
      }
    }
    const pages = present.get(block);
    const pageIndex = (at % blockSize) / 4096;
    file.write(page, offset + (at % blockSize));
    if (!pages.has(pageIndex)) {
      pages.add(pageIndex);
      sectors++; // the bitmap sector with this page's 8 bits
      file.flush(); // payload before the entry naming it
      journal(sectors);
    }
  }
  file.flush();
  const ms = performance.now() - t0;
  file.close();
  return { ms, ...file.stats };
}

const row = (name, r) =>
  `${name.padEnd(34)} ${(r.ms / count).toFixed(2).padStart(7)} ms/write  ${(r.written / count / 1024).toFixed(0).padStart(7)} KiB written/write  ${(r.read / count / 1024).toFixed(0).padStart(6)} KiB read/write  ${(r.flushes / count).toFixed(2)} flushes/write  ${(r.written / MiB).toFixed(0)} MiB total`;

console.log(`${count} random 4 KiB writes into an empty child of a 1 GiB parent (all blocks stored), QD1`);
try {
  for (const blockSize of [2 * MiB, 32 * MiB]) {
    const parent = await parentOf(blockSize);
    for (let round = 0; round < 2; round++) {
      console.log(row(`editor, ${blockSize / MiB} MiB blocks`, await editor(parent, blockSize)));
      console.log(row(`bitmap prototype, ${blockSize / MiB} MiB blocks`, bitmapPrototype(blockSize)));
    }
    rmSync(parent);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
