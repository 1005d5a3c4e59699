// Committing a child into its parent in place (edit/commit.ts): the parent
// reads as the chain did, the child is left empty or removed, siblings stop
// it, and a crash at any operation of either file leaves a chain that opens
// and reads the same disk.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as node from '../src/node/index.js';
import { openVhdx, VhdxError, type CustomFile, type SourceInput } from '../src/index.js';
import { inPlaceAccess } from '../src/edit/access.js';
import { commitWith } from '../src/edit/commit.js';
import { openWritableFile } from '../src/sources/writable.js';
import { applyOp, RecordingFile, type FileOp } from './helpers/recording-file.js';
import { vhdxFailure } from './helpers/reasons.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { rng as generator } from './fuzz/mutator.mjs';
import { describeWith, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
const tmp = tempDir('vhdx-commit-');
afterAll(() => tmp.cleanup());

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 128) out[i] = (seed + i / 128) % 251 || 1;
  return out;
}

/** base.vhdx and child.avhdx over it in `folder` (a whole block, sectors here and there, a discarded block); returns the chain's disk. */
async function chainIn(folder: string, childName = 'child.avhdx'): Promise<Uint8Array> {
  const base = join(folder, 'base.vhdx');
  if (!existsSync(base)) writeFileSync(base, buildSynthetic({ raw: pattern(SIZE, 1), blockSize: MiB }));
  await node.createChildFile(join(folder, childName), base);
  return childWrites(join(folder, childName));
}

/**
 * A sparse base of 4 MiB blocks (data in its first 2 MiB only) and a child of
 * 1 MiB blocks over it: in the base's stored block, two blocks of data and a
 * discarded one; in its block that is not stored, sectors here (the child's
 * block filled from the chain) and a whole block there, a block between
 * reading the base; returns the chain's disk.
 */
async function sparseChainIn(folder: string): Promise<Uint8Array> {
  const base = join(folder, 'base.vhdx');
  const raw = new Uint8Array(SIZE);
  raw.set(pattern(2 * MiB, 1));
  writeFileSync(base, buildSynthetic({ raw, blockSize: 4 * MiB }));
  const path = join(folder, 'child.avhdx');
  await node.createChildFile(path, base, { blockSize: MiB });
  const child = await node.openVhdx(path, { writable: true });
  await child.write(0, pattern(MiB, 4));
  await child.discard(MiB, MiB);
  await child.write(3 * MiB, pattern(MiB, 5));
  await child.write(4 * MiB + 4096, pattern(8192, 6));
  await child.write(6 * MiB, pattern(MiB, 7));
  const disk = await child.read(0, SIZE);
  await child.close();
  return disk;
}

/** Writes into `path` a whole block, sectors here and there, and a discarded block; returns its disk. */
async function childWrites(path: string): Promise<Uint8Array> {
  const child = await node.openVhdx(path, { writable: true });
  await child.write(2 * MiB, pattern(MiB, 2));
  await child.write(4 * MiB + 4096, pattern(8192, 3));
  await child.discard(6 * MiB, MiB);
  const disk = await child.read(0, SIZE);
  await child.close();
  return disk;
}

async function read(path: string, options = {}): Promise<Uint8Array> {
  const image = await node.openVhdx(path, options);
  try {
    return await image.read(0, image.info.virtualSize);
  } finally {
    await image.close();
  }
}

describe('commitVhdx', () => {
  it('the parent reads as the chain did; the child is left empty (reads the same) and small', async () => {
    const folder = tmp.path;
    const disk = await chainIn(folder);
    const child = join(folder, 'child.avhdx');
    const before = statSync(child).size;
    const result = await node.commitVhdx(child);
    expect(result.blocksCommitted).toBe(3);
    expect(Buffer.compare(await read(join(folder, 'base.vhdx')), disk)).toBe(0);
    expect(Buffer.compare(await read(child), disk)).toBe(0);
    const image = await node.openVhdx(child);
    expect(image.info.allocatedBlocks).toBe(0);
    expect(image.info.parentLocator?.parent_linkage).toBe(`{${result.parentDataWriteGuid}}`);
    expect(image.info.parentLocator?.parent_linkage2).toBeUndefined();
    expect((await image.check()).ok).toBe(true);
    await image.close();
    expect(statSync(child).size).toBeLessThan(before);
  });
});

