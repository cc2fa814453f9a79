// 10,000 small op calls leave the resident memory flat: tensors, programs and completions are all freed.
import { describe, expect, it } from 'vitest';

import { add, relu } from '../../lib/ops/elementwise.js';
import { eagerCacheSize } from '../../lib/ops/eager.js';
import { Tensor } from '../../lib/runtime/tensor.js';

describe('no leak', () => {
  it('10,000 small op calls keep RSS flat', async () => {
    const x = Tensor.fromArray(Float32Array.from({ length: 1024 }, (_, i) => i - 512), [1024]);
    const round = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const y = await relu(x);
        const z = await add(x, y);
        y.dispose();
        z.dispose();
      }
    };
    await round(2000); // warm-up: caches, allocator pools, JIT
    global.gc?.();
    const before = process.memoryUsage().rss;
    await round(5000);
    global.gc?.();
    const after = process.memoryUsage().rss;
    const grownMiB = (after - before) / 2 ** 20;
    console.log(`RSS before ${(before / 2 ** 20).toFixed(1)} MiB, after 10,000 op calls ${(after / 2 ** 20).toFixed(1)} MiB (+${grownMiB.toFixed(1)})`);
    // Each call allocates a 4 KiB output: a leak of one tensor per call would be ≥ 40 MiB.
    expect(grownMiB).toBeLessThan(8);
    expect(eagerCacheSize()).toBeLessThanOrEqual(512);
  });

  it('undisposed tensors are reclaimed by the finalizer backstop', async () => {
    // Freed blocks go back to the CPU allocator's cache, so the proof is reuse: a second round of
    // undisposed tensors, after collection, must not grow the process again.
    expect(global.gc, 'vitest runs with --expose-gc (vitest.config.ts)').toBeTypeOf('function');
    const round = async () => {
      for (let i = 0; i < 200; i++) Tensor.zeros([256, 1024]); // 1 MiB each, never disposed
      for (let i = 0; i < 5; i++) {
        global.gc!();
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await round();
    const before = process.memoryUsage().rss;
    await round();
    await round();
    const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    console.log(`2 × 200 MiB of undisposed tensors after the first round → RSS +${grownMiB.toFixed(1)} MiB`);
    expect(grownMiB).toBeLessThan(100);
  });
});
