// findUnusedRanges() over real ext4 filesystems (mkfs.ext4 + debugfs), whole
// disks and partitions: what it reports free is zeroed in a copy, and then
// e2fsck must find the filesystem clean and every kept file must read the same.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { VhdxError } from '../src/errors.js';
import { type DiskRange, type GuestReport, findUnusedRanges } from '../src/guest/index.js';
import {
  MiB,
  type Populated,
  blockBitmaps,
  debugfs,
  describeWithE2fsprogs,
  dumpe2fs,
  dumpFiles,
  filesBlocks,
  fsck,
  mkfs,
  populate,
  refreshGptHeaderCrc,
  writeGpt,
  writeMbr,
} from './helpers/guest.js';
import { tempDir } from './helpers/tools.js';
import { crc32c } from '@node-rs/crc32';

const work = tempDir('vhdx-guest-');
afterAll(() => work.cleanup());

const reader = (disk: Uint8Array) => async (offset: number, length: number) => disk.subarray(offset, offset + length);

function inside(ranges: DiskRange[], at: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (at < r.offset) hi = mid - 1;
    else if (at >= r.offset + r.length) lo = mid + 1;
    else return true;
  }
  return false;
}

interface Fs {
  image: string;
  bytes: Buffer;
  blockSize: number;
  pop: Populated;
}

let counter = 0;
/** A filesystem image with files written and every other one deleted. */
function makeFs(sizeMiB: number, args: string[], files = 24): Fs {
  const image = join(work.path, `fs-${counter++}.img`);
  mkfs(image, sizeMiB, args);
  const pop = populate(image, work.path, files, counter * 7919);
  return { image, bytes: readFileSync(image), blockSize: blockBitmaps(image).blockSize, pop };
}

/** A disk holding `fs` at byte `at`, with room after it. */
function diskWith(fs: Fs, at: number, tail = MiB): Uint8Array {
  const disk = new Uint8Array(at + fs.bytes.length + tail);
  disk.set(fs.bytes, at);
  return disk;
}

/**
 * The checks every trimmed filesystem must pass: free ranges inside the
 * filesystem, aligned, never over a kept file's block; zeroed, e2fsck -fn is
 * clean and every kept file dumps the same. Returns the share of the deleted
 * files' blocks reported free.
 */
async function checkTrim(report: GuestReport, disk: Uint8Array, fs: Fs, at: number): Promise<number> {
  const part = report.partitions.find((p) => p.offset === at)!;
  expect(part.filesystem).toBe('ext4');
  if (part.verdict.kind !== 'trimmed') throw new Error(`not trimmed: ${JSON.stringify(part.verdict)}`);
  const free = part.verdict.free;
  expect(free.length).toBeGreaterThan(0);
  let prevEnd = 0;
  for (const r of free) {
    expect(r.offset % 4096).toBe(0);
    expect(r.length % 4096).toBe(0);
    expect(r.length).toBeGreaterThanOrEqual(64 * 1024);
    expect(r.offset).toBeGreaterThan(prevEnd - 1);
    expect(r.offset).toBeGreaterThanOrEqual(at);
    expect(r.offset + r.length).toBeLessThanOrEqual(at + fs.bytes.length);
    prevEnd = r.offset + r.length;
  }
  const keptBlocks = filesBlocks(fs.image, [...fs.pop.kept.keys()]);
  expect(keptBlocks.length).toBeGreaterThan(0);
  expect(keptBlocks.filter((b) => inside(free, at + b * fs.blockSize))).toEqual([]);
  const zeroed = Buffer.from(disk.subarray(at, at + fs.bytes.length));
  for (const r of free) zeroed.fill(0, r.offset - at, r.offset - at + r.length);
  const out = join(work.path, `zeroed-${counter++}.img`);
  writeFileSync(out, zeroed);
  const check = fsck(out);
  expect(check.output).not.toMatch(/Fix\?|corrupt|Bad|wrong/i);
  expect(check.status).toBe(0);
  const dumped = dumpFiles(out, [...fs.pop.kept.keys()], work.path);
  for (const [name, data] of fs.pop.kept) expect(dumped.get(name)!.equals(data), name).toBe(true);
  const fsFree = Number(/Free blocks:\s+(\d+)/.exec(dumpe2fs(fs.image, true))![1]);
  expect(part.verdict.filesystemFreeBytes).toBe(fsFree * fs.blockSize);
  let reclaimed = 0;
  for (const b of fs.pop.deletedBlocks) if (inside(free, at + b * fs.blockSize)) reclaimed++;
  return reclaimed / fs.pop.deletedBlocks.length;
}

