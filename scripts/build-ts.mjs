// tsc -> dist/ without a moment where dist/ is missing: a running `npm test`
// or a `vhdx` linked onto PATH may be loading it. The build goes to a scratch
// folder beside it (dist.tmp-XXXXXX, same depth, so source map paths are the
// same), then each file is renamed over its old copy (a rename replaces a file
// atomically), then files the new build no longer has are removed. A failed
// build leaves dist/ as it was.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const OUT = 'dist';

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir, prefix = '') {
  const out = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, e.name);
    if (e.isDirectory()) out.push(...filesUnder(dir, rel));
    else out.push(rel);
  }
  return out;
}

/** Removes the folders under `dir` (deepest first) that are left empty. */
function removeEmptyDirs(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const sub = join(dir, e.name);
    removeEmptyDirs(sub);
    if (readdirSync(sub).length === 0) rmdirSync(sub);
  }
}

/**
 * The command as one file (dist/cli/vhdx.js, what bin/vhdx.js runs): loading
 * the compiled modules one by one costs a start of the command about 80 ms of
 * CPU, a bundle about a quarter of that. Built from this build's own modules
 * (#wasm-source too, not the old dist/).
 */
async function bundleCli(scratch) {
  const esbuild = await import('esbuild');
  const own = {
    name: 'this-build',
    setup(b) {
      b.onResolve({ filter: /^#wasm-source$/ }, () => ({ path: join(process.cwd(), scratch, 'wasm/source.js') }));
    },
  };
  await esbuild.build({
    entryPoints: [join(scratch, 'cli/main.js')],
    outfile: join(scratch, 'cli/vhdx.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [own],
    logLevel: 'warning',
    legalComments: 'none',
  });
  // its types are those of the module it bundles
  writeFileSync(join(scratch, 'cli/vhdx.d.ts'), "export { main } from './main.js';\n");
}

const scratch = mkdtempSync(`${OUT}.tmp-`);
try {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', scratch], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  // The workerd entry imports the .wasm files themselves (Workers cannot
  // compile from bytes), so they ship next to the compiled JS.
  mkdirSync(join(scratch, 'wasm'), { recursive: true });
  copyFileSync('build/vhdx.wasm', join(scratch, 'wasm/vhdx.wasm'));
  copyFileSync('build/vhdx.simd.wasm', join(scratch, 'wasm/vhdx.simd.wasm'));

  await bundleCli(scratch);

  const fresh = filesUnder(scratch);
  const keep = new Set(fresh);
  for (const rel of fresh) {
    mkdirSync(join(OUT, dirname(rel)), { recursive: true });
    renameSync(join(scratch, rel), join(OUT, rel));
  }
  for (const rel of filesUnder(OUT)) if (!keep.has(rel)) rmSync(join(OUT, rel));
  removeEmptyDirs(OUT);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
