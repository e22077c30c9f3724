import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Model tests are CPU-bound: more workers than cores only slows every file down.
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