describeWithE2fsprogs('findUnusedRanges on real ext4', () => {
  const variants: [string, number, string[]][] = [
    ['4 KiB blocks, 64bit, flex_bg, metadata_csum', 256, ['-b', '4096']],
    ['1 KiB blocks', 128, ['-b', '1024']],
    ['-O ^64bit (32-byte descriptors, 16-bit bitmap checksums)', 96, ['-O', '^64bit']],
    ['-O ^flex_bg (each group holds its own bitmaps)', 128, ['-O', '^flex_bg']],
    ['-O sparse_super2 (backups in two groups only)', 128, ['-O', 'sparse_super2']],
    ['-O ^metadata_csum,uninit_bg (gdt_csum, CRC-16 descriptors)', 128, ['-O', '^metadata_csum,uninit_bg']],
    ['-O ^metadata_csum,uninit_bg,^64bit', 96, ['-O', '^metadata_csum,uninit_bg,^64bit']],
  ];
  for (const [title, size, args] of variants) {
    it(`whole disk, ${title}: zeroing the free ranges keeps e2fsck clean and every kept file`, async () => {
      const fs = makeFs(size, args);
      const disk = diskWith(fs, 0, 0);
      const report = await findUnusedRanges(reader(disk), disk.length);
      expect(report.table).toBe('none');
      expect(report.partitions).toHaveLength(1);
      const share = await checkTrim(report, disk, fs, 0);
      console.log(`[fs-trim] ${title}: ${(share * 100).toFixed(1)}% of the deleted files' blocks reported free`);
      expect(share).toBeGreaterThan(0.9);
    });
  }

  it('inside a GPT partition (512-byte sectors), beside an unformatted partition', async () => {
    const fs = makeFs(128, []);
    const at = MiB;
    const disk = diskWith(fs, at, 4 * MiB);
    writeGpt(disk, 512, [
      { firstLba: at / 512, sectors: fs.bytes.length / 512, name: 'root' },
      { firstLba: (at + fs.bytes.length) / 512, sectors: 2048 },
    ]);
    const report = await findUnusedRanges(reader(disk), disk.length);
    expect(report.table).toBe('gpt');
    expect(report.sectorSize).toBe(512);
    expect(report.partitions.map((p) => [p.index, p.name, p.filesystem, p.verdict.kind])).toEqual([
      [1, 'root', 'ext4', 'trimmed'],
      [2, 'part2', 'unknown', 'skipped'],
    ]);
    expect(report.partitions[0]!.type).toBe('0fc63daf-8483-4772-8e79-3d69d8477de4');
    expect(await checkTrim(report, disk, fs, at)).toBeGreaterThan(0.9);
    expect(report.free).toEqual(report.partitions[0]!.verdict.kind === 'trimmed' ? report.partitions[0]!.verdict.free : []);
  });

  it('inside a GPT partition with 4096-byte sectors', async () => {
    const fs = makeFs(64, ['-b', '4096'], 12);
    const at = MiB;
    const disk = diskWith(fs, at);
    writeGpt(disk, 4096, [{ firstLba: at / 4096, sectors: fs.bytes.length / 4096 }]);
    const report = await findUnusedRanges(reader(disk), disk.length);
    expect(report.table).toBe('gpt');
    expect(report.sectorSize).toBe(4096);
    expect(await checkTrim(report, disk, fs, at)).toBeGreaterThan(0.9);
  });

  it('in an MBR primary partition and in a logical partition down the EBR chain', async () => {
    const a = makeFs(64, [], 8);
    const b = makeFs(64, ['-b', '4096'], 8);
    const aAt = MiB;
    const extAt = aAt + a.bytes.length;
    const bAt = extAt + MiB;
    const disk = new Uint8Array(bAt + b.bytes.length + MiB);
    disk.set(a.bytes, aAt);
    disk.set(b.bytes, bAt);
    const extSectors = (disk.length - extAt) / 512;
    writeMbr(disk, 0, [
      { type: 0x83, start: aAt / 512, count: a.bytes.length / 512 },
      { type: 0x05, start: extAt / 512, count: extSectors },
    ]);
    writeMbr(disk, extAt / 512, [{ type: 0x83, start: MiB / 512, count: b.bytes.length / 512 }]);
    const report = await findUnusedRanges(reader(disk), disk.length);
    expect(report.table).toBe('mbr');
    expect(report.partitions.map((p) => [p.index, p.type, p.filesystem, p.verdict.kind])).toEqual([
      [1, '83', 'ext4', 'trimmed'],
      [5, '83', 'ext4', 'trimmed'],
    ]);
    await checkTrim(report, disk, a, aAt);
    await checkTrim(report, disk, b, bAt);
    expect(report.trimmed).toBe(2);
    const sum = report.partitions.reduce((n, p) => n + (p.verdict.kind === 'trimmed' ? p.verdict.freeBytes : 0), 0);
    expect(report.freeBytes).toBe(sum);
  });
});

