// Resizing in place (edit/resize.ts): growing dynamic and fixed disks (the
// BAT moved when it is too small), shrinking only when asked and only over
// zeros, refusals that write nothing, crash consistency at every file
// operation, and interop with qemu-img (info, compare, check).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVhdx, resizeVhdx } from '../src/index.js';
import * as node from '../src/node/index.js';
import { buildChild, dataWriteGuidOf } from './helpers/differencing.js';
import { forEachCrashState } from './helpers/crash-points.js';
import { applyOp, RecordingFile } from './helpers/recording-file.js';
import { vhdxFailure } from './helpers/reasons.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, qemuInfo, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 512) out[i] = (seed + i / 512) % 251 || 1;
  return out;
}

/** A dynamic disk of `size` bytes with data in its first `data` bytes, every other block. */
function dynamicDisk(size: number, data: number, blockSize = MiB): { bytes: Uint8Array; raw: Uint8Array } {
  const raw = new Uint8Array(size);
  for (let at = 0; at < data; at += 2 * blockSize) raw.set(pattern(Math.min(blockSize, data - at), at / blockSize + 1), at);
  return { bytes: buildSynthetic({ raw, blockSize }), raw };
}

/** What `bytes` reads: its size, and its first `length` bytes. */
async function readHead(bytes: Uint8Array, length: number): Promise<{ size: number; head: Uint8Array; dataPast: boolean }> {
  const image = await openVhdx(bytes);
  try {
    const size = image.info.virtualSize;
    const head = await image.read(0, Math.min(length, size));
    const past = size > length ? await image.extents({ start: length }) : [];
    return { size, head, dataPast: past.some((e) => e.kind === 'data') };
  } finally {
    await image.close();
  }
}

