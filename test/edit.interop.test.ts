// Writing into VHDX files in place, checked against QEMU 7.2, 7-Zip and
// libvhdi: QEMU writes then this project, this project then QEMU, and dirty
// files QEMU itself leaves (blkdebug error injection, vhdx-facts.md "Dirty
// fixtures") repaired by a writable open as `qemu-img check -r all` repairs them.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { commitVhdx, compactVhdx, openVhdx } from '../src/node/index.js';
import { buildChild, dataWriteGuidOf, type ChildBlock } from './helpers/differencing.js';
import { pseudoRandomBytes } from './helpers/reference.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, pyvhdiRead, run, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const tmp = tempDir('vhdx-edit-');
afterAll(() => tmp.cleanup());

function ok(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} -> ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The disk as qemu-img reads it. */
function qemuDisk(path: string): Buffer {
  ok('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', path, `${path}.raw`]);
  return readFileSync(`${path}.raw`);
}

function newImage(name: string, size = 64 * MiB): string {
  const path = join(tmp.path, name);
  ok('qemu-img', ['create', '-q', '-f', 'vhdx', path, String(size)]);
  return path;
}

/** A file QEMU leaves when its `pwritev` at `sector` fails once (blkdebug). */
function qemuDirty(name: string, sector: number): string {
  const path = newImage(name);
  const cfg = join(tmp.path, `${name}.blkdebug`);
  writeFileSync(cfg, `[inject-error]\nevent = "pwritev"\nsector = "${sector}"\nerrno = "5"\nonce = "on"\n`);
  const r = spawnSync('qemu-io', ['-c', 'write -P 0xab 0 64k', `blkdebug:${cfg}:${path}`], { encoding: 'utf8' });
  expect(r.status).not.toBe(0); // the injected error
  return path;
}

