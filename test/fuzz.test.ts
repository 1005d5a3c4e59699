// A bounded fuzz campaign on every npm test, plus every saved crash input.
// `npm run fuzz -- --time 600` runs longer and saves failures to test/fuzz/crashes.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as lib from '../src/node/index.js';
import * as format from '../src/format/index.js';
import { buildCorpus } from './fuzz/corpus.mjs';
import { mutate } from './fuzz/mutator.mjs';
import { runCase } from './fuzz/oracle.mjs';

const CASES = Number(process.env.FUZZ_CASES ?? 3000);
const CRASHES = new URL('./fuzz/crashes/', import.meta.url);

describe('fuzzing', () => {
  it(`survives ${CASES} structure-aware mutations of the corpus (one in three also opened writable, written and discarded in)`, async () => {
    const corpus = await buildCorpus(lib, format);
    for (const c of corpus) expect(await runCase(lib, c.bytes, c.parent ? { parent: c.parent } : {}), c.name).toBeUndefined(); // the corpus itself is valid
    // and opens: a differencing child through its parent
    for (const c of corpus) await (await lib.openVhdx(c.bytes, c.parent ? { parent: c.parent } : {})).close();
    const rssBefore = process.memoryUsage().rss;
    const problems: string[] = [];
    const codes = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const base = corpus[i % corpus.length]!;
      const seed = 0x5eed0000 + i;
      const { file, description } = mutate(base.bytes, seed, lib.crc32c);
      // one case in three is also opened writable and written (the writable oracle costs about 4 reads)
      const problem = await runCase(lib, file, { ...(base.parent ? { parent: base.parent } : {}), write: i % 3 === 0 });
      if (problem) problems.push(`${base.name}, seed ${seed} (${description}): ${problem}`);
      else {
        const code = await lib.openVhdx(file, base.parent ? { parent: base.parent } : {}).then(
          async (img) => {
            await img.close();
            return 'ok';
          },
          (e: lib.VhdxError) => e.code,
        );
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    const growth = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(`fuzz: ${CASES} cases, outcomes ${JSON.stringify(Object.fromEntries(codes))}, RSS growth ${growth.toFixed(0)} MiB`);
    expect(problems).toEqual([]);
    expect(growth).toBeLessThan(512);
    // the mutations reach past the checksums: many cases still open, many fail on fields
    expect(codes.get('ok') ?? 0).toBeGreaterThan(CASES / 20);
    expect(codes.get('CORRUPT') ?? 0).toBeGreaterThan(CASES / 20);
  });

  it('the command line (info, check, convert, check -r all) answers mutated files with exit 0, 1 or 3 (check found problems) and at most one line on stderr, never a stack trace', async () => {
    const { spawnSync } = await import('node:child_process');
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const bin = new URL('../bin/vhdx.js', import.meta.url).pathname;
    const corpus = await buildCorpus(lib, format);
    const tmp = mkdtempSync(join(tmpdir(), 'vhdx-fuzz-cli-'));
    try {
      for (let i = 0; i < 12; i++) {
        const base = corpus[i % corpus.length]!;
        const { file, description } = mutate(base.bytes, 0xc11 + i, lib.crc32c);
        const path = join(tmp, 'case.vhdx');
        writeFileSync(path, file);
        // a differencing child finds its parent by its locator's relative_path, beside it
        if (base.parent) writeFileSync(join(tmp, 'parent.vhdx'), base.parent);
        for (const args of [
          ['info', path, '--json'],
          ['check', path],
          ['convert', path, join(tmp, 'out.raw')],
          ['check', '-r', 'all', path], // last: it may change the file
        ]) {
          const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
          const what = `${args[0]} on seed ${0xc11 + i} (${description})`;
          expect(args[0] === 'check' ? [0, 1, 3] : [0, 1], `${what}: ${r.stderr}`).toContain(r.status);
          expect(r.stderr, what).not.toMatch(/\n\s+at /);
          expect(r.stderr.trim().split('\n').filter(Boolean).length, what).toBeLessThanOrEqual(1);
          if (r.stderr) expect(r.stderr, what).toMatch(/^vhdx: error\[[A-Z_]+\]: /);
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('replays every saved crash input', async () => {
    const files = readdirSync(CRASHES).filter((f) => f.endsWith('.vhdx'));
    for (const f of files) expect(await runCase(lib, new Uint8Array(readFileSync(new URL(f, CRASHES)))), f).toBeUndefined();
  });
});