describeWith(['qemu-img', '7zz'], 'commit: interop', () => {
  it('remove: the child is gone; qemu-img compare and 7zz read the parent as the chain was', async () => {
    const folder = join(tmp.path, 'remove');
    execFileSync('mkdir', ['-p', folder]);
    const disk = await chainIn(folder);
    const raw = join(folder, 'want.raw');
    writeFileSync(raw, disk);
    await node.commitVhdx(join(folder, 'child.avhdx'), { remove: true });
    expect(existsSync(join(folder, 'child.avhdx'))).toBe(false);
    const base = join(folder, 'base.vhdx');
    execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'raw', base, raw]);
    execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', base]);
    expect(sevenZipSha256(base).sha256).toBe(sha256(disk));
  });

  it('another child beside the parent: refused naming it, nothing written; with force the commit goes on', async () => {
    const folder = join(tmp.path, 'siblings');
    execFileSync('mkdir', ['-p', folder]);
    const disk = await chainIn(folder);
    await chainIn(folder, 'sister.avhdx');
    const base = readFileSync(join(folder, 'base.vhdx'));
    const child = readFileSync(join(folder, 'child.avhdx'));
    const err = await vhdxFailure(() => node.commitVhdx(join(folder, 'child.avhdx')));
    expect(err.reason).toBe('parent-has-other-children');
    expect(err.message).toContain('sister.avhdx');
    expect(Buffer.compare(readFileSync(join(folder, 'base.vhdx')), base)).toBe(0);
    expect(Buffer.compare(readFileSync(join(folder, 'child.avhdx')), child)).toBe(0);
    await node.commitVhdx(join(folder, 'child.avhdx'), { force: true });
    expect(Buffer.compare(await read(join(folder, 'base.vhdx')), disk)).toBe(0);
    expect((await vhdxFailure(() => node.openVhdx(join(folder, 'sister.avhdx')))).reason).toBe('parent-linkage-mismatch');
  });

  it('a child with nothing to commit: the parent is not written (its DataWriteGuid stays), so a sister still links to it', async () => {
    const folder = join(tmp.path, 'empty');
    execFileSync('mkdir', ['-p', folder]);
    const disk = await chainIn(folder, 'sister.avhdx');
    await node.createChildFile(join(folder, 'empty.avhdx'), join(folder, 'base.vhdx'));
    const base = readFileSync(join(folder, 'base.vhdx'));
    const result = await node.commitVhdx(join(folder, 'empty.avhdx'), { force: true });
    expect(result.blocksCommitted).toBe(0);
    expect(Buffer.compare(readFileSync(join(folder, 'base.vhdx')), base)).toBe(0);
    expect(Buffer.compare(await read(join(folder, 'sister.avhdx')), disk)).toBe(0);
  });
});

// Every file recorded in one list, so a crash point is a prefix of it; each file's flushes cover its own writes.
type Tagged = { file: string; op: FileOp };

function recorded(name: string, initial: Uint8Array, log: Tagged[]): { rec: RecordingFile; custom: () => CustomFile } {
  // a copy (a Buffer's slice() would share the caller's bytes)
  const rec = new RecordingFile(new Uint8Array(initial), false);
  const custom = (): CustomFile => ({
    size: rec.size,
    read: (o, l) => rec.read(o, l),
    write: (d, p) => {
      log.push({ file: name, op: { kind: 'write', position: p, data: d.slice() } });
      rec.write(d, p);
    },
    truncate: (s) => {
      log.push({ file: name, op: { kind: 'truncate', size: s } });
      rec.truncate(s);
    },
    flush: () => {
      log.push({ file: name, op: { kind: 'flush' } });
    },
  });
  return { rec, custom };
}