/** ext4's superblock checksum (CRC-32C register from ~0, not inverted), computed here with another library. */
function fixSuperblockChecksum(disk: Uint8Array, at: number): void {
  const sb = disk.subarray(at + 1024, at + 2048);
  new DataView(sb.buffer, sb.byteOffset, 1024).setUint32(0x3fc, ~crc32c(sb.subarray(0, 0x3fc)) >>> 0, true);
}

function patchU32(disk: Uint8Array, at: number, f: (v: number) => number): void {
  const dv = new DataView(disk.buffer, disk.byteOffset, disk.byteLength);
  dv.setUint32(at, f(dv.getUint32(at, true)) >>> 0, true);
}

async function verdictOf(disk: Uint8Array) {
  const report = await findUnusedRanges(reader(disk), disk.length);
  expect(report.free).toEqual([]);
  expect(report.freeBytes).toBe(0);
  return report.partitions[0]!;
}

async function refusalOf(disk: Uint8Array): Promise<string> {
  const p = await verdictOf(disk);
  if (p.verdict.kind !== 'refused') throw new Error(`not refused: ${JSON.stringify(p.verdict).slice(0, 300)}`);
  return p.verdict.reason;
}

/** An image file's bytes after debugfs `commands` ran on a copy of it. */
function afterDebugfs(fs: Fs, commands: string[]): Uint8Array {
  const copy = join(work.path, `copy-${counter++}.img`);
  writeFileSync(copy, fs.bytes);
  debugfs(copy, commands);
  return new Uint8Array(readFileSync(copy));
}

