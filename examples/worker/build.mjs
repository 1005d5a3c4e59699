// Builds the Worker the way wrangler does: esbuild, one ES module, the
// `workerd`/`worker`/`browser` conditions, `.wasm` imports left as imports
// and the .wasm files copied beside the bundle (workerd loads them as
// compiled Wasm modules). Writes worker.js, vhdx.wasm, vhdx.simd.wasm and
// config.capnp into the output folder (default: ./build).
//   node examples/worker/build.mjs [outdir]
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Bundles `entry` (default: this example's Worker) into `outdir`; returns the files written. */
export async function buildWorker(outdir, entry = join(here, 'src', 'worker.js')) {
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: [entry],
    outfile: join(outdir, 'worker.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['*.wasm'],
    metafile: true,
    logLevel: 'warning',
  });
  // the package's workerd entry imports './vhdx.wasm' and './vhdx.simd.wasm'
  // relative to itself; in the bundle they are relative to worker.js
  const wasmDir = wasmFolder(result.metafile);
  for (const name of ['vhdx.wasm', 'vhdx.simd.wasm']) copyFileSync(join(wasmDir, name), join(outdir, name));
  copyFileSync(join(here, 'config.capnp'), join(outdir, 'config.capnp'));
  return ['worker.js', 'vhdx.wasm', 'vhdx.simd.wasm', 'config.capnp'].map((f) => join(outdir, f));
}

/** The folder of the package's workerd kernel source, which holds the two .wasm files. */
function wasmFolder(metafile) {
  const input = Object.keys(metafile.inputs).find((p) => p.endsWith('source.workerd.js'));
  if (!input) throw new Error('the bundle does not contain the workerd kernel source: was the workerd condition applied?');
  return dirname(resolve(input));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outdir = resolve(process.argv[2] ?? join(here, 'build'));
  const files = await buildWorker(outdir);
  console.log(`built ${files.map((f) => f.slice(outdir.length + 1)).join(', ')} in ${outdir}`);
  console.log(`worker.js: ${(readFileSync(files[0]).length / 1024).toFixed(0)} KiB`);
}
