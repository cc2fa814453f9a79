// Input normalisation on the device: a uint8 image batch → float32, y = (x − mean[c]) / std[c], so batches cross
// to a GPU as bytes. mean and std are per channel on the 0–255 scale, as lib/data's Normalization.
import type { Normalization } from '../data/transforms.js';
import { expected } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkOptions, checkTensor, describe } from './validate.js';

/** y float32 [N, C, H, W] from x uint8 [N, C, H, W]: y = (x − mean[c]) / std[c]. Same values as lib/data's fillBatch. */
export async function normalizeU8(x: Tensor, options: Normalization): Promise<Tensor> {
  const op = 'normalizeU8';
  checkTensor(op, 'x', x, 4, 'uint8');
  checkOptions(op, options, ['mean', 'std']);
  const channels = x.shape[1];
  const { mean, std } = options ?? {};
  const list = (values: unknown, name: string, positive: boolean): number[] => {
    const valid =
      Array.isArray(values) &&
      values.length === channels &&
      values.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
    if (!valid) {
      const wanted = `${channels} finite numbers${positive ? ' > 0' : ''} (one per channel of x, ${describe(x)})`;
      throw expected('RN_INVALID_ARGUMENT', op, name, wanted, JSON.stringify(values));
    }
    return [...(values as number[])];
  };
  const attrs = { mean: list(mean, 'mean', false), std: list(std, 'std', true) };
  const [y] = await runOp('normalize_u8', [x], [{ shape: x.shape }], attrs);
  return y;
}