describe('commit: what lies beside the parent', () => {
  it('a FIFO named .vhdx is not read (it would block) and a link to the child is not another child', async () => {
    const folder = join(tmp.path, 'beside');
    execFileSync('mkdir', ['-p', folder]);
    const disk = await chainIn(folder);
    execFileSync('mkfifo', [join(folder, 'pipe.vhdx')]);
    symlinkSync(join(folder, 'child.avhdx'), join(folder, 'link.avhdx'));
    await node.commitVhdx(join(folder, 'child.avhdx'));
    expect(Buffer.compare(await read(join(folder, 'base.vhdx')), disk)).toBe(0);
  });
});

describe('commit: a parent that cannot be written', () => {
  it('is refused before the child is written', async () => {
    const folder = join(tmp.path, 'readonly');
    execFileSync('mkdir', ['-p', folder]);
    await chainIn(folder);
    const log: Tagged[] = [];
    const parent = recorded('parent', readFileSync(join(folder, 'base.vhdx')), log);
    const child = recorded('child', readFileSync(join(folder, 'child.avhdx')), log);
    const context = () => ({
      openInput: async () => ({ source: openWritableFile(parent.custom()) }),
      findCandidates: () => ({
        candidates: [{ label: 'base.vhdx', location: 'base.vhdx', open: async () => openWritableFile(parent.custom()) }],
        skipped: [],
      }),
    });
    const open = async () => openWritableFile(child.custom());
    const refused = new VhdxError('open-failed', 'cannot open base.vhdx for writing: EACCES');
    const err = await vhdxFailure(() =>
      commitWith(
        {
          child: inPlaceAccess(open, open, {}, context),
          parent: inPlaceAccess(
            async () => openWritableFile(parent.custom()),
            async () => Promise.reject(refused),
            {},
            () => undefined,
          ),
          childOver: (p) => openVhdx(child.custom(), { parent: p }),
        },
        true,
      ),
    );
    expect(err.reason).toBe('open-failed');
    expect(log.filter((t) => t.op.kind !== 'flush')).toEqual([]);
  });
});

describe('commit: crash consistency across two files', () => {
  it('a crash at every operation of either file: the chain opens (by one linkage GUID or the other) and reads the same disk', async () => {
    await crashAtEveryPoint(join(tmp.path, 'crash'), chainIn);
  }, 300_000);

  it('a sparse base with larger blocks than the child: blocks of the base placed in batches, two runs in one base block; every crash point reads the same disk', async () => {
    const folder = join(tmp.path, 'crash-sparse');
    const disk = await crashAtEveryPoint(folder, sparseChainIn);
    expect(Buffer.compare(await read(join(folder, 'base.vhdx')), disk)).toBe(0);
  }, 300_000);
});

/** Commits the chain `build` makes in `folder` through recorded files and checks every crash point; returns the chain's disk. */
async function crashAtEveryPoint(folder: string, build: (folder: string) => Promise<Uint8Array>): Promise<Uint8Array> {
  execFileSync('mkdir', ['-p', folder]);
  const disk = await build(folder);
  const baseBefore = new Uint8Array(readFileSync(join(folder, 'base.vhdx')));
  const childBefore = new Uint8Array(readFileSync(join(folder, 'child.avhdx')));
  const log: Tagged[] = [];
  const parent = recorded('parent', baseBefore, log);
  const child = recorded('child', childBefore, log);
  const parentBytes = () => parent.rec.contents().slice();
  const access = (which: typeof parent, parentOf?: () => Uint8Array) =>
    inPlaceAccess(
      async () => openWritableFile(which.custom()),
      async () => openWritableFile(which.custom()),
      {},
      () => ({
        openInput: async () => ({ source: openWritableFile(parent.custom()) }),
        findCandidates: () => ({
          candidates: parentOf ? [{ label: 'base.vhdx', location: 'base.vhdx', open: async () => openWritableFile(parent.custom()) }] : [],
          skipped: [],
        }),
      }),
    );
  await commitWith(
    { child: access(child, parentBytes), parent: access(parent), childOver: (p) => openVhdx(child.custom(), { parent: p }) },
    true,
  );
  expect(log.some((t) => t.file === 'parent') && log.some((t) => t.file === 'child')).toBe(true);
  await everyCrashPoint(log, { child: childBefore, parent: baseBefore }, async (files, where) => {
    const image = await openVhdx(files.child!, { parent: files.parent! });
    expect(Buffer.compare(await image.read(0, SIZE), disk), where).toBe(0);
    await image.close();
  });
  writeFileSync(join(folder, 'base.vhdx'), parent.rec.contents());
  return disk;
}

