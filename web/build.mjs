// Builds the converter page into a directory: index.html and style.css as
// they are, main.js and worker.js (ES modules, code split) from web/src with
// the library resolved like an installed package (its default entry, dist/).
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(WEB, '..');

/**
 * @param {string} outdir where the site goes (created if needed)
 * @param {{ minify?: boolean }} [options]
 * @returns {Promise<string[]>} the files written, relative to outdir
 */
export async function buildWeb(outdir, options = {}) {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { main: join(WEB, 'src', 'main.ts'), worker: join(WEB, 'src', 'worker.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    sourcemap: true,
    minify: options.minify ?? true,
    metafile: true,
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) copyFileSync(join(WEB, file), join(outdir, file));
  const written = Object.keys(result.metafile.outputs).map((p) => p.slice(p.lastIndexOf('/') + 1));
  return ['index.html', 'style.css', ...written];
}
