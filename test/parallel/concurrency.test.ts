// The per-device worker threads really run at once: 2 CPU replicas of 1 thread each take a step on 2×b images
// in clearly less than twice the time 1 replica of 1 thread takes on b images (ideal ratio 1; serial would be 2).
//
// A shared machine may not give this process two cores at the moment (Linux autogroup shares the CPUs between
// sessions, not threads), and then no code can show the overlap. So each round also times two independent
// runtimes (no collective) stepping at once: when even they cannot overlap, the test says so and skips rather
// than pass or fail on noise.
import { cpus } from 'node:os';

import { describe, expect, it } from 'vitest';

import { resnet } from '../../lib/models/resnet.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { DataParallel } from '../../lib/parallel/data-parallel.js';
import { native } from '../../lib/runtime/native.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { randint, randn, rng } from '../util/random.js';

// Clearly under 2× (fully serial); measured 1.46–1.52 on an idle 2-core machine, up to ~1.62 while other jobs ran.
const LIMIT = 1.75;
const BUSY = 1.45;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(step: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await step();
  return performance.now() - start;
}

describe('data-parallel concurrency', () => {
  it.skipIf(cpus().length < 2)(`2 replicas × 1 thread step in < ${LIMIT}× the time of 1 replica × 1 thread (same per-replica batch)`, async (ctx) => {
    const module = resnet({ depth: 8, dataset: 'cifar10' });
    const inputShape = [3, 32, 32];
    const optimizer = optimizerSpec({ name: 'sgd', momentum: 0.9 });
    const perReplica = 32;
    for (const d of ['cpu:3', 'cpu:4', 'cpu:5']) native().setDeviceThreads(d, 1);
    const single = new ModelRuntime(module, { inputShape, optimizer, device: 'cpu:3' });
    const independent = ['cpu:4', 'cpu:5'].map((device) => new ModelRuntime(module, { inputShape, optimizer, device }));
    const parallel = new DataParallel(module, { inputShape, optimizer, devices: ['cpu:1', 'cpu:2'], threadsPerReplica: 1 });
    const init = module.initialState(rng(1));
    await Promise.all([single.load(init), ...independent.map((r) => r.load(init)), parallel.load(init)]);
    const batch = (n: number, seed: number) => ({ x: Float32Array.from(randn(n * 3 * 32 * 32, seed)), y: randint(n, seed + 1, 10) });
    const one = batch(perReplica, 1);
    const two = batch(2 * perReplica, 2);
    const steps = [
      () => single.trainStep(one.x, one.y, 0.01),
      () => parallel.trainStep(two.x, two.y, 0.01),
      () => Promise.all(independent.map((r) => r.trainStep(one.x, one.y, 0.01))),
    ];
    for (let i = 0; i < 2; i++) for (const step of steps) await step();
    // Rounds of the three, in rotating order, so a burst of load elsewhere hits a round's members alike; the
    // median of the per-round ratios discards the rounds it hit unevenly.
    const measure = async () => {
      const parallelRatios: number[] = [];
      const independentRatios: number[] = [];
      const singleMs: number[] = [];
      for (let round = 0; round < 15; round++) {
        const ms = [0, 0, 0];
        for (let k = 0; k < 3; k++) {
          const which = (round + k) % 3;
          ms[which] = await time(steps[which]);
        }
        singleMs.push(ms[0]);
        parallelRatios.push(ms[1] / ms[0]);
        independentRatios.push(ms[2] / ms[0]);
      }
      return { ratio: median(parallelRatios), possible: median(independentRatios), singleMs: median(singleMs) };
    };
    // Up to 3 blocks, stopping at the first that passes: load bursts pass, but serial replicas (ratio ≈ 2) never do.
    const blocks: Awaited<ReturnType<typeof measure>>[] = [];
    do {
      const block = await measure();
      blocks.push(block);
      console.log(
        `concurrency: 1 replica × 1 thread, batch ${perReplica}: median ${block.singleMs.toFixed(1)} ms/step; ` +
          `2 replicas × 1 thread, batch ${2 * perReplica}: median ratio ${block.ratio.toFixed(2)} ` +
          `(two independent runtimes at once, no collective: ${block.possible.toFixed(2)}; 1 = fully parallel, 2 = serial)`,
      );
    } while (blocks.length < 3 && blocks.at(-1)!.ratio >= LIMIT);
    single.dispose();
    independent.forEach((r) => r.dispose());
    parallel.dispose();
    const best = blocks.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    const possible = Math.min(...blocks.map((b) => b.possible));
    // Two runtimes with nothing shared overlap to ~1.1–1.3 on an idle 2-core machine; far above that, other jobs hold
    // a core and no ratio measured now says anything about our threads.
    if (best.ratio >= LIMIT && possible >= BUSY) {
      ctx.skip(`this machine does not give the process two cores now (independent runtimes: ratio ${possible.toFixed(2)})`);
    }
    expect(best.ratio).toBeLessThan(LIMIT);
  });
});
