// What the default entry weighs in a browser bundle: the whole library bundled
// by esbuild (minified, platform browser, as docs/runtimes/browser.md says),
// its gzipped size, and the share of the web-streams ponyfill in it.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = new URL('..', import.meta.url).pathname;
const KB = 1000;

/** The size of the bundled default entry (every export kept), and the bytes each input contributed. */
export async function bundleSize() {
  const result = await build({
    stdin: { contents: "export * from 'vhdx-stream';", resolveDir: ROOT, loader: 'js', sourcefile: 'app.mjs' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  const inputs = Object.values(result.metafile.outputs)[0].inputs;
  const polyfill = Object.entries(inputs)
    .filter(([path]) => path.includes('node_modules/web-streams-polyfill/'))
    .reduce((sum, [, input]) => sum + input.bytesInOutput, 0);
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length, polyfill };
}

export async function sizeBench() {
  const { minified, gzipped, polyfill } = await bundleSize();
  console.log('\nBrowser bundle of the default entry (esbuild --bundle --minify --platform=browser, every export; needs npm run build)');
  console.log(`  minified ${(minified / KB).toFixed(1)} KB, gzipped ${(gzipped / KB).toFixed(1)} KB`);
  console.log(`  of which web-streams-polyfill ${(polyfill / KB).toFixed(1)} KB minified (${Math.round((100 * polyfill) / minified)}%)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await sizeBench();