describeWithE2fsprogs('findUnusedRanges refuses what it cannot vouch for', () => {
  let csum: Fs; // metadata_csum, 1 KiB blocks
  let gdt: Fs; // gdt_csum (no superblock checksum)
  beforeAll(() => {
    csum = makeFs(64, [], 8);
    gdt = makeFs(64, ['-O', '^metadata_csum,uninit_bg'], 8);
  });
  const copyOf = (fs: Fs): Uint8Array => new Uint8Array(fs.bytes);

  it('a filesystem marked not clean (debugfs ssv state 0, and patched bytes)', async () => {
    expect(await refusalOf(afterDebugfs(csum, ['ssv state 0']))).toBe('not-clean');
    const patched = copyOf(gdt);
    patched[1024 + 0x3a] = 0x3; // valid + errors
    expect(await refusalOf(patched)).toBe('not-clean');
  });

  it('a journal that needs recovery', async () => {
    expect(await refusalOf(afterDebugfs(csum, ['feature needs_recovery']))).toBe('recovery-needed');
  });

  it('an unknown incompat or ro_compat flag, with the checksum fixed or not', async () => {
    const unfixed = copyOf(csum);
    patchU32(unfixed, 1024 + 0x60, (v) => v | 0x100000);
    expect(await refusalOf(unfixed)).toBe('superblock-checksum');
    const fixed = copyOf(csum);
    patchU32(fixed, 1024 + 0x60, (v) => v | 0x100000);
    fixSuperblockChecksum(fixed, 0);
    const p = await verdictOf(fixed);
    expect(p.verdict).toMatchObject({ kind: 'refused', reason: 'unknown-feature' });
    expect(p.verdict.kind === 'refused' && p.verdict.message).toContain('incompat 0x100000');
    const ro = copyOf(gdt); // no superblock checksum to fix
    patchU32(ro, 1024 + 0x64, (v) => v | 0x40000000);
    expect(await refusalOf(ro)).toBe('unknown-feature');
  });

  it('known features it does not read: bigalloc, meta_bg', async () => {
    for (const args of [
      ['-O', 'bigalloc', '-b', '4096'],
      ['-O', 'meta_bg,^resize_inode'],
    ]) {
      const image = join(work.path, `feat-${counter++}.img`);
      mkfs(image, 64, args);
      expect(await refusalOf(new Uint8Array(readFileSync(image)))).toBe('unsupported-feature');
    }
  });

  it('descriptors without checksums (-O ^metadata_csum: neither gdt_csum nor metadata_csum)', async () => {
    const image = join(work.path, `nocsum-${counter++}.img`);
    mkfs(image, 64, ['-O', '^metadata_csum']);
    expect(await refusalOf(new Uint8Array(readFileSync(image)))).toBe('descriptors-unchecked');
  });

  it('a damaged group descriptor (CRC-32C and CRC-16)', async () => {
    for (const fs of [csum, gdt]) {
      const disk = copyOf(fs);
      const gdtAt = 2 * fs.blockSize; // 1 KiB blocks: the table starts at block 2
      disk[gdtAt + 64 + 0xc]! ^= 0x01; // group 1's free count
      expect(await refusalOf(disk)).toBe('descriptor-checksum');
    }
  });

  it('a damaged block bitmap: its checksum (metadata_csum) or its count (gdt_csum)', async () => {
    const damaged = (fs: Fs): Uint8Array => {
      const disk = copyOf(fs);
      const at = blockBitmaps(fs.image).bitmaps[0]! * fs.blockSize;
      disk[at + 600]! ^= 0x10;
      return disk;
    };
    expect(await refusalOf(damaged(csum))).toBe('bitmap-checksum');
    expect(await refusalOf(damaged(gdt))).toBe('free-count-mismatch');
  });

  it('a superblock free count that differs from the descriptors', async () => {
    const disk = copyOf(gdt);
    patchU32(disk, 1024 + 0xc, (v) => v + 1);
    expect(await refusalOf(disk)).toBe('free-count-mismatch');
  });

  it('a filesystem larger than its partition', async () => {
    const disk = diskWith(gdt, MiB);
    writeGpt(disk, 512, [{ firstLba: 2048, sectors: gdt.bytes.length / 512 - 2048 }]);
    expect(await refusalOf(disk)).toBe('outside-region');
  });

  it('a GPT with a damaged header or entry array, or overlapping partitions', async () => {
    const base = diskWith(gdt, MiB);
    const parts = [{ firstLba: 2048, sectors: gdt.bytes.length / 512 }];
    const header = new Uint8Array(base);
    writeGpt(header, 512, parts);
    header[512 + 40]! ^= 1; // first usable LBA, CRC not refreshed
    expect(await refusalOf(header)).toBe('table-damaged');
    // a valid header whose usable LBAs start past the partition: the partition overlaps the table's space
    new DataView(header.buffer).setUint32(512 + 40, 4096, true);
    refreshGptHeaderCrc(header, 512);
    expect(await refusalOf(header)).toBe('partition-overlap');
    const array = new Uint8Array(base);
    writeGpt(array, 512, parts);
    array[1024 + 56]! ^= 1; // a byte of entry 1's name
    expect(await refusalOf(array)).toBe('table-damaged');
    const refused = await findUnusedRanges(reader(array), array.length);
    expect([refused.table, refused.refused, refused.partitions[0]!.offset, refused.partitions[0]!.length]).toEqual([
      'gpt',
      1,
      0,
      array.length,
    ]);
    const overlap = new Uint8Array(base);
    writeGpt(overlap, 512, [...parts, { firstLba: 4096, sectors: 2048 }]);
    const report = await findUnusedRanges(reader(overlap), overlap.length);
    expect(report.partitions.map((p) => p.verdict.kind === 'refused' && p.verdict.reason)).toEqual([
      'partition-overlap',
      'partition-overlap',
    ]);
    expect(report.free).toEqual([]);
  });

  it('an MBR over a whole-disk filesystem (ambiguous), and a looping EBR chain', async () => {
    const ambiguous = copyOf(gdt);
    writeMbr(ambiguous, 0, [{ type: 0x83, start: 2048, count: 2048 }]);
    expect(await refusalOf(ambiguous)).toBe('table-ambiguous');
    const loop = diskWith(gdt, MiB);
    writeMbr(loop, 0, [{ type: 0x05, start: 2048, count: loop.length / 512 - 2048 }]);
    writeMbr(loop, 2048, [
      { type: 0x83, start: 1, count: 100 },
      { type: 0x05, start: 0, count: 1 },
    ]);
    expect(await refusalOf(loop)).toBe('table-damaged');
  });
});

