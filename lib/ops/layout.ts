// Layout conversion: a float32 [N, C, H, W] tensor copied into another memory layout (nchw ⇄ nChw16c).
import { type Layout, checkLayout } from '../runtime/layout.js';
import { Tensor } from '../runtime/tensor.js';
import { commonDevice, runOp } from './eager.js';

/** A new tensor with x's contents in `layout` (a copy even when x already has it). CPU only. */
export async function toLayout(x: Tensor, layout: Layout): Promise<Tensor> {
  commonDevice('layout_reorder', [x]);
  checkLayout(layout, x.shape, x.dtype, 'toLayout');
  const [y] = await runOp('layout_reorder', [x], [{ shape: x.shape, layout }]);
  return y;
}
