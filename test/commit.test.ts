// Committing a child into its parent in place (edit/commit.ts): the parent
// reads as the chain did, the child is left empty or removed, siblings stop
// it, and a crash at any operation of either file leaves a chain that opens
// and reads the same disk.
import { execFileSync } from 'node:child_process';
import { existsSync, symlinkSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as node from '../src/node/index.js';
import { openVhdx, VhdxError, type CustomFile } from '../src/index.js';
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
  const child = await node.openVhdx(join(folder, childName), { writable: true });
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

// Both files recorded in one list, so a crash point is a prefix of it; each file's flushes cover its own writes.
type Tagged = { file: 'child' | 'parent'; op: FileOp };

function recorded(name: 'child' | 'parent', initial: Uint8Array, log: Tagged[]): { rec: RecordingFile; custom: () => CustomFile } {
  const rec = new RecordingFile(initial.slice(), false);
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
    const folder = join(tmp.path, 'crash');
    execFileSync('mkdir', ['-p', folder]);
    const disk = await chainIn(folder);
    const baseBefore = readFileSync(join(folder, 'base.vhdx'));
    const childBefore = readFileSync(join(folder, 'child.avhdx'));
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
            candidates: parentOf
              ? [{ label: 'base.vhdx', location: 'base.vhdx', open: async () => openWritableFile(parent.custom()) }]
              : [],
            skipped: [],
          }),
        }),
      );
    await commitWith(
      { child: access(child, parentBytes), parent: access(parent), childOver: (p) => openVhdx(child.custom(), { parent: p }) },
      true,
    );
    expect(log.some((t) => t.file === 'parent') && log.some((t) => t.file === 'child')).toBe(true);
    const rnd = generator(7);
    const cur = { child: new RecordingFile(childBefore.slice(), false), parent: new RecordingFile(baseBefore.slice(), false) };
    const flushed: Record<'child' | 'parent', Uint8Array> = { child: childBefore.slice(), parent: baseBefore.slice() };
    const lastFlush = { child: 0, parent: 0 };
    for (let p = 0; p <= log.length; p++) {
      if (p > 0) {
        const { file, op } = log[p - 1]!;
        applyOp(cur[file], op);
        if (op.kind === 'flush') {
          flushed[file] = cur[file].contents().slice();
          lastFlush[file] = p;
          continue;
        }
      }
      const partial = (file: 'child' | 'parent') => {
        const f = new RecordingFile(flushed[file].slice(), false);
        for (let i = lastFlush[file]; i < p; i++) if (log[i]!.file === file && rnd() < 0.5) applyOp(f, log[i]!.op);
        return f.contents().slice();
      };
      for (const [mode, c, b] of [
        ['every operation kept', cur.child.contents().slice(), cur.parent.contents().slice()],
        ['unflushed operations partly lost', partial('child'), partial('parent')],
      ] as const) {
        const where = `crash after ${p} of ${log.length} operations (${mode})`;
        const image = await openVhdx(c, { parent: b });
        expect(Buffer.compare(await image.read(0, SIZE), disk), where).toBe(0);
        await image.close();
      }
    }
  }, 300_000);
});
