// The converter page (web/) end to end in Chromium: files set on its input,
// conversions to a download, to OPFS and to a picked file (showSaveFilePicker
// is stubbed with an OPFS-backed handle so no dialog opens), Cancel, and
// errors. An OPFS file of the output's name is never replaced: the output
// takes a free name beside it, and a failure removes only what it created. Every output is read back and checked against an independent
// decode: qemu-img for VHDX files, the original bytes for raw ones.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { hasTool, suiteDir } from '../helpers/tools.js';
import { describeChromium, findChromium } from './browser/chromium.js';
import { chooseFile, infoList, opfsFiles, putOpfs, readOpfs, result, servedConverter, startConversion } from './browser/converter.js';

const MiB = 1024 * 1024;
const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;
const chromium = await findChromium();
const found = 'missing' in chromium || hasTool('qemu-img') ? chromium : { missing: 'qemu-img not installed (apt-get install qemu-utils)' };

/** Raw bytes of a VHDX, decoded by qemu-img. */
function qemuDecode(vhdx: Buffer, dir: string): Buffer {
  const input = join(dir, 'qemu-in.vhdx');
  const output = join(dir, 'qemu-out.raw');
  writeFileSync(input, vhdx);
  execFileSync('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', input, output]);
  return readFileSync(output);
}

/** `raw` padded with zeros to `size`. */
function padded(raw: Buffer, size: number): Buffer {
  return Buffer.concat([raw, Buffer.alloc(size - raw.length)]);
}

