// ResNet shortcut type A (fb.resnet.torch): strided subsampling x[:, :, ::s, ::s] (SpatialAveragePooling(1,1,s,s))
// then zero channels up to outChannels; and its backward.
import { expected, formatShape } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkInt, checkOptions, checkTensor, describe } from './validate.js';

export interface ShortcutAOptions {
  /** Subsampling step in H and W (1 = none). */
  stride: number;
  /** Output channels, ≥ the input's; channels past the input's are zero. */
  outChannels: number;
}

/** The output shape [N, outChannels, ceil(H/stride), ceil(W/stride)] for an input [N, C, H, W]. */
export function shortcutAOutputShape(inputShape: readonly number[], stride: number, outChannels: number): number[] {
  const [n, , h, w] = inputShape;
  return [n, outChannels, Math.ceil(h / stride), Math.ceil(w / stride)];
}

/** y [N, outChannels, ceil(H/s), ceil(W/s)] from x [N, C, H, W]. */
export async function shortcutA(x: Tensor, options: ShortcutAOptions): Promise<Tensor> {
  const op = 'shortcutA';
  checkTensor(op, 'x', x, 4);
  checkOptions(op, options, ['stride', 'outChannels']);
  const stride = checkInt(op, 'stride', options?.stride, 1);
  const outChannels = checkInt(op, 'outChannels', options?.outChannels, 1);
  if (outChannels < x.shape[1]) {
    const wanted = `at least x's ${x.shape[1]} channels (x is ${describe(x)})`;
    throw expected('RN_SHAPE_MISMATCH', op, 'outChannels', wanted, `${outChannels}`);
  }
  const [y] = await runOp('shortcut_a_forward', [x], [{ shape: shortcutAOutputShape(x.shape, stride, outChannels) }], {
    stride,
  });
  return y;
}

/** dx [N, C, H, W] (inputShape): dy's first C channels at the sampled positions, zero elsewhere. */
export async function shortcutABackward(
  dy: Tensor,
  inputShape: readonly number[],
  options: { stride: number },
): Promise<Tensor> {
  const op = 'shortcutABackward';
  checkTensor(op, 'dy', dy, 4);
  checkOptions(op, options, ['stride']);
  const stride = checkInt(op, 'stride', options?.stride, 1);
  if (!Array.isArray(inputShape) || inputShape.length !== 4 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    const received = Array.isArray(inputShape) ? formatShape(inputShape) : String(inputShape);
    throw expected('RN_SHAPE_MISMATCH', op, 'inputShape', 'a shape of 4 positive integers', received);
  }
  const wanted = shortcutAOutputShape(inputShape, stride, dy.shape[1]);
  if (dy.shape[1] < inputShape[1] || wanted.some((d, k) => d !== dy.shape[k])) {
    throw expected(
      'RN_SHAPE_MISMATCH',
      op,
      'dy',
      `[${wanted[0]},C≥${inputShape[1]},${wanted[2]},${wanted[3]}] (inputShape ${formatShape(inputShape)}, stride ${stride})`,
      describe(dy),
    );
  }
  const [dx] = await runOp('shortcut_a_backward', [dy], [{ shape: inputShape }], { stride });
  return dx;
}