/**
 * Calls `check` with the files as a crash after each operation of `log` leaves them: (a) every operation
 * before it kept; (b) each file as its last flush left it, plus a random half of its writes since.
 */
async function everyCrashPoint(
  log: Tagged[],
  before: Record<string, Uint8Array>,
  check: (files: Record<string, Uint8Array>, where: string) => Promise<void>,
): Promise<void> {
  const rnd = generator(7);
  const names = Object.keys(before);
  const cur: Record<string, RecordingFile> = {};
  const flushed: Record<string, Uint8Array> = {};
  const lastFlush: Record<string, number> = {};
  for (const n of names) {
    cur[n] = new RecordingFile(before[n]!.slice(), false);
    flushed[n] = before[n]!.slice();
    lastFlush[n] = 0;
  }
  for (let p = 0; p <= log.length; p++) {
    if (p > 0) {
      const { file, op } = log[p - 1]!;
      applyOp(cur[file]!, op);
      if (op.kind === 'flush') {
        flushed[file] = cur[file]!.contents().slice();
        lastFlush[file] = p;
        continue;
      }
    }
    const partial = (file: string) => {
      const f = new RecordingFile(flushed[file]!.slice(), false);
      for (let i = lastFlush[file]!; i < p; i++) if (log[i]!.file === file && rnd() < 0.5) applyOp(f, log[i]!.op);
      return f.contents().slice();
    };
    const all = Object.fromEntries(names.map((n) => [n, cur[n]!.contents().slice()]));
    const some = Object.fromEntries(names.map((n) => [n, partial(n)]));
    await check(all, `crash after ${p} of ${log.length} operations (every operation kept)`);
    await check(some, `crash after ${p} of ${log.length} operations (unflushed operations partly lost)`);
  }
}

/** base.vhdx, mid.avhdx over it and top.avhdx over mid in `folder`, their data overlapping; returns top's disk and mid's. */
async function threeLevels(folder: string): Promise<{ disk: Uint8Array; midDisk: Uint8Array }> {
  execFileSync('mkdir', ['-p', folder]);
  writeFileSync(join(folder, 'base.vhdx'), buildSynthetic({ raw: pattern(SIZE, 1), blockSize: MiB }));
  await node.createChildFile(join(folder, 'mid.avhdx'), join(folder, 'base.vhdx'));
  const mid = await node.openVhdx(join(folder, 'mid.avhdx'), { writable: true });
  await mid.write(MiB, pattern(2 * MiB, 4)); // blocks 1 and 2
  await mid.write(5 * MiB + 512, pattern(4096, 5)); // sectors of block 5
  await mid.write(7 * MiB, pattern(MiB, 6));
  const midDisk = await mid.read(0, SIZE);
  await mid.close();
  await node.createChildFile(join(folder, 'top.avhdx'), join(folder, 'mid.avhdx'));
  const top = await node.openVhdx(join(folder, 'top.avhdx'), { writable: true });
  await top.write(2 * MiB + 8192, pattern(4096, 7)); // sectors over mid's block 2
  await top.write(4 * MiB, pattern(MiB, 8)); // a block of its own
  await top.discard(7 * MiB, MiB); // zeros over mid's block 7
  const disk = await top.read(0, SIZE);
  await top.close();
  return { disk, midDisk };
}

