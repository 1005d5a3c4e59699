// compact --fs-trim: the free space of an ext4 filesystem inside the disk is
// discarded with the all-zero blocks; the filesystem stays sound (e2fsck) and
// every file left reads the same; a filesystem not cleanly unmounted is refused.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compactVhdx, convertRawFileToVhdx, convertVhdxFileToRaw } from '../src/node/index.js';
import { debugfs, describeWithE2fsprogs, dumpFiles, fsck, MiB, mkfs, populate, type Populated } from './helpers/guest.js';
import { tempDir } from './helpers/tools.js';

const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;

describeWithE2fsprogs('compact --fs-trim', () => {
  const dir = tempDir('vhdx-fstrim-');
  const raw = join(dir.path, 'disk.raw');
  let files: Populated;
  beforeAll(() => {
    mkfs(raw, 96);
    files = populate(raw, dir.path, 40, 7);
  });
  afterAll(() => dir.cleanup());

  /** A fresh VHDX of the disk as it is now (1 MiB blocks: the deleted files' blocks are stored, full of old data). */
  async function vhdxOf(name: string, from = raw): Promise<string> {
    const out = join(dir.path, name);
    await convertRawFileToVhdx(from, out, { blockSize: MiB });
    return out;
  }

  it('reclaims the blocks the filesystem does not use; e2fsck is clean and every file left reads the same', async () => {
    const vhdx = await vhdxOf('trim.vhdx');
    const plain = await compactVhdx(vhdx, { dryRun: true });
    const preview = await compactVhdx(vhdx, { dryRun: true, fsTrim: true });
    expect(preview.fsTrim?.partitions).toHaveLength(1);
    expect(preview.fsTrim?.partitions[0]).toMatchObject({ index: 0, filesystem: 'ext4', verdict: { kind: 'trimmed' } });
    // the deleted files' blocks hold old data, so only the filesystem knows they are free; a VHDX
    // block gives up its space only when wholly free (files of 64 KiB..3 MiB, every other one deleted)
    const gained = preview.reclaimedBytes - plain.reclaimedBytes;
    expect(gained).toBeGreaterThanOrEqual(4 * MiB);
    expect(gained).toBeLessThanOrEqual(files.deletedBytes + MiB);

    const done = await compactVhdx(vhdx, { fsTrim: true });
    expect(done.reclaimedBytes).toBe(preview.reclaimedBytes);
    const back = join(dir.path, 'trim-back.raw');
    await convertVhdxFileToRaw(vhdx, back);
    const check = fsck(back);
    expect(check.status, check.output).toBe(0);
    const dumped = dumpFiles(back, [...files.kept.keys()], dir.path);
    for (const [name, data] of files.kept) expect(Buffer.compare(dumped.get(name)!, data), name).toBe(0);
    expect(spawnSync('qemu-img', ['check', '-f', 'vhdx', vhdx]).status).toBe(0);
  });

  it('refuses a filesystem that was not cleanly unmounted: only all-zero blocks are reclaimed', async () => {
    const dirty = join(dir.path, 'dirty.raw');
    copyFileSync(raw, dirty);
    debugfs(dirty, ['ssv state 0']);
    const vhdx = await vhdxOf('dirty.vhdx', dirty);
    const before = readFileSync(vhdx);
    const plain = await compactVhdx(vhdx, { dryRun: true });
    const trimmed = await compactVhdx(vhdx, { dryRun: true, fsTrim: true });
    expect(trimmed.fsTrim?.partitions[0]?.verdict).toMatchObject({ kind: 'refused', reason: 'not-clean' });
    expect(trimmed.reclaimedBytes).toBe(plain.reclaimedBytes);
    expect(Buffer.compare(readFileSync(vhdx), before)).toBe(0); // a dry run writes nothing
  });

  it('the command line says per partition what it found (dry run)', async () => {
    const vhdx = await vhdxOf('cli.vhdx');
    const r = spawnSync(process.execPath, [BIN, 'compact', vhdx, '--fs-trim', '--dry-run'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/would reclaim \d+ bytes/);
    expect(r.stdout).toMatch(
      /filesystems \(partition table: none\):\n {2}whole disk at 0, .*: ext4, .* unused; the blocks wholly inside it would be discarded/,
    );
  });
});
