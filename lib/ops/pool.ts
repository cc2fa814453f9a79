// Max, average and global average pooling 2d over NCHW float32, with their backward passes.
import { expected, formatShape } from '../runtime/errors.js';
import { type Tensor, checkShape } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkOptions, checkPair, checkSameShape, checkTensor, describe } from './validate.js';

/** A size for both spatial dimensions, or [h, w]. */
type Pair = number | readonly [number, number];

export interface Pool2dOptions {
  kernel: Pair;
  /** Default: the kernel. */
  stride?: Pair;
  /** Implicit padding on both sides, at most half the kernel; max pooling pads with -inf. Default 0. */
  padding?: Pair;
  /** Round the output size up (the last window must still start inside the input or left padding). */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by the whole window, padding included (PyTorch's default); false divides by the valid part. */
  countIncludePad?: boolean;
}

const POOL_KEYS = ['kernel', 'stride', 'padding', 'ceilMode'] as const;
const AVG_POOL_KEYS = [...POOL_KEYS, 'countIncludePad'] as const;

interface Geometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  outputShape: number[];
}

function checkBool(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw expected('RN_INVALID_ARGUMENT', op, name, 'a boolean', String(value));
  return value;
}

function checkImageShape(op: string, name: string, shape: unknown): number[] {
  const checked = checkShape(shape as number[], name, op);
  if (checked.length !== 4) throw expected('RN_SHAPE_MISMATCH', op, name, 'an (N, C, H, W) shape', formatShape(checked));
  return checked;
}

// PyTorch's rule: floor or ceil of (in + 2·pad - kernel)/stride, plus one; in ceil mode the last window must start
// inside the input or the left padding.
function pooledSize(size: number, kernel: number, stride: number, pad: number, ceilMode: boolean): number {
  const span = size + 2 * pad - kernel;
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceilMode && (out - 1) * stride >= size + pad) out -= 1;
  return out;
}

function geometry(op: string, inputShape: readonly number[], options: unknown, known: readonly string[]): Geometry {
  if (typeof options !== 'object' || options === null) {
    throw expected('RN_INVALID_ARGUMENT', op, 'options', 'an object with a kernel', String(options));
  }
  checkOptions(op, options, known);
  const o = options as Pool2dOptions;
  const kernel = checkPair(op, 'kernel', o.kernel, 1);
  const stride = o.stride === undefined ? kernel : checkPair(op, 'stride', o.stride, 1);
  const padding = o.padding === undefined ? ([0, 0] as [number, number]) : checkPair(op, 'padding', o.padding, 0);
  const ceilMode = checkBool(op, 'ceilMode', o.ceilMode, false);
  if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) {
    throw expected('RN_INVALID_ARGUMENT', op, 'padding', `at most half the kernel ${formatShape(kernel)}`, formatShape(padding));
  }
  const [n, c, h, w] = inputShape;
  if (h + 2 * padding[0] < kernel[0] || w + 2 * padding[1] < kernel[1]) {
    throw expected(
      'RN_SHAPE_MISMATCH',
      op,
      'the input',
      `a padded H×W of at least the kernel ${formatShape(kernel)} (padding ${formatShape(padding)})`,
      formatShape(inputShape),
    );
  }
  const outputShape = [
    n,
    c,
    pooledSize(h, kernel[0], stride[0], padding[0], ceilMode),
    pooledSize(w, kernel[1], stride[1], padding[1], ceilMode),
  ];
  return { kernel, stride, padding, ceilMode, outputShape };
}

function attrsOf(g: Geometry): Record<string, number[] | boolean> {
  return { kernel: g.kernel, stride: g.stride, padding: g.padding, ceil_mode: g.ceilMode };
}

/** The (N, C, OH, OW) output shape of a 2d pooling of an (N, C, H, W) input; throws on invalid options. */
export function pool2dOutputShape(inputShape: readonly number[], options: AvgPool2dOptions): number[] {
  const op = 'pool2dOutputShape';
  return geometry(op, checkImageShape(op, 'inputShape', inputShape), options, AVG_POOL_KEYS).outputShape;
}

