// Builds the test app with esbuild from the built dist/, as an application
// would: one self-contained file per entry, or split into shared chunks.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ENTRIES = { main: join(HERE, 'entry-main.ts'), worker: join(HERE, 'entry-worker.ts') };

/** What a build produced: the .js files, and every import each output makes at run time (from esbuild's metafile). */
export interface TestBundles {
  files: string[];
  imports: { from: string; path: string; kind: string; external: boolean }[];
}

/** Writes main.js, worker.js (and chunks when split) and an index.html loading main.js into `outdir`. */
export async function buildTestBundles(outdir: string, split: boolean): Promise<TestBundles> {
  mkdirSync(outdir, { recursive: true });
  const common = {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir,
    logLevel: 'silent',
    metafile: true,
  } as const;
  const metafiles: Metafile[] = [];
  if (split) {
    metafiles.push((await build({ ...common, entryPoints: ENTRIES, splitting: true, chunkNames: 'chunk-[hash]' })).metafile);
  } else {
    // each entry on its own, so neither imports anything at run time
    for (const [name, path] of Object.entries(ENTRIES))
      metafiles.push((await build({ ...common, entryPoints: { [name]: path } })).metafile);
  }
  writeFileSync(
    join(outdir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>vhdx-stream</title><script type="module" src="./main.js"></script>\n',
  );
  const imports = metafiles.flatMap((m) =>
    Object.entries(m.outputs).flatMap(([from, out]) =>
      out.imports.map((i) => ({ from, path: i.path, kind: i.kind, external: i.external ?? false })),
    ),
  );
  return { files: readdirSync(outdir).filter((f) => f.endsWith('.js')), imports };
}
