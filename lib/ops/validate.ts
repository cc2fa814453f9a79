// Argument checks shared by every op wrapper; all throw ResnetError in the one message format.
import { ResnetError, expected, formatShape } from '../runtime/errors.js';
import { type DType, Tensor } from '../runtime/tensor.js';

export function describe(t: Tensor): string {
  return `${t.dtype}${formatShape(t.shape)}`;
}

/** A live Tensor of `dtype` (default float32) and, when given, `rank`. */
export function checkTensor(op: string, name: string, t: unknown, rank?: number, dtype: DType = 'float32'): Tensor {
  if (!(t instanceof Tensor)) {
    throw expected('RN_INVALID_ARGUMENT', op, name, 'a Tensor', t === null ? 'null' : typeof t);
  }
  if (t.disposed) throw new ResnetError('RN_DISPOSED', `${name} (${describe(t)}) has been disposed`, op);
  if (t.dtype !== dtype) throw expected('RN_DTYPE_MISMATCH', op, name, dtype, `${t.dtype} (${formatShape(t.shape)})`);
  if (rank !== undefined && t.rank !== rank) {
    throw expected('RN_SHAPE_MISMATCH', op, name, `a rank-${rank} tensor`, describe(t));
  }
  return t;
}

/** Weights and other non-activation operands are nchw (row-major) in every program. */
export function checkNchw(op: string, name: string, t: Tensor): Tensor {
  if (t.layout !== 'nchw') throw expected('RN_INVALID_ARGUMENT', op, `${name} (${describe(t)})`, 'layout nchw', `${t.layout} (convert with toLayout)`);
  return t;
}

export function checkSameShape(op: string, names: readonly string[], tensors: readonly Tensor[]): void {
  const first = tensors[0];
  tensors.forEach((t, i) => {
    if (t.rank !== first.rank || t.shape.some((d, k) => d !== first.shape[k])) {
      throw expected('RN_SHAPE_MISMATCH', op, names[i], `shape ${formatShape(first.shape)} (as ${names[0]})`, formatShape(t.shape));
    }
  });
}

/** Rejects keys the op does not know, naming the first one. */
export function checkOptions(op: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw expected('RN_INVALID_ARGUMENT', op, 'options', 'an object', String(options));
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new ResnetError('RN_UNKNOWN_ATTRIBUTE', `unknown option '${key}' (known: ${known.join(', ')})`, op);
    }
  }
}

export function checkInt(op: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw expected('RN_INVALID_ARGUMENT', op, name, `an integer ≥ ${min}`, String(value));
  }
  return value;
}

export function checkNumber(op: string, name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw expected('RN_INVALID_ARGUMENT', op, name, `a number in [${min}, ${max}]`, String(value));
  }
  return value;
}

/** An integer or a pair of integers ≥ min → [h, w]. */
export function checkPair(op: string, name: string, value: unknown, min: number): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw expected('RN_INVALID_ARGUMENT', op, name, 'an integer or [h, w]', JSON.stringify(value));
  }
  return [checkInt(op, `${name}[0]`, pair[0], min), checkInt(op, `${name}[1]`, pair[1], min)];
}