describeWithE2fsprogs('findUnusedRanges: reads, options and limits', () => {
  let fs: Fs;
  beforeAll(() => {
    fs = makeFs(256, ['-b', '4096'], 16);
  });

  it('a failing or short read is a VhdxError (read-failed); bad options are invalid-option', async () => {
    const disk = new Uint8Array(fs.bytes);
    const failing = async (offset: number): Promise<Uint8Array> => {
      if (offset > 8192) throw new Error('device gone');
      return disk.subarray(offset, offset + 4096);
    };
    await expect(findUnusedRanges(failing, disk.length)).rejects.toMatchObject({ name: 'VhdxError', reason: 'read-failed' });
    const short = async (offset: number, length: number) => disk.subarray(offset, offset + Math.min(length, 1024));
    await expect(findUnusedRanges(short, disk.length)).rejects.toBeInstanceOf(VhdxError);
    for (const options of [{ minRunBytes: 100 }, { maxBufferBytes: 1024 }, { maxRanges: -1 }, { sectorSize: 1024 as 512 }]) {
      await expect(findUnusedRanges(reader(disk), disk.length, options)).rejects.toMatchObject({ reason: 'invalid-option' });
    }
  });

  it('never asks for more than maxBufferBytes at once, and finds the same ranges', async () => {
    const disk = new Uint8Array(fs.bytes);
    const whole = await findUnusedRanges(reader(disk), disk.length);
    let largest = 0;
    let reads = 0;
    const counting = async (offset: number, length: number) => {
      largest = Math.max(largest, length);
      reads++;
      return disk.subarray(offset, offset + length);
    };
    const bounded = await findUnusedRanges(counting, disk.length, { maxBufferBytes: 128 * 1024 });
    expect(largest).toBeLessThanOrEqual(64 * 1024);
    expect(bounded.free).toEqual(whole.free);
    expect(reads).toBeGreaterThan(2);
  });

  it('maxRanges caps the list (the rest is left alone and counted); minRunBytes drops short runs', async () => {
    const disk = new Uint8Array(fs.bytes);
    const all = await findUnusedRanges(reader(disk), disk.length, { minRunBytes: 4096 });
    const capped = await findUnusedRanges(reader(disk), disk.length, { minRunBytes: 4096, maxRanges: 2 });
    expect(all.free.length).toBeGreaterThan(2);
    expect(capped.free).toEqual(all.free.slice(0, 2));
    const v = capped.partitions[0]!.verdict;
    expect(v.kind === 'trimmed' && v.rangesDropped).toBe(all.free.length - 2);
    const large = await findUnusedRanges(reader(disk), disk.length, { minRunBytes: 8 * MiB });
    expect(large.free.every((r) => r.length >= 8 * MiB)).toBe(true);
    expect(large.freeBytes).toBeLessThan(all.freeBytes);
  });
});