describeChromium(found, 'the converter page in Chromium', (browser) => {
  const scratch = suiteDir('vhdx-page-').path;
  const served = servedConverter(browser, scratch);
  // 40 MiB + 1000 bytes (not whole sectors): data, zeros, a lone byte, zeros, data in 8 MiB blocks
  const mixed = Buffer.alloc(40 * MiB + 1000);
  // 24 MiB in 1 MiB runs, turned into a VHDX by qemu-img (a layout the library did not write)
  const runs = Buffer.alloc(24 * MiB);
  const paths = { mixed: join(scratch, 'mixed.img'), runs: join(scratch, 'runs.raw'), qemu: join(scratch, 'qemu.vhdx') };

  beforeAll(async () => {
    randomBytes(8 * MiB).copy(mixed, 0);
    mixed[20 * MiB + 12345] = 7;
    randomBytes(8 * MiB + 1000).copy(mixed, 32 * MiB);
    writeFileSync(paths.mixed, mixed);
    for (let run = 0; run < 24; run++) if (run % 3 !== 1) randomBytes(MiB).copy(runs, run * MiB);
    writeFileSync(paths.runs, runs);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=dynamic,block_size=1M', paths.runs, paths.qemu]);
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  const open = (picker?: 'stub' | 'none' | 'native') => served.open(picker);

  it('raw -> VHDX as a download: info, sparse output, qemu-img reads the same disk', async () => {
    const { page, problems } = await open();
    await chooseFile(page, paths.mixed);
    expect(await infoList(page)).toEqual({ Type: 'raw disk image (no VHDX signature)', Size: '40.0 MiB (41,944,040 bytes)' });
    expect(await page.textContent('#convert-title')).toBe('Convert to VHDX (dynamic, sparse)');
    const downloading = page.waitForEvent('download');
    await startConversion(page, 'download');
    const download = await downloading;
    const line = await result(page);
    expect(line.state).toBe('done');
    expect(line.text).toMatch(/^Downloaded mixed\.vhdx — [\d.]+ MiB in [\d.]+ m?s, \d+ MB\/s/);
    expect(download.suggestedFilename()).toBe('mixed.vhdx');
    const vhdx = readFileSync((await download.path())!);
    expect(vhdx.subarray(0, 8).toString('latin1')).toBe('vhdxfile');
    const sectors = Math.ceil(mixed.length / 512) * 512;
    expect(qemuDecode(vhdx, scratch).equals(padded(mixed, sectors))).toBe(true);
    // four of six 8 MiB blocks hold data; the two all-zero ones are left out
    const { openVhdx } = await import('../../dist/node/index.js');
    const image = await openVhdx(new Uint8Array(vhdx));
    expect(image.info.blockSize).toBe(8 * MiB);
    expect(image.info.allocatedBlocks).toBe(4);
    expect(vhdx.length).toBeLessThan(4 * 8 * MiB + 8 * MiB);
    await image.close();
    expect(problems).toEqual([]);
  });

  it('a VHDX from qemu-img: info and allocation pictures; -> raw into OPFS, and back and forth from OPFS (screenshot saved)', async () => {
    const { page, problems } = await open();
    await chooseFile(page, paths.qemu);
    const info = await infoList(page);
    expect(info).toMatchObject({
      Type: 'VHDX, dynamic',
      'Virtual size': '24.0 MiB (25,165,824 bytes)',
      'Block size': '1.00 MiB',
      Sectors: '512 bytes logical, 512 bytes physical',
      'Blocks stored': '16 of 24 (16.0 MiB)',
    });
    expect(info.Log).toMatch(/^clean/);
    expect(info['Parent locator']).toBeUndefined();
    expect(await page.textContent('#virtual-scale')).toBe('(one cell per block)');
    // the virtual map has one cell per block, coloured by state: every third is left out
    const cells = await page.evaluate(() => {
      const canvas = document.getElementById('virtual-map') as HTMLCanvasElement;
      const ctx = canvas.getContext('2d')!;
      const cell = Number.parseFloat(canvas.style.height); // 24 cells fit on one row
      const ratio = canvas.width / Number.parseFloat(canvas.style.width);
      return Array.from({ length: 24 }, (_, b) => {
        const [r, g, bl] = ctx.getImageData(Math.floor((b * cell + 2) * ratio), Math.floor(2 * ratio), 1, 1).data;
        return `#${[r, g, bl].map((v) => v!.toString(16).padStart(2, '0')).join('')}`;
      });
    });
    expect(cells).toEqual(Array.from({ length: 24 }, (_, b) => (b % 3 === 1 ? '#e3e7ea' : '#1f7a8c')));
    expect(await page.textContent('#convert-title')).toBe('Convert to a raw disk image');

    await startConversion(page, 'opfs');
    const line = await result(page);
    expect(line).toMatchObject({ state: 'done' });
    expect(line.text).toMatch(/^Saved to private storage \(OPFS\): qemu\.raw — 24\.0 MiB in /);
    expect((await readOpfs(page, served.site, 'qemu.raw')).equals(runs)).toBe(true);
    await page.waitForSelector('#opfs-list li');
    expect(await page.textContent('#opfs-list')).toContain('qemu.raw · 24.0 MiB');
    await page.screenshot({ path: join(ARTIFACTS, 'converter-page.png'), fullPage: true });

    // Open from OPFS: the Worker reads the input through an access handle, both ways
    await page.click('#opfs-list li:has-text("qemu.raw") button:has-text("Open")');
    await page.waitForFunction(() => document.getElementById('convert-title')?.textContent?.includes('to VHDX'));
    await startConversion(page, 'opfs', 1);
    expect((await result(page)).text).toMatch(/^Saved to private storage \(OPFS\): qemu\.vhdx — /);
    expect(await page.getAttribute('#result', 'data-read')).toBe('opfs-handle');
    expect(qemuDecode(await readOpfs(page, served.site, 'qemu.vhdx'), scratch).equals(runs)).toBe(true);
    await page.click('#opfs-list li:has-text("qemu.vhdx") button:has-text("Open")');
    await page.waitForFunction(() => document.getElementById('convert-title')?.textContent?.includes('raw disk image'));
    // qemu.raw is there (the user's own by now): it is kept, the new one takes a free name
    await putOpfs(page, 'qemu.raw', 'mine!');
    await startConversion(page, 'opfs');
    expect((await result(page)).text).toMatch(/^Saved to private storage \(OPFS\): qemu-2\.raw — 24\.0 MiB/);
    expect(await page.getAttribute('#result', 'data-read')).toBe('opfs-handle');
    expect((await readOpfs(page, served.site, 'qemu-2.raw')).equals(runs)).toBe(true);
    expect((await readOpfs(page, served.site, 'qemu.raw')).toString('latin1')).toBe('mine!');
    await page.waitForSelector('#opfs-list li:has-text("qemu-2.raw")');
    expect(problems).toEqual([]);
  });

  it('raw -> VHDX into OPFS (VhdxWriterStream on a sync access handle), 1 MiB blocks; qemu-img reads the same disk', async () => {
    const { page, problems } = await open();
    await chooseFile(page, paths.runs);
    await startConversion(page, 'opfs', 1);
    expect((await result(page)).text).toMatch(/^Saved to private storage \(OPFS\): runs\.vhdx/);
    const vhdx = await readOpfs(page, served.site, 'runs.vhdx');
    expect(qemuDecode(vhdx, scratch).equals(runs)).toBe(true);
    const { openVhdx } = await import('../../dist/node/index.js');
    const image = await openVhdx(new Uint8Array(vhdx));
    expect([image.info.blockSize, image.info.allocatedBlocks, image.info.blockCount]).toEqual([MiB, 16, 24]);
    await image.close();
    expect(problems).toEqual([]);
  });

  it('VHDX -> raw into OPFS writes only data grains into a file sized with zeros: stored zero blocks at the end, zero grains inside; a taken name is kept and the output gets a free one', async () => {
    // a fixed disk stores every block, the last two all zeros; data blocks hold zero 64 KiB grains (and a lone byte)
    const disk = Buffer.alloc(6 * MiB);
    randomBytes(3 * 65536).copy(disk, 0);
    randomBytes(65536).copy(disk, 5 * 65536);
    disk[3 * MiB + 12345] = 9;
    randomBytes(65536).copy(disk, 4 * MiB - 65536);
    const raw = join(scratch, 'tail.raw');
    const vhdx = join(scratch, 'tail.vhdx');
    writeFileSync(raw, disk);
    const { convertRawFileToVhdx, openVhdx } = await import('../../dist/node/index.js');
    await convertRawFileToVhdx(raw, vhdx, { type: 'fixed', blockSize: MiB });
    const image = await openVhdx(vhdx);
    expect(
      image
        .extents()
        .filter((e) => e.kind === 'data')
        .reduce((n, e) => n + e.length, 0),
    ).toBe(6 * MiB);
    await image.close();
    const { page, problems } = await open();
    // a file of that name is there already (longer, 0xee where the new disk has zeros): it is never replaced
    await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const w = await (await root.getFileHandle('tail.raw', { create: true })).createWritable();
      await w.write(new Uint8Array(8 << 20).fill(0xee));
      await w.close();
    });
    await chooseFile(page, vhdx);
    await startConversion(page, 'opfs');
    expect((await result(page)).text).toMatch(
      /^Saved to private storage \(OPFS\): tail-2\.raw — 6\.00 MiB in .*; tail\.raw was there already and is kept as it was$/,
    );
    const out = await readOpfs(page, served.site, 'tail-2.raw');
    expect(out.length).toBe(disk.length);
    expect(out.equals(disk)).toBe(true);
    expect((await readOpfs(page, served.site, 'tail.raw')).equals(Buffer.alloc(8 << 20, 0xee))).toBe(true);
    // a second save of the same name: both earlier files keep their bytes, the third gets the next free name
    await startConversion(page, 'opfs');
    expect((await result(page)).text).toMatch(/^Saved to private storage \(OPFS\): tail-3\.raw — 6\.00 MiB in /);
    expect((await readOpfs(page, served.site, 'tail-3.raw')).equals(disk)).toBe(true);
    expect((await readOpfs(page, served.site, 'tail-2.raw')).equals(disk)).toBe(true);
    expect((await readOpfs(page, served.site, 'tail.raw')).equals(Buffer.alloc(8 << 20, 0xee))).toBe(true);
    expect((await opfsFiles(page)).map((f) => f.name).sort()).toEqual(['tail-2.raw', 'tail-3.raw', 'tail.raw']);
    expect(problems).toEqual([]);
  });

  it('a picked file (showSaveFilePicker stubbed with an OPFS-backed handle): raw -> VHDX and VHDX -> raw', async () => {
    const { page, problems } = await open('stub');
    expect(await page.isEnabled('input[name=output][value=picked]')).toBe(true);
    await chooseFile(page, paths.mixed);
    await startConversion(page, 'picked');
    expect((await result(page)).text).toMatch(/^Saved to picked-mixed\.vhdx — /);
    const vhdx = await readOpfs(page, served.site, 'picked-mixed.vhdx');
    expect(qemuDecode(vhdx, scratch).equals(padded(mixed, Math.ceil(mixed.length / 512) * 512))).toBe(true);

    await chooseFile(page, paths.qemu);
    await startConversion(page, 'picked');
    expect((await result(page)).text).toMatch(/^Saved to picked-qemu\.raw — 24\.0 MiB/);
    expect((await readOpfs(page, served.site, 'picked-qemu.raw')).equals(runs)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('Cancel stops each kind of output and leaves nothing that looks like a VHDX', async () => {
    // 2 GiB, sparse on disk: long enough to cancel mid-way
    const big = join(scratch, 'big.raw');
    const fd = openSync(big, 'w');
    writeSync(fd, randomBytes(MiB), 0, MiB, 0);
    writeSync(fd, randomBytes(MiB), 0, MiB, 2048 * MiB - MiB);
    closeSync(fd);
    const { page, problems } = await open('stub');
    let downloads = 0;
    page.on('download', () => downloads++);
    await chooseFile(page, big);
    // the file the user picks already holds something: a cancelled conversion must leave it as it was
    await putOpfs(page, 'picked-big.vhdx', 'keep me!');
    for (const output of ['download', 'opfs', 'picked'] as const) {
      await startConversion(page, output);
      await page.waitForFunction(() => (document.getElementById('progress') as HTMLProgressElement).value > 0);
      await page.click('#cancel');
      const line = await result(page);
      expect(line.state, `${output}: ${line.text}`).toBe('cancelled');
      expect(line.text).toMatch(/^Cancelled; nothing was saved/);
      expect(await page.isEnabled('#start')).toBe(true);
    }
    expect(downloads).toBe(0);
    const left = await opfsFiles(page);
    // the OPFS output was removed; the picked file keeps what it held (the writer aborted its writable stream)
    expect(left).toEqual([{ name: 'picked-big.vhdx', size: 8, head: 'keep me!' }]);
    for (const f of left) expect(f.head).not.toBe('vhdxfile');
    expect(problems).toEqual([]);
  });

  it('errors are one line with the VhdxError code and reason; a missing API disables its option with a reason', async () => {
    const { page } = await open('none');
    expect(await page.isDisabled('input[name=output][value=picked]')).toBe(true);
    expect(await page.textContent('.reason[data-for=picked]')).toBe('this browser has no showSaveFilePicker');
    expect(await page.isEnabled('input[name=output][value=opfs]')).toBe(true);

    // both headers damaged: the file cannot be opened
    const broken = Buffer.from(readFileSync(paths.qemu));
    for (const header of [64 * 1024, 128 * 1024]) broken.writeUInt8(broken.readUInt8(header + 100) ^ 0xff, header + 100);
    const brokenPath = join(scratch, 'broken.vhdx');
    writeFileSync(brokenPath, broken);
    await chooseFile(page, brokenPath);
    const shown = (await page.textContent('#inspect-error'))!;
    expect(shown).toMatch(/^VhdxError (CORRUPT|BAD_CHECKSUM) \([a-z-]+\): \S/);
    expect(shown).not.toMatch(/\n|\bat .*:\d+:\d+/);
    expect(await page.isDisabled('#start')).toBe(true);

    // an empty raw file fails in the Worker: the writer refuses it (INVALID_ARGUMENT)
    const empty = join(scratch, 'empty.raw');
    writeFileSync(empty, '');
    await chooseFile(page, empty);
    // a file of the output's name is there already: the failed conversion removes only what it created
    await putOpfs(page, 'empty.vhdx', 'keep me!');
    await startConversion(page, 'opfs');
    const line = await result(page);
    expect(line.state).toBe('error');
    expect(line.text).toMatch(/^VhdxError INVALID_ARGUMENT \([a-z-]+\): [^\n]*empty[^\n]*$/);
    expect(line.text).not.toMatch(/\bat .*:\d+:\d+/);
    expect(await opfsFiles(page)).toEqual([{ name: 'empty.vhdx', size: 8, head: 'keep me!' }]);
  });
});
