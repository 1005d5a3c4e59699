// Compacting in place (edit/compact.ts): what is reclaimed, that the disk
// reads the same, crash consistency at every file operation, and interop
// (qemu-img compare and check, 7zz t, 7zz e for a child).
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compactVhdx, openVhdx, VhdxError } from '../src/index.js';
import * as node from '../src/node/index.js';
import { batIndexOfBlock, readBatEntry, writeBatEntry } from '../src/format/bat.js';
import { buildChild, dataWriteGuidOf, type ChildBlock } from './helpers/differencing.js';
import { forEachCrashState } from './helpers/crash-points.js';
import { applyOp, RecordingFile } from './helpers/recording-file.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BAT_OFFSET = 3 * MiB; // where the helpers put the BAT
const LOG_LENGTH = MiB;

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
    out[i + 1] = (x >>> 8) & 255;
  }
  return out;
}

/**
 * A fragmented dynamic disk made with this project's own write path: every
 * block stored (in reverse order), then some discarded (holes), some written
 * with zeros (all-zero payload that still holds space), some written again in
 * a later session (placed at the end), and two entries that read without
 * payload but still name file space (ZERO and UNMAPPED with an offset).
 */
async function fragmentedDynamic(size: number, blockSize: number): Promise<Uint8Array> {
  const blocks = size / blockSize;
  const raw = new Uint8Array(size);
  for (let b = 0; b < blocks; b++) raw.set(pattern(blockSize, b + 1), b * blockSize);
  const file = new RecordingFile(buildSynthetic({ raw, blockSize, order: 'reverse' }), false);
  let image = await openVhdx(file, { writable: true });
  for (let b = 0; b < blocks; b++) {
    if (b % 4 === 1) await image.discard(b * blockSize, blockSize);
    if (b % 5 === 2) await image.write(b * blockSize, new Uint8Array(blockSize));
  }
  await image.close();
  image = await openVhdx(file, { writable: true });
  for (let b = 1; b < blocks; b += 8) await image.write(b * blockSize + 4096, pattern(8192, 1000 + b));
  await image.close();
  const bytes = file.contents().slice();
  // ZERO and UNMAPPED entries naming space (the place of a block that was discarded and not written again)
  const ratio = (2 ** 23 * 512) / blockSize;
  const firstData = readBatEntry(bytes.subarray(BAT_OFFSET), batIndexOfBlock(0, ratio)).offsetMiB;
  const sector = bytes.subarray(BAT_OFFSET, BAT_OFFSET + 4096);
  writeBatEntry(sector, batIndexOfBlock(5, ratio), { state: 2, offsetMiB: firstData + 1 });
  writeBatEntry(sector, batIndexOfBlock(13, ratio), { state: 3, offsetMiB: firstData + 2 });
  return bytes;
}

/** A differencing child with every state: data, all-zero data over parent data, partial blocks, zero, unmapped. */
function fragmentedChild(size: number, blockSize: number): { file: Uint8Array; parent: Uint8Array } {
  const parent = buildSynthetic({ raw: pattern(size, 77), blockSize });
  const blocks = new Map<number, ChildBlock>();
  const kinds: ChildBlock['state'][] = ['full', 'zero', 'partial', 'not-present', 'full', 'unmapped', 'full'];
  for (let b = 0; b < size / blockSize; b++) {
    const state = kinds[b % kinds.length]!;
    // every third full block holds only zeros: it must stay ZERO (the parent has data there)
    if (state === 'full') blocks.set(b, { state, data: b % 3 === 0 ? new Uint8Array(blockSize) : pattern(blockSize, 300 + b) });
    else if (state === 'partial') blocks.set(b, { state, data: pattern(blockSize, 500 + b), sectors: (k) => k % 5 === 0 });
    else blocks.set(b, { state } as ChildBlock);
  }
  // a partial block whose own sectors are zero still shows the parent: it keeps its space
  const file = buildChild({
    virtualSize: size,
    blockSize,
    lss: 512,
    parentLinkage: dataWriteGuidOf(parent),
    relativePath: 'parent.vhdx',
    blocks,
  });
  return { file, parent };
}

async function diskOf(bytes: Uint8Array, parent?: Uint8Array): Promise<Uint8Array> {
  const image = await openVhdx(bytes, parent ? { parent } : {});
  try {
    return await image.read(0, image.info.virtualSize);
  } finally {
    await image.close();
  }
}

