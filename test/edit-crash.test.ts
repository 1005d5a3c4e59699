// Crash consistency of the write path (issue 19's main check). A seeded
// workload of writes, discards and flushes runs against a file in memory
// that records every write, truncate and flush the library issues. The file
// is then rebuilt as a crash at each point could leave it:
//   (a) every operation before the point kept;
//   (b) only what the last completed file flush covered, plus a random
//       subset of the writes and truncates after it.
// Each state is opened read-only (the log replayed in memory) and writable
// (replayed onto the file), and for a sample of states of non-differencing
// files repaired by `qemu-img check -r all` and read by `qemu-img convert`.
// Every sector must read as it did after the last acknowledged flush, or as
// one of the versions the operations after it gave it (each write wholly old
// or wholly new, sector by sector); nothing else may change.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openVhdx } from '../src/index.js';
import { buildChild, dataWriteGuidOf, type ChildBlock } from './helpers/differencing.js';
import { rng as generator } from './fuzz/mutator.mjs';
import { applyOp, RecordingFile, type FileOp } from './helpers/recording-file.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, tempDir } from './helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Config {
  name: string;
  kind: 'dynamic' | 'fixed' | 'differencing';
  lss: 512 | 4096;
  virtualSize: number;
  blockSize: number;
  ops: number;
  seed: number;
  /** Crash states per mode checked with qemu-img (non-differencing only). */
  qemuSamples: number;
  /** Many small BAT changes, so the 1 MiB log wraps. */
  churn?: boolean;
  /** Check every `stride`-th crash point only (the rest are covered by their neighbours' kinds). */
  stride?: number;
  /** Longest write (default 4 MiB). */
  maxWrite?: number;
  /** Differencing: no PARTIALLY_PRESENT block at the start, so the first partial write allocates the sector bitmap block. */
  noBitmap?: boolean;
}

const CONFIGS: Config[] = [
  { name: 'dynamic, 512-byte sectors', kind: 'dynamic', lss: 512, virtualSize: 8 * MiB, blockSize: MiB, ops: 32, seed: 1, qemuSamples: 4 },
  { name: 'fixed, 512-byte sectors', kind: 'fixed', lss: 512, virtualSize: 5 * MiB, blockSize: MiB, ops: 26, seed: 2, qemuSamples: 3 },
  {
    name: 'differencing, 512-byte sectors',
    kind: 'differencing',
    lss: 512,
    virtualSize: 6 * MiB,
    maxWrite: 512 * KiB,
    blockSize: MiB,
    ops: 26,
    seed: 3,
    qemuSamples: 0,
  },
  // qemu-img 7.2 refuses to open files with 4096-byte logical sectors
  {
    name: 'dynamic, 4096-byte sectors',
    kind: 'dynamic',
    lss: 4096,
    virtualSize: 8 * MiB,
    blockSize: 2 * MiB,
    ops: 26,
    seed: 4,
    qemuSamples: 0,
  },
  {
    name: 'differencing, 4096-byte sectors',
    kind: 'differencing',
    lss: 4096,
    virtualSize: 6 * MiB,
    blockSize: MiB,
    ops: 24,
    seed: 5,
    qemuSamples: 0,
  },
  {
    name: 'differencing, 512-byte sectors, no sector bitmap block yet',
    kind: 'differencing',
    lss: 512,
    virtualSize: 10 * MiB,
    maxWrite: 256 * KiB,
    blockSize: MiB,
    ops: 24,
    seed: 7,
    qemuSamples: 0,
    noBitmap: true,
  },
  {
    name: 'differencing, 4096-byte sectors, no sector bitmap block yet',
    kind: 'differencing',
    lss: 4096,
    virtualSize: 10 * MiB,
    maxWrite: 256 * KiB,
    blockSize: 2 * MiB,
    ops: 24,
    seed: 8,
    qemuSamples: 0,
    noBitmap: true,
  },
  {
    name: 'dynamic, the log wraps',
    kind: 'dynamic',
    lss: 512,
    virtualSize: 4 * MiB,
    blockSize: MiB,
    ops: 150,
    seed: 6,
    qemuSamples: 3,
    churn: true,
    stride: 10,
  },
];

/** Bytes no two calls repeat (so every version of a sector differs). */
function freshBytes(length: number, rnd: () => number): Uint8Array {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, length >>> 2);
  let x = (rnd() * 0xffffffff) | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  for (let i = words.length * 4; i < length; i++) out[i] = (rnd() * 256) | 0;
  return out;
}

