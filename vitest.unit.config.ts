import { configDefaults, defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// The fast tier, `npm run test:unit`: the library's tests on the sources.
// Left to `npm test` (the full suite, which CI runs): the files that spawn the
// command line or other runtimes, the interop peers (describeWith suites are
// skipped under VHDX_TEST_TIER=unit), the fuzzer, the build and the package.
export const SLOW_FILES = [
  'test/runtimes/**',
  'test/*.interop.test.ts',
  'test/cli.test.ts',
  'test/cli-data.test.ts',
  'test/cli-ux.test.ts',
  'test/chain-cli.test.ts',
  'test/readme.test.ts',
  'test/fuzz.test.ts',
  'test/faults.test.ts',
  'test/runtime.test.ts',
  'test/build.test.ts',
  'test/package.test.ts',
  // the command line run as a process
  'test/cli-habits.test.ts',
  'test/inplace-cli.test.ts',
  'test/repair.test.ts',
  // a real object store, real ext4 filesystems
  'test/s3-cli.test.ts',
  'test/s3-parallel.test.ts',
  'test/example-step-functions.test.ts',
  'test/guest.test.ts',
  'test/fs-trim.test.ts',
  // rebuilding a file at every crash point of a write, compaction, resize or commit
  'test/edit-crash.test.ts',
  'test/compact.test.ts',
  'test/resize.test.ts',
  'test/commit.test.ts',
  'test/set-parent.test.ts',
];

export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [...configDefaults.exclude, ...SLOW_FILES],
      env: { VHDX_TEST_TIER: 'unit' },
    },
  }),
);