describeWith(['qemu-img', '7zz', 'pyvhdi'], 'writing in place, beside QEMU, 7-Zip and libvhdi', () => {
  it('QEMU writes, this project writes and discards, QEMU, 7-Zip and libvhdi read the same disk', async () => {
    const path = newImage('qemu-first.vhdx');
    ok('qemu-io', ['-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 20M 1M', path]);
    const image = await openVhdx(path, { writable: true });
    expect(image.writable).toBe(true);
    await image.write(5 * MiB + 100, new Uint8Array(70_000).fill(0x11)); // a new block, partial sectors at both ends
    await image.write(32 * KiB, new Uint8Array(4 * KiB).fill(0x22)); // over QEMU's data
    await image.discard(20 * MiB + 512 * KiB, 256 * KiB); // part of a block: zeros written
    await image.discard(40 * MiB, 24 * MiB); // whole blocks (untouched: nothing to do)
    await image.close();
    ok('qemu-io', [
      '-r',
      '-c',
      'read -P 0xab 0 32k',
      '-c',
      'read -P 0x22 32k 4k',
      '-c',
      'read -P 0xab 36k 28k',
      '-c',
      'read -P 0x11 5242980 70000',
      '-c',
      'read -P 0xcd 20M 512k',
      '-c',
      'read -P 0 20992k 256k',
      '-c',
      'read -P 0xcd 21248k 256k',
      path,
    ]);
    expect(ok('qemu-img', ['check', path])).toContain('No errors');
    expect(run('7zz', ['t', path]).status).toBe(0);
    const disk = qemuDisk(path);
    const ours = await openVhdx(path);
    expect(ours.info.log.state).toBe('clean');
    expect(sha256(await ours.read(0, disk.length))).toBe(sha256(disk));
    await ours.close();
    expect(sevenZipSha256(path).sha256).toBe(sha256(disk));
    expect(pyvhdiRead(path).sha256).toBe(sha256(disk));
  });

  it('this project writes, then QEMU writes and this project reads what qemu-img reads', async () => {
    const path = newImage('ours-first.vhdx');
    const image = await openVhdx(path, { writable: true });
    await image.write(MiB - 300, new Uint8Array(9 * MiB).fill(0x5a)); // across blocks
    await image.write(63 * MiB + 17, new Uint8Array([1, 2, 3]));
    await image.close();
    ok('qemu-io', ['-c', 'write -P 0x77 2M 8k', '-c', 'write -P 0x66 30M 64k', path]);
    expect(ok('qemu-img', ['check', path])).toContain('No errors');
    const disk = qemuDisk(path);
    const ours = await openVhdx(path);
    expect(sha256(await ours.read(0, disk.length))).toBe(sha256(disk));
    expect([...(await ours.read(63 * MiB + 16, 5))]).toEqual([0, 1, 2, 3, 0]);
    await ours.close();
    // and this project writes once more over QEMU's blocks
    const again = await openVhdx(path, { writable: true });
    await again.write(2 * MiB + 4 * KiB, new Uint8Array(512).fill(0x99));
    await again.close();
    ok('qemu-io', ['-r', '-c', 'read -P 0x77 2M 4k', '-c', 'read -P 0x99 2052k 512', '-c', 'read -P 0x77 2101760 3584', path]);
    expect(run('7zz', ['t', path]).status).toBe(0);
  });

  it('a differencing child written by this project reads the same through 7-Zip (the parent beside it, never written)', async () => {
    const parentRaw = new Uint8Array(8 * MiB).fill(0x31);
    const parent = buildSynthetic({ raw: parentRaw });
    const parentPath = join(tmp.path, 'base.vhdx');
    writeFileSync(parentPath, parent);
    const blocks = new Map<number, ChildBlock>([[3, { state: 'full', data: new Uint8Array(MiB).fill(0x42) }]]);
    const childPath = join(tmp.path, 'child.avhdx');
    writeFileSync(
      childPath,
      buildChild({
        virtualSize: 8 * MiB,
        blockSize: MiB,
        lss: 512,
        parentLinkage: dataWriteGuidOf(parent),
        relativePath: 'base.vhdx',
        blocks,
      }),
    );
    const image = await openVhdx(childPath, { writable: true });
    await image.write(MiB + 4096 + 3, new Uint8Array(5000).fill(0x55)); // PARTIALLY_PRESENT: the parent around it
    await image.write(3 * MiB + 10, new Uint8Array(10).fill(0x66)); // the child's own block
    await image.discard(5 * MiB, MiB); // ZERO: the parent must not show
    await image.close();
    expect(sha256(readFileSync(parentPath))).toBe(sha256(parent));
    const ours = await openVhdx(childPath);
    const disk = await ours.read(0, 8 * MiB);
    await ours.close();
    const want = parentRaw.slice();
    want.fill(0x42, 3 * MiB, 4 * MiB);
    want.fill(0x55, MiB + 4096 + 3, MiB + 4096 + 5003);
    want.fill(0x66, 3 * MiB + 10, 3 * MiB + 20);
    want.fill(0, 5 * MiB, 6 * MiB);
    expect(sha256(disk)).toBe(sha256(want));
    expect(run('7zz', ['t', childPath]).status).toBe(0);
    expect(sevenZipSha256(childPath).sha256).toBe(sha256(want));
  });

  it.each([512, 4096] as const)(
    'a child written in part by this project (PARTIALLY_PRESENT blocks, a new sector bitmap block; %i-byte sectors) reads the same through 7-Zip and libvhdi, checks clean, and compacts and commits to the same disk',
    async (lss) => {
      const parentRaw = pseudoRandomBytes(8 * MiB, lss);
      const parent = buildSynthetic({ raw: parentRaw, lss });
      // a folder of its own: the other tests' children beside it would count as other children of this parent
      const dir = join(tmp.path, `partial-${lss}`);
      mkdirSync(dir);
      const parentPath = join(dir, `base-${lss}.vhdx`);
      writeFileSync(parentPath, parent);
      const childPath = join(dir, `partial-${lss}.avhdx`);
      // no PARTIALLY_PRESENT block yet: the chunk has no sector bitmap block
      const blocks = new Map<number, ChildBlock>([[3, { state: 'full', data: new Uint8Array(MiB).fill(0x42) }]]);
      writeFileSync(
        childPath,
        buildChild({
          virtualSize: 8 * MiB,
          blockSize: MiB,
          lss,
          parentLinkage: dataWriteGuidOf(parent),
          relativePath: `base-${lss}.vhdx`,
          blocks,
        }),
      );
      const want = parentRaw.slice();
      want.fill(0x42, 3 * MiB, 4 * MiB);
      const image = await openVhdx(childPath, { writable: true });
      const put = async (at: number, data: Uint8Array) => {
        await image.write(at, data);
        want.set(data, at);
      };
      await put(MiB + 4096 + 3, pseudoRandomBytes(5000, 1)); // partial sectors at both ends
      await put(MiB + 300 * KiB, pseudoRandomBytes(64 * KiB, 2)); // more bits in the same block
      await put(MiB + 4096 + 100, pseudoRandomBytes(100, 3)); // sectors already present: a plain write
      await put(3 * MiB + 10, pseudoRandomBytes(10, 4)); // the child's own block
      await put(5 * MiB - 2000, pseudoRandomBytes(8000, 5)); // across two blocks
      await image.discard(6 * MiB + 8 * KiB, 16 * KiB); // zeros, bits set: the parent does not show there
      want.fill(0, 6 * MiB + 8 * KiB, 6 * MiB + 24 * KiB);
      expect([...image.loadedModel.states]).toEqual([0, 7, 0, 6, 7, 7, 7, 0]);
      await image.close();
      expect(sha256(readFileSync(parentPath))).toBe(sha256(parent));
      const chain = async () => {
        const ours = await openVhdx(childPath);
        const disk = await ours.read(0, 8 * MiB);
        await ours.close();
        return sha256(disk);
      };
      expect(await chain()).toBe(sha256(want));
      expect(run('7zz', ['t', childPath]).status).toBe(0);
      expect(sevenZipSha256(childPath).sha256).toBe(sha256(want));
      expect(pyvhdiRead(childPath, parentPath).sha256).toBe(sha256(want)); // no ZERO block: libvhdi reads it as the spec does
      const check = run('node', [BIN, 'check', childPath]);
      expect(check.status, check.stdout + check.stderr).toBe(0);
      // compact (nothing to free but the file's tail) and commit keep the disk
      await compactVhdx(childPath);
      expect(await chain()).toBe(sha256(want));
      expect(sevenZipSha256(childPath).sha256).toBe(sha256(want));
      await commitVhdx(childPath);
      const committed = await openVhdx(parentPath);
      expect(sha256(await committed.read(0, 8 * MiB))).toBe(sha256(want));
      await committed.close();
      expect(sevenZipSha256(parentPath).sha256).toBe(sha256(want));
      expect(await chain()).toBe(sha256(want)); // the emptied child reads its parent
    },
  );

  it('a file QEMU left dirty with one valid entry is replayed onto the file as qemu-img check -r all replays it', async () => {
    const ours = qemuDirty('dirty-entry.vhdx', 4096);
    const theirs = join(tmp.path, 'dirty-entry-qemu.vhdx');
    copyFileSync(ours, theirs);
    expect(run('qemu-img', ['info', ours]).status).not.toBe(0); // dirty: QEMU will not open it read-only
    ok('qemu-img', ['check', '-q', '-r', 'all', theirs]);
    const image = await openVhdx(ours, { writable: true });
    expect(image.info.log.entriesReplayed).toBe(1);
    await image.close();
    expect(run('qemu-img', ['info', ours]).status).toBe(0); // clean now
    expect(run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'vhdx', ours, theirs]).status).toBe(0);
    expect(run('7zz', ['t', ours]).status).toBe(0);
  });

  it('a file whose LogGuid names no entry (QEMU failed its log write) is cleared, and QEMU can write it again', async () => {
    const path = qemuDirty('dirty-empty.vhdx', 2048);
    expect(run('qemu-io', ['-c', 'write -P 0x01 0 4k', path]).status).not.toBe(0); // QEMU: every write fails
    const before = readFileSync(path);
    const image = await openVhdx(path, { writable: true });
    expect(image.info.log.state).toBe('clean');
    await image.close();
    expect(readFileSync(path).equals(before)).toBe(false);
    ok('qemu-io', ['-c', 'write -P 0x01 0 4k', path]);
    ok('qemu-io', ['-r', '-c', 'read -P 0x01 0 4k', path]);
  });
});
