// The README's TypeScript examples, run as written: the https://example.com
// URLs point at a local server, `vhdx-stream` at the built package, and each
// example gets the few variables it uses from an earlier one.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRaw } from './helpers/images.js';
import { tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;
const ROOT = new URL('..', import.meta.url);
const dir = tempDir('vhdx-readme-');
let server: Server;
let base = '';

/** The ```ts blocks of the README, in order. */
function examples(): string[] {
  const text = readFileSync(new URL('README.md', ROOT), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** What an example uses but an earlier example defined (keyed by a line it contains). */
const PRELUDES: [string, string][] = [
  [
    'const allocationMap = await scanAllocation(file)',
    `import { VhdxEncoderStream, VhdxWriterStream, scanAllocation } from 'vhdx-stream/node';
     const file = new Blob([readFileSync('disk.raw')]);
     const res = await fetch('https://example.com/disk.raw');`,
  ],
];

/** Runs one example as a module in the temp dir (asynchronously: the local server must keep serving). */
async function runExample(source: string): Promise<{ status: number | null; stderr: string }> {
  const prelude = PRELUDES.find(([marker]) => source.includes(marker))?.[1] ?? '';
  const js = ts.transpileModule(`import { readFileSync } from 'node:fs';\n${prelude}\n${source}`, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const wired = js
    .replaceAll('https://example.com/', base)
    .replaceAll("'vhdx-stream/node'", `'${new URL('dist/node/index.js', ROOT).href}'`)
    .replaceAll("'vhdx-stream'", `'${new URL('dist/index.js', ROOT).href}'`);
  const file = join(dir.path, `example-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, wired);
  const child = spawn(process.execPath, [file], { cwd: dir.path, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { status, stderr };
}

beforeAll(async () => {
  const raw = makeRaw(6 * MiB, 'mixed', 40);
  writeFileSync(join(dir.path, 'disk.raw'), raw);
  // a VHDX for the examples that read one, made by the CLI
  const made = spawnSync(process.execPath, [new URL('bin/vhdx.js', ROOT).pathname, 'convert', 'disk.raw', 'disk.vhdx'], { cwd: dir.path });
  expect(made.status).toBe(0);
  server = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    try {
      const body = readFileSync(join(dir.path, name));
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => {
  server?.close();
  dir.cleanup();
});

describe('README examples', () => {
  const blocks = examples();

  it('finds the examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it.each(blocks.map((b, i) => [i + 1, b] as const))('example %i runs without an error', async (_, source) => {
    const r = await runExample(source);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
