// The converter page's Compact section in Chromium: a picked VHDX (a GPT disk
// with a clean ext4, an ext4 not cleanly unmounted, and stored all-zero
// blocks) shows the library's dry-run figures, without and with fs-trim, as
// Node's compactVhdx gives them for the same file; then the file is copied
// into OPFS, compacted there in place with fs-trim, and downloaded: the same
// disk as Node's compaction of the same file, and qemu-img check is clean.
// A fixed disk shows the library's refusal and offers nothing.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { figureRows } from '../../web/src/compact-view.js';
import { debugfs, missingE2fsprogs, mkfs, populate, writeGpt } from '../helpers/guest.js';
import { hasTool, suiteDir } from '../helpers/tools.js';
import { describeChromium, findChromium } from './browser/chromium.js';
import { chooseFile, servedConverter } from './browser/converter.js';

const MiB = 1024 * 1024;
const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;
const chromium = await findChromium();
const found =
  'missing' in chromium
    ? chromium
    : !hasTool('qemu-img')
      ? { missing: 'qemu-img not installed (apt-get install qemu-utils)' }
      : missingE2fsprogs.length > 0
        ? { missing: `${missingE2fsprogs.join(', ')} not installed (apt-get install e2fsprogs)` }
        : chromium;

function ok(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} -> ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A table's body rows as cell texts (the row's heading first). */
function tableRows(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? '')));
}

/** Waits until the Compact section's dry runs have answered. */
async function planned(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById('compact')!.dataset.state === 'planned', undefined, { timeout: 60_000 });
}

/** Waits for the Compact section's result line to settle. */
async function compactResult(page: Page): Promise<{ state: string; text: string }> {
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('compact-result')!.dataset.state ?? ''), undefined, {
    timeout: 60_000,
  });
  return page.$eval('#compact-result', (el) => ({ state: (el as HTMLElement).dataset.state!, text: el.textContent! }));
}

