// The fusion pass: a ReLU folded into the batch norm or add that feeds it, in the forward pass and in the
// gradient. Every BN → ReLU and add → ReLU of a ResNet then reads and writes its activation once instead of twice.
//
//   batchnorm_forward_*(x, …) → y; relu_forward(y) → r          ⇒  batchnorm_forward_*(x, …){relu} → r
//   relu_backward(r, dr) → dy; batchnorm_backward(x, dy, …)      ⇒  batchnorm_backward(x, dr, …, r){relu}
//   add(a, b) → s; relu_forward(s) → r                           ⇒  add(a, b){relu} → r
//
// A rewrite applies only where the intermediate value (y, dy, s) has no other reader. Values no node refers to
// any more are dropped and the rest renumbered, so the result is a graph like any other.
import type { IRGraph, IRNode, IRValue } from './ir.js';

export interface FusionReport {
  graph: IRGraph;
  /** Rewrites applied, by kind. */
  fused: { batchnormRelu: number; batchnormReluBackward: number; addRelu: number };
}

const BN_FORWARD = new Set(['batchnorm_forward_training', 'batchnorm_forward_inference']);

/** Applies the rewrites above wherever they are valid; `ops` limits them to kernels that take the attribute. */
export function fuseRelu(graph: IRGraph, ops: { batchnorm: boolean; add: boolean } = { batchnorm: true, add: true }): FusionReport {
  const nodes: (IRNode | null)[] = graph.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } }));
  const readers = new Map<number, number[]>();
  const producer = new Map<number, number>();
  nodes.forEach((n, k) => {
    for (const i of n!.inputs) readers.set(i, [...(readers.get(i) ?? []), k]);
    for (const o of n!.outputs) if (!producer.has(o)) producer.set(o, k);
  });
  const bound = (id: number) => graph.values[id].kind !== 'activation';
  const onlyReader = (id: number, k: number) => !bound(id) && (readers.get(id) ?? []).every((r) => r === k);
  const fused = { batchnormRelu: 0, batchnormReluBackward: 0, addRelu: 0 };

  // Forward: the ReLU's input produced by a BN or add that nothing else reads.
  nodes.forEach((relu, k) => {
    if (relu?.op !== 'relu_forward') return;
    const [y] = relu.inputs;
    const p = producer.get(y);
    if (p === undefined || !onlyReader(y, k)) return;
    const source = nodes[p]!;
    const isBn = BN_FORWARD.has(source.op) && ops.batchnorm && source.outputs[0] === y;
    const isAdd = source.op === 'add' && ops.add && !source.attrs.relu;
    if (!isBn && !isAdd) return;
    source.outputs[0] = relu.outputs[0];
    source.attrs.relu = true;
    nodes[k] = null;
    if (isBn) fused.batchnormRelu++;
    else fused.addRelu++;
  });

  // Gradient: relu_backward(r, dr) → dy read only by a batchnorm_backward, where r is the ReLU of that BN's output.
  producer.clear();
  nodes.forEach((n, k) => {
    for (const o of n?.outputs ?? []) if (!producer.has(o)) producer.set(o, k);
  });
  const reluOfBn = (r: number, x: number): boolean => {
    const p = nodes[producer.get(r) ?? -1];
    if (!p) return false;
    if (BN_FORWARD.has(p.op)) return p.attrs.relu === true && p.inputs[0] === x;
    if (p.op !== 'relu_forward') return false;
    const bn = nodes[producer.get(p.inputs[0]) ?? -1];
    return bn !== undefined && bn !== null && BN_FORWARD.has(bn.op) && !bn.attrs.relu && bn.inputs[0] === x && bn.outputs[0] === p.inputs[0];
  };
  nodes.forEach((reluBack, k) => {
    if (reluBack?.op !== 'relu_backward' || !ops.batchnorm) return;
    const [r, dr] = reluBack.inputs;
    const [dy] = reluBack.outputs;
    const users = readers.get(dy) ?? [];
    if (users.length !== 1 || bound(dy)) return;
    const bnBack = nodes[users[0]];
    if (bnBack?.op !== 'batchnorm_backward' || bnBack.inputs[1] !== dy || bnBack.attrs.relu) return;
    if (!reluOfBn(r, bnBack.inputs[0])) return;
    bnBack.inputs = [bnBack.inputs[0], dr, ...bnBack.inputs.slice(2), r];
    bnBack.attrs.relu = true;
    nodes[k] = null;
    fused.batchnormReluBackward++;
  });

  return { graph: compact(graph.values, nodes.filter((n): n is IRNode => n !== null)), fused };
}

/** Drops activations no node refers to and renumbers the values (ids are positions). */
function compact(values: readonly IRValue[], nodes: IRNode[]): IRGraph {
  const used = new Set<number>();
  for (const n of nodes) for (const id of [...n.inputs, ...n.outputs]) used.add(id);
  const renumber = new Map<number, number>();
  const kept: IRValue[] = [];
  for (const v of values) {
    if (v.kind === 'activation' && !used.has(v.id)) continue;
    renumber.set(v.id, kept.length);
    kept.push({ ...v, id: kept.length });
  }
  const map = (id: number) => renumber.get(id)!;
  return { values: kept, nodes: nodes.map((n) => ({ ...n, inputs: n.inputs.map(map), outputs: n.outputs.map(map) })) };
}
