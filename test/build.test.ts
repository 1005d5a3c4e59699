// The build replaces dist/ while other processes (a running `npm test`, a
// `vhdx` on PATH through `npm link`) may be loading it: dist/ must never be
// missing, and a build leaves no scratch folder behind.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('npm run build:ts', () => {
  it('keeps dist/index.js in place for the whole build, and leaves no dist.tmp-* behind', async () => {
    expect(existsSync(`${ROOT}dist/index.js`), 'build once before running the tests').toBe(true);
    const before = statSync(`${ROOT}dist/index.js`).ino;
    const child = spawn('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let done = false;
    void exited.then(() => {
      done = true;
    });
    let polls = 0;
    let missing = 0;
    while (!done) {
      polls++;
      if (!existsSync(`${ROOT}dist/index.js`) || !existsSync(`${ROOT}dist/node/index.js`)) missing++;
      await sleep(2);
    }
    expect(await exited, stderr).toBe(0);
    expect(statSync(`${ROOT}dist/index.js`).ino, 'the build replaced dist/index.js while it was watched').not.toBe(before);
    expect(polls).toBeGreaterThan(0);
    expect(missing).toBe(0);
    expect(readdirSync(ROOT).filter((n) => n.startsWith('dist.'))).toEqual([]);
  });
});