describe('resizeVhdx', () => {
  it('grows a dynamic disk: the new range reads zeros, the old data is unchanged, the DataWriteGuid is new', async () => {
    const { bytes, raw } = dynamicDisk(8 * MiB + 512, 8 * MiB + 512);
    const before = await openVhdx(bytes);
    const file = new RecordingFile(bytes.slice(), false);
    const result = await resizeVhdx(file, 20 * MiB);
    expect(result).toMatchObject({ sizeBefore: 8 * MiB + 512, sizeAfter: 20 * MiB, batMoved: false });
    const after = await openVhdx(file.contents());
    expect(after.info.virtualSize).toBe(20 * MiB);
    const want = new Uint8Array(20 * MiB);
    want.set(raw);
    expect(Buffer.compare(await after.read(0, 20 * MiB), want)).toBe(0);
    expect(after.info.dataWriteGuid).not.toBe(before.info.dataWriteGuid);
    expect((await after.check()).ok).toBe(true);
  });

  it('the last block stored past the old end (garbage there) reads zeros after growing', async () => {
    const { bytes, raw } = dynamicDisk(2 * MiB + 4096, 2 * MiB + 4096);
    // the last block's payload past the disk's end holds garbage (the format does not say what is there)
    const image = await openVhdx(bytes);
    const last = image.loadedModel.offsetsMiB[2]! * MiB;
    await image.close();
    const dirty = bytes.slice();
    if (dirty.length < last + MiB) throw new Error('the helper stores whole blocks');
    dirty.fill(0xee, last + 4096, last + MiB);
    const file = new RecordingFile(dirty, false);
    await resizeVhdx(file, 4 * MiB);
    const want = new Uint8Array(4 * MiB);
    want.set(raw);
    expect(Buffer.compare((await readHead(file.contents(), 4 * MiB)).head, want)).toBe(0);
  });

  it('grows past what the BAT region holds: the BAT moves to the end of the file (both region tables name it)', async () => {
    const { bytes, raw } = dynamicDisk(8 * MiB, 8 * MiB);
    const file = new RecordingFile(bytes.slice(), false);
    const result = await resizeVhdx(file, 200 * GiB);
    expect(result.batMoved).toBe(true);
    const got = await readHead(file.contents(), 8 * MiB);
    expect(got.size).toBe(200 * GiB);
    expect(Buffer.compare(got.head, raw)).toBe(0);
    expect(got.dataPast).toBe(false);
    const after = await openVhdx(file.contents());
    expect((await after.check()).ok).toBe(true);
    expect(after.info.regions.find((r) => r.name === 'bat')).toMatchObject({ length: 2 * MiB });
  });

  it('grows a fixed disk: its new blocks are stored', async () => {
    const raw = pattern(4 * MiB, 5);
    const file = new RecordingFile(buildSynthetic({ raw, blockSize: MiB, fixed: true }), false);
    await resizeVhdx(file, 7 * MiB);
    const after = await openVhdx(file.contents());
    expect(after.info).toMatchObject({ type: 'fixed', virtualSize: 7 * MiB, allocatedBlocks: 7 });
    const want = new Uint8Array(7 * MiB);
    want.set(raw);
    expect(Buffer.compare(await after.read(0, 7 * MiB), want)).toBe(0);
  });

  it('shrinks only with shrink: true and only over zeros; the file is cut', async () => {
    const { bytes, raw } = dynamicDisk(16 * MiB, 6 * MiB);
    const file = new RecordingFile(bytes.slice());
    expect((await vhdxFailure(() => resizeVhdx(file, 8 * MiB))).reason).toBe('shrink-not-requested');
    const holds = await vhdxFailure(() => resizeVhdx(file, 3 * MiB + 512, { shrink: true }));
    expect(holds.reason).toBe('shrink-holds-data');
    expect(holds.message).toMatch(/hold \d+ bytes of data/);
    expect(file.ops).toEqual([]); // refusals write nothing
    await resizeVhdx(file, 6 * MiB, { shrink: true });
    const got = await readHead(file.contents(), 6 * MiB);
    expect(got.size).toBe(6 * MiB);
    expect(Buffer.compare(got.head, raw.subarray(0, 6 * MiB))).toBe(0);
    expect((await (await openVhdx(file.contents())).check()).ok).toBe(true);
    // a fixed disk gives up the blocks cut off: the file is cut
    const fixedRaw = pattern(8 * MiB, 7);
    const fixed = new RecordingFile(buildSynthetic({ raw: fixedRaw, blockSize: MiB, fixed: true }), false);
    const zeroed = await openVhdx(fixed, { writable: true });
    await zeroed.discard(3 * MiB, 5 * MiB); // a fixed disk keeps its blocks: zeros written in place
    await zeroed.close();
    fixedRaw.fill(0, 3 * MiB);
    const before = fixed.size;
    await resizeVhdx(fixed, 4 * MiB, { shrink: true });
    expect(fixed.size).toBe(before - 4 * MiB);
    const after = await openVhdx(fixed.contents());
    expect(Buffer.compare(await after.read(0, 4 * MiB), fixedRaw.subarray(0, 4 * MiB))).toBe(0);
    expect((await after.check()).ok).toBe(true);
  });

  it('refuses a differencing disk and a size that is not a whole number of sectors, writing nothing', async () => {
    const parent = buildSynthetic({ raw: pattern(4 * MiB, 1) });
    const child = new RecordingFile(
      buildChild({
        virtualSize: 4 * MiB,
        blockSize: MiB,
        lss: 512,
        parentLinkage: dataWriteGuidOf(parent),
        relativePath: 'parent.vhdx',
        blocks: new Map(),
      }),
    );
    expect((await vhdxFailure(() => resizeVhdx(child, 8 * MiB, { parent }))).reason).toBe('operation-not-supported');
    const file = new RecordingFile(dynamicDisk(4 * MiB, MiB).bytes);
    expect((await vhdxFailure(() => resizeVhdx(file, 8 * MiB + 1))).reason).toBe('invalid-option');
    expect([...child.ops, ...file.ops]).toEqual([]);
  });
});

/**
 * Every crash state of a resize from `before` to `newSize` reads the old disk or the new one: the old
 * data, then zeros (its first 64 MiB compared; nothing stored past them).
 */