describe('compactVhdx', () => {
  it('frees all-zero and discarded blocks, packs the rest and cuts the file; the disk reads the same', async () => {
    const before = await fragmentedDynamic(32 * MiB, MiB);
    const disk = await diskOf(before);
    const file = new RecordingFile(before.slice(), false);
    const dry = await compactVhdx(file, { dryRun: true });
    expect(Buffer.compare(file.contents(), before)).toBe(0); // a dry run writes nothing
    const progress: number[] = [];
    const result = await compactVhdx(file, { onProgress: (done) => progress.push(done) });
    expect({ ...result, dryRun: true }).toEqual(dry);
    expect(result.fileSizeBefore).toBe(before.length);
    expect(result.fileSizeAfter).toBe(file.size);
    expect(result.zeroBlocks).toBeGreaterThan(0);
    expect(result.blocksFreed).toBe(result.zeroBlocks + 2); // the ZERO and UNMAPPED entries naming space
    expect(result.blocksMoved).toBeGreaterThan(0);
    expect(progress.length).toBeGreaterThan(0);
    const after = await openVhdx(file.contents());
    // packed: the structures and exactly the blocks that hold data
    expect(file.size).toBe(4 * MiB + after.info.allocatedBlocks * MiB);
    expect(Buffer.compare(await after.read(0, after.info.virtualSize), disk)).toBe(0);
    expect(after.info.log.state).toBe('clean');
    expect((await after.check()).ok).toBe(true);
    expect(after.info.dataWriteGuid).toBe((await openVhdx(before)).info.dataWriteGuid);
    // nothing left to do
    expect((await compactVhdx(file, { dryRun: true })).reclaimedBytes).toBe(0);
  });

  it('a block whose data lies only past its first bytes, or in its last sector, keeps its data (the scan reads on after a zero head)', async () => {
    const blockSize = 8 * MiB;
    const raw = new Uint8Array(5 * blockSize);
    raw.set(pattern(512, 1), blockSize - 512); // block 0: its last sector alone
    raw.set(pattern(4096, 2), blockSize + 64 * 1024); // block 1: just past the first 64 KiB
    raw.set(pattern(4096, 3), 2 * blockSize + 6 * MiB); // block 2: past the first 4 MiB piece
    raw.set(pattern(4096, 4), 4 * blockSize); // block 4: at its start
    raw.set(pattern(4096, 5), 3 * blockSize + 4096);
    const file = new RecordingFile(buildSynthetic({ raw, blockSize }), false);
    // block 3 written with zeros: all zero, still stored
    const image = await openVhdx(file, { writable: true });
    await image.write(3 * blockSize, new Uint8Array(blockSize));
    await image.close();
    raw.fill(0, 3 * blockSize, 4 * blockSize);
    const result = await compactVhdx(file);
    expect(result.zeroBlocks).toBe(1);
    const after = await openVhdx(file.contents());
    expect(Buffer.compare(await after.read(0, after.info.virtualSize), raw)).toBe(0);
    expect(after.info.allocatedBlocks).toBe(4);
  });

  it('a dry run needs no writing half: bytes and a Blob (a picked File) give the figures of the writable file', async () => {
    const before = await fragmentedDynamic(16 * MiB, MiB);
    const expected = await compactVhdx(new RecordingFile(before.slice(), false), { dryRun: true });
    expect(expected.reclaimedBytes).toBeGreaterThan(0);
    expect(await compactVhdx(before, { dryRun: true })).toEqual(expected);
    expect(await compactVhdx(new Blob([before as Uint8Array<ArrayBuffer>]), { dryRun: true })).toEqual(expected);
    // without dryRun the same Blob is refused: it cannot be written
    await expect(compactVhdx(new Blob([before as Uint8Array<ArrayBuffer>]))).rejects.toMatchObject({ reason: 'source-not-writable' });
  });

  it('a child: all-zero blocks over parent data become ZERO (never NOT_PRESENT), partial blocks keep the parent showing, the bitmap moves', async () => {
    const { file: before, parent } = fragmentedChild(24 * MiB, MiB);
    const disk = await diskOf(before, parent);
    const file = new RecordingFile(before.slice(), false);
    const result = await compactVhdx(file, { parent });
    expect(result.zeroBlocks).toBeGreaterThan(0);
    expect(result.reclaimedBytes).toBeGreaterThan(0);
    const after = await openVhdx(file.contents(), { parent });
    expect(Buffer.compare(await after.read(0, after.info.virtualSize), disk)).toBe(0);
    expect((await after.check()).ok).toBe(true);
    // the all-zero full blocks (0, 6, 21, ...: kinds 0 and 4 and a multiple of 3) are ZERO
    const bat = file.contents().subarray(BAT_OFFSET);
    const ratio = (2 ** 23 * 512) / MiB;
    for (const b of [0, 6, 18, 21]) expect(readBatEntry(bat, batIndexOfBlock(b, ratio)), `block ${b}`).toEqual({ state: 2, offsetMiB: 0 });
    // the sector bitmap (after the payload in the helper's layout) moved below the packed end
    const bitmap = readBatEntry(bat, ratio);
    expect(bitmap.state).toBe(6);
    expect(bitmap.offsetMiB * MiB).toBeLessThan(file.size);
    expect(bitmap.offsetMiB * MiB).toBeLessThan(before.length - MiB);
  });

  it('discardRanges: whole blocks inside them are discarded and freed; parts of blocks stay', async () => {
    const raw = pattern(8 * MiB, 9);
    const file = new RecordingFile(buildSynthetic({ raw, blockSize: MiB }), false);
    const result = await compactVhdx(file, {
      discardRanges: [
        { start: MiB / 2, end: 3 * MiB },
        { start: 3 * MiB, end: 4 * MiB + 1 },
      ],
    });
    expect(result.zeroBlocks).toBe(3); // blocks 1, 2, 3
    const disk = await diskOf(file.contents());
    const want = raw.slice();
    want.fill(0, MiB, 4 * MiB);
    expect(Buffer.compare(disk, want)).toBe(0);
  });

  it('an optional region this reader does not know keeps its place and its bytes', async () => {
    // blocks 0-7 stored from 4 MiB on; an optional region of someone else's right after them, at 12 MiB
    const unknown = { guid: '12345678-1234-4234-8234-123456789abc', fileOffset: 12 * MiB, length: MiB, required: false };
    const built = buildSynthetic({ raw: pattern(8 * MiB, 4), blockSize: MiB, extraRegions: [unknown] });
    const marker = pattern(MiB, 99);
    const file = new RecordingFile(new Uint8Array(13 * MiB), false);
    file.write(built, 0);
    file.write(marker, 12 * MiB);
    const image = await openVhdx(file, { writable: true });
    await image.write(MiB, new Uint8Array(6 * MiB)); // blocks 1-6 hold zeros: freed, block 7 moves down
    await image.close();
    const disk = await diskOf(file.contents());
    const result = await compactVhdx(file);
    expect(result.blocksMoved).toBe(1);
    expect(Buffer.compare(file.contents().subarray(12 * MiB, 13 * MiB), marker)).toBe(0);
    expect(Buffer.compare(await diskOf(file.contents()), disk)).toBe(0);
  });

  it('a fixed disk is refused, pointing at a conversion to dynamic; nothing is written', async () => {
    const bytes = buildSynthetic({ raw: pattern(4 * MiB, 3), blockSize: MiB, fixed: true });
    const file = new RecordingFile(bytes.slice());
    const err = await compactVhdx(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VhdxError);
    expect((err as VhdxError).reason).toBe('operation-not-supported');
    expect((err as VhdxError).message).toMatch(/--type dynamic/);
    expect(file.ops).toEqual([]);
  });
});