interface Base {
  file: Uint8Array;
  parent?: Uint8Array;
}

function buildBase(cfg: Config, rnd: () => number): Base {
  const { virtualSize, blockSize, lss } = cfg;
  const raw = new Uint8Array(virtualSize);
  if (cfg.kind === 'differencing') {
    const parentRaw = freshBytes(virtualSize, rnd);
    const parent = buildSynthetic({ raw: parentRaw, lss, blockSize });
    const blocks = new Map<number, ChildBlock>();
    const count = virtualSize / blockSize;
    const kinds: ChildBlock['state'][] = cfg.noBitmap
      ? ['not-present', 'full', 'not-present', 'zero', 'unmapped']
      : ['full', 'partial', 'zero', 'not-present', 'unmapped', 'partial'];
    for (let b = 0; b < count; b++) {
      const state = kinds[b % kinds.length]!;
      if (state === 'full') blocks.set(b, { state, data: freshBytes(blockSize, rnd) });
      else if (state === 'partial') blocks.set(b, { state, data: freshBytes(blockSize, rnd), sectors: (k) => k % 3 === 0 || k > 200 });
      else blocks.set(b, { state } as ChildBlock);
    }
    const file = buildChild({ virtualSize, blockSize, lss, parentLinkage: dataWriteGuidOf(parent), relativePath: 'parent.vhdx', blocks });
    return { file, parent };
  }
  if (cfg.kind === 'fixed') return { file: buildSynthetic({ raw: freshBytes(virtualSize, rnd), lss, blockSize, fixed: true }) };
  // dynamic: some blocks stored, the rest ZERO
  for (let b = 0; b * blockSize < virtualSize; b += 3) raw.set(freshBytes(blockSize, rnd), b * blockSize);
  return { file: buildSynthetic({ raw, lss, blockSize }) };
}

/** What the disk may read as from some file operation on: the disk at an acknowledged flush, and every version a sector got since. */
interface Batch {
  /** Index in the recorded file operations where it starts (the flush's acknowledgement). */
  startOp: number;
  snapshot: Uint8Array;
  versions: Map<number, Uint8Array[]>;
}

interface Recorded {
  base: Base;
  ops: FileOp[];
  batches: Batch[];
  imageOps: number;
  /** Differencing: how often a block's sector bitmap bits changed (a block made PARTIALLY_PRESENT, or more of its sectors present), and whether a sector bitmap block was added. */
  bitsChanged: number;
  bitmapAdded: boolean;
}

