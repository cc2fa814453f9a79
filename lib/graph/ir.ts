// The minimal shape of a graph that the backward pass and the compiler read (lib/graph/graph.ts builds it).
import type { AttrValue } from '../runtime/native.js';

export type IRDType = 'float32' | 'int32' | 'int64' | 'uint8';

/**
 * Kinds: 'input' (bound per run: images, seeds, constants), 'label', 'param', 'buffer' (BN running
 * statistics), 'activation' and 'aux' (saved for backward: pool indices, BN batch statistics), and those
 * the training graph adds: 'grad' (a parameter's gradient), 'output' (loss, correct counts), 'state'
 * (optimizer state).
 */
export type IRKind = 'input' | 'label' | 'param' | 'buffer' | 'activation' | 'aux' | 'grad' | 'output' | 'state';

export interface IRValue {
  id: number;
  shape: number[];
  dtype: IRDType;
  kind: IRKind;
  name?: string;
}

export interface IRNode {
  op: string;
  inputs: number[];
  outputs: number[];
  attrs: Record<string, AttrValue>;
  module?: string;
}

export interface IRGraph {
  values: IRValue[];
  nodes: IRNode[];
}

export function valueBytes(v: { shape: readonly number[]; dtype: IRDType }): number {
  const size = { float32: 4, int32: 4, int64: 8, uint8: 1 }[v.dtype];
  return v.shape.reduce((a, b) => a * b, 1) * size;
}
