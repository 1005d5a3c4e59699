// `npm run bench write [--quick]`: writing into a VHDX in place beside
// `qemu-img bench -w -f vhdx` (same file to start from, same size, count,
// step and flush interval, queue depth 1, -t writeback), alternating, medians
// and ratios from the same run; and `vhdx check -r all` on a file whose 1 MiB
// log is full beside `qemu-img check -r all`.
// Ours is timed from the first write to the last flush (as qemu-img bench
// times its requests), the open and close outside; the repair rows time whole
// processes on both sides. Speed ratio: qemu-img's time over ours (above 1:
// ours is faster), the median of each run's pair. The overwrite and 1 MiB rows
// also show the floor measured in the same run: the same writes and flushes
// made bare, at the file offsets ours wrote to, through the Node calls the
// writable file makes (fs.writeSync up to SYNC_WRITE_LIMIT, FileHandle.write
// above it, FileHandle.datasync), with no VHDX work.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { openVhdx } from '../dist/node/index.js';
import { GUIDS, buildLogEntry, parseHeader, parseRegionTable, serializeHeader } from '../dist/format/index.js';
import { SYNC_WRITE_LIMIT } from '../dist/node/file.js';
import { tmpdir } from 'node:os';

const MiB = 1 << 20;
const GiB = 1 << 30;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function ok(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} -> ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** qemu-img bench's own time for its requests (seconds). */
function qemuBench(path, { count, size, step, flushInterval }) {
  const out = ok('qemu-img', [
    'bench',
    '-w',
    '-f',
    'vhdx',
    '-d',
    '1',
    '-t',
    'writeback',
    '-c',
    String(count),
    '-s',
    String(size),
    '-S',
    String(step),
    `--flush-interval=${flushInterval}`,
    path,
  ]);
  const m = /Run completed in ([\d.]+) seconds/.exec(out);
  if (!m) throw new Error(`qemu-img bench: ${out}`);
  return Number(m[1]);
}

/** Offsets 0, step, 2 step… (wrapping at the disk's end), one a request. */
function requestOffsets({ count, size, step }, diskSize) {
  const out = [];
  for (let i = 0, offset = 0; i < count; i++) {
    out.push(offset);
    offset += step;
    if (offset + size > diskSize) offset = 0;
  }
  return out;
}

/**
 * The same requests through openVhdx(path, { writable: true }), a flush every flushInterval;
 * `files` (when given) gets the file offset each request's bytes landed at.
 */
async function oursBench(path, { count, size, step, flushInterval }, diskSize, files) {
  const image = await openVhdx(path, { writable: true });
  const data = new Uint8Array(size).fill(0xa5);
  const offsets = requestOffsets({ count, size, step }, diskSize);
  const t0 = performance.now();
  for (let i = 1; i <= count; i++) {
    await image.write(offsets[i - 1], data);
    if (flushInterval && i % flushInterval === 0) await image.flush();
  }
  await image.flush();
  const secs = (performance.now() - t0) / 1000;
  for (const offset of files ? offsets : []) {
    const [extent] = image.extents({ start: offset, end: offset + size });
    if (extent?.kind !== 'data') throw new Error(`no data at ${offset} after writing it`);
    files?.push(extent.fileOffset);
  }
  await image.close();
  return secs;
}

/** The floor: the same writes and flushes, bare, at `files` (see the header comment). */
async function floorBench(path, { size, flushInterval }, files) {
  const fh = await open(path, 'r+');
  const data = new Uint8Array(size).fill(0xa5);
  const t0 = performance.now();
  for (let i = 1; i <= files.length; i++) {
    if (size <= SYNC_WRITE_LIMIT) writeSync(fh.fd, data, 0, size, files[i - 1]);
    else await fh.write(data, 0, size, files[i - 1]);
    if (flushInterval && i % flushInterval === 0) await fh.datasync();
  }
  await fh.datasync();
  const secs = (performance.now() - t0) / 1000;
  await fh.close();
  return secs;
}

function timedProcess(cmd, args) {
  const t0 = performance.now();
  ok(cmd, args);
  return (performance.now() - t0) / 1000;
}

/** A dirty copy of `clean` whose 1 MiB log holds one sequence of `sizes` entries, targets inside block 0. */
export function fullLog(clean, sizes = [63, 63, 63, 61]) {
  const file = new Uint8Array(clean);
  const headerAt = [64 * 1024, 128 * 1024];
  const headers = headerAt.map((at) => parseHeader(file.subarray(at, at + 4096), at));
  const [h1, h2] = /** @type {[any, any]} */ (headers);
  const h = h1.sequenceNumber > h2.sequenceNumber ? h1 : h2;
  const logGuid = '5a5a5a5a-1234-4abc-8def-0123456789ab';
  const table = parseRegionTable(file.subarray(192 * 1024, 256 * 1024), 192 * 1024);
  const bat = /** @type {{ fileOffset: number }} */ (table.entries.find((e) => e.guid === GUIDS.batRegion)).fileOffset;
  const entry0 = new DataView(file.buffer, file.byteOffset + bat, 8);
  const block0 = Number((entry0.getBigUint64(0, true) >> 20n) * BigInt(MiB));
  let at = 0;
  let target = block0;
  // sizes: data sectors per entry, (1 + n) sectors each: 254 of the log's 256 sectors by default
  // (qemu-img 7.2 check -r all loops forever on a sequence of 255: [63, 63, 63, 62])
  sizes.forEach((n, i) => {
    const writes = [];
    for (let k = 0; k < n; k++, target += 4096) writes.push({ fileOffset: target, data: new Uint8Array(4096).fill(i + 1) });
    const bytes = buildLogEntry({
      sequenceNumber: BigInt(100 + i),
      tail: 0,
      logGuid,
      flushedFileOffset: file.length,
      lastFileOffset: file.length,
      writes,
    });
    file.set(bytes, h.logOffset + at);
    at += bytes.length;
  });
  file.set(serializeHeader({ ...h, logGuid, sequenceNumber: h.sequenceNumber + 1n }), headerAt[0]);
  file.set(serializeHeader({ ...h, logGuid, sequenceNumber: h.sequenceNumber + 2n }), headerAt[1]);
  return file;
}