const TRIALS = 500;

describeWithE2fsprogs('findUnusedRanges under damage (seeded)', () => {
  /**
   * Random byte changes in the superblock, the descriptor table and (where
   * checksummed) the block bitmaps of a real filesystem never make a block
   * of a kept file, or any block the intact filesystem uses, come out free.
   * Without metadata_csum a bitmap has no checksum, only its count: a change
   * that keeps the count cannot be seen, so there only the superblock and
   * descriptors are changed (docs/fs-trim.md says so).
   */
  const cases: [string, string[], boolean][] = [
    ['metadata_csum, 1 KiB blocks', [], true],
    ['metadata_csum, ^64bit', ['-O', '^64bit'], true],
    ['gdt_csum', ['-O', '^metadata_csum,uninit_bg'], false],
  ];
  for (const [title, args, bitmapsToo] of cases) {
    it(`${title}: ${TRIALS} damaged copies, no used block reported free`, async () => {
      const fs = makeFs(64, args, 10);
      const disk = new Uint8Array(fs.bytes);
      const baseline = await findUnusedRanges(reader(disk), disk.length, { minRunBytes: 4096 });
      expect(baseline.trimmed).toBe(1);
      const kept = filesBlocks(fs.image, [...fs.pop.kept.keys()]).map((b) => b * fs.blockSize);
      const { bitmaps } = blockBitmaps(fs.image);
      const gdtBytes = Math.ceil((bitmaps.length * (args.includes('^64bit') ? 32 : 64)) / fs.blockSize) * fs.blockSize;
      const targets: [number, number][] = [
        [1024, 1024],
        [(fs.blockSize === 1024 ? 2 : 1) * fs.blockSize, gdtBytes],
        ...(bitmapsToo ? bitmaps.map((b): [number, number] => [b * fs.blockSize, fs.blockSize]) : []),
      ];
      const targetBytes = targets.reduce((n, [, len]) => n + len, 0);
      let seed = 0x9e3779b9;
      const rand = (n: number): number => {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) % n;
      };
      const outcomes = new Map<string, number>();
      for (let trial = 0; trial < TRIALS; trial++) {
        const patches = new Map<number, number>();
        for (let k = 1 + rand(3); k > 0; k--) {
          let pick = rand(targetBytes);
          let t = 0;
          while (pick >= targets[t]![1]) pick -= targets[t++]![1];
          const at = targets[t]![0] + pick;
          patches.set(at, disk[at]! ^ (1 + rand(255)));
        }
        const damaged = async (offset: number, length: number): Promise<Uint8Array> => {
          const bytes = disk.slice(offset, offset + length);
          for (const [at, v] of patches) if (at >= offset && at < offset + length) bytes[at - offset] = v;
          return bytes;
        };
        const report = await findUnusedRanges(damaged, disk.length, { minRunBytes: 4096 });
        const v = report.partitions[0]!.verdict;
        const key = v.kind === 'refused' ? v.reason : v.kind;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        const keptFree = kept.filter((at) => inside(report.free, at));
        const notFreeBefore = report.free.filter(
          (r) => !inside(baseline.free, r.offset) || !inside(baseline.free, r.offset + r.length - 1),
        );
        expect({ trial, keptFree, notFreeBefore }).toEqual({ trial, keptFree: [], notFreeBefore: [] });
      }
      console.log(`[fs-trim fuzz] ${title}: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      expect(outcomes.get('trimmed') ?? 0).toBeLessThan(TRIALS);
    });
  }
});