describe('commit -b: down to a lower level of the chain', () => {
  it('the base reads as the top did; the top and the level between are left empty, still linked, and read the same', async () => {
    const folder = join(tmp.path, 'three');
    const { disk, midDisk } = await threeLevels(folder);
    expect(Buffer.compare(disk, midDisk)).not.toBe(0);
    const result = await node.commitVhdx(join(folder, 'top.avhdx'), { base: join(folder, 'base.vhdx') });
    expect(result.blocksCommitted).toBe(5); // blocks 1, 2, 5 and 7 of mid, 2, 4 and 7 of top
    expect(Buffer.compare(await read(join(folder, 'base.vhdx')), disk)).toBe(0);
    for (const name of ['top.avhdx', 'mid.avhdx']) {
      expect(Buffer.compare(await read(join(folder, name)), disk), name).toBe(0);
      const image = await node.openVhdx(join(folder, name));
      expect(image.info.allocatedBlocks, name).toBe(0);
      expect((await image.check()).ok, name).toBe(true);
      expect(image.info.parentLocator?.parent_linkage2, name).toBeUndefined();
      await image.close();
    }
    const mid = await node.openVhdx(join(folder, 'mid.avhdx'));
    expect(mid.info.parentLocator?.parent_linkage).toBe(`{${result.parentDataWriteGuid}}`);
    await mid.close();
  });

  it('a base that is not below the child: refused (base-not-in-chain), nothing written', async () => {
    const folder = join(tmp.path, 'not-below');
    await threeLevels(folder);
    writeFileSync(join(folder, 'other.vhdx'), buildSynthetic({ raw: pattern(SIZE, 9), blockSize: MiB }));
    const files = ['base.vhdx', 'mid.avhdx', 'top.avhdx'].map((n) => readFileSync(join(folder, n)));
    for (const base of ['other.vhdx', 'top.avhdx']) {
      const err = await vhdxFailure(() => node.commitVhdx(join(folder, 'top.avhdx'), { base: join(folder, base) }));
      expect(err.reason, base).toBe('base-not-in-chain');
    }
    for (const [i, n] of ['base.vhdx', 'mid.avhdx', 'top.avhdx'].entries())
      expect(Buffer.compare(readFileSync(join(folder, n)), files[i]!)).toBe(0);
  });

  it('the command line words a -b that is missing (cannot open it) or not below the child (-b, never the option structure)', async () => {
    const folder = join(tmp.path, 'cli-b');
    await threeLevels(folder);
    writeFileSync(join(folder, 'other.vhdx'), buildSynthetic({ raw: pattern(SIZE, 9), blockSize: MiB }));
    const cli = (base: string) =>
      spawnSync('node', ['bin/vhdx.js', 'commit', join(folder, 'top.avhdx'), '-b', join(folder, base)], { encoding: 'utf8' });
    const missing = cli('nowhere.vhdx');
    expect(missing.status).toBe(4);
    expect(missing.stderr).toMatch(/cannot open .*nowhere\.vhdx/);
    expect(missing.stderr).not.toMatch(/not below|options/);
    const other = cli('other.vhdx');
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/-b .*other\.vhdx is not below/);
    expect(other.stderr).not.toMatch(/options/);
  });

  it('another child of the level between: refused even with force (it would read the committed data), nothing written', async () => {
    const folder = join(tmp.path, 'mid-sister');
    await threeLevels(folder);
    await node.createChildFile(join(folder, 'sister.avhdx'), join(folder, 'mid.avhdx'));
    const base = readFileSync(join(folder, 'base.vhdx'));
    const err = await vhdxFailure(() => node.commitVhdx(join(folder, 'top.avhdx'), { base: join(folder, 'base.vhdx'), force: true }));
    expect(err.reason).toBe('parent-has-other-children');
    expect(err.message).toContain('sister.avhdx');
    expect(Buffer.compare(readFileSync(join(folder, 'base.vhdx')), base)).toBe(0);
  });

  it('a crash at every operation of any of the three files: the chain opens and reads the same disk; a rerun finishes', async () => {
    const folder = join(tmp.path, 'three-crash');
    const { disk } = await threeLevels(folder);
    const before: Record<string, Uint8Array> = {};
    for (const n of ['top', 'mid', 'base'])
      before[n] = new Uint8Array(readFileSync(join(folder, n === 'base' ? 'base.vhdx' : `${n}.avhdx`)));
    const log: Tagged[] = [];
    const files = Object.fromEntries(Object.entries(before).map(([n, b]) => [n, recorded(n, b, log)]));
    const byPath: Record<string, string> = { 'mid.avhdx': 'mid', 'base.vhdx': 'base' };
    const access = (name: string) =>
      inPlaceAccess(
        async () => openWritableFile(files[name]!.custom()),
        async () => openWritableFile(files[name]!.custom()),
        {},
        () => ({
          openInput: async () => ({ source: openWritableFile(files.base!.custom()) }),
          findCandidates: (r) => {
            const to = byPath[r.locator.relative_path ?? ''];
            return {
              candidates: to ? [{ label: to, location: to, open: async () => openWritableFile(files[to]!.custom()) }] : [],
              skipped: [],
            };
          },
        }),
      );
    const commit = (over: (n: string) => CustomFile) =>
      commitWith(
        {
          child: access('top'),
          between: [access('mid')],
          parent: access('base'),
          childOver: (p) =>
            openVhdx(over('top'), { resolveParent: (r) => (r.depth === 1 ? (over('mid') as SourceInput) : r.depth === 2 ? p : undefined) }),
        },
        true,
      );
    await commit((n) => files[n]!.custom());
    expect(new Set(log.map((t) => t.file))).toEqual(new Set(['top', 'mid', 'base']));
    // the order the safety rests on: mid's locator first, then base, then mid emptied, then top
    const firstWrite = (n: string) => log.findIndex((t) => t.file === n && t.op.kind === 'write');
    expect(firstWrite('mid')).toBeLessThan(firstWrite('base'));
    const lastBase = log.findLastIndex((t) => t.file === 'base');
    expect(log.slice(lastBase).some((t) => t.file === 'mid' && t.op.kind === 'write')).toBe(true);
    expect(firstWrite('top')).toBeGreaterThan(lastBase);
    let point = 0;
    await everyCrashPoint(log, before, async (state, where) => {
      const mid = await openVhdx(state.mid!, { parent: state.base! });
      const image = await openVhdx(state.top!, { parent: mid });
      expect(Buffer.compare(await image.read(0, SIZE), disk), where).toBe(0);
      await image.close();
      await mid.close();
      // a rerun from a sample of points finishes: the base then reads the disk, the levels above it too
      if (point++ % 17 !== 0) return;
      const again: Tagged[] = [];
      const rerun = Object.fromEntries(Object.entries(state).map(([n, b]) => [n, recorded(n, b, again)]));
      const saved = { ...files };
      Object.assign(files, rerun);
      try {
        await commit((n) => files[n]!.custom());
      } finally {
        Object.assign(files, saved);
      }
      const base = await openVhdx(rerun.base!.rec.contents().slice());
      expect(Buffer.compare(await base.read(0, SIZE), disk), `${where}, rerun`).toBe(0);
      await base.close();
      const m = await openVhdx(rerun.mid!.rec.contents().slice(), { parent: rerun.base!.rec.contents().slice() });
      expect(m.info.allocatedBlocks, `${where}, rerun: mid empty`).toBe(0);
      expect(Buffer.compare(await m.read(0, SIZE), disk), `${where}, rerun: mid`).toBe(0);
      await m.close();
    });
  }, 600_000);
});

describeWith(['qemu-img', '7zz'], 'commit -b: interop', () => {
  it('7zz reads the chain the same before and after; qemu-img compare and check on the base; the CLI says where it went', async () => {
    const folder = join(tmp.path, 'three-cli');
    const { disk } = await threeLevels(folder);
    expect(sevenZipSha256(join(folder, 'top.avhdx')).sha256).toBe(sha256(disk));
    const cli = execFileSync('node', ['bin/vhdx.js', 'commit', join(folder, 'top.avhdx'), '-b', join(folder, 'base.vhdx')], {
      encoding: 'utf8',
    });
    expect(cli).toContain(`into ${join(folder, 'base.vhdx')}`);
    const raw = join(folder, 'want.raw');
    writeFileSync(raw, disk);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'vhdx', '-F', 'raw', join(folder, 'base.vhdx'), raw]);
    execFileSync('qemu-img', ['check', '-q', '-f', 'vhdx', join(folder, 'base.vhdx')]);
    for (const n of ['top.avhdx', 'mid.avhdx', 'base.vhdx']) expect(sevenZipSha256(join(folder, n)).sha256, n).toBe(sha256(disk));
  });
});
