// The layout pass (lib/graph/layout.ts): which activations CPU programs keep blocked (nChw16c), the reorders it
// adds around ops that take only nchw, and training with blocked activations matching nchw training.
import { describe, expect, it } from 'vitest';

import { compileGraph } from '../../lib/graph/compile.js';
import type { IRGraph } from '../../lib/graph/ir.js';
import { assignLayouts } from '../../lib/graph/layout.js';
import { BatchNorm2d, Conv2d, Dropout, GlobalAvgPool, Linear, MaxPool2d, ReLU, Residual, Sequential, ShortcutA } from '../../lib/nn/index.js';
import type { Module } from '../../lib/nn/module.js';
import { anyLayoutOpsOf } from '../../lib/ops/eager.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { cpu } from '../../lib/runtime/device.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { randint, randn, rng } from '../util/random.js';

/** 16/32 channels (blockable), a max pool, shortcut A and a 1x1 projection, and optionally a dropout (nchw only). */
function blockableNet(dropout: boolean): Module {
  const block = (cin: number, cout: number, stride: number, projection: boolean) =>
    new Residual({
      branch: [
        ['conv1', new Conv2d(cin, cout, 3, { stride, padding: 1 })],
        ['bn1', new BatchNorm2d(cout)],
        ['relu', new ReLU()],
        ...(dropout ? [['drop', new Dropout(0.25)] as const] : []),
        ['conv2', new Conv2d(cout, cout, 3, { padding: 1 })],
        ['bn2', new BatchNorm2d(cout)],
      ],
      shortcut: cin === cout && stride === 1
        ? undefined
        : projection
          ? ['downsample', new Sequential([['conv', new Conv2d(cin, cout, 1, { stride })], ['bn', new BatchNorm2d(cout)]])]
          : ['downsample', new ShortcutA(cin, cout, stride)],
      post: [['relu2', new ReLU()]],
    });
  return new Sequential([
    ['conv1', new Conv2d(3, 16, 3, { padding: 1 })],
    ['bn1', new BatchNorm2d(16)],
    ['relu', new ReLU()],
    ['pool', new MaxPool2d(2, { stride: 1 })],
    ['layer1', block(16, 16, 1, false)],
    ['layer2', block(16, 32, 2, false)],
    ['layer3', block(32, 48, 1, true)],
    ['avgpool', new GlobalAvgPool()],
    ['fc', new Linear(48, 5)],
  ]);
}

const shape = [3, 9, 7];
const batch = 3;

async function runtime(module: Module, cpuLayout: 'blocked' | 'nchw'): Promise<ModelRuntime> {
  const model = new ModelRuntime(module, {
    inputShape: shape,
    optimizer: optimizerSpec({ name: 'sgd', momentum: 0.9, weightDecay: 1e-4 }),
    cpuLayout,
    dropoutSeed: 5,
  });
  await model.load(module.initialState(rng(11)));
  return model;
}

function layoutsOf(graph: IRGraph) {
  return assignLayouts(graph, anyLayoutOpsOf(cpu));
}

describe('layout pass', () => {
  it('keeps blockable activations blocked and touches weights, bound values and odd channel counts never', async () => {
    const model = await runtime(blockableNet(false), 'blocked');
    const graph = model.trainingGraph(batch);
    const { blocked, graph: rewritten } = layoutsOf(graph);
    expect(blocked.size).toBeGreaterThan(20);
    for (const id of blocked) {
      const v = rewritten.values[id];
      expect(['activation', 'aux']).toContain(v.kind);
      expect(v.shape.length).toBe(4);
      expect(v.shape[1] % 16).toBe(0);
    }
    // The input image (3 channels) and the first conv's weights stay nchw.
    for (const v of rewritten.values) if (v.kind !== 'activation' && v.kind !== 'aux') expect(blocked.has(v.id)).toBe(false);
    // Every op that is given a blocked operand takes that layout.
    const aware = anyLayoutOpsOf(cpu);
    for (const n of rewritten.nodes) {
      const blockedOperands = [...n.inputs, ...n.outputs].filter((id) => blocked.has(id));
      if (blockedOperands.length) expect(aware.has(n.op), `${n.op} given a blocked operand`).toBe(true);
    }
    const compiled = compileGraph(graph, { layout: model.layout, blockedOps: aware });
    expect(compiled.spec.values.filter((v) => v.layout === 'nChw16c').length).toBe(compiled.layouts.blocked);
    model.dispose();
  });

  it('puts a reorder pair around an op that takes only nchw (dropout) and nowhere a layout-aware op is', async () => {
    const model = await runtime(blockableNet(true), 'blocked');
    const { graph, blocked } = layoutsOf(model.trainingGraph(batch));
    const reorders = graph.nodes.filter((n) => n.op === 'layout_reorder');
    expect(reorders.length).toBeGreaterThan(0);
    const aware = anyLayoutOpsOf(cpu);
    for (const [k, n] of graph.nodes.entries()) {
      if (n.op !== 'layout_reorder') continue;
      // Each reorder connects a blocked value and a plain copy used by a neighbouring nchw-only op.
      const [from, to] = [n.inputs[0], n.outputs[0]];
      expect(blocked.has(from) !== blocked.has(to)).toBe(true);
      const copy = blocked.has(from) ? to : from;
      const user = graph.nodes.find((m, j) => j !== k && (m.inputs.includes(copy) || m.outputs.includes(copy)))!;
      expect(aware.has(user.op), `${user.op} next to a reorder`).toBe(false);
    }
    model.dispose();
  });

  for (const dropout of [false, true]) {
    it(`training with blocked activations matches nchw over 3 steps${dropout ? ' (with reorders around dropout)' : ''}`, async () => {
      const blockedModel = await runtime(blockableNet(dropout), 'blocked');
      const plainModel = await runtime(blockableNet(dropout), 'nchw');
      for (let step = 0; step < 3; step++) {
        const xs = Float32Array.from(randn(batch * shape[0] * shape[1] * shape[2], 40 + step));
        const ys = randint(batch, 50 + step, 5);
        const a = await blockedModel.trainStep(xs, ys, 0.05);
        const b = await plainModel.trainStep(xs, ys, 0.05);
        expect(Math.abs(a.loss - b.loss), `step ${step}: ${a.loss} vs ${b.loss}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b.loss)));
      }
      const pa = (await blockedModel.params.toArray()) as Float32Array;
      const pb = (await plainModel.params.toArray()) as Float32Array;
      let worst = 0;
      for (let i = 0; i < pa.length; i++) worst = Math.max(worst, Math.abs(pa[i] - pb[i]) / Math.max(1, Math.abs(pb[i])));
      expect(worst).toBeLessThan(1e-5);
      const ea = await blockedModel.evalStep(Float32Array.from(randn(batch * 189, 60)), randint(batch, 61, 5));
      const eb = await plainModel.evalStep(Float32Array.from(randn(batch * 189, 60)), randint(batch, 61, 5));
      expect(Math.abs(ea.loss - eb.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(eb.loss)));
      blockedModel.dispose();
      plainModel.dispose();
    });
  }
});
