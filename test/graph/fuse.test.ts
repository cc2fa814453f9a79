// The fusion pass (lib/graph/fuse.ts): ReLUs folded into batch norm and add, forward and backward, where valid;
// training with the fused kernels matches training with separate ReLUs.
import { describe, expect, it } from 'vitest';

import { fuseRelu } from '../../lib/graph/fuse.js';
import { resnet } from '../../lib/models/resnet.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { randint, randn, rng } from '../util/random.js';

function runtime(depth: number, fuse: boolean, cpuLayout: 'blocked' | 'nchw' = 'nchw'): ModelRuntime {
  return new ModelRuntime(resnet({ depth, dataset: 'cifar10' }), {
    inputShape: [3, 8, 8],
    optimizer: optimizerSpec({ name: 'sgd', momentum: 0.9, weightDecay: 1e-4 }),
    fuseRelu: fuse,
    cpuLayout,
  });
}

describe('ReLU fusion pass', () => {
  it('folds every BN → ReLU and add → ReLU of ResNet-20, forward and backward, and leaves no dangling value', () => {
    const model = runtime(20, true);
    const graph = model.trainingGraph(2);
    const { graph: fused, fused: counts } = fuseRelu(graph);
    // Stem BN + one per block (9) feed a ReLU; each block's sum (9) does.
    expect(counts).toEqual({ batchnormRelu: 10, batchnormReluBackward: 10, addRelu: 9 });
    expect(fused.nodes.filter((n) => n.op === 'relu_forward')).toHaveLength(0);
    // The post-add ReLUs keep their backward (it reads the fused add's output).
    expect(fused.nodes.filter((n) => n.op === 'relu_backward')).toHaveLength(9);
    expect(fused.nodes.length).toBe(graph.nodes.length - 29);
    fused.values.forEach((v, i) => expect(v.id).toBe(i));
    const referenced = new Set(fused.nodes.flatMap((n) => [...n.inputs, ...n.outputs]));
    for (const v of fused.values) if (v.kind === 'activation') expect(referenced.has(v.id), `value ${v.id}`).toBe(true);
    // The BN before each block's sum feeds an add, not a ReLU: 10 of the 19 backward passes take the mask.
    const backward = fused.nodes.filter((m) => m.op === 'batchnorm_backward');
    expect(backward).toHaveLength(19);
    expect(backward.filter((n) => n.attrs.relu === true && n.inputs.length === 6)).toHaveLength(10);
    model.dispose();
  });

  it('leaves a ReLU alone when the value before it has another reader', () => {
    const model = runtime(20, true);
    const graph = model.evaluationGraph(2);
    const bn = graph.nodes.findIndex((n) => n.op === 'batchnorm_forward_inference');
    const y = graph.nodes[bn].outputs[0];
    // A second reader of the BN output (a copy of the ReLU) blocks that fusion only.
    const extra = { ...graph.nodes.find((n) => n.op === 'relu_forward' && n.inputs[0] === y)! };
    const out = graph.values.length;
    const patched = { values: [...graph.values, { ...graph.values[y], id: out }], nodes: [...graph.nodes, { ...extra, outputs: [out] }] };
    const { fused } = fuseRelu(patched);
    expect(fused.batchnormRelu).toBe(9);
    model.dispose();
  });

  for (const cpuLayout of ['nchw', 'blocked'] as const) {
    it(`training with fused kernels matches separate ReLUs over 3 steps (${cpuLayout})`, async () => {
      const models = [runtime(20, true, cpuLayout), runtime(20, false, cpuLayout)];
      for (const m of models) await m.load(m.module.initialState(rng(3)));
      for (let step = 0; step < 3; step++) {
        const xs = Float32Array.from(randn(4 * 3 * 8 * 8, 10 + step));
        const ys = randint(4, 20 + step, 10);
        const [a, b] = [await models[0].trainStep(xs, ys, 0.05), await models[1].trainStep(xs, ys, 0.05)];
        expect(Math.abs(a.loss - b.loss), `step ${step}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b.loss)));
      }
      const [pa, pb] = [(await models[0].params.toArray()) as Float32Array, (await models[1].params.toArray()) as Float32Array];
      let worst = 0;
      for (let i = 0; i < pa.length; i++) worst = Math.max(worst, Math.abs(pa[i] - pb[i]) / Math.max(1, Math.abs(pb[i])));
      expect(worst).toBeLessThan(1e-5);
      for (const m of models) m.dispose();
    });
  }
});
