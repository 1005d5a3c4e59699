// `npm run web [-- --port N]`: builds the converter page into web/dist and
// serves it on 127.0.0.1 (a secure context, so OPFS and the file picker work).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb } from './build.mjs';
import { serveStatic } from './server.mjs';

const outdir = join(fileURLToPath(new URL('.', import.meta.url)), 'dist');
const portAt = process.argv.indexOf('--port');
const port = portAt > 0 ? Number(process.argv[portAt + 1]) : 0;

try {
  await buildWeb(outdir);
} catch (err) {
  console.error(`web: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
const server = await serveStatic(outdir, { port });
console.log(`VHDX converter: ${server.url}  (serving ${outdir}; Ctrl-C stops)`);
