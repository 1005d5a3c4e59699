// Type-checks test/runtimes/ when its harness is installed; otherwise says
// what to install and passes (a contributor's `npm ci` does not install it).
// Under CI=true the harness is required, as the runtime tests require it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

if (!existsSync('test/runtimes/node_modules/playwright-core')) {
  const what = 'test/runtimes/ not type-checked: its harness is not installed (npm ci --prefix test/runtimes)';
  if (process.env.CI === 'true') {
    console.error(`typecheck: ${what}; required under CI`);
    process.exit(1);
  }
  console.warn(`typecheck: ${what}`);
  process.exit(0);
}
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'test/runtimes/tsconfig.json', '--noEmit'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
