import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Integration suites share one Docker engine, one Redis and one registry: run files one at a time
    // so that container counts and timings of one suite are not disturbed by another.
    fileParallelism: false,
    pool: 'forks',
  },
});