// Crash consistency: every state a crash at each file operation of a compaction could leave
// (every operation kept; or only what the last flush covered plus a random subset of the rest)
// reads the same disk, read-only and after a writable open's replay, and is never larger than
// the file before plus one block and the log.
async function crashEveryPoint(before: Uint8Array, blockSize: number, parent?: Uint8Array): Promise<Uint8Array[]> {
  const opts = parent ? { parent } : {};
  const disk = await diskOf(before, parent);
  const file = new RecordingFile(before.slice());
  await compactVhdx(file, opts);
  expect(file.ops.some((o) => o.kind === 'truncate')).toBe(true);
  const limit = before.length + blockSize + LOG_LENGTH;
  const samples: Uint8Array[] = [];
  await forEachCrashState(before, file.ops, async (state, where, p) => {
    expect(state.length, where).toBeLessThanOrEqual(limit);
    expect(Buffer.compare(await diskOf(state, parent), disk), `${where}, read-only`).toBe(0);
    const rw = new RecordingFile(state.slice(), false);
    const image = await openVhdx(rw, { writable: true, ...opts });
    expect(Buffer.compare(await image.read(0, disk.length), disk), `${where}, writable`).toBe(0);
    await image.close();
    if (p % 37 === 0) samples.push(state);
  });
  return samples;
}

