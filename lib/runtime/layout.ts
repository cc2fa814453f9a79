// Memory layouts of rank-4 float tensors: 'nchw' (row-major) and 'nChw16c' (oneDNN's blocked layout: channels in
// blocks of 16, the block innermost, so one AVX-512 vector holds 16 channels of a pixel). CPU programs keep
// activations blocked between the ops that take it (lib/graph/layout.ts); these conversions serve host copies.
import { expected, formatShape } from './errors.js';

export type Layout = 'nchw' | 'nChw16c';

export const LAYOUTS: readonly Layout[] = ['nchw', 'nChw16c'];

export function isLayout(value: unknown): value is Layout {
  return value === 'nchw' || value === 'nChw16c';
}

/** Whether a tensor of this shape and dtype can be blocked: float32 [N, C, H, W] with C a multiple of 16. */
export function blockable(shape: readonly number[], dtype: string): boolean {
  return shape.length === 4 && dtype === 'float32' && shape[1] % 16 === 0;
}

export function checkLayout(layout: unknown, shape: readonly number[], dtype: string, op: string): Layout {
  if (!isLayout(layout)) throw expected('RN_INVALID_ARGUMENT', op, 'layout', LAYOUTS.join(' or '), String(layout));
  if (layout === 'nChw16c' && !blockable(shape, dtype)) {
    throw expected('RN_INVALID_ARGUMENT', op, 'a tensor for layout nChw16c', 'float32 [N, C, H, W] with C a multiple of 16', `${dtype}${formatShape(shape)}`);
  }
  return layout;
}

/** Copies between row-major NCHW and nChw16c (same length): `toBlocked` picks the direction. */
function reblock(data: Float32Array, shape: readonly number[], toBlocked: boolean): Float32Array {
  const [n, c, h, w] = shape;
  const hw = h * w;
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plain = (b * c + ch) * hw;
      const blocked = (b * c + (ch & ~15)) * hw + (ch & 15);
      for (let p = 0; p < hw; p++) {
        if (toBlocked) out[blocked + p * 16] = data[plain + p];
        else out[plain + p] = data[blocked + p * 16];
      }
    }
  }
  return out;
}

/** Row-major NCHW data → nChw16c. */
export function toBlocked16(data: Float32Array, shape: readonly number[]): Float32Array {
  return reblock(data, shape, true);
}

/** nChw16c data → row-major NCHW. */
export function fromBlocked16(data: Float32Array, shape: readonly number[]): Float32Array {
  return reblock(data, shape, false);
}
