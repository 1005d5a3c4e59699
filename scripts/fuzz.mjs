// `npm run fuzz -- --time 600 [--seed N]`: a longer campaign than npm test's.
// Each failing input is saved to test/fuzz/crashes/ (with a .txt saying
// what went wrong), and the test suite replays that folder on every run.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as built from '../dist/node/index.js';
import * as format from '../dist/format/index.js';

/** @type {any} the built library, typed by its sources in the helpers */
const lib = built;
import { buildCorpus } from '../test/fuzz/corpus.mjs';
import { mutate } from '../test/fuzz/mutator.mjs';
import { runCase } from '../test/fuzz/oracle.mjs';

const { values } = parseArgs({ options: { time: { type: 'string', default: '60' }, seed: { type: 'string' } } });
const seconds = Number(values.time);
let seed = values.seed === undefined ? Date.now() & 0x7fffffff : Number(values.seed);
const crashes = new URL('../test/fuzz/crashes/', import.meta.url);
mkdirSync(crashes, { recursive: true });

const corpus = await buildCorpus(lib, format);
const start = performance.now();
let cases = 0;
let failures = 0;
console.log(`fuzzing for ${seconds} s from seed ${seed} over ${corpus.length} corpus files`);
while ((performance.now() - start) / 1000 < seconds) {
  const base = corpus[cases % corpus.length];
  const { file, description } = mutate(base.bytes, seed, lib.crc32c);
  const problem = await runCase(lib, file, base.parent ? { parent: base.parent } : {});
  if (problem) {
    failures++;
    const name = createHash('sha256').update(file).digest('hex').slice(0, 16);
    writeFileSync(new URL(`${name}.vhdx`, crashes), file);
    writeFileSync(new URL(`${name}.txt`, crashes), `${base.name}, seed ${seed}: ${description}\n${problem}\n`);
    console.log(`FAIL ${name}: ${base.name}, seed ${seed}: ${description}\n  ${problem}`);
  }
  cases++;
  seed = (seed + 1) >>> 0;
}
console.log(`${cases} cases, ${failures} failures, ${((performance.now() - start) / 1000).toFixed(0)} s`);
process.exitCode = failures ? 1 : 0;
