// The library in Chromium: the default entry bundled by esbuild (one file, and
// split into chunks), on the main thread and in a module Worker. Each run
// encodes, decodes, scans and reads a small disk, and uploads its VHDX, which
// Node then reads with the Node entry (dist/node) as an independent check.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AppReport } from './browser/app.js';
import { buildTestBundles, type TestBundles } from './browser/bundles.js';
import { describeChromium, findChromium } from './browser/chromium.js';
import { suiteDir } from '../helpers/tools.js';
import { serveWithUploads, type UploadServer } from './browser/uploads.js';
import { DISK_BLOCK, DISK_PRESENT, DISK_SIZE, makeDisk } from './browser/disk.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const found = await findChromium();

async function runOnMainThread(page: Page, label: string): Promise<AppReport> {
  return page.evaluate(
    ({ label }) =>
      (globalThis as unknown as { runChecks(b: string, l: string): Promise<AppReport> }).runChecks(`${location.origin}/`, label),
    { label },
  );
}

async function runInWorker(page: Page, label: string): Promise<AppReport> {
  const reply = await page.evaluate(
    ({ label }) =>
      new Promise<{ report?: AppReport; error?: string }>((resolve) => {
        const worker = new Worker('./worker.js', { type: 'module' });
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => resolve({ error: `worker failed to load: ${e.message}` });
        worker.postMessage({ base: `${location.origin}/`, label });
      }),
    { label },
  );
  if (!reply.report) throw new Error(reply.error);
  return reply.report;
}

describeChromium(found, 'the default entry in Chromium (esbuild bundles)', (browser) => {
  const scratch = suiteDir('vhdx-browser-').path;
  type Served = UploadServer & { bundles: TestBundles };
  const served = {} as Record<'single' | 'split', Served>;
  const raw = makeDisk();

  beforeAll(async () => {
    for (const kind of ['single', 'split'] as const) {
      const dir = join(scratch, kind);
      const bundles = await buildTestBundles(dir, kind === 'split');
      served[kind] = { ...(await serveWithUploads(dir)), bundles };
    }
  });
  afterAll(async () => {
    for (const s of Object.values(served)) await s.server.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const cases = [
    ['single', 'main'],
    ['single', 'worker'],
    ['split', 'main'],
    ['split', 'worker'],
  ] as const;

  for (const [kind, where] of cases) {
    it(`${kind} bundle, ${where === 'main' ? 'main thread' : 'module Worker'}: encode, decode, scan, open and read`, async () => {
      const { server, uploads, requests, bundles } = served[kind];
      if (kind === 'single') expect(bundles.files.sort()).toEqual(['main.js', 'worker.js']);
      else expect(bundles.files.filter((f) => f.startsWith('chunk-')).length).toBeGreaterThan(0);
      const page = await browser().newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      try {
        await page.goto(server.url);
        const label = `${kind}-${where}`;
        const before = requests.length;
        const report = where === 'main' ? await runOnMainThread(page, label) : await runInWorker(page, label);
        expect(problems).toEqual([]);

        expect(report.syncCrc).toBe(0xe3069283); // CRC-32C check value
        expect(report.present).toEqual(DISK_PRESENT);
        expect(report.mapped.decodedSame).toBe(true);
        expect(report.mapped.size).toBe(report.mapped.outputSize);
        expect(report.unmapped.decodedSame).toBe(true);
        expect(report.unmapped.size).toBe(report.unmapped.outputSize);
        expect(report.unmapped.allocatedBlocks).toBe(DISK_PRESENT.length);
        expect(report.unmapped.size - report.mapped.size).toBe(2 * DISK_BLOCK); // the two zero blocks left out
        expect(report.info).toEqual({
          virtualSize: DISK_SIZE,
          blockSize: DISK_BLOCK,
          type: 'dynamic',
          allocatedBlocks: 5,
          blockCount: 7,
          log: 'clean',
        });
        expect(report.extents.map((e) => e.kind)).toEqual(['data', 'zero', 'data', 'zero', 'data']);
        expect(report.readsSame).toEqual([true, true, true, true, true]);
        expect(report.streamSame).toBe(true);
        expect(report.notVhdx).toEqual({ name: 'VhdxError', code: 'NOT_VHDX', reason: 'not-vhdx' });
        if (where === 'worker') expect(requests.slice(before)).toContain('/worker.js');
        if (kind === 'split') expect(requests.some((r) => r.startsWith('/chunk-'))).toBe(true);

        // the browser's file, read by the Node entry
        const uploaded = uploads.get(`${label}.vhdx`);
        expect(uploaded?.length).toBe(report.mapped.size);
        const node = await import(join(ROOT, 'dist/node/index.js'));
        const image = await node.openVhdx(new Uint8Array(uploaded!));
        const back: Uint8Array = await image.read(0, DISK_SIZE);
        expect(Buffer.compare(Buffer.from(back), Buffer.from(raw))).toBe(0);
        await image.close();
      } finally {
        await page.close();
      }
    });
  }

  it('the bundles import nothing at run time but their own chunks (no node:, no externals)', () => {
    expect(served.single.bundles.imports).toEqual([]);
    const split = served.split.bundles.imports;
    expect(split.length).toBeGreaterThan(0);
    for (const i of split) {
      expect(i.external).toBe(false);
      expect(i.path).toMatch(/\/chunk-[\w-]+\.js$/);
    }
    for (const kind of ['single', 'split'] as const) {
      for (const f of served[kind].bundles.files) expect(readFileSync(join(scratch, kind, f), 'utf8')).not.toMatch(/["']node:/);
    }
  });
});