const tmp = tempDir('vhdx-compact-');
afterAll(() => tmp.cleanup());

describeWith(['qemu-img'], 'compact: crash consistency', () => {
  it('a fragmented 32 MiB dynamic disk: every crash point reads the same disk; qemu-img check -r all and compare agree on a sample', async () => {
    const before = await fragmentedDynamic(32 * MiB, MiB);
    const samples = await crashEveryPoint(before, MiB);
    const orig = join(tmp.path, 'crash-orig.vhdx');
    writeFileSync(orig, before);
    samples.forEach((s, i) => {
      const path = join(tmp.path, `crash-${i}.vhdx`);
      writeFileSync(path, s);
      execFileSync('qemu-img', ['check', '-q', '-r', 'all', '-f', 'vhdx', path]);
      execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'vhdx', orig, path]);
    });
  }, 300_000);

  it('a fragmented 256 MiB dynamic disk (4 MiB blocks, the size the issue names): every crash point reads the same disk', async () => {
    const before = await fragmentedDynamic(256 * MiB, 4 * MiB);
    await crashEveryPoint(before, 4 * MiB);
  }, 600_000);

  it('a crash right after the file is cut: qemu-img check -r all replays the log and the disk reads the same', async () => {
    // QEMU 7.2 takes every consecutive entry of the header's LogGuid as one sequence and
    // refuses (EINVAL) an entry whose FlushedFileOffset is past the end of the file
    const before = await fragmentedDynamic(32 * MiB, MiB);
    const file = new RecordingFile(before.slice());
    await compactVhdx(file);
    const cut = file.ops.findIndex((o) => o.kind === 'truncate' && o.size < before.length);
    expect(cut).toBeGreaterThan(0);
    const state = new RecordingFile(before.slice(), false);
    for (const op of file.ops.slice(0, cut + 1)) applyOp(state, op);
    const orig = join(tmp.path, 'cut-orig.vhdx');
    const path = join(tmp.path, 'cut.vhdx');
    writeFileSync(orig, before);
    writeFileSync(path, state.contents());
    execFileSync('qemu-img', ['check', '-q', '-r', 'all', '-f', 'vhdx', path]);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'vhdx', orig, path]);
  });

  it('a differencing child: every crash point reads the same disk', async () => {
    const { file, parent } = fragmentedChild(16 * MiB, MiB);
    await crashEveryPoint(file, MiB, parent);
  }, 300_000);
});

describeWith(['qemu-img', '7zz'], 'compact: interop', () => {
  it('by path (Node entry): qemu-img compare before/after identical, qemu-img check clean, 7zz t passes; the file is smaller', async () => {
    const path = join(tmp.path, 'interop.vhdx');
    const orig = join(tmp.path, 'interop-orig.vhdx');
    const bytes = await fragmentedDynamic(48 * MiB, 2 * MiB);
    writeFileSync(path, bytes);
    writeFileSync(orig, bytes);
    const result = await node.compactVhdx(path);
    expect(statSync(path).size).toBe(result.fileSizeAfter);
    expect(result.fileSizeAfter).toBeLessThan(bytes.length);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'vhdx', orig, path]);
    execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', path]);
    const seven = sevenZipSha256(path);
    expect(seven.status).toBe(0);
    expect(seven.sha256).toBe(sha256(await diskOf(readFileSync(orig))));
    execFileSync('7zz', ['t', '-tvhdx', path]);
  });

  it('a child by path, its parent found beside it: 7zz reads the same chain before and after', async () => {
    const { file, parent } = fragmentedChild(16 * MiB, MiB);
    writeFileSync(join(tmp.path, 'parent.vhdx'), parent);
    const path = join(tmp.path, 'child.vhdx');
    writeFileSync(path, file);
    const want = sevenZipSha256(path);
    expect(want.status).toBe(0);
    await node.compactVhdx(path);
    expect(sevenZipSha256(path).sha256).toBe(want.sha256);
    expect(sha256(await diskOf(readFileSync(path), parent))).toBe(sha256(await diskOf(file, parent)));
  });
});
