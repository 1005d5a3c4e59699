// Pointing a child at its parent's new place (edit/parent.ts): the locator
// rewritten through the child's log after the linkage check, the chain
// opening again through our reader and 7zz, refusals that write nothing,
// and crash consistency at every file operation.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as node from '../src/node/index.js';
import { openVhdx, setParent } from '../src/index.js';
import { buildChild, dataWriteGuidOf } from './helpers/differencing.js';
import { forEachCrashState } from './helpers/crash-points.js';
import { RecordingFile } from './helpers/recording-file.js';
import { vhdxFailure } from './helpers/reasons.js';
import { buildSynthetic } from './helpers/synthetic.js';
import { describeWith, sevenZipSha256, sha256, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const BIN = new URL('../bin/vhdx.js', import.meta.url).pathname;
const tmp = tempDir('vhdx-set-parent-');
afterAll(() => tmp.cleanup());

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 256) out[i] = (seed + i / 256) % 251 || 1;
  return out;
}

/** A folder with base.vhdx and child.avhdx over it (one block of the child's own); returns the disk the chain reads. */
async function chainIn(folder: string): Promise<Uint8Array> {
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'base.vhdx'), buildSynthetic({ raw: pattern(8 * MiB, 1), blockSize: MiB }));
  await node.createChildFile(join(folder, 'child.avhdx'), join(folder, 'base.vhdx'));
  const child = await node.openVhdx(join(folder, 'child.avhdx'), { writable: true });
  await child.write(MiB + 512, pattern(4096, 9));
  const disk = await child.read(0, 8 * MiB);
  await child.close();
  return disk;
}

describe('setParent', () => {
  it('after the parent moved: the locator says where it is now, and the chain opens by it', async () => {
    const folder = join(tmp.path, 'moved');
    const disk = await chainIn(folder);
    mkdirSync(join(folder, 'sub'));
    renameSync(join(folder, 'base.vhdx'), join(folder, 'sub', 'moved base.vhdx'));
    const child = join(folder, 'child.avhdx');
    expect((await vhdxFailure(() => node.openVhdx(child))).reason).toBe('parent-missing');
    const result = await node.setParent(child, join(folder, 'sub', 'moved base.vhdx'));
    expect(result.relinked).toBe(false);
    expect(result.entries.relative_path).toBe('sub\\moved base.vhdx');
    const image = await node.openVhdx(child);
    expect(image.info.parentLocator?.relative_path).toBe('sub\\moved base.vhdx');
    expect(Buffer.compare(await image.read(0, 8 * MiB), disk)).toBe(0);
    expect((await image.check()).ok).toBe(true);
    expect(image.info.log.state).toBe('clean');
    await image.close();
  });

  it('a parent whose DataWriteGuid changed: refused (nothing written); with ignoreLinkage the child is linked to it as it is', async () => {
    const folder = join(tmp.path, 'relink');
    await chainIn(folder);
    const child = join(folder, 'child.avhdx');
    // the parent changed since the child was made
    const base = await node.openVhdx(join(folder, 'base.vhdx'), { writable: true });
    await base.write(0, pattern(512, 3));
    await base.close();
    const before = readFileSync(child);
    expect((await vhdxFailure(() => node.setParent(child, join(folder, 'base.vhdx')))).reason).toBe('parent-linkage-mismatch');
    expect(Buffer.compare(readFileSync(child), before)).toBe(0);
    const result = await node.setParent(child, join(folder, 'base.vhdx'), { ignoreLinkage: true });
    expect(result.relinked).toBe(true);
    const image = await node.openVhdx(child); // no ignoreLinkage needed any more
    expect(image.info.chain[0]!.parentLinkage).toBe('ok');
    await image.close();
  });

  it('a file without a parent: refused, nothing written', async () => {
    const file = new RecordingFile(buildSynthetic({ raw: pattern(2 * MiB, 4) }));
    const parent = buildSynthetic({ raw: pattern(2 * MiB, 5) });
    expect((await vhdxFailure(() => setParent(file, parent, { relativePath: 'p.vhdx' }))).reason).toBe('operation-not-supported');
    expect(file.ops).toEqual([]);
  });

  it('every crash point reads the same disk and names the old place or the new one', async () => {
    const parent = buildSynthetic({ raw: pattern(4 * MiB, 6), blockSize: MiB });
    const before = buildChild({
      virtualSize: 4 * MiB,
      blockSize: MiB,
      lss: 512,
      parentLinkage: dataWriteGuidOf(parent),
      relativePath: 'old.vhdx',
      blocks: new Map([[1, { state: 'full', data: pattern(MiB, 7) }]]),
    });
    const disk = await (await openVhdx(before, { parent })).read(0, 4 * MiB);
    const file = new RecordingFile(before.slice());
    const longer = `${'a much longer folder name\\'.repeat(20)}new.vhdx`;
    await setParent(file, parent, { relativePath: longer });
    let sawNew = false;
    await forEachCrashState(before, file.ops, async (state, where) => {
      const image = await openVhdx(state, { parent });
      const path = image.info.parentLocator?.relative_path;
      expect(['old.vhdx', longer], where).toContain(path);
      if (path === longer) sawNew = true;
      expect(Buffer.compare(await image.read(0, 4 * MiB), disk), where).toBe(0);
      await image.close();
    });
    expect(sawNew).toBe(true);
  });
});

describeWith(['7zz'], 'set-parent: interop', () => {
  it('vhdx set-parent CHILD --parent PATH: 7zz reads the chain again after the parent was renamed', async () => {
    const folder = join(tmp.path, 'cli');
    const disk = await chainIn(folder);
    const child = join(folder, 'child.avhdx');
    // beside the child: 7zz on Linux takes a relative_path's `\` literally, so a parent in another folder is not found by it
    renameSync(join(folder, 'base.vhdx'), join(folder, 'renamed.vhdx'));
    expect(sevenZipSha256(child).status).not.toBe(0);
    const r = spawnSync(process.execPath, [BIN, 'set-parent', child, '--parent', join(folder, 'renamed.vhdx')], { cwd: folder });
    expect(r.status, String(r.stderr)).toBe(0);
    const seven = sevenZipSha256(child);
    expect(seven.status, seven.stderr).toBe(0);
    expect(seven.sha256).toBe(sha256(disk));
  });
});
