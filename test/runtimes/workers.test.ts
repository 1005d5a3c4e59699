// Cloudflare Workers: the example Worker (examples/worker) built the way
// wrangler builds it and served by workerd, converting a raw disk fetched
// from a local origin; and the package bundled for workerd without
// nodejs_compat. Needs `npm run build` and `npm ci --prefix test/runtimes`.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeRaw } from '../helpers/images.js';
import { describeWith, suiteDir } from '../helpers/tools.js';
import { bundleWorker, describeRuntime, ROOT, serve, startWorkerd, type LocalServer } from './workers/harness.js';

const MiB = 1024 * 1024;
const dir = suiteDir('vhdx-workers-');

/** Builds examples/worker into `outdir` with its own build script, as its README says. */
function buildExample(outdir: string): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'examples/worker/build.mjs'), outdir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`example build failed:\n${r.stdout}${r.stderr}`);
}

describeRuntime('workerd', 'the example Worker in workerd', () => {
  // 4 MiB + 1000 bytes: neither a multiple of the block size nor of 512,
  // so the Worker rounds up to 4 MiB + 1024 and pads the tail with zeros
  const raw = makeRaw(4 * MiB + 1000, 'mixed', 5);
  const rawPath = join(dir.path, 'disk.raw');
  const out = join(dir.path, 'example');
  let origin: LocalServer;

  beforeAll(async () => {
    writeFileSync(rawPath, raw);
    buildExample(out);
    origin = await serve((req, res) => {
      if (req.url === '/disk.raw') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': raw.length });
        res.end(raw);
      } else if (req.url === '/short.raw') {
        // promises the whole disk, sends 1 MiB, then drops the connection
        res.writeHead(200, { 'content-length': raw.length });
        res.write(raw.subarray(0, MiB), () => setTimeout(() => req.socket.destroy(), 50));
      } else if (req.url === '/chunked.raw') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: sent chunked
        res.end(raw.subarray(0, MiB));
      } else {
        res.writeHead(404).end();
      }
    });
  });
  afterAll(() => origin?.close());

  it('builds one ES module that imports the two .wasm modules and no node: module', () => {
    const bundle = readFileSync(join(out, 'worker.js'), 'utf8');
    expect(bundle).not.toMatch(/\bfrom\s*["']node:|\bimport\s*\(\s*["']node:/);
    expect([...bundle.matchAll(/\bimport\s+\w+\s+from\s*["']([^"']+)["']/g)].map((m) => m[1]).sort()).toEqual([
      './vhdx.simd.wasm',
      './vhdx.wasm',
    ]);
    expect(readFileSync(join(out, 'vhdx.wasm')).subarray(0, 4)).toEqual(Buffer.from('\0asm'));
  });

  describeWith(['qemu-img'], 'answers ?url= with a VHDX that qemu-img finds identical to the raw disk', () => {
    for (const [constName, date] of [
      ['compat2024', '2024-01-01'],
      ['config', '2026-10-01'],
    ] as const) {
      it(`with compatibility date ${date}, without nodejs_compat`, async () => {
        const config = join(out, 'config.capnp');
        expect(readFileSync(config, 'utf8')).not.toMatch(/compatibilityFlags/);
        const workerd = await startWorkerd(config, constName);
        try {
          const res = await fetch(`${workerd.url}/?url=${encodeURIComponent(`${origin.url}/disk.raw`)}`);
          expect(res.status, workerd.output()).toBe(200);
          const body = new Uint8Array(await res.arrayBuffer());
          expect(res.headers.get('content-length')).toBe(String(body.length));
          expect(res.headers.get('content-disposition')).toBe('attachment; filename="disk.vhdx"');
          const vhdxPath = join(dir.path, `from-worker-${constName}.vhdx`);
          writeFileSync(vhdxPath, body);
          const info = spawnSync('qemu-img', ['info', '--output=json', vhdxPath], { encoding: 'utf8' });
          expect(JSON.parse(info.stdout)['virtual-size']).toBe(4 * MiB + 1024);
          const cmp = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', rawPath, vhdxPath], { encoding: 'utf8' });
          expect(cmp.stdout + cmp.stderr).toContain('Images are identical');
          expect(cmp.status).toBe(0);
        } finally {
          await workerd.stop();
        }
      });
    }
  });

  it('fails the download, rather than completing it, when the origin cuts the body short', async () => {
    const workerd = await startWorkerd(join(out, 'config.capnp'), 'config');
    try {
      const res = await fetch(`${workerd.url}/?url=${encodeURIComponent(`${origin.url}/short.raw`)}`);
      expect(res.status).toBe(200); // the headers went out before the body failed
      await expect(res.arrayBuffer()).rejects.toThrow();
    } finally {
      await workerd.stop();
    }
  });

  it('takes the source from SOURCE_URL, and refuses an origin without Content-Length with a clear 502', async () => {
    const workerd = await startWorkerd(join(out, 'config.capnp'), 'config', { SOURCE_URL: `${origin.url}/disk.raw` });
    try {
      const res = await fetch(`${workerd.url}/`);
      expect(res.status, workerd.output()).toBe(200);
      expect(Number(res.headers.get('content-length'))).toBe((await res.arrayBuffer()).byteLength);
      const chunked = await fetch(`${workerd.url}/?url=${encodeURIComponent(`${origin.url}/chunked.raw`)}`);
      expect(chunked.status).toBe(502);
      expect(await chunked.text()).toMatch(/no Content-Length/);
      const missing = await fetch(`${workerd.url}/?url=${encodeURIComponent(`${origin.url}/nothing.raw`)}`);
      expect(missing.status).toBe(502);
      expect(await missing.text()).toMatch(/answered 404/);
    } finally {
      await workerd.stop();
    }
  });
});