function row(title, ours, theirs, unit, floor) {
  // speed ratio: qemu-img's time over ours (above 1: ours is faster)
  const ratio = ours.map((o, i) => theirs[i] / o);
  const bare = floor ? ` | floor ${unit(median(floor)).padStart(16)}` : '';
  console.log(
    `  ${title.padEnd(46)} ${unit(median(ours)).padStart(16)} | qemu-img ${unit(median(theirs)).padStart(16)} | speed ratio ${median(ratio).toFixed(2)}${bare}`,
  );
}

export async function writeBench({ quick = false, runs = quick ? 3 : 5 } = {}) {
  // on a disk (not /dev/shm): flushes are part of what is measured
  const dir = process.env.BENCH_DIR ?? join(tmpdir(), 'vhdx-stream-write');
  mkdirSync(dir, { recursive: true });
  const blockSize = 8 * MiB;
  const small = { count: 512, size: 4096, step: blockSize, flushInterval: 64 }; // 4 GiB / 8 MiB: each first touch allocates
  const seq = { count: 1024, size: MiB, step: MiB, flushInterval: 64 }; // 1 GiB
  console.log(
    `\nWriting in place (${dir}): ${runs} runs, alternating, medians; qemu-img bench -w -f vhdx -d 1 -t writeback, each pair from the same fresh file (block size 8 MiB)`,
  );
  console.log(
    `  4 KiB at QD1: -c ${small.count} -s 4096 -S ${small.step} --flush-interval=${small.flushInterval} into 4 GiB; 1 MiB: -c ${seq.count} -s 1M -S 1M --flush-interval=${seq.flushInterval} into 1 GiB`,
  );
  const base4 = join(dir, 'base-4g.vhdx');
  const base1 = join(dir, 'base-1g.vhdx');
  ok('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `block_size=${blockSize}`, base4, String(4 * GiB)]);
  ok('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `block_size=${blockSize}`, base1, String(GiB)]);
  const ours = join(dir, 'ours.vhdx');
  const theirs = join(dir, 'theirs.vhdx');
  /** @type {() => [number[], number[]]} */
  const pair = () => [[], []];
  const r = { first: pair(), over: pair(), seq: pair(), repair: pair() };
  /** @type {{ over: number[], seq: number[] }} the floor's times */
  const floor = { over: [], seq: [] };
  const rate = (n) => (secs) => `${(n / secs).toFixed(0)} writes/s`;
  const mbps = (bytes) => (secs) => `${(bytes / secs / 1e6).toFixed(0)} MB/s`;
  for (let i = 0; i < runs; i++) {
    copyFileSync(base4, ours);
    copyFileSync(base4, theirs);
    r.first[0].push(await oursBench(ours, small, 4 * GiB));
    r.first[1].push(qemuBench(theirs, small));
    const overFiles = [];
    r.over[0].push(await oursBench(ours, small, 4 * GiB, overFiles));
    floor.over.push(await floorBench(ours, small, overFiles));
    r.over[1].push(qemuBench(theirs, small));
    copyFileSync(base1, ours);
    copyFileSync(base1, theirs);
    const seqFiles = [];
    r.seq[0].push(await oursBench(ours, seq, GiB, seqFiles));
    floor.seq.push(await floorBench(ours, seq, seqFiles));
    r.seq[1].push(qemuBench(theirs, seq));
  }
  row('4 KiB random, first touches (each allocates)', r.first[0], r.first[1], rate(small.count));
  row('4 KiB random, overwrites', r.over[0], r.over[1], rate(small.count), floor.over);
  row('1 MiB sequential, filling 1 GiB', r.seq[0], r.seq[1], mbps(seq.count * MiB), floor.seq);
  console.log(
    '  (floor: the same writes and flushes, bare, at the file offsets ours wrote to; the 1 MiB floor rewrites space ours already placed)',
  );

  // repair: 64 MiB of data, then a full 1 MiB log over block 0
  const cleanPath = join(dir, 'clean.vhdx');
  ok('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `block_size=${blockSize}`, cleanPath, String(GiB)]);
  ok('qemu-io', ['-c', 'write -P 0x11 0 64M', cleanPath]);
  const dirty = fullLog(readFileSync(cleanPath));
  const dirtyPath = join(dir, 'dirty.vhdx');
  writeFileSync(dirtyPath, dirty);
  const cli = join(import.meta.dirname, '..', 'bin', 'vhdx.js');
  for (let i = 0; i < runs; i++) {
    copyFileSync(dirtyPath, ours);
    copyFileSync(dirtyPath, theirs);
    r.repair[0].push(timedProcess(process.execPath, [cli, 'check', '-r', 'all', ours]));
    r.repair[1].push(timedProcess('qemu-img', ['check', '-q', '-r', 'all', theirs]));
  }
  ok('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'vhdx', ours, theirs]);
  row('check -r all, 1 MiB log full (254/256 sectors)', r.repair[0], r.repair[1], (s) => `${(s * 1000).toFixed(0)} ms`);
  rmSync(dir, { recursive: true, force: true });
}