/** dy (the pooled gradient) must have the shape the options give for inputShape. */
function checkPooledGradient(op: string, dy: Tensor, inputShape: readonly number[], g: Geometry): void {
  const wanted = g.outputShape;
  if (dy.shape.some((d, i) => d !== wanted[i])) {
    throw expected('RN_SHAPE_MISMATCH', op, 'dy', `shape ${formatShape(wanted)} (pooled from ${formatShape(inputShape)})`, describe(dy));
  }
}

/** Max pooling; `indices` (int32, the output's shape) hold each maximum's flat index within its H×W plane. */
export async function maxPool2d(x: Tensor, options: Pool2dOptions): Promise<{ y: Tensor; indices: Tensor }> {
  const op = 'maxPool2d';
  checkTensor(op, 'x', x, 4);
  const g = geometry(op, x.shape, options, POOL_KEYS);
  const [y, indices] = await runOp(
    'maxpool2d_forward',
    [x],
    [{ shape: g.outputShape }, { shape: g.outputShape, dtype: 'int32' }],
    attrsOf(g),
  );
  return { y, indices };
}

/** dx (inputShape) with each dy added at its window's argmax; `options` are the forward's, used for checks. */
export async function maxPool2dBackward(
  dy: Tensor,
  indices: Tensor,
  inputShape: readonly number[],
  options: Pool2dOptions,
): Promise<Tensor> {
  const op = 'maxPool2dBackward';
  checkTensor(op, 'dy', dy, 4);
  checkTensor(op, 'indices', indices, 4, 'int32');
  checkSameShape(op, ['dy', 'indices'], [dy, indices]);
  const shape = checkImageShape(op, 'inputShape', inputShape);
  checkPooledGradient(op, dy, shape, geometry(op, shape, options, POOL_KEYS));
  const [dx] = await runOp('maxpool2d_backward', [dy, indices], [{ shape }]);
  return dx;
}

export async function avgPool2d(x: Tensor, options: AvgPool2dOptions): Promise<Tensor> {
  const op = 'avgPool2d';
  checkTensor(op, 'x', x, 4);
  const g = geometry(op, x.shape, options, AVG_POOL_KEYS);
  const countIncludePad = checkBool(op, 'countIncludePad', options.countIncludePad, true);
  const [y] = await runOp('avgpool2d_forward', [x], [{ shape: g.outputShape }], {
    ...attrsOf(g),
    count_include_pad: countIncludePad,
  });
  return y;
}

export async function avgPool2dBackward(
  dy: Tensor,
  inputShape: readonly number[],
  options: AvgPool2dOptions,
): Promise<Tensor> {
  const op = 'avgPool2dBackward';
  checkTensor(op, 'dy', dy, 4);
  const shape = checkImageShape(op, 'inputShape', inputShape);
  const g = geometry(op, shape, options, AVG_POOL_KEYS);
  checkPooledGradient(op, dy, shape, g);
  const countIncludePad = checkBool(op, 'countIncludePad', options.countIncludePad, true);
  const [dx] = await runOp('avgpool2d_backward', [dy], [{ shape }], { ...attrsOf(g), count_include_pad: countIncludePad });
  return dx;
}

/** (N, C, H, W) → (N, C): the mean of each plane. */
export async function globalAvgPool(x: Tensor): Promise<Tensor> {
  checkTensor('globalAvgPool', 'x', x, 4);
  const [y] = await runOp('global_avgpool_forward', [x], [{ shape: [x.shape[0], x.shape[1]] }]);
  return y;
}

export async function globalAvgPoolBackward(dy: Tensor, inputShape: readonly number[]): Promise<Tensor> {
  const op = 'globalAvgPoolBackward';
  checkTensor(op, 'dy', dy, 2);
  const shape = checkImageShape(op, 'inputShape', inputShape);
  if (dy.shape[0] !== shape[0] || dy.shape[1] !== shape[1]) {
    throw expected('RN_SHAPE_MISMATCH', op, 'dy', `shape [${shape[0]},${shape[1]}] (pooled from ${formatShape(shape)})`, describe(dy));
  }
  const [dx] = await runOp('global_avgpool_backward', [dy], [{ shape }]);
  return dx;
}
