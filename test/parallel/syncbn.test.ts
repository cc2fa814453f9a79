// SyncBN on one replica is ordinary batch norm: same losses, weights and running statistics.
import { describe, expect, it } from 'vitest';

import { InProcessGroup } from '../../lib/parallel/group.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { rng } from '../util/random.js';
import { batchOf, inputShape, maxAbsDiff, optimizer, smallResNet } from './model.js';

describe('SyncBN', () => {
  it('with 1 replica equals plain batch norm over 5 steps (losses, weights, running statistics)', async () => {
    const module = smallResNet();
    const init = module.initialState(rng(3));
    const group = new InProcessGroup(['cpu:1']);
    const plain = new ModelRuntime(module, { inputShape, optimizer, device: 'cpu:1' });
    const synced = new ModelRuntime(module, { inputShape, optimizer, device: 'cpu:1', group: group.id, syncBatchNorm: true });
    await plain.load(init);
    await synced.load(init);

    // The synced graph really takes the separate path: stats → all-reduce → apply, and back.
    const ops = synced.trainingGraph(6).nodes.map((n) => n.op);
    const count = (op: string) => ops.filter((o) => o === op).length;
    expect(count('batchnorm_forward_training')).toBe(0);
    expect(count('batchnorm_stats')).toBe(5);
    expect(count('batchnorm_apply_training')).toBe(5);
    expect(count('batchnorm_backward_reduce')).toBe(5);
    expect(count('batchnorm_backward_apply')).toBe(5);
    expect(count('allreduce_mean')).toBe(5 + 5); // the gradient all-reduce is the compiler's, after these

    for (const [step, size] of [6, 6, 3, 6, 1].entries()) {
      const { x, labels } = batchOf(size, 40 + step);
      const a = await plain.trainStep(x, labels, 0.1);
      const b = await synced.trainStep(x, labels, 0.1);
      expect(Math.abs(a.loss - b.loss), `step ${step + 1} loss`).toBeLessThan(1e-5 * (1 + Math.abs(a.loss)));
      expect(b.correct).toEqual(a.correct);
    }
    const paramDiff = maxAbsDiff((await plain.params.toArray()) as Float32Array, (await synced.params.toArray()) as Float32Array);
    const bufferDiff = maxAbsDiff((await plain.buffers!.toArray()) as Float32Array, (await synced.buffers!.toArray()) as Float32Array);
    console.log(`SyncBN (1 replica) vs BN after 5 steps: max |Δparam| ${paramDiff.toExponential(2)}, max |Δrunning stat| ${bufferDiff.toExponential(2)}`);
    expect(paramDiff).toBeLessThan(1e-5);
    expect(bufferDiff).toBeLessThan(1e-5);
    plain.dispose();
    synced.dispose();
    group.destroy();
  });
});
