// The backward pass: one gradient rule per forward op, appended to a copy of the forward graph.
import { ResnetError } from '../runtime/errors.js';
import type { AttrValue } from '../runtime/native.js';
import type { IRGraph, IRKind, IRNode, IRValue } from './ir.js';

/** What a rule may do: read upstream gradients, make gradient values, emit nodes, hand gradients on. */
export interface RuleContext {
  node: IRNode;
  /** Gradient of the node's output i, or undefined when nothing downstream needs it. */
  dy(i?: number): number | undefined;
  /** Whether input i needs a gradient (it is, or depends on, a parameter). */
  needs(i: number): boolean;
  /**
   * Where to write the gradient of input i: the parameter's gradient value when that is its first
   * contribution, else a fresh value (contributed back with `give`). Unneeded gradients get scratch values.
   */
  target(i: number): number;
  /** Declares that `grad` (written by an emitted node) is a contribution to input i's gradient. */
  give(i: number, grad: number): void;
  emit(op: string, inputs: number[], outputs: number[], attrs?: Record<string, AttrValue>): void;
  /** A fresh float32 value shaped like value `like`. */
  fresh(like: number): number;
  /** The forward node that last wrote value v (an in-place op counts), if any. */
  producer(v: number): IRNode | undefined;
}

type Rule = (c: RuleContext) => void;

const pick = (attrs: Record<string, AttrValue>, keys: readonly string[]) =>
  Object.fromEntries(keys.filter((k) => attrs[k] !== undefined).map((k) => [k, attrs[k]]));

/** Computes both a parameter-gradient pair and, when needed, the data gradient. */
function weightedRule(backwardData: string, backwardWeights: string, attrKeys: readonly string[]): Rule {
  return (c) => {
    const { node } = c;
    const dy = c.dy()!;
    const attrs = pick(node.attrs, attrKeys);
    const [x, w] = node.inputs;
    if (c.needs(0)) {
      const dx = c.target(0);
      c.emit(backwardData, [dy, w], [dx], attrs);
      c.give(0, dx);
    }
    const hasBias = node.inputs.length > 2;
    if (c.needs(1) || (hasBias && c.needs(2))) {
      const outs = hasBias ? [c.target(1), c.target(2)] : [c.target(1)];
      c.emit(backwardWeights, [x, dy], outs, attrs);
      c.give(1, outs[0]);
      if (hasBias) c.give(2, outs[1]);
    }
  };
}

/** Rules for ops with one data input whose backward reads only dy (and saved values). */
function simpleRule(op: string, extraInputs: (node: IRNode) => number[], attrKeys: readonly string[]): Rule {
  return (c) => {
    if (!c.needs(0)) return;
    const dx = c.target(0);
    c.emit(op, [c.dy()!, ...extraInputs(c.node)], [dx], pick(c.node.attrs, attrKeys));
    c.give(0, dx);
  };
}

const POOL_ATTRS = ['kernel', 'stride', 'padding', 'ceil_mode'] as const;

export const gradientRules: Record<string, Rule> = {
  conv2d_forward: weightedRule('conv2d_backward_data', 'conv2d_backward_weights', ['stride', 'padding', 'dilation']),
  linear_forward: weightedRule('linear_backward_data', 'linear_backward_weights', []),
  batchnorm_forward_training: (c) => {
    const [x, gamma] = c.node.inputs;
    const [, , , saveMean, saveInvStd] = c.node.outputs;
    if (!c.needs(0) && !c.needs(1) && !c.needs(2)) return;
    const outs = [c.target(0), c.target(1), c.target(2)];
    c.emit('batchnorm_backward', [x, c.dy(0)!, gamma, saveMean, saveInvStd], outs, pick(c.node.attrs, ['eps']));
    outs.forEach((g, i) => c.give(i, g));
  },
  // SyncBN: this replica's Σdy and Σdy·x̂ are summed over the group (with the forward all-reduce's attributes and
  // replica weight) before dx, which needs the group's sums; dgamma and dbeta stay this replica's share until the
  // gradient all-reduce adds the others'.
  batchnorm_apply_training: (c) => {
    const [x, gamma, , , , stats] = c.node.inputs;
    const [, , , saveMean, saveInvStd] = c.node.outputs;
    if (!c.needs(0) && !c.needs(1) && !c.needs(2)) return;
    const dy = c.dy(0)!;
    const dgamma = c.target(1);
    const dbeta = c.target(2);
    const sums = c.fresh(stats); // laid out like stats: Σdy per channel, Σdy·x̂ per channel, one unused slot
    c.emit('batchnorm_backward_reduce', [x, dy, saveMean, saveInvStd], [dgamma, dbeta, sums]);
    c.give(1, dgamma);
    c.give(2, dbeta);
    if (!c.needs(0)) return;
    const statsAllreduce = c.producer(stats)!;
    c.emit('allreduce_mean', [sums, ...statsAllreduce.inputs.slice(1)], [sums], statsAllreduce.attrs);
    const dx = c.target(0);
    c.emit('batchnorm_backward_apply', [x, dy, gamma, saveMean, saveInvStd, sums, stats], [dx]);
    c.give(0, dx);
  },
  // ReLU's backward reads its output, so the forward may run in place over its input.
  relu_forward: (c) => {
    if (!c.needs(0)) return;
    const dx = c.target(0);
    c.emit('relu_backward', [c.node.outputs[0], c.dy()!], [dx]);
    c.give(0, dx);
  },
  // The sum's gradient flows unchanged to both operands: no node, the same value twice.
  add: (c) => {
    const dy = c.dy()!;
    if (c.needs(0)) c.give(0, dy);
    if (c.needs(1)) c.give(1, dy);
  },
  maxpool2d_forward: simpleRule('maxpool2d_backward', (n) => [n.outputs[1]], []),
  avgpool2d_forward: simpleRule('avgpool2d_backward', () => [], [...POOL_ATTRS, 'count_include_pad']),
  global_avgpool_forward: simpleRule('global_avgpool_backward', () => [], []),
  shortcut_a_forward: simpleRule('shortcut_a_backward', () => [], ['stride']),
  dropout_forward: simpleRule('dropout_backward', (n) => [n.outputs[1]], ['p']),
  reshape: simpleRule('reshape', () => [], []),
  concat_forward: (c) => {
    const needed = c.node.inputs.map((_, i) => c.needs(i));
    if (!needed.some(Boolean)) return;
    const outs = c.node.inputs.map((_, i) => c.target(i));
    c.emit('concat_backward', [c.dy()!], outs);
    outs.forEach((g, i) => c.give(i, g));
  },
};

