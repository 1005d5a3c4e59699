// The shape of the code, checked: layers import downward only, there are no
// import cycles, and the default and workerd entries bundle for the browser
// and for Workers without any `node:` module (they import the built dist/).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLayers } from '../scripts/check-layers.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'vhdx-structure-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('layers', () => {
  it('src/ imports downward only, reaches node: only from node/ and cli/, and has no cycle', () => {
    expect(checkLayers(join(ROOT, 'src'))).toEqual([]);
  });

  it('the check fails on a deliberate violation of each rule', () => {
    const tree = join(scratch, 'bad-src');
    const put = (path: string, text: string) => {
      mkdirSync(join(tree, path, '..'), { recursive: true });
      writeFileSync(join(tree, path), text);
    };
    put('errors.ts', 'export const e = 1;\n');
    put('format/header.ts', "import { s } from '../streams/encoder.js';\nexport const h = s;\n");
    put('streams/encoder.ts', "import { e } from '../errors.js';\nexport const s = e;\n");
    put('image/open.ts', "import { readFile } from 'node:fs/promises';\nexport const o = readFile;\n");
    put('runtime/shim.ts', "import { k } from '../wasm/kernels.js';\nexport const r = k;\n");
    put('wasm/kernels.ts', 'export const k = 2;\n');
    put('sources/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
    put('sources/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
    put('node/fast.ts', "import { stat } from 'node:fs';\n// import { x } from '../cli/main.js';\nexport const f = stat;\n");
    const problems = checkLayers(tree);
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('format/header.ts: imports upward into streams/'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('image/open.ts: imports "node:fs/promises"'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('runtime/shim.ts: imports wasm/'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('import cycle: sources/'))).toBeDefined();
  });
});

/** Bundles a module that imports `code`'s specifiers, resolved from the repository like an installed package. */
async function bundle(code: string, options: BuildOptions): Promise<{ text: string; metafile: Metafile; files: string[] }> {
  const outdir = mkdtempSync(join(scratch, 'bundle-'));
  const result = await build({
    stdin: { contents: code, resolveDir: ROOT, loader: 'js', sourcefile: 'app.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outdir,
    metafile: true,
    logLevel: 'silent',
    write: true,
    ...options,
  });
  const metafile = result.metafile!;
  const files = Object.keys(metafile.outputs).map((p) => join(ROOT, p));
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  return { text, metafile, files };
}

const APP = `
import { VhdxEncoderStream, openVhdx, crc32c } from 'vhdx-stream';
const raw = new Uint8Array(3 << 20).map((_, i) => (i % 4099 === 0 ? i & 255 : 0));
const encoder = new VhdxEncoderStream({ virtualSize: raw.length, blockSize: 1 << 20 });
const parts = [];
const done = (async () => { for await (const c of encoder.readable) parts.push(c); })();
const writer = encoder.writable.getWriter(); await writer.write(raw); await writer.close(); await done;
const file = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
let at = 0; for (const p of parts) { file.set(p, at); at += p.length; }
const image = await openVhdx(new Blob([file]));
const back = await image.read(0, raw.length);
export const result = { same: crc32c(back) === crc32c(raw) && back.length === raw.length, size: encoder.outputSize === file.length };
`;

const nodeSpecifier = /\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|\brequire\s*\(\s*["']node:/;

describe('bundles (esbuild, like a browser app or a Worker would be built)', () => {
  it('the default entry bundles into one file for the browser with no externals, no node: module, and runs', async () => {
    const { text, metafile, files } = await bundle(APP, {});
    expect(files).toHaveLength(1);
    expect(Object.keys(metafile.inputs).filter((i) => i.startsWith('node:') || /\/node\//.test(i))).toEqual([]);
    expect(text).not.toMatch(nodeSpecifier);
    const mod = await import(pathToFileURL(files[0]!).href);
    expect(mod.result).toEqual({ same: true, size: true });
  });

  it('the default entry also bundles split (code splitting)', async () => {
    const { text, files } = await bundle(`${APP}\nexport const later = () => import('vhdx-stream');`, { splitting: true });
    expect(files.length).toBeGreaterThan(1);
    expect(text).not.toMatch(nodeSpecifier);
  });

  it('under the workerd condition the bundle imports the two .wasm modules and carries no inlined bytes and no node:', async () => {
    const { text, metafile } = await bundle(APP, { conditions: ['workerd', 'worker'], external: ['*.wasm'] });
    expect(text).not.toMatch(nodeSpecifier);
    const wasmImports = [...text.matchAll(/\bimport\s+\w+\s+from\s*["']([^"']+\.wasm)["']/g)].map((m) => m[1]);
    expect(wasmImports.sort()).toEqual(['./vhdx.simd.wasm', './vhdx.wasm']);
    expect(Object.keys(metafile.inputs).some((i) => i.includes('wasm-bytes'))).toBe(false);
  });
});
