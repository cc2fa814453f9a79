// A small residual network with batch norms in every kind of place, and its inputs, for the data-parallel tests.
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { smallResNet, smallResNetClasses } from '../util/models.js';
import { randint, randn } from '../util/random.js';

export const inputShape = [3, 8, 8] as const;
export const classes = smallResNetClasses;
export const optimizer = optimizerSpec({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 });

export { smallResNet };

/** The batch sizes of the N-replica equality tests: even, uneven (4+3), and one replica left without images (1+0). */
export const BATCHES = [8, 7, 8, 1, 5];

/** A batch of `size` images (mean 0.5, so the first statistics are not centred) and labels. */
export function batchOf(size: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const per = inputShape.reduce((a, b) => a * b, 1);
  return { x: Float32Array.from(randn(size * per, seed), (v) => v + 0.5), labels: randint(size, seed + 1, classes) };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