export interface TrainingGraph extends IRGraph {
  /** Gradient value of each parameter value (same shape), keyed by the parameter's value id. */
  paramGrads: Map<number, number>;
  loss: number;
  losses: number;
  correct: number;
  /** The constant 1.0 seeding the backward pass (bound per run). */
  one: number;
}

/**
 * Appends softmax cross-entropy, top-k counts and the backward pass to a forward graph whose `logits`
 * are [N, K] and `labels` int32 [N]. Parameters get 'grad' values; everything else new is 'activation'.
 */
export function buildTrainingGraph(forward: IRGraph, logits: number, labels: number, topk: readonly number[] = [1, 5]): TrainingGraph {
  const values: IRValue[] = forward.values.map((v) => ({ ...v, shape: [...v.shape] }));
  const nodes: IRNode[] = forward.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs] }));
  const add = (shape: number[], dtype: IRValue['dtype'], kind: IRKind, name?: string) => {
    values.push({ id: values.length, shape, dtype, kind, name });
    return values.length - 1;
  };
  const [batch, classes] = values[logits].shape;
  const loss = add([1], 'float32', 'output', 'loss');
  const losses = add([batch], 'float32', 'aux', 'losses');
  const probs = add([batch, classes], 'float32', 'aux', 'probs');
  nodes.push({ op: 'softmax_cross_entropy_forward', inputs: [logits, labels], outputs: [loss, losses, probs], attrs: {} });
  const correct = add([topk.length], 'int32', 'output', 'correct');
  nodes.push({ op: 'topk_correct', inputs: [logits, labels], outputs: [correct], attrs: { ks: [...topk] } });
  const one = add([1], 'float32', 'input', 'one');

  // requiresGrad: parameters, and anything computed from them.
  const requires = new Set<number>();
  for (const v of values) if (v.kind === 'param') requires.add(v.id);
  for (const n of forward.nodes) {
    if (n.inputs.some((i) => requires.has(i))) {
      for (const o of n.outputs) if (values[o].kind !== 'buffer' && values[o].kind !== 'aux') requires.add(o);
    }
  }

  const grads = new Map<number, number>();
  const paramGrads = new Map<number, number>();
  const give = (v: number, g: number) => {
    const existing = grads.get(v);
    if (existing === undefined) {
      grads.set(v, g);
    } else if (values[v].kind === 'param') {
      // Later contributions add into the parameter's own gradient value, in place.
      nodes.push({ op: 'accumulate', inputs: [existing, g], outputs: [existing], attrs: {} });
    } else {
      const sum = add([...values[v].shape], 'float32', 'activation');
      nodes.push({ op: 'add', inputs: [existing, g], outputs: [sum], attrs: {} });
      grads.set(v, sum);
    }
  };
  const dlogits = add([batch, classes], 'float32', 'activation');
  nodes.push({ op: 'softmax_cross_entropy_backward', inputs: [probs, labels, one], outputs: [dlogits], attrs: {} });
  give(logits, dlogits);

  const lastWriter = new Map<number, IRNode>();
  for (const n of forward.nodes) for (const o of n.outputs) lastWriter.set(o, n);
  for (let k = forward.nodes.length - 1; k >= 0; k--) {
    const node = forward.nodes[k];
    if (!node.outputs.some((o) => grads.has(o))) continue;
    const rule = gradientRules[node.op];
    if (!rule) throw new ResnetError('RN_UNKNOWN_OP', `no gradient rule for this op${node.module ? ` (in ${node.module})` : ''}`, node.op);
    rule({
      node,
      dy: (i = 0) => grads.get(node.outputs[i]),
      needs: (i) => requires.has(node.inputs[i]),
      target: (i) => {
        const v = node.inputs[i];
        if (values[v].kind === 'param' && !grads.has(v) && requires.has(v)) {
          const g = add([...values[v].shape], 'float32', 'grad', values[v].name ? `${values[v].name}.grad` : undefined);
          paramGrads.set(v, g);
          return g;
        }
        return add([...values[v].shape], 'float32', 'activation');
      },
      give: (i, g) => {
        if (requires.has(node.inputs[i])) give(node.inputs[i], g);
      },
      emit: (op, inputs, outputs, attrs = {}) => nodes.push({ op, inputs, outputs, attrs, module: node.module }),
      fresh: (like) => add([...values[like].shape], 'float32', 'activation'),
      producer: (v) => lastWriter.get(v),
    });
  }
  for (const v of values) {
    if (v.kind === 'param' && !paramGrads.has(v.id)) {
      throw new ResnetError('RN_INVALID_ARGUMENT', `parameter ${v.name ?? v.id} does not reach the loss`, 'buildTrainingGraph');
    }
  }
  return { values, nodes, paramGrads, loss, losses, correct, one };
}
