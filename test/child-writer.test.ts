// Creating differencing files (children): the positional writer with a
// `parent`, and the Node file functions. A child holds only the blocks that
// differ from its parent, and reads identical to the new disk in this
// library, in 7-Zip (`7zz e -so`, parent found by relative_path) and in
// libvhdi (pyvhdi, child.set_parent); qemu-img (which cannot open
// differencing VHDX) compares the flattened output.
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as node from '../src/node/index.js';
import { BlockState } from '../src/format/bat.js';
import { changedSectorRuns, planChildBlock } from '../src/layout/child.js';
import { VhdxEncoderStream, VhdxWriterStream, openVhdx, type VhdxImage } from '../src/index.js';
import { firstDifference } from './helpers/bytes.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';
import { reasonOf } from './helpers/reasons.js';
import { describeWith, pyvhdiRead, run, sha256, sha256File, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const dir = tempDir('vhdx-child-');
afterAll(() => dir.cleanup());

/** A growable in-memory positional target. */
function memoryTarget() {
  let bytes = new Uint8Array(0);
  return {
    get bytes() {
      return bytes;
    },
    write(data: Uint8Array, position: number) {
      if (position + data.length > bytes.length) {
        const grown = new Uint8Array(position + data.length);
        grown.set(bytes);
        bytes = grown;
      }
      bytes.set(data, position);
    },
    truncate(size: number) {
      const cut = new Uint8Array(size);
      cut.set(bytes.subarray(0, Math.min(size, bytes.length)));
      bytes = cut;
    },
  };
}

async function encode(disk: Uint8Array, blockSize = MiB, lss: 512 | 4096 = 512): Promise<Uint8Array> {
  const encoder = new VhdxEncoderStream({ virtualSize: disk.length, blockSize, logicalSectorSize: lss });
  return collect(chunkedStream(disk).pipeThrough(encoder));
}

/** Writes a child of `parent` from `disk` (undefined: an empty child) in chunks of `sizes`. */
async function writeChild(parent: VhdxImage, disk: Uint8Array | undefined, sizes = [333_333, 1 << 20], extra = {}, concurrent = false) {
  const target = Object.assign(memoryTarget(), concurrent ? { concurrentWrites: true } : {});
  const sink = new VhdxWriterStream(target, { parent, parentRelativePath: 'base.vhdx', ...extra });
  if (disk) await chunkedStream(disk, sizes).pipeTo(sink);
  else await sink.getWriter().close();
  return { file: target.bytes, summary: await sink.result };
}

/** A new disk from `old`: some sectors, runs, whole blocks and zeroed blocks changed (blockSize 1 MiB, 512-byte sectors). */
function changed(old: Uint8Array, zeroBlocks = true): Uint8Array {
  const next = old.slice();
  next.fill(0x5a, 0 * MiB + 7 * 512, 0 * MiB + 8 * 512); // one sector
  next.fill(0x11, 2 * MiB + 100 * 512, 2 * MiB + 300 * 512); // a run
  next.set(makeRaw(MiB, 'data', 77), 4 * MiB); // the whole block
  next[6 * MiB + 5] = (next[6 * MiB + 5]! + 1) & 0xff; // one byte: its sector
  if (zeroBlocks) next.fill(0, 8 * MiB, 9 * MiB); // all zero over data
  next.fill(0x22, next.length - 512); // the tail's last sector
  return next;
}

describe('planChildBlock: how a block is stored', () => {
  const sector = 512;
  const old = makeRaw(MiB, 'data', 3);
  it('unchanged: NOT_PRESENT; all zero over data: ZERO; every sector changed: FULLY_PRESENT', () => {
    expect(planChildBlock(old.slice(), old, sector).state).toBe(BlockState.NOT_PRESENT);
    expect(planChildBlock(new Uint8Array(MiB), old, sector).state).toBe(BlockState.ZERO);
    expect(
      planChildBlock(
        old.map((b) => b ^ 1),
        old,
        sector,
      ).state,
    ).toBe(BlockState.FULLY_PRESENT);
    expect(planChildBlock(new Uint8Array(MiB), new Uint8Array(MiB), sector).state).toBe(BlockState.NOT_PRESENT);
  });
  it('some sectors changed: PARTIALLY_PRESENT with exactly those sectors as runs', () => {
    const next = old.slice();
    for (const at of [3, 10 * 512, 11 * 512 + 511, MiB - 1]) next[at] = next[at]! ^ 1;
    expect(planChildBlock(next, old, sector)).toEqual({ state: BlockState.PARTIALLY_PRESENT, runs: [0, 1, 10, 12, 2047, 2048] });
    // unaligned views compare byte by byte, to the same result
    expect(changedSectorRuns(next.subarray(1, 1 + 4096), old.subarray(1, 1 + 4096), 512)).toEqual([0, 1]);
  });
});

describe('VhdxWriterStream({ parent }): children in memory', () => {
  const SIZE = 12 * MiB + 64 * 1024; // the last block is partial
  const disk = makeRaw(SIZE, 'mixed', 5);
  let parent: VhdxImage;
  let baseBytes: Uint8Array;

  it('an empty child reads as its parent, names it, and holds nothing but its structures', async () => {
    baseBytes = await encode(disk);
    parent = await openVhdx(baseBytes);
    const { file, summary } = await writeChild(parent, undefined);
    const child = await openVhdx(file, { parent });
    expect(child.info.type).toBe('differencing');
    expect(child.info.parentLocator).toEqual({ parent_linkage: `{${parent.info.dataWriteGuid}}`, relative_path: 'base.vhdx' });
    expect(child.info.chain.map((l) => l.parentLinkage)).toEqual(['ok', 'none']);
    expect(child.info.virtualDiskId).toBe(parent.info.virtualDiskId);
    expect(child.info.dataWriteGuid).not.toBe(parent.info.dataWriteGuid);
    expect(child.info.allocatedBlocks).toBe(0);
    expect(child.extents().every((e) => e.kind !== 'data' || e.level === 1)).toBe(true);
    expect(firstDifference(await child.read(0, SIZE), disk)).toBe(-1);
    // header section, log, metadata, BAT: 4 MiB
    expect(file.length).toBe(4 * MiB);
    expect(summary).toMatchObject({ blocksWritten: 0, fileSize: 4 * MiB, differencing: { fullyPresent: 0, partiallyPresent: 0, zero: 0 } });
    expect((await child.check()).ok).toBe(true);
  });

  it('a child of changes holds one block per changed block plus one bitmap, and reads as the new disk', async () => {
    const next = changed(disk);
    const { file, summary } = await writeChild(parent, next);
    expect(summary.differencing).toEqual({ fullyPresent: 1, partiallyPresent: 4, zero: 1, sectorBitmaps: 1 });
    expect(file.length).toBe(4 * MiB + 5 * MiB + MiB);
    expect(summary.fileSize).toBe(file.length);
    const child = await openVhdx(file, { parent });
    expect(firstDifference(await child.read(0, SIZE), next)).toBe(-1);
    expect((await child.check()).ok).toBe(true);
  });

  it('any chunking gives the same file', async () => {
    const next = changed(disk);
    const guids = { fileWrite: '11111111-1111-4111-8111-111111111111', dataWrite: '22222222-2222-4222-8222-222222222222' };
    const a = await writeChild(parent, next, [1 << 20], { guids });
    const b = await writeChild(parent, next, [7, 4093, 65_537, 3 << 20], { guids });
    expect(sha256(b.file)).toBe(sha256(a.file));
    // a target taking concurrent writes gets a partially present block's sectors all at once: the same file
    const c = await writeChild(parent, next, [1 << 20], { guids }, true);
    expect(sha256(c.file)).toBe(sha256(a.file));
  });

  it('a child of a 4096-byte-sector parent with 2 MiB blocks', async () => {
    const disk4k = makeRaw(8 * MiB, 'mixed', 9);
    const p = await openVhdx(await encode(disk4k, 2 * MiB, 4096));
    const next = disk4k.slice();
    next.fill(7, 3 * MiB + 4096, 3 * MiB + 8192);
    const { file, summary } = await writeChild(p, next);
    expect(summary.differencing).toEqual({ fullyPresent: 0, partiallyPresent: 1, zero: 0, sectorBitmaps: 1 });
    const child = await openVhdx(file, { parent: p });
    expect(child.info.logicalSectorSize).toBe(4096);
    expect(firstDifference(await child.read(0, next.length), next)).toBe(-1);
  });

  it('errors: input shorter or longer than the parent, options that contradict it, no parent image, no path to name', async () => {
    const short = new VhdxWriterStream(memoryTarget(), { parent, parentRelativePath: 'b.vhdx' });
    expect(await reasonOf(chunkedStream(disk.subarray(0, MiB)).pipeTo(short))).toBe('input-truncated');
    const long = new VhdxWriterStream(memoryTarget(), { parent, parentRelativePath: 'b.vhdx' });
    const more = new Uint8Array(SIZE + 512);
    expect(await reasonOf(chunkedStream(more).pipeTo(long))).toBe('input-too-long');
    const build = (o: object) => () => new VhdxWriterStream(memoryTarget(), { parent, parentRelativePath: 'b.vhdx', ...o });
    expect(await reasonOf(build({ virtualSize: SIZE + 512 }))).toBe('invalid-option');
    expect(await reasonOf(build({ logicalSectorSize: 4096 }))).toBe('invalid-option');
    expect(await reasonOf(build({ parent: baseBytes }))).toBe('invalid-option');
    // opened from bytes: nothing says where the parent is
    expect(await reasonOf(() => new VhdxWriterStream(memoryTarget(), { parent }))).toBe('invalid-option');
  });
});

describe('convertRawStreamToChild (Node entry): a child from a stream, written under a temporary name', () => {
  const SIZE = 10 * MiB + 512;
  const disk = makeRaw(SIZE, 'mixed', 12);
  const base = join(dir.path, 'stream-base.vhdx');
  const guids = { fileWrite: '11111111-1111-4111-8111-111111111111', dataWrite: '22222222-2222-4222-8222-222222222222' };

  it('a web stream and an async iterable give the file the raw file gives; short input reads as zeros past its end', async () => {
    writeFileSync(base, await encode(disk));
    const next = changed(disk);
    const rawPath = join(dir.path, 'stream-new.raw');
    writeFileSync(rawPath, next);
    const fromFile = join(dir.path, 'from-file.avhdx');
    const fromStream = join(dir.path, 'from-stream.avhdx');
    const fromIterable = join(dir.path, 'from-iterable.avhdx');
    await node.convertRawFileToChild(rawPath, fromFile, base, { guids });
    const progress: number[] = [];
    const summary = await node.convertRawStreamToChild(chunkedStream(next, [65_537]), fromStream, base, {
      guids,
      onProgress: (done, total) => {
        expect(total).toBe(SIZE);
        progress.push(done);
      },
    });
    // the one-sector tail block is changed whole (FULLY_PRESENT); this disk's block 8 was zero already
    expect(summary.differencing).toEqual({ fullyPresent: 2, partiallyPresent: 3, zero: 0, sectorBitmaps: 1 });
    expect(progress.at(-1)).toBe(SIZE);
    async function* pieces() {
      for (let at = 0; at < next.length; at += 3 * MiB) yield next.subarray(at, at + 3 * MiB);
    }
    await node.convertRawStreamToChild(pieces(), fromIterable, base, { guids });
    expect(sha256File(fromStream)).toBe(sha256File(fromFile));
    expect(sha256File(fromIterable)).toBe(sha256File(fromFile));
    // a stream that stops at 3 MiB: the rest of the child reads as zeros, over the parent's data
    const shortPath = join(dir.path, 'short.avhdx');
    await node.convertRawStreamToChild(chunkedStream(next.subarray(0, 3 * MiB)), shortPath, base);
    const child = await node.openVhdx(shortPath);
    const want = new Uint8Array(SIZE);
    want.set(next.subarray(0, 3 * MiB));
    expect(firstDifference(await child.read(0, SIZE), want)).toBe(-1);
    await child.close();
  });

  it('an output that is the parent or a parent of the parent (child), or a parent of the input (flatten), is refused before anything is written', async () => {
    const middle = join(dir.path, 'stream-middle.avhdx');
    await node.createChildFile(middle, base);
    const before = sha256File(base);
    expect(await reasonOf(node.createChildFile(base, base))).toBe('output-is-input');
    expect(await reasonOf(node.convertRawStreamToChild(chunkedStream(disk), base, middle))).toBe('output-is-input');
    expect(await reasonOf(node.convertRawFileToChild(join(dir.path, 'stream-new.raw'), middle, middle))).toBe('output-is-input');
    // flattening onto a parent of the input, and the Node writer onto its parent's chain
    const child = join(dir.path, 'stream-child.avhdx');
    await node.createChildFile(child, middle);
    expect(await reasonOf(node.convertVhdxFileToRaw(child, base))).toBe('output-is-input');
    expect(await reasonOf(node.convertVhdxFileToRaw(child, middle))).toBe('output-is-input');
    const parent = await node.openVhdx(middle);
    for (const out of [middle, base]) {
      const sink = new node.VhdxWriterStream(out, { parent });
      expect(await reasonOf(chunkedStream(disk).pipeTo(sink))).toBe('output-is-input');
    }
    await parent.close();
    expect(sha256File(base)).toBe(before);
    expect((await node.checkVhdx(middle)).ok).toBe(true);
  });

  it('input longer than the parent: input-too-long, and no file left', async () => {
    const out = join(dir.path, 'too-long.avhdx');
    expect(await reasonOf(node.convertRawStreamToChild(chunkedStream(new Uint8Array(SIZE + 512)), out, base))).toBe('input-too-long');
    expect(existsSync(out)).toBe(false);
  });
});

describe('convertRawFileToChild: block-sized reads by default', () => {
  const SIZE = 12 * MiB + 64 * 1024;
  const disk = makeRaw(SIZE, 'mixed', 5);

  it('whole-block reads (the default), odd read sizes and a raw file shorter than the disk give the same child', async () => {
    const base = join(dir.path, 'turns-base.vhdx');
    writeFileSync(base, await encode(disk));
    const next = changed(disk);
    const raw = join(dir.path, 'turns.raw');
    writeFileSync(raw, next);
    const guids = { fileWrite: '11111111-1111-4111-8111-111111111111', dataWrite: '22222222-2222-4222-8222-222222222222' };
    const made = async (name: string, input: string, chunkSize?: number) => {
      const out = join(dir.path, name);
      const summary = await node.convertRawFileToChild(input, out, base, { guids, ...(chunkSize ? { chunkSize } : {}) });
      const child = await node.openVhdx(out);
      const bytes = await child.read(0, SIZE);
      await child.close();
      return { summary, bytes, sha: sha256File(out) };
    };
    const whole = await made('turns-whole.avhdx', raw);
    expect(whole.summary.differencing).toEqual({ fullyPresent: 1, partiallyPresent: 4, zero: 1, sectorBitmaps: 1 });
    expect(firstDifference(whole.bytes, next)).toBe(-1);
    expect((await made('turns-odd.avhdx', raw, 3 * MiB + 512)).sha).toBe(whole.sha);
    expect((await made('turns-small.avhdx', raw, 64 * 1024)).sha).toBe(whole.sha);
    // the raw ends after 5.5 MiB of data: every later chunk reuses a buffer that held data and must read as zeros
    const short = join(dir.path, 'turns-short.raw');
    writeFileSync(short, next.subarray(0, 5 * MiB + MiB / 2));
    const shorter = await made('turns-short.avhdx', short);
    const want = next.slice();
    want.fill(0, 5 * MiB + MiB / 2);
    expect(firstDifference(shorter.bytes, want)).toBe(-1);
  });
});

/** Sha-256 of what `7zz e -so` extracts, hashed as it streams. */
function sevenZipStreamSha(file: string): string {
  const r = run('bash', ['-o', 'pipefail', '-c', `7zz e -so '${file}' | sha256sum`]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split(' ')[0]!;
}

describeWith(['qemu-img', '7zz', 'pyvhdi'], 'interop: children this library creates read as 7-Zip and libvhdi read them', () => {
  it('an empty child reads as its parent everywhere; in a subfolder it names ..\\base', async () => {
    const disk = makeRaw(16 * MiB + 4096, 'mixed', 21);
    const base = join(dir.path, 'empty-base.vhdx');
    writeFileSync(base, await encode(disk, 2 * MiB));
    const want = sha256(disk);
    const beside = join(dir.path, 'empty.avhdx');
    expect((await node.createChildFile(beside, base)).blocksWritten).toBe(0);
    expect(statSync(beside).size).toBe(4 * MiB);
    expect(sevenZipStreamSha(beside)).toBe(want);
    // libvhdi 20210425 does not read a NOT_PRESENT block from the parent when its chunk has no sector
    // bitmap block (SB_BLOCK_NOT_PRESENT), as an empty Hyper-V child has: many sectors read as zeros.
    // Children with a bitmap block in every chunk (any partially present block) read right in it (below).
    expect(pyvhdiRead(beside, base).sha256).not.toBe(want);

    mkdirSync(join(dir.path, 'snap'));
    const below = join(dir.path, 'snap', 'empty.avhdx');
    await node.createChildFile(below, base);
    const child = await node.openVhdx(below); // the parent found through the locator
    expect(child.info.parentLocator?.relative_path).toBe('..\\empty-base.vhdx');
    expect(child.info.blockSize).toBe(2 * MiB);
    expect(firstDifference(await child.read(0, disk.length), disk)).toBe(-1);
    await child.close();
    // 7-Zip 26 on Linux looks for the parent only beside the child ("Missing parent VHDX file : ..\\empty-base.vhdx")
  });

  it('the Node writer to a path: ZERO blocks read as zeros in 7-Zip and here, from the parent in libvhdi', async () => {
    const disk = makeRaw(12 * MiB + 64 * 1024, 'mixed', 5);
    const base = join(dir.path, 'zero-base.vhdx');
    writeFileSync(base, await encode(disk));
    const parent = await node.openVhdx(base);
    const next = changed(disk);
    const childPath = join(dir.path, 'zero.avhdx');
    const sink = new node.VhdxWriterStream(childPath, { parent });
    await chunkedStream(next, [65_536 * 3]).pipeTo(sink);
    expect((await sink.result).differencing?.zero).toBe(1);
    await parent.close();
    const child = await node.openVhdx(childPath);
    expect(child.info.parentLocator?.relative_path).toBe('zero-base.vhdx');
    expect(firstDifference(await child.read(0, next.length), next)).toBe(-1);
    await child.close();
    expect(sevenZipStreamSha(childPath)).toBe(sha256(next));
    // libvhdi 20210425 reads a child's ZERO block from the parent, against MS-VHDX 2.5.1.1
    const libvhdiRules = next.slice();
    libvhdiRules.set(disk.subarray(8 * MiB, 9 * MiB), 8 * MiB);
    expect(pyvhdiRead(childPath, base).sha256).toBe(sha256(libvhdiRules));
  });

  it('1 GiB disk, 1% of its blocks changed: the child is header, log, metadata, BAT, one bitmap and the 10 changed blocks', async () => {
    const GiB = 1024 * MiB;
    const baseRaw = join(dir.path, 'big-base.raw');
    const newRaw = join(dir.path, 'big-new.raw');
    const put = (fd: number, data: Uint8Array, at: number) => writeSync(fd, data, 0, data.length, at);
    const baseFd = openSync(baseRaw, 'w');
    const newFd = openSync(newRaw, 'w');
    ftruncateSync(baseFd, GiB);
    ftruncateSync(newFd, GiB);
    // data in 40 scattered blocks of the parent, the same in the new disk
    const dataBlocks = Array.from({ length: 40 }, (_, i) => i * 25 + 3);
    for (const b of dataBlocks) {
      const data = makeRaw(MiB, 'data', b);
      put(baseFd, data, b * MiB);
      put(newFd, data, b * MiB);
    }
    // 10 of 1024 blocks changed: single sectors, runs, whole blocks, data in a parent's hole
    const sector = new Uint8Array(512).fill(0xc3);
    for (const b of dataBlocks.slice(0, 3)) put(newFd, sector, b * MiB + 17 * 512);
    for (const b of dataBlocks.slice(3, 5)) put(newFd, new Uint8Array(40 * 512).fill(0x3c), b * MiB + 1000 * 512);
    for (const b of dataBlocks.slice(5, 7)) put(newFd, makeRaw(MiB, 'data', 1000 + b), b * MiB);
    for (const b of [500, 777, 1023]) put(newFd, sector, b * MiB + MiB - 512);
    closeSync(baseFd);
    closeSync(newFd);
    const base = join(dir.path, 'big-base.vhdx');
    await node.convertRawFileToVhdx(baseRaw, base, { blockSize: MiB });
    const childPath = join(dir.path, 'big.avhdx');
    const summary = await node.convertRawFileToChild(newRaw, childPath, base);
    expect(summary.differencing).toEqual({ fullyPresent: 2, partiallyPresent: 8, zero: 0, sectorBitmaps: 1 });
    // header section 1 MiB, log 1 MiB, metadata 1 MiB, BAT 1 MiB, one sector bitmap 1 MiB, 10 blocks of 1 MiB
    expect(statSync(childPath).size).toBe(4 * MiB + MiB + 10 * MiB);
    expect(summary.fileSize).toBe(15 * MiB);
    const want = sha256File(newRaw);
    const flat = join(dir.path, 'big-flat.raw');
    await node.convertVhdxFileToRaw(childPath, flat);
    expect(sha256File(flat)).toBe(want);
    const compared = run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', flat, newRaw]);
    expect(compared.status, compared.stdout + compared.stderr).toBe(0);
    expect(sevenZipStreamSha(childPath)).toBe(want);
    expect(pyvhdiRead(childPath, base).sha256).toBe(want); // no ZERO blocks: libvhdi agrees
  }, 120_000);
});
