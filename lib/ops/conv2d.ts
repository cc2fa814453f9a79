// 2-D convolution (NCHW input, OIHW weight): forward, backward data and backward weights.
import { expected, formatShape } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkNchw, checkOptions, checkPair, checkTensor } from './validate.js';

export type Pair = number | readonly [number, number];

/** Stride, zero padding (each side) and dilation (1 = dense), each one integer or [h, w]. */
export interface Conv2dGeometry {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export interface Conv2dOptions extends Conv2dGeometry {
  bias?: Tensor;
}

export interface Conv2dBackwardWeightsOptions extends Conv2dGeometry {
  /** Also compute db = Σ dy over N, OH, OW. */
  bias?: boolean;
}

const GEOMETRY_KEYS = ['stride', 'padding', 'dilation'] as const;

type Attributes = { stride: [number, number]; padding: [number, number]; dilation: [number, number] };

function attributes(op: string, options: Conv2dGeometry): Attributes {
  return {
    stride: checkPair(op, 'stride', options.stride ?? 1, 1),
    padding: checkPair(op, 'padding', options.padding ?? 0, 0),
    dilation: checkPair(op, 'dilation', options.dilation ?? 1, 1),
  };
}

function checkShape4(op: string, name: string, shape: unknown): readonly number[] {
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    const received = Array.isArray(shape) ? formatShape(shape) : String(shape);
    throw expected('RN_SHAPE_MISMATCH', op, name, 'a shape of 4 positive integers', received);
  }
  return shape;
}

/**
 * The output shape [N, K, OH, OW] of a convolution of an input [N, C, H, W] with a weight [K, C, kh, kw]:
 * OH = floor((H + 2·padding - dilation·(kh - 1) - 1) / stride) + 1, likewise OW. Throws a ResnetError naming
 * `op` and both shapes when the channels differ or the (dilated) kernel is larger than the padded input.
 */
export function conv2dOutputShape(
  inputShape: readonly number[],
  weightShape: readonly number[],
  options: Conv2dGeometry = {},
  op = 'conv2d',
): number[] {
  const x = checkShape4(op, 'input shape', inputShape);
  const w = checkShape4(op, 'weight shape', weightShape);
  const { stride, padding, dilation } = attributes(op, options);
  if (w[1] !== x[1]) {
    throw expected(
      'RN_SHAPE_MISMATCH',
      op,
      'x',
      `${w[1]} input channels (weight ${formatShape(w)})`,
      `${x[1]} (x ${formatShape(x)})`,
    );
  }
  const out = [x[0], w[0], 0, 0];
  for (const i of [0, 1]) {
    const extent = dilation[i] * (w[2 + i] - 1) + 1;
    const padded = x[2 + i] + 2 * padding[i];
    if (extent > padded) {
      throw expected(
        'RN_SHAPE_MISMATCH',
        op,
        'x',
        `an input at least as large as the kernel (weight ${formatShape(w)}, dilation ${dilation[i]}, extent ${extent})`,
        `x ${formatShape(x)} padded by ${padding[i]} to ${padded}`,
      );
    }
    out[2 + i] = Math.floor((padded - extent) / stride[i]) + 1;
  }
  return out;
}

/** y = conv(x, w) + b: x [N, C, H, W], w [K, C, kh, kw], b [K] → y [N, K, OH, OW]. */
export async function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Promise<Tensor> {
  const op = 'conv2d';
  checkOptions(op, options, ['bias', ...GEOMETRY_KEYS]);
  checkTensor(op, 'x', x, 4);
  checkNchw(op, 'w', checkTensor(op, 'w', w, 4));
  const inputs = [x, w];
  if (options.bias !== undefined) {
    const b = checkTensor(op, 'bias', options.bias, 1);
    if (b.shape[0] !== w.shape[0]) {
      throw expected('RN_SHAPE_MISMATCH', op, 'bias', `[${w.shape[0]}] (weight ${formatShape(w.shape)})`, formatShape(b.shape));
    }
    inputs.push(b);
  }
  const shape = conv2dOutputShape(x.shape, w.shape, options, op);
  const [y] = await runOp('conv2d_forward', inputs, [{ shape }], attributes(op, options));
  return y;
}

/** dx = ∂(Σ conv(x, w)·dy)/∂x for an input of `inputShape` [N, C, H, W]; dy is [N, K, OH, OW]. */
export async function conv2dBackwardData(
  dy: Tensor,
  w: Tensor,
  inputShape: readonly number[],
  options: Conv2dGeometry = {},
): Promise<Tensor> {
  const op = 'conv2dBackwardData';
  checkOptions(op, options, GEOMETRY_KEYS);
  checkTensor(op, 'dy', dy, 4);
  checkNchw(op, 'w', checkTensor(op, 'w', w, 4));
  const outShape = conv2dOutputShape(inputShape, w.shape, options, op);
  checkGradient(op, dy, outShape, inputShape, w.shape);
  const [dx] = await runOp('conv2d_backward_data', [dy, w], [{ shape: inputShape }], attributes(op, options));
  return dx;
}

/** dw (and db with `bias: true`) = ∂(Σ conv(x, w)·dy)/∂w for a weight of `weightShape` [K, C, kh, kw]. */
export async function conv2dBackwardWeights(
  x: Tensor,
  dy: Tensor,
  weightShape: readonly number[],
  options: Conv2dBackwardWeightsOptions = {},
): Promise<{ dw: Tensor; db?: Tensor }> {
  const op = 'conv2dBackwardWeights';
  checkOptions(op, options, ['bias', ...GEOMETRY_KEYS]);
  checkTensor(op, 'x', x, 4);
  checkTensor(op, 'dy', dy, 4);
  if (options.bias !== undefined && typeof options.bias !== 'boolean') {
    throw expected('RN_INVALID_ARGUMENT', op, 'bias', 'a boolean', String(options.bias));
  }
  const outShape = conv2dOutputShape(x.shape, weightShape, options, op);
  checkGradient(op, dy, outShape, x.shape, weightShape);
  const outputs = [{ shape: weightShape }];
  if (options.bias) outputs.push({ shape: [weightShape[0]] });
  const [dw, db] = await runOp('conv2d_backward_weights', [x, dy], outputs, attributes(op, options));
  return options.bias ? { dw, db } : { dw };
}

function checkGradient(
  op: string,
  dy: Tensor,
  outShape: readonly number[],
  inputShape: readonly number[],
  weightShape: readonly number[],
): void {
  if (dy.shape.some((d, i) => d !== outShape[i])) {
    throw expected(
      'RN_SHAPE_MISMATCH',
      op,
      'dy',
      `shape ${formatShape(outShape)} (the output of x ${formatShape(inputShape)} with weight ${formatShape(weightShape)})`,
      formatShape(dy.shape),
    );
  }
}
