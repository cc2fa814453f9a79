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

/** Values in one crop's colour map (lib/data FolderBatch.colorAffine): M row-major 3×3, then the offset c. */
export const COLOR_MAP_SIZE = 12;

/**
 * y float32 [N, 3, H, W] from uint8 crops x [N, 3, H, W] and their colour maps m float32 [N, 12] (FolderBatch.colorAffine:
 * M row-major for pixels on [0, 1], then c): y[n, r] = Σ_k (M[r, k] / 255)·x[n, k] + c[r], in float32 as the loader's
 * float path computes it — the image-folder input normalised (jitter, lighting, ColorNormalize) on the device.
 * `out`: an existing float32 tensor of x's shape to write (a compiled program's input) instead of a new one.
 */
export async function colorAffineU8(x: Tensor, m: Tensor, out?: Tensor): Promise<Tensor> {
  const op = 'colorAffineU8';
  checkTensor(op, 'x', x, 4, 'uint8');
  checkTensor(op, 'm', m, 2, 'float32');
  if (x.shape[1] !== 3) throw expected('RN_SHAPE_MISMATCH', op, 'x', 'an RGB batch [N, 3, H, W]', describe(x));
  if (m.shape[0] !== x.shape[0] || m.shape[1] !== COLOR_MAP_SIZE) {
    throw expected('RN_SHAPE_MISMATCH', op, 'm', `float32[${x.shape[0]},${COLOR_MAP_SIZE}] (one map per image of x, ${describe(x)})`, describe(m));
  }
  if (out !== undefined) {
    checkTensor(op, 'out', out, 4, 'float32');
    if (out.shape.some((d, k) => d !== x.shape[k])) throw expected('RN_SHAPE_MISMATCH', op, 'out', `float32 of x's shape (${describe(x)})`, describe(out));
  }
  const [y] = await runOp('color_affine_u8', [x, m], [out ?? { shape: x.shape }]);
  return y;
}