describeRuntime('workerd', 'the package bundled for workerd (single file plus the .wasm modules)', () => {
  const fixture = readFileSync(new URL('./workers/roundtrip-worker.js', import.meta.url), 'utf8');

  for (const date of ['2024-01-01', '2026-10-01']) {
    it(`encodes, opens, decodes and checks in workerd with compatibility date ${date} and no nodejs_compat`, async () => {
      const workerd = await startWorkerd(await bundleWorker(fixture, join(dir.path, `roundtrip-${date}`), { date }), 'config');
      try {
        const res = await fetch(workerd.url);
        expect(res.status, workerd.output()).toBe(200);
        expect(await res.json()).toEqual({ outputSize: true, openVhdx: true, decoder: true, check: true, virtualSize: 5 * MiB + 3 * 512 });
      } finally {
        await workerd.stop();
      }
    });
  }

  it('without the workerd condition (inlined bytes, which workerd refuses to compile), init() fails with wasm-unavailable', async () => {
    const code = `import { init } from 'vhdx-stream';
export default {
  async fetch() {
    try { await init(); return Response.json({ loaded: true }); }
    catch (err) { return Response.json({ name: err.name, code: err.code, reason: err.reason, message: err.message }); }
  },
};`;
    const config = await bundleWorker(code, join(dir.path, 'default-condition'), { conditions: ['worker', 'browser'] });
    const workerd = await startWorkerd(config, 'config');
    try {
      const res = await fetch(workerd.url);
      expect(res.status, workerd.output()).toBe(200);
      const error = await res.json();
      expect(error).toMatchObject({ name: 'VhdxError', code: 'UNSUPPORTED', reason: 'wasm-unavailable' });
      expect(error.message).toMatch(/'workerd' condition/);
    } finally {
      await workerd.stop();
    }
  });

  // (recent compatibility dates provide node: modules even without the flag; 2024-01-01 does not)
  it('(control) the Node entry, which imports node:fs, does not load at 2024-01-01: the failure the default entry avoids', async () => {
    const code =
      "import { convertRawFileToVhdx } from 'vhdx-stream/node';\nexport default { fetch: () => new Response(typeof convertRawFileToVhdx) };\n";
    const config = await bundleWorker(code, join(dir.path, 'node-entry'), { date: '2024-01-01' });
    await expect(startWorkerd(config, 'config')).rejects.toThrow(/No such module "node:fs/);
  });
});