describeChromium(found, 'the converter page compacts in Chromium: dry-run figures of a picked VHDX, compaction in OPFS', (browser) => {
  const scratch = suiteDir('vhdx-page-compact-').path;
  const served = servedConverter(browser, scratch);
  const vhdx = () => join(scratch, 'disk.vhdx');

  beforeAll(async () => {
    // partition 1: ext4, clean, files written and every other one deleted (their blocks keep old data);
    // partition 2: ext4 marked not cleanly unmounted (refused); past them, 4 MiB of stored zero blocks
    const p1 = join(scratch, 'p1.raw');
    const p2 = join(scratch, 'p2.raw');
    mkfs(p1, 40);
    populate(p1, scratch, 12, 11);
    mkfs(p2, 16);
    debugfs(p2, ['ssv state 0']);
    const disk = Buffer.alloc(72 * MiB);
    readFileSync(p1).copy(disk, MiB);
    readFileSync(p2).copy(disk, 41 * MiB);
    writeGpt(disk, 512, [
      { firstLba: 2048, sectors: 40 * 2048, name: 'root' },
      { firstLba: 41 * 2048, sectors: 16 * 2048, name: 'dirty' },
    ]);
    const raw = join(scratch, 'disk.raw');
    writeFileSync(raw, disk);
    const { convertRawFileToVhdx } = await import('../../dist/node/index.js');
    await convertRawFileToVhdx(raw, vhdx(), { blockSize: MiB });
    ok('qemu-io', ['-f', 'vhdx', '-c', 'write -P 0 60M 4M', vhdx()]);
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  it("shows the library's dry-run figures and fs-trim's verdict per partition; compacts the OPFS copy in place to the disk Node's compaction gives", async () => {
    const { compactVhdx } = await import('../../dist/node/index.js');
    const plain = await compactVhdx(vhdx(), { dryRun: true });
    const trim = await compactVhdx(vhdx(), { dryRun: true, fsTrim: true });
    // the fixture holds what the figures are about: stored zero blocks, and more for fs-trim
    expect(plain.zeroBlocks).toBeGreaterThanOrEqual(4);
    expect(trim.reclaimedBytes).toBeGreaterThan(plain.reclaimedBytes);
    const [root, dirty] = trim.fsTrim!.partitions;
    expect(root!.verdict.kind).toBe('trimmed');
    expect(dirty!.verdict).toMatchObject({ kind: 'refused', reason: 'not-clean' });

    const { page, problems } = await served.open('native', 1200);
    await chooseFile(page, vhdx());
    await planned(page);
    expect(await page.isHidden('#compact-error')).toBe(true);
    expect(await tableRows(page, 'compact-figures')).toEqual(figureRows(plain, trim, MiB));
    const figures = Object.fromEntries((await tableRows(page, 'compact-figures')).map(([label, ...cells]) => [label, cells]));
    expect(figures.Reclaimed![0]).toContain(`(${plain.reclaimedBytes.toLocaleString('en-US')} bytes)`);
    expect(figures.Reclaimed![1]).toContain(`(${trim.reclaimedBytes.toLocaleString('en-US')} bytes)`);
    const partitions = await tableRows(page, 'compact-partitions');
    expect(partitions).toHaveLength(2);
    const rootFree = (root!.verdict as { freeBytes: number }).freeBytes;
    expect(partitions[0]!.slice(0, 3)).toEqual(['partition 1 (root), 40.0 MiB at 1.00 MiB', 'ext4', 'accepted']);
    expect(partitions[0]![3]).toMatch(new RegExp(` MiB \\(${rootFree.toLocaleString('en-US')} bytes\\)$`));
    expect(partitions[1]!.slice(0, 2)).toEqual(['partition 2 (dirty), 16.0 MiB at 41.0 MiB', 'ext4']);
    expect(partitions[1]![2]).toMatch(/^refused \(not-clean\): \S/);
    expect(partitions[1]![3]).toBe('—');
    await page.screenshot({ path: join(ARTIFACTS, 'compact-page.png'), fullPage: true });
    // a picked file is not changed in place: it is copied into OPFS first
    expect(await page.isDisabled('#compact-start')).toBe(true);
    await page.click('#compact-store');
    expect(await compactResult(page)).toEqual({ state: 'done', text: 'Copied into private storage (OPFS) as disk.vhdx.' });
    await planned(page);
    expect(await page.textContent('#opfs-list')).toContain('disk.vhdx');

    // compact the OPFS copy in place with fs-trim, then download it
    expect(await page.isChecked('#compact-fs-trim')).toBe(true);
    await page.click('#compact-start');
    const line = await compactResult(page);
    expect(line.state, line.text).toBe('done');
    const before = trim.fileSizeBefore.toLocaleString('en-US');
    const after = trim.fileSizeAfter.toLocaleString('en-US');
    expect(line.text).toMatch(
      new RegExp(`^Compacted disk\\.vhdx with fs-trim: .* \\(${before} bytes\\) -> .* \\(${after} bytes\\), .* reclaimed download it$`),
    );
    const downloading = page.waitForEvent('download');
    await page.click('#compact-result a');
    const download = await downloading;
    expect(download.suggestedFilename()).toBe('disk.vhdx');
    const compacted = join(scratch, 'page-compacted.vhdx');
    writeFileSync(compacted, readFileSync((await download.path())!));
    // the page shows the file as it is now: nothing more to reclaim
    await planned(page);
    const again = Object.fromEntries((await tableRows(page, 'compact-figures')).map(([label, ...cells]) => [label, cells]));
    expect(again.Reclaimed).toEqual(['0 bytes', '0 bytes']);
    expect(problems).toEqual([]);

    // Node compacts the same file the same way: the same disk, the same size
    const expected = join(scratch, 'node-compacted.vhdx');
    copyFileSync(vhdx(), expected);
    const done = await compactVhdx(expected, { fsTrim: true });
    expect(done.fileSizeAfter).toBe(trim.fileSizeAfter);
    expect(readFileSync(compacted).length).toBe(done.fileSizeAfter);
    expect(ok('qemu-img', ['check', '-f', 'vhdx', compacted])).toContain('No errors');
    expect(ok('qemu-img', ['compare', '-f', 'vhdx', '-F', 'vhdx', compacted, expected])).toContain('Images are identical');
  });

  it("a fixed disk: the section says why it cannot be compacted (the library's refusal) and offers no compaction", async () => {
    const fixed = join(scratch, 'fixed.vhdx');
    ok('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'subformat=fixed,block_size=1M', fixed, '8M']);
    const { page, problems } = await served.open();
    await chooseFile(page, fixed);
    await planned(page);
    expect(await page.textContent('#compact-error')).toMatch(
      /^Cannot compact: VhdxError INVALID_ARGUMENT \(operation-not-supported\): .*a fixed disk .*vhdx convert --type dynamic/,
    );
    expect(await page.isHidden('#compact-plan')).toBe(true);
    expect(await page.isDisabled('#compact-start')).toBe(true);
    expect(await page.isDisabled('#compact-store')).toBe(true);
    expect(problems).toEqual([]);
  });
});
