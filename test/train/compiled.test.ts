// The compiled training program end to end: gradients of a small residual network against finite
// differences, and planned memory changing nothing (bit-identical losses and weights).
import { describe, expect, it } from 'vitest';

import { compileGraph } from '../../lib/graph/compile.js';
import type { Module } from '../../lib/nn/module.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { smallResNet } from '../util/models.js';
import { randint, randn, rng } from '../util/random.js';

async function runtime(module: Module, plan = true, seed = 7): Promise<ModelRuntime> {
  const model = new ModelRuntime(module, {
    inputShape: [3, 7, 6],
    optimizer: optimizerSpec({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
    plan,
  });
  await model.load(module.initialState(rng(seed)));
  return model;
}

const batch = 4;
const x = Float32Array.from(randn(batch * 3 * 7 * 6, 101));
const labels = randint(batch, 102, 5);

describe('compiled training program', () => {
  it('parameter gradients match finite differences of the loss', async () => {
    const model = await runtime(smallResNet());
    const base = await model.trainStep(x, labels, 0); // lr 0: parameters stay, gradients land in model.grads
    const grads = (await model.grads.toArray()) as Float32Array;
    const params = (await model.params.toArray()) as Float32Array;
    const lossAt = async (p: Float32Array) => {
      await model.params.write(p);
      return (await model.trainStep(x, labels, 0)).loss;
    };
    // A few coordinates from every parameter tensor.
    let checked = 0;
    for (const p of model.layout.params) {
      for (const k of [0, Math.floor(p.size / 2), p.size - 1]) {
        const i = p.offset + k;
        const eps = 1e-3 * Math.max(1, Math.abs(params[i]));
        const plus = Float32Array.from(params);
        plus[i] += eps;
        const minus = Float32Array.from(params);
        minus[i] -= eps;
        const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * eps);
        expect(Math.abs(grads[i] - fd), `${p.name}[${k}]: analytic ${grads[i]} vs finite difference ${fd}`).toBeLessThan(2e-3 + 3e-2 * Math.abs(fd));
        checked++;
      }
    }
    expect(checked).toBe(model.layout.params.length * 3);
    expect(Number.isFinite(base.loss)).toBe(true);
    model.dispose();
  });

  it('planned and unplanned programs give bit-identical losses and weights over 3 steps', async () => {
    const planned = await runtime(smallResNet(), true);
    const naive = await runtime(smallResNet(), false);
    for (let step = 0; step < 3; step++) {
      const xs = Float32Array.from(randn(batch * 3 * 7 * 6, 200 + step));
      const ys = randint(batch, 300 + step, 5);
      const a = await planned.trainStep(xs, ys, 0.1);
      const b = await naive.trainStep(xs, ys, 0.1);
      expect(a.loss).toBe(b.loss);
      expect(a.correct).toEqual(b.correct);
    }
    expect(Buffer.from(((await planned.params.toArray()) as Float32Array).buffer).equals(Buffer.from(((await naive.params.toArray()) as Float32Array).buffer))).toBe(true);
    const memory = planned.memory(batch);
    expect(memory.planned).toBeLessThan(memory.naive);
    planned.dispose();
    naive.dispose();
  });

  it('the planner never lets two live arena values overlap', () => {
    const module = smallResNet();
    const model = new ModelRuntime(module, { inputShape: [3, 7, 6], optimizer: optimizerSpec({ name: 'sgd' }) });
    const { spec } = compileGraph(model.trainingGraph(batch), { layout: model.layout, optimizer: optimizerSpec({ name: 'sgd' }) });
    // Resolve each arena value (and views of arena values) to a byte range; collect op-index lifetimes.
    const range = (id: number): [number, number] | undefined => {
      const v = spec.values[id];
      const bytes = v.shape.reduce((a, b) => a * b, 1) * (v.dtype === 'int64' ? 8 : v.dtype === 'uint8' ? 1 : 4);
      if (v.viewOf !== undefined) {
        const base = range(v.viewOf);
        return base && [base[0] + (v.offset ?? 0), base[0] + (v.offset ?? 0) + bytes];
      }
      return v.offset === undefined ? undefined : [v.offset, v.offset + bytes];
    };
    const live = new Map<number, [number, number]>();
    spec.ops.forEach((op, k) => {
      for (const id of [...op.inputs, ...op.outputs]) {
        const [s, e] = live.get(id) ?? [k, k];
        live.set(id, [Math.min(s, k), Math.max(e, k)]);
      }
    });
    const entries = [...live.entries()].map(([id, life]) => ({ id, life, bytes: range(id) })).filter((e) => e.bytes);
    let pairs = 0;
    for (const a of entries) {
      for (const b of entries) {
        if (a.id >= b.id) continue;
        const together = a.life[0] <= b.life[1] && b.life[0] <= a.life[1];
        const overlap = a.bytes![0] < b.bytes![1] && b.bytes![0] < a.bytes![1];
        if (!together || !overlap) continue;
        // Sharing is allowed only where an op writes its output over an input it reads for the last time.
        const inPlace = spec.ops.some((op, k) => k === a.life[1] && k === b.life[0] && op.inputs.includes(a.id) && op.outputs.includes(b.id))
          || spec.ops.some((op, k) => k === b.life[1] && k === a.life[0] && op.inputs.includes(b.id) && op.outputs.includes(a.id));
        const sameView = spec.values[a.id].viewOf === b.id || spec.values[b.id].viewOf === a.id;
        expect(inPlace || sameView, `values ${a.id} and ${b.id} overlap while both live`).toBe(true);
        pairs++;
      }
    }
    expect(entries.length).toBeGreaterThan(20);
    void pairs;
    model.dispose();
  });
});
