// The layout pass: which activations a CPU program keeps blocked (nChw16c), and the layout_reorder ops where a
// blocked activation meets an op that takes only nchw.
//
// oneDNN's convolutions run on blocked data; fed nchw they reorder every operand in and out, and on ResNet's
// shapes those copies cost as much as a third of the convolution. Convolutions take any layout per operand, so
// they never tie two activations together. The other ops that take blocked operands (batch norm, ReLU, add,
// pooling, shortcut A — the addon says which) want all their rank-4 operands in one layout: their operands form
// groups, and a group is blocked when every float member can be ([N, C, H, W], C % 16 == 0) and is an arena
// activation (not bound by the caller, not reshaped). Ops outside that set get their blocked operands through an
// inserted reorder to a plain copy (and back, for outputs).
import { blockable } from '../runtime/layout.js';
import type { IRGraph, IRNode, IRValue } from './ir.js';

export interface LayoutAssignment {
  /** The graph with layout_reorder nodes (and their plain copies) added. */
  graph: IRGraph;
  /** Values that are blocked; every other value is nchw. */
  blocked: ReadonlySet<number>;
  /** layout_reorder nodes added. */
  reorders: number;
}

const CONVOLUTIONS = new Set(['conv2d_forward', 'conv2d_backward_data', 'conv2d_backward_weights']);

/** Convolution operands that may be blocked: the activations, never the weights or their gradients. */
function convActivations(n: IRNode): number[] {
  switch (n.op) {
    case 'conv2d_forward': return [n.inputs[0], n.outputs[0]];
    case 'conv2d_backward_data': return [n.inputs[0], n.outputs[0]];
    default: return [n.inputs[0], n.inputs[1]];
  }
}

/**
 * Chooses layouts for `graph` given the ops whose kernels take blocked operands (`native().kernelNames('cpu',
 * true)`), and rewrites it with the reorders that the choice needs.
 */
export function assignLayouts(graph: IRGraph, anyLayoutOps: ReadonlySet<string>): LayoutAssignment {
  const values = graph.values;
  const parent = values.map((v) => v.id);
  const find = (v: number): number => (parent[v] === v ? v : (parent[v] = find(parent[v])));
  const union = (a: number, b: number) => {
    parent[find(a)] = find(b);
  };
  const rank4 = (id: number) => values[id].shape.length === 4;
  const candidate = (v: IRValue) => (v.kind === 'activation' || v.kind === 'aux') && blockable(v.shape, v.dtype);

  // Groups: the rank-4 operands of each layout-aware op other than convolutions (an int32 index tensor ties a
  // pooling's forward to its backward), and every reshape's input and output (a view keeps its base's bytes).
  for (const n of graph.nodes) {
    if (n.op === 'reshape') {
      union(n.inputs[0], n.outputs[0]);
      continue;
    }
    if (!anyLayoutOps.has(n.op) || CONVOLUTIONS.has(n.op) || n.op === 'layout_reorder') continue;
    const operands = [...n.inputs, ...n.outputs].filter(rank4);
    for (const id of operands.slice(1)) union(operands[0], id);
  }
  const vetoed = new Set<number>();
  const hasCandidate = new Set<number>();
  for (const n of graph.nodes) {
    if (n.op === 'reshape') vetoed.add(find(n.inputs[0]));
  }
  for (const v of values) {
    const root = find(v.id);
    if (candidate(v)) hasCandidate.add(root);
    // A float member that cannot be blocked, or one the caller binds, keeps its whole group plain.
    else if (v.dtype === 'float32' && (rank4(v.id) || root !== v.id)) vetoed.add(root);
  }
  // Convolution activations are blocked when their group is; a value no layout-aware op touches stays plain.
  const touched = new Set<number>();
  for (const n of graph.nodes) {
    if (!anyLayoutOps.has(n.op) || n.op === 'layout_reorder') continue;
    const ids = CONVOLUTIONS.has(n.op) ? convActivations(n) : [...n.inputs, ...n.outputs].filter(rank4);
    for (const id of ids) touched.add(id);
  }
  const blocked = new Set<number>();
  for (const v of values) {
    const root = find(v.id);
    if (candidate(v) && touched.has(v.id) && hasCandidate.has(root) && !vetoed.has(root)) blocked.add(v.id);
  }
  // A group is all blocked or all plain: drop groups where some candidate member was not touched.
  const partial = new Set<number>();
  for (const v of values) if (candidate(v) && !blocked.has(v.id) && hasCandidate.has(find(v.id))) partial.add(find(v.id));
  for (const id of [...blocked]) if (partial.has(find(id))) blocked.delete(id);

  // Reorders around ops that take only nchw (and around convolution weights, which never are activations).
  const outValues: IRValue[] = values.map((v) => ({ ...v }));
  const outNodes: IRNode[] = [];
  let reorders = 0;
  const plainCopy = (id: number): number => {
    const v = values[id];
    outValues.push({ id: outValues.length, shape: [...v.shape], dtype: v.dtype, kind: 'activation' });
    return outValues.length - 1;
  };
  for (const n of graph.nodes) {
    const takesBlocked = (id: number) =>
      anyLayoutOps.has(n.op) && (!CONVOLUTIONS.has(n.op) || convActivations(n).includes(id));
    const copies = new Map<number, number>();
    const before: IRNode[] = [];
    const after: IRNode[] = [];
    const swap = (id: number, isInput: boolean): number => {
      if (!blocked.has(id) || takesBlocked(id)) return id;
      let copy = copies.get(id);
      if (copy === undefined) {
        copy = plainCopy(id);
        copies.set(id, copy);
        if (isInput || n.inputs.includes(id)) before.push({ op: 'layout_reorder', inputs: [id], outputs: [copy], attrs: {}, module: n.module });
      }
      if (!isInput) after.push({ op: 'layout_reorder', inputs: [copy], outputs: [id], attrs: {}, module: n.module });
      return copy;
    };
    const inputs = n.inputs.map((id) => swap(id, true));
    const outputs = n.outputs.map((id) => swap(id, false));
    reorders += before.length + after.length;
    outNodes.push(...before, { ...n, inputs, outputs }, ...after);
  }
  return { graph: { values: outValues, nodes: outNodes }, blocked, reorders };
}
