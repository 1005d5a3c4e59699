// check() reports: every problem once, in file order, with its reason; a
// valid file reports none.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { VhdxEncoderStream, checkVhdx } from '../src/node/index.js';
import { chunkedStream, collect, makeRaw } from './helpers/images.js';
import { describeWith, run, tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const dir = tempDir('vhdx-check-');
afterAll(() => dir.cleanup());

/** A fixed VHDX of 6 one-MiB blocks stored in order, and where its payload starts. */
async function fixedImage(): Promise<{ file: Uint8Array; payload: number }> {
  const raw = makeRaw(6 * MiB, 'data', 4);
  const encoder = new VhdxEncoderStream({ virtualSize: raw.length, blockSize: MiB, type: 'fixed' });
  const file = await collect(chunkedStream(raw).pipeThrough(encoder));
  return { file, payload: encoder.layout.payloadOffset };
}

describe('check()', () => {
  it('finds nothing wrong with a valid file', async () => {
    const report = await checkVhdx((await fixedImage()).file);
    expect(report).toMatchObject({ ok: true, problems: [] });
  });

  it('lists every block past the end of a truncated file, once each, in file order', async () => {
    const { file, payload } = await fixedImage();
    const cut = file.subarray(0, payload + 2 * MiB + 4096); // blocks 2..5 no longer fit
    const report = await checkVhdx(cut);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.reason)).toEqual([
      'bat-entry-past-eof',
      'bat-entry-past-eof',
      'bat-entry-past-eof',
      'bat-entry-past-eof',
    ]);
    const offsets = report.problems.map((p) => p.offset!);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(new Set(offsets).size).toBe(4);
  });

  describeWith(['qemu-img'], 'against qemu-img check', () => {
    it('counts the same broken BAT entries on a truncated file', async () => {
      const { file, payload } = await fixedImage();
      const path = join(dir.path, 'cut.vhdx');
      writeFileSync(path, file.subarray(0, payload + 3 * MiB + 512));
      const ours = (await checkVhdx(path)).problems.filter((p) => p.structure === 'bat').length;
      const theirs = run('qemu-img', ['check', '--output=json', '-f', 'vhdx', path]);
      const { corruptions } = JSON.parse(theirs.stdout) as { corruptions: number };
      expect(corruptions).toBe(3);
      expect(ours).toBe(corruptions);
    });
  });
});

describe('inputs', () => {
  it('openVhdx from the Node entry opens a file: URL; the default entry refuses it with a reason', async () => {
    const { file } = await fixedImage();
    const path = join(dir.path, 'url.vhdx');
    writeFileSync(path, file);
    const { openVhdx } = await import('../src/node/index.js');
    const image = await openVhdx(pathToFileURL(path));
    expect(image.info.virtualSize).toBe(6 * MiB);
    await image.close();
    const web = await import('../src/index.js');
    const err = await web.openVhdx(pathToFileURL(path)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'unsupported-source' });
  });
});