/** Runs the seeded workload on a writable image over a recording file. */
async function runWorkload(cfg: Config): Promise<Recorded> {
  const rnd = generator(cfg.seed);
  const base = buildBase(cfg, rnd);
  const file = new RecordingFile(base.file.slice());
  const image = await openVhdx(file, { writable: true, ...(base.parent ? { parent: base.parent } : {}) });
  const size = cfg.virtualSize;
  const disk = await image.read(0, size);
  expect(file.ops).toEqual([]); // nothing is written at open
  const batches: Batch[] = [{ startOp: 0, snapshot: disk.slice(), versions: new Map() }];
  const touch = (offset: number, length: number) => {
    const versions = batches[batches.length - 1]!.versions;
    for (let s = Math.floor(offset / cfg.lss); s * cfg.lss < offset + length; s++) {
      const list = versions.get(s) ?? [];
      versions.set(s, list);
      list.push(disk.slice(s * cfg.lss, (s + 1) * cfg.lss));
    }
  };
  const ack = () => batches.push({ startOp: file.ops.length, snapshot: disk.slice(), versions: new Map() });
  let churnBlock = 0;
  const model = image.loadedModel;
  const bitmapsBefore = model.bitmapOffsetsMiB?.filter((at) => at !== 0).length ?? 0;
  let bitsChanged = 0;
  let bitsBefore = new Map(model.bitmaps?.blocks);
  const countBits = () => {
    for (const [b, bits] of model.bitmaps?.blocks ?? []) if (bitsBefore.get(b) !== bits) bitsChanged++;
    bitsBefore = new Map(model.bitmaps?.blocks);
  };
  for (let i = 0; i < cfg.ops; i++) {
    countBits();
    const r = rnd();
    if (cfg.churn) {
      // a block discarded whole, then written again: every step a BAT change
      if (i % 2 === 0) churnBlock = Math.floor(rnd() * (size / cfg.blockSize));
      const block = churnBlock;
      if (i % 2 === 0) {
        await image.discard(block * cfg.blockSize, cfg.blockSize);
        disk.fill(0, block * cfg.blockSize, (block + 1) * cfg.blockSize);
        touch(block * cfg.blockSize, cfg.blockSize);
      } else {
        const at = block * cfg.blockSize + Math.floor(rnd() * (cfg.blockSize - 8 * KiB));
        const data = freshBytes(1 + Math.floor(rnd() * 8 * KiB), rnd);
        await image.write(at, data);
        disk.set(data, at);
        touch(at, data.length);
      }
      if (i % 7 === 6) {
        await image.flush();
        ack();
      }
      continue;
    }
    if (r < 0.15) {
      await image.flush();
      ack();
    } else if (r < 0.35) {
      const whole = rnd() < 0.5;
      const at = whole ? Math.floor(rnd() * (size / cfg.blockSize)) * cfg.blockSize : Math.floor(rnd() * size);
      const length = Math.min(size - at, whole ? cfg.blockSize * (1 + Math.floor(rnd() * 2)) : 1 + Math.floor(rnd() * 2 * cfg.blockSize));
      await image.discard(at, length);
      disk.fill(0, at, at + length);
      touch(at, length);
    } else {
      const c = rnd();
      const max = Math.min(cfg.maxWrite ?? 4 * MiB, c < 0.1 ? 16 : c < 0.5 ? 8 * KiB : c < 0.8 ? 256 * KiB : 4 * MiB);
      const length = Math.min(size, 1 + Math.floor(rnd() * max));
      let at = Math.floor(rnd() * (size - length + 1));
      if (rnd() < 0.3) {
        // across a block boundary
        const edge = (1 + Math.floor(rnd() * (size / cfg.blockSize - 1))) * cfg.blockSize;
        at = Math.max(0, Math.min(size - length, edge - Math.floor(length / 2)));
      }
      const data = freshBytes(length, rnd);
      await image.write(at, data);
      disk.set(data, at);
      touch(at, length);
    }
    // reads see writes at once
    if (i % 5 === 0) expect(Buffer.compare(await image.read(0, size), disk)).toBe(0);
  }
  countBits();
  const bitmapAdded = (model.bitmapOffsetsMiB?.filter((at) => at !== 0).length ?? 0) > bitmapsBefore;
  await image.close();
  ack();
  return { base, ops: file.ops, batches, imageOps: cfg.ops, bitsChanged, bitmapAdded };
}

/** The batch a crash after `p` file operations falls in. */
function batchAt(rec: Recorded, p: number): Batch {
  let found = rec.batches[0]!;
  for (const b of rec.batches) if (b.startOp <= p) found = b;
  return found;
}

/** Why `got` is not a disk the batch allows, or undefined. */
function verdict(got: Uint8Array, batch: Batch, lss: number): string | undefined {
  const want = batch.snapshot;
  if (got.length !== want.length) return `read ${got.length} bytes, expected ${want.length}`;
  const span = 64 * KiB;
  for (let at = 0; at < want.length; at += span) {
    if (Buffer.compare(got.subarray(at, at + span), want.subarray(at, at + span)) === 0) continue;
    for (let s = at / lss; s < (at + span) / lss; s++) {
      const sector = got.subarray(s * lss, (s + 1) * lss);
      if (Buffer.compare(sector, want.subarray(s * lss, (s + 1) * lss)) === 0) continue;
      const versions = batch.versions.get(s) ?? [];
      if (!versions.some((v) => Buffer.compare(v, sector) === 0)) {
        return `sector ${s} matches neither the acknowledged disk nor any of its ${versions.length} later versions`;
      }
    }
  }
  return undefined;
}

async function checkState(cfg: Config, rec: Recorded, state: Uint8Array, p: number, mode: string, reopen: boolean): Promise<void> {
  const batch = batchAt(rec, p);
  const parent = rec.base.parent ? { parent: rec.base.parent } : {};
  const where = `${cfg.name}, crash after ${p} of ${rec.ops.length} file operations (${mode})`;
  const ro = await openVhdx(state, parent);
  const seen = await ro.read(0, cfg.virtualSize);
  expect(verdict(seen, batch, cfg.lss), `${where}, read-only`).toBeUndefined();
  const file = new RecordingFile(state.slice(), false);
  const rw = await openVhdx(file, { writable: true, ...parent });
  const repaired = await rw.read(0, cfg.virtualSize);
  expect(Buffer.compare(repaired, seen), `${where}: the writable open reads what the read-only open read`).toBe(0);
  await rw.close();
  if (!reopen) return;
  // the repaired file, closed, opens clean with the same disk (a sample: every tenth point)
  const after = await openVhdx(file.contents(), parent);
  expect(after.info.log.state, where).toBe('clean');
  expect(Buffer.compare(await after.read(0, cfg.virtualSize), seen), `${where}: the repaired file`).toBe(0);
}

