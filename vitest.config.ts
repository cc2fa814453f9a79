import { defineConfig } from 'vitest/config';

// Forks, not threads: native addons and worker threads do not mix well in test runners.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // --expose-gc lets the leak tests force collections and measure what stays.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