async function crashEveryPoint(before: Uint8Array, newSize: number, shrink = false): Promise<void> {
  const n = Math.min(newSize, 64 * MiB);
  const old = await readHead(before, n);
  const want = new Uint8Array(n);
  want.set(old.head);
  const file = new RecordingFile(before.slice());
  await resizeVhdx(file, newSize, { shrink });
  let sawNew = false;
  await forEachCrashState(before, file.ops, async (state, where) => {
    for (const writable of [false, true]) {
      const got = await readHead(writable ? await replayed(state) : state, n);
      const at = `${where}${writable ? ', writable' : ''}`;
      expect([old.size, newSize], at).toContain(got.size);
      if (got.size === newSize) sawNew = true;
      expect(Buffer.compare(got.head, want.subarray(0, got.head.length)), at).toBe(0);
      expect(got.dataPast, at).toBe(false);
    }
  });
  expect(sawNew).toBe(true);
}

/** `state` after a writable open replayed its log and closed. */
async function replayed(state: Uint8Array): Promise<Uint8Array> {
  const file = new RecordingFile(state.slice(), false);
  await (await openVhdx(file, { writable: true })).close();
  return file.contents();
}

describe('resize: crash consistency', () => {
  it('stopped between the two region table writes: readers use the first; a rerun makes the second its copy and finishes', async () => {
    const { bytes, raw } = dynamicDisk(4 * MiB, 4 * MiB);
    const file = new RecordingFile(bytes.slice());
    await resizeVhdx(file, 130 * GiB);
    const first = file.ops.findIndex((o) => o.kind === 'write' && o.position === 192 * 1024);
    expect(first).toBeGreaterThan(0);
    const stopped = new RecordingFile(bytes.slice(), false);
    for (const op of file.ops.slice(0, first + 2)) applyOp(stopped, op); // the first table written and flushed
    const half = await openVhdx(stopped.contents());
    expect((await half.check()).problems.map((p) => p.reason)).toContain('region-tables-differ');
    expect(Buffer.compare(await half.read(0, 4 * MiB), raw)).toBe(0);
    await resizeVhdx(stopped, 130 * GiB);
    const done = await openVhdx(stopped.contents());
    expect(done.info.virtualSize).toBe(130 * GiB);
    expect((await done.check()).ok).toBe(true);
    expect(Buffer.compare(await done.read(0, 4 * MiB), raw)).toBe(0);
  });

  it('growing a dynamic disk past its BAT (the BAT moves): every crash point reads the old disk or the new one', async () => {
    await crashEveryPoint(dynamicDisk(4 * MiB + 512, 4 * MiB + 512).bytes, 130 * GiB);
  }, 300_000);

  it('growing a fixed disk: every crash point reads the old disk or the new one', async () => {
    await crashEveryPoint(buildSynthetic({ raw: pattern(4 * MiB, 3), blockSize: MiB, fixed: true }), 9 * MiB);
  }, 300_000);

  it('shrinking: every crash point reads the old disk or the new one', async () => {
    await crashEveryPoint(dynamicDisk(12 * MiB, 5 * MiB).bytes, 6 * MiB, true);
  }, 300_000);
});

const tmp = tempDir('vhdx-resize-');
afterAll(() => tmp.cleanup());

describeWith(['qemu-img'], 'resize: interop', () => {
  it('by path: qemu-img info gives the new size, qemu-img compare finds the same data, qemu-img check is clean', async () => {
    const path = join(tmp.path, 'r.vhdx');
    const orig = join(tmp.path, 'r-orig.vhdx');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', path, '64M']);
    execFileSync('qemu-io', ['-f', 'vhdx', '-c', 'write -P 5 1M 9M', '-c', 'write -P 6 63M 1M', path]);
    execFileSync('cp', [path, orig]);
    await node.resizeVhdx(path, 200 * GiB);
    expect(qemuInfo(path)['virtual-size']).toBe(200 * GiB);
    execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', path]);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'vhdx', orig, path]);
    // and back: the range cut off reads zero
    await node.resizeVhdx(path, 64 * MiB, { shrink: true });
    expect(qemuInfo(path)['virtual-size']).toBe(64 * MiB);
    execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', path]);
    execFileSync('qemu-img', ['compare', '-q', '-s', '-f', 'vhdx', '-F', 'vhdx', orig, path]);
  });
});