/** Every crash state of one workload, in both modes; returns a sample of them for qemu-img. */
async function everyCrashState(cfg: Config, rec: Recorded): Promise<{ p: number; mode: string; bytes: Uint8Array }[]> {
  const rnd = generator(cfg.seed * 7919);
  const cur = new RecordingFile(rec.base.file.slice(), false);
  let flushed = cur.contents().slice();
  let lastFlush = 0;
  const stride = cfg.stride ?? 1;
  const states: { p: number; mode: string; bytes: Uint8Array }[] = [];
  const wanted = new Set<number>();
  while (wanted.size < Math.min(cfg.qemuSamples, rec.ops.length)) wanted.add(Math.floor(rnd() * (rec.ops.length + 1)));
  for (let p = 0; p <= rec.ops.length; p++) {
    if (p > 0) {
      const op = rec.ops[p - 1]!;
      applyOp(cur, op);
      if (op.kind === 'flush') {
        flushed = cur.contents().slice();
        lastFlush = p;
      }
    }
    if (p % stride !== 0 && p !== rec.ops.length && !wanted.has(p)) continue;
    // after a flush the bytes are those of the point before: checked again only where an acknowledgement starts a batch
    if (p > 0 && rec.ops[p - 1]!.kind === 'flush' && batchAt(rec, p).startOp !== p) continue;
    // (a) everything before the crash
    const all = cur.contents().slice();
    await checkState(cfg, rec, all, p, 'every operation kept', wanted.has(p) || p % 10 === 0);
    // (b) what the last flush covered, and some of the rest
    const some = new RecordingFile(flushed.slice(), false);
    for (let i = lastFlush; i < p; i++) if (rnd() < 0.5) applyOp(some, rec.ops[i]!);
    const partial = some.contents().slice();
    await checkState(cfg, rec, partial, p, 'unflushed operations partly lost', wanted.has(p) || p % 10 === 0);
    if (wanted.has(p)) states.push({ p, mode: 'a', bytes: all }, { p, mode: 'b', bytes: partial });
  }
  return states;
}

const tmp = tempDir('vhdx-crash-');
afterAll(() => tmp.cleanup());

describeWith(['qemu-img'], 'crash consistency of writes, discards and flushes', () => {
  for (const cfg of CONFIGS) {
    it(`${cfg.name}: every crash point reads as an acknowledged disk plus whole sectors of later writes`, async () => {
      const rec = await runWorkload(cfg);
      expect(rec.ops.filter((o) => o.kind === 'write').length).toBeGreaterThan(cfg.ops / 2);
      if (cfg.churn) {
        // the log (1 MiB at 1 MiB) was written past its end and started again at its beginning
        const logWrites = rec.ops.flatMap((o) => (o.kind === 'write' && o.position >= MiB && o.position < 2 * MiB ? [o.position] : []));
        expect(logWrites.some((at, i) => i > 0 && at < logWrites[i - 1]!)).toBe(true);
      }
      if (cfg.kind === 'differencing') {
        // writes in part into blocks that read the parent leave them PARTIALLY_PRESENT (bits set through the log)
        expect(rec.bitsChanged).toBeGreaterThan(2);
        expect(rec.bitmapAdded).toBe(cfg.noBitmap === true);
      }
      const samples = await everyCrashState(cfg, rec);
      if (cfg.kind === 'differencing') return;
      for (const s of samples) {
        const path = join(tmp.path, `${cfg.seed}-${s.p}-${s.mode}.vhdx`);
        writeFileSync(path, s.bytes);
        execFileSync('qemu-img', ['check', '-q', '-r', 'all', '-f', 'vhdx', path]);
        execFileSync('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', path, `${path}.raw`]);
        const got = readFileSync(`${path}.raw`);
        expect(verdict(got, batchAt(rec, s.p), cfg.lss), `${cfg.name}, crash after ${s.p} (${s.mode}), qemu-img`).toBeUndefined();
      }
    }, 120_000);
  }
});
