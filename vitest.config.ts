import { defineConfig } from 'vitest/config';

// Forks, not threads: native addons and worker threads do not mix well in test runners.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
