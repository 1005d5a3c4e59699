import { defineConfig } from 'vitest/config';

// package.json "imports" points at dist/ by default; tests run the sources
const conditions = ['vhdx-stream-source'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
