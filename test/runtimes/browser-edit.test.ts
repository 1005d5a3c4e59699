// Writing in place in Chromium: a VHDX that qemu-img made is copied into OPFS
// and changed through a FileSystemSyncAccessHandle in a module Worker
// (openVhdx(handle, { writable: true }) from the built default entry bundled
// by esbuild), closed and read back from the OPFS file; the page then hands
// the file to Node, where qemu-img checks and reads the same bytes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sha256 } from '../helpers/tools.js';
import { describeChromium, findChromium } from './browser/chromium.js';
import type { EditReport, EditStep } from './browser/entry-edit-worker.js';
import { serveWithUploads, type UploadServer } from './browser/uploads.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const found = await findChromium();

function ok(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} -> ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const STEPS: EditStep[] = [
  { kind: 'write', offset: 5 * MiB + 100, length: 70_000, value: 0x11 }, // a new block, partial sectors at both ends
  { kind: 'write', offset: 32 * 1024, length: 4096, value: 0x22 }, // over QEMU's data
  { kind: 'discard', offset: MiB, length: MiB }, // a whole block of QEMU's: ZERO
  { kind: 'discard', offset: 2 * MiB + 512 * 1024, length: 4096 }, // part of a block: zeros written
  { kind: 'write', offset: SIZE - 3, length: 3, value: 0x33 }, // the disk's last bytes
];

describeChromium(found, 'writing in place in Chromium: OPFS sync access handle in a module Worker', (browser) => {
  const dir = mkdtempSync(join(tmpdir(), 'vhdx-browser-edit-'));
  let served: UploadServer;
  const expected = new Uint8Array(SIZE);

  beforeAll(async () => {
    const input = join(dir, 'input.vhdx');
    ok('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', input, String(SIZE)]);
    ok('qemu-io', ['-c', 'write -P 0xab 0 3M', input]);
    expected.fill(0xab, 0, 3 * MiB);
    for (const s of STEPS) expected.fill(s.kind === 'write' ? s.value : 0, s.offset, s.offset + s.length);
    const entry = fileURLToPath(new URL('./browser/entry-edit-worker.ts', import.meta.url));
    await build({
      entryPoints: { 'edit-worker': entry },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outdir: dir,
      logLevel: 'silent',
    });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>vhdx-stream edit</title>\n');
    served = await serveWithUploads(dir);
  });
  afterAll(async () => {
    await served?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('changes the OPFS file in place, reads it back after close, and qemu-img reads the same disk', async () => {
    const page = await browser().newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    try {
      await page.goto(served.server.url);
      const reply = await page.evaluate(
        (steps) =>
          new Promise<{ report?: EditReport; error?: string }>((resolve) => {
            const worker = new Worker('./edit-worker.js', { type: 'module' });
            worker.onmessage = (e) => resolve(e.data);
            worker.onerror = (e) => resolve({ error: `worker failed to load: ${e.message}` });
            worker.postMessage({ base: `${location.origin}/`, steps });
          }),
        STEPS,
      );
      if (!reply.report) throw new Error(reply.error);
      expect(problems).toEqual([]);
      expect(reply.report).toEqual({ writable: true, logState: 'clean', virtualSize: SIZE, digest: sha256(expected) });
    } finally {
      await page.close();
    }
    const edited = served.uploads.get('edited.vhdx');
    expect(edited).toBeDefined();
    const path = join(dir, 'edited.vhdx');
    writeFileSync(path, edited!);
    expect(ok('qemu-img', ['check', path])).toContain('No errors');
    ok('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', path, `${path}.raw`]);
    expect(sha256(readFileSync(`${path}.raw`))).toBe(sha256(expected));
  });
});
