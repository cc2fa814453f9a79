// Inverted dropout: keep each element with probability 1-p and scale it by 1/(1-p); the mask is deterministic for
// a seed (a counter-based hash of seed and element index, independent of the thread count).
import { expected } from '../runtime/errors.js';
import { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkOptions, checkSameShape, checkTensor } from './validate.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function checkP(op: string, p: unknown): number {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p >= 1) {
    throw expected('RN_INVALID_ARGUMENT', op, 'p', 'a drop probability in [0, 1)', String(p));
  }
  return p;
}

function checkSeed(op: string, seed: unknown): bigint {
  if (typeof seed === 'bigint' && seed >= INT64_MIN && seed <= INT64_MAX) return seed;
  if (typeof seed === 'number' && Number.isSafeInteger(seed)) return BigInt(seed);
  throw expected('RN_INVALID_ARGUMENT', op, 'seed', 'a safe integer or an int64 bigint', String(seed));
}

export interface DropoutOptions {
  /** Drop probability, 0 ≤ p < 1. */
  p: number;
  /** The mask depends only on the seed and the element index. */
  seed: number | bigint;
}

/** y = x·mask/(1-p) with mask (uint8, same shape) 1 where kept. */
export async function dropout(x: Tensor, options: DropoutOptions): Promise<{ y: Tensor; mask: Tensor }> {
  const op = 'dropout';
  checkTensor(op, 'x', x);
  checkOptions(op, options, ['p', 'seed']);
  const p = checkP(op, options?.p);
  const seed = checkSeed(op, options?.seed);
  const seedTensor = Tensor.fromArray([seed], [1], { dtype: 'int64', device: x.device });
  try {
    const outputs = [{ shape: x.shape }, { shape: x.shape, dtype: 'uint8' as const }];
    const [y, mask] = await runOp('dropout_forward', [x, seedTensor], outputs, { p });
    return { y, mask };
  } finally {
    seedTensor.dispose();
  }
}

/** dx = dy·mask/(1-p), with the mask from `dropout` and the same p. */
export async function dropoutBackward(dy: Tensor, mask: Tensor, options: { p: number }): Promise<Tensor> {
  const op = 'dropoutBackward';
  checkTensor(op, 'dy', dy);
  checkTensor(op, 'mask', mask, undefined, 'uint8');
  checkSameShape(op, ['dy', 'mask'], [dy, mask]);
  checkOptions(op, options, ['p']);
  const p = checkP(op, options?.p);
  const [dx] = await runOp('dropout_backward', [dy, mask], [{ shape: dy.shape }], { p });
  return dx;
}
