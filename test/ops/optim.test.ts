// Optimizer updates against float64 references and against torch.optim itself, on every available device.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { eagerCacheSize, runOp } from '../../lib/ops/eager.js';
import {
  adadeltaUpdate,
  adagradUpdate,
  adamUpdate,
  adamwUpdate,
  optimDefaults,
  rmspropUpdate,
  sgdUpdate,
} from '../../lib/ops/optim.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import {
  adadeltaReference,
  adagradReference,
  adamReference,
  rmspropReference,
  sgdReference,
} from '../reference/optim.js';
import { expectClose } from '../util/check.js';
import { asF32, randn, size } from '../util/random.js';
import { tensor, testDevices, values } from '../util/tensors.js';

type Kind = 'sgd' | 'rmsprop' | 'adadelta' | 'adagrad' | 'adam' | 'adamw';
type Options = Record<string, number | boolean>;
type State = Record<string, Tensor>;

/** The state buffers each rule keeps, in the wrapper's argument order. */
function stateNames(kind: Kind, o: Options): string[] {
  switch (kind) {
    case 'sgd':
      return ['momentumBuf'];
    case 'rmsprop':
      return o.centered ? ['squareAvg', 'momentumBuf', 'gradAvg'] : ['squareAvg', 'momentumBuf'];
    case 'adadelta':
      return ['squareAvg', 'accDelta'];
    case 'adagrad':
      return ['stateSum'];
    case 'adam':
    case 'adamw':
      return o.amsgrad ? ['expAvg', 'expAvgSq', 'maxExpAvgSq'] : ['expAvg', 'expAvgSq'];
  }
}

/** One update through the wrapper of `kind`. */
async function update(kind: Kind, param: Tensor, grad: Tensor, s: State, o: Options, lr: number, step: number): Promise<void> {
  switch (kind) {
    case 'sgd':
      return sgdUpdate(param, grad, s.momentumBuf, { ...o, lr, step });
    case 'rmsprop':
      return rmspropUpdate(param, grad, s.squareAvg, s.momentumBuf, { ...o, lr, step, gradAvg: s.gradAvg });
    case 'adadelta':
      return adadeltaUpdate(param, grad, s.squareAvg, s.accDelta, { ...o, lr, step });
    case 'adagrad':
      return adagradUpdate(param, grad, s.stateSum, { ...o, lr, step });
    case 'adam':
      return adamUpdate(param, grad, s.expAvg, s.expAvgSq, { ...o, lr, step, maxExpAvgSq: s.maxExpAvgSq });
    case 'adamw':
      return adamwUpdate(param, grad, s.expAvg, s.expAvgSq, { ...o, lr, step, maxExpAvgSq: s.maxExpAvgSq });
  }
}

/** One float64 reference update; `o` must carry every option (the wrapper defaults are merged in first). */
function reference(kind: Kind, param: Float64Array, grad: Float64Array, s: Record<string, Float64Array>, o: Options, lr: number, step: number): void {
  const full = { ...optimDefaults[kind], ...o, lr, step } as never;
  switch (kind) {
    case 'sgd':
      return sgdReference(param, grad, s as never, full);
    case 'rmsprop':
      return rmspropReference(param, grad, s as never, full);
    case 'adadelta':
      return adadeltaReference(param, grad, s as never, full);
    case 'adagrad':
      return adagradReference(param, grad, s as never, full);
    case 'adam':
    case 'adamw':
      return adamReference(param, grad, s as never, { ...(full as object), decoupled: kind === 'adamw' } as never);
  }
}

async function expectError(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<ResnetError> {
  const error = await promise.then(
    () => expect.fail(`expected ${code}, but the call succeeded`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect((error as ResnetError).code, String(error)).toBe(code);
  for (const f of fragments) expect((error as Error).message).toContain(f);
  return error as ResnetError;
}

// Reference cases: several option combinations per rule; `init` fills a state buffer (else zeros).
const referenceCases: [string, Kind, Options, Record<string, number>?][] = [
  ['sgd fb.resnet.torch defaults', 'sgd', {}],
  ['sgd plain', 'sgd', { momentum: 0, nesterov: false, weightDecay: 0 }],
  ['sgd momentum, no nesterov', 'sgd', { momentum: 0.9, nesterov: false, weightDecay: 0 }],
  ['sgd dampening 0.3, wd 1e-3', 'sgd', { momentum: 0.8, dampening: 0.3, nesterov: false, weightDecay: 1e-3 }],
  ['sgd nesterov, wd 5e-4', 'sgd', { momentum: 0.5, nesterov: true, weightDecay: 5e-4 }],
  ['rmsprop defaults', 'rmsprop', {}],
  ['rmsprop momentum 0.9, wd 1e-4', 'rmsprop', { momentum: 0.9, weightDecay: 1e-4 }],
  ['rmsprop centered', 'rmsprop', { centered: true, alpha: 0.9 }],
  ['rmsprop centered with momentum', 'rmsprop', { centered: true, momentum: 0.7, eps: 1e-6, weightDecay: 1e-2 }],
  ['adadelta defaults', 'adadelta', {}],
  ['adadelta rho 0.3, wd 1e-3', 'adadelta', { rho: 0.3, eps: 1e-5, weightDecay: 1e-3 }],
  ['adagrad defaults', 'adagrad', {}],
  ['adagrad lr decay, accumulator 0.1', 'adagrad', { lrDecay: 0.05, eps: 1e-8, weightDecay: 1e-4 }, { stateSum: 0.1 }],
  ['adam defaults', 'adam', {}],
  ['adam L2 wd, betas', 'adam', { beta1: 0.5, beta2: 0.9, eps: 1e-6, weightDecay: 1e-2 }],
  ['adam amsgrad', 'adam', { amsgrad: true }],
  ['adamw defaults', 'adamw', {}],
  ['adamw wd 0.1, amsgrad', 'adamw', { weightDecay: 0.1, amsgrad: true, beta2: 0.95 }],
];

const fixture = JSON.parse(
  readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'optim-torch.json'), 'utf8'),
) as {
  torch: string;
  cases: {
    optimizer: Kind;
    name: string;
    options: Options;
    init: Record<string, number>;
    shape: number[];
    param: number[];
    grads: number[][];
    lrs: number[];
    params: number[][];
    state: Record<string, number[]>;
  }[];
};

describe.each(testDevices)('optimizer updates on %s', (device) => {
  const STEPS = 5;
  const baseLr: Record<Kind, number> = { sgd: 0.1, rmsprop: 1e-2, adadelta: 1, adagrad: 0.1, adam: 1e-2, adamw: 1e-2 };

  describe.each([
    ['[3,17]', [3, 17]],
    ['[40000] (multi-threaded)', [40000]],
  ])('against the float64 reference, shape %s', (_label, shape) => {
    it.each(referenceCases)('%s', async (_name, kind, o, init = {}) => {
      const n = size(shape as number[]);
      const p64 = asF32(randn(n, 101 + n));
      const s64: Record<string, Float64Array> = {};
      const state: State = {};
      for (const name of stateNames(kind, o)) {
        s64[name] = new Float64Array(n).fill(init[name] ?? 0);
        state[name] = tensor(s64[name], shape as number[], { device });
      }
      const param = tensor(p64, shape as number[], { device });
      const grad = Tensor.zeros(shape as number[], { device });
      // A schedule that changes lr mid-run, and gradients of varying scale.
      const lrs = [1, 1, 0.5, 0.25, 0.1].map((f) => f * baseLr[kind]);
      const scales = [1, 0.3, 2, 0.1, 1];
      for (let k = 0; k < STEPS; k++) {
        const g = asF32(randn(n, 200 + 7 * k, scales[k]));
        await grad.write(Float32Array.from(g));
        await update(kind, param, grad, state, o, lrs[k], k + 1);
        reference(kind, p64, g, s64, o, lrs[k], k + 1);
        expectClose(await values(param), p64, { rtol: 2e-5, atol: 1e-6, what: `param after step ${k + 1}` });
      }
      for (const name of Object.keys(state)) {
        // With momentum 0 the momentum buffer is never touched (torch keeps none).
        const momentum = o.momentum ?? (optimDefaults[kind] as { momentum?: number }).momentum;
        const usesBuffer = !(name === 'momentumBuf' && momentum === 0);
        // Buffers such as RMSprop's momentum sum terms of mixed sign: float32 error scales with their largest value.
        const scale = s64[name].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        if (usesBuffer) expectClose(await values(state[name]), s64[name], { rtol: 1e-4, atol: 1e-6 * scale, what: name });
        else expect(Array.from(await values(state[name])).every((v) => v === 0), `${name} untouched`).toBe(true);
      }
    });
  });

  describe(`against torch.optim (fixture from torch ${fixture.torch})`, () => {
    it.each(fixture.cases.map((c) => [`${c.optimizer}: ${c.name}`, c] as const))('%s', async (_name, c) => {
      const state: State = {};
      for (const name of stateNames(c.optimizer, c.options)) {
        state[name] = tensor(new Float32Array(size(c.shape)).fill(c.init[name] ?? 0), c.shape, { device });
      }
      const param = tensor(c.param, c.shape, { device });
      const grad = Tensor.zeros(c.shape, { device });
      for (let k = 0; k < c.grads.length; k++) {
        await grad.write(Float32Array.from(c.grads[k]));
        await update(c.optimizer, param, grad, state, c.options, c.lrs[k], k + 1);
        // 1e-5 relative; atol 1e-7 (about an ulp of an O(1) parameter) for entries that cancel to near zero.
        expectClose(await values(param), c.params[k], { rtol: 1e-5, atol: 1e-7, what: `param after step ${k + 1}` });
      }
      for (const [name, wanted] of Object.entries(c.state)) {
        expectClose(await values(state[name]), wanted, { rtol: 1e-5, atol: 1e-9, what: `torch state ${name}` });
      }
    });
  });

  // A resumed run: state carried over, steps in the thousands (bias corrections, Adagrad's decay, SGD's buffer).
  it.each([
    ['sgd', { dampening: 0.2, nesterov: false }],
    ['adagrad', { lrDecay: 1e-3 }],
    ['adam', { weightDecay: 1e-3 }],
    ['adamw', { amsgrad: true }],
    ['rmsprop', { centered: true, momentum: 0.9 }],
    ['adadelta', {}],
  ] as [Kind, Options][])('%s resumed at step 1000', async (kind, o) => {
    const shape = [4, 9];
    const n = size(shape);
    const p64 = asF32(randn(n, 301));
    const s64: Record<string, Float64Array> = {};
    const state: State = {};
    for (const [j, name] of stateNames(kind, o).entries()) {
      // Positive second moments above the squared mean (the centered variance stays positive); any sign otherwise.
      const r = randn(n, 310 + j, 0.1);
      const secondMoment = /Sq|square|Sum|acc/i.test(name);
      s64[name] = asF32(secondMoment ? r.map((v) => 0.02 + v * v) : name === 'gradAvg' ? r.map((v) => 0.3 * v) : r);
      state[name] = tensor(s64[name], shape, { device });
    }
    const param = tensor(p64, shape, { device });
    for (let step = 1000; step < 1003; step++) {
      const g = asF32(randn(n, step));
      await update(kind, param, tensor(g, shape, { device }), state, o, 0.01, step);
      reference(kind, p64, g, s64, o, 0.01, step);
    }
    expectClose(await values(param), p64, { rtol: 2e-5, atol: 1e-6, what: 'param' });
    for (const name of Object.keys(state)) {
      expectClose(await values(state[name]), s64[name], { rtol: 1e-4, atol: 1e-6, what: name });
    }
  });

  it('reuses one program while lr and step change (they travel in the hyper tensor)', async () => {
    const shape = [5];
    const param = tensor([1, 2, 3, 4, 5], shape, { device });
    const grad = tensor([1, 1, 1, 1, 1], shape, { device });
    const buf = Tensor.zeros(shape, { device });
    await sgdUpdate(param, grad, buf, { lr: 0.1, step: 1 });
    const cached = eagerCacheSize();
    for (let k = 2; k <= 6; k++) await sgdUpdate(param, grad, buf, { lr: 0.1 / k, step: k });
    expect(eagerCacheSize()).toBe(cached);
  });

  it('leaves the momentum buffer untouched with momentum 0', async () => {
    const param = tensor([1, -2], [2], { device });
    const grad = tensor([0.5, 0.5], [2], { device });
    const buf = tensor([7, 7], [2], { device });
    await sgdUpdate(param, grad, buf, { lr: 0.1, step: 3, momentum: 0, nesterov: false, weightDecay: 0 });
    expectClose(await values(param), [0.95, -2.05], { what: 'param' });
    expect(Array.from(await values(buf))).toEqual([7, 7]);
  });

  describe('bad input', () => {
    const make = () => ({
      param: tensor([1, 2, 3, 4, 5, 6], [2, 3], { device }),
      grad: tensor([1, 1, 1, 1, 1, 1], [2, 3], { device }),
      buf: Tensor.zeros([2, 3], { device }),
    });

    it('rejects buffers of different shapes, then runs a valid call', async () => {
      const { param, grad, buf } = make();
      const flat = Tensor.zeros([6], { device });
      await expectError(sgdUpdate(param, grad, flat, { lr: 0.1, step: 1 }), 'RN_SHAPE_MISMATCH', 'sgdUpdate', 'momentumBuf', '[6]', '[2,3]');
      await expectError(
        adamUpdate(param, tensor([1, 2, 3], [3], { device }), Tensor.zeros([2, 3], { device }), buf, { lr: 1e-3, step: 1 }),
        'RN_SHAPE_MISMATCH',
        'adamUpdate',
        'grad',
      );
      expect(Array.from(await values(param))).toEqual([1, 2, 3, 4, 5, 6]);
      await sgdUpdate(param, grad, buf, { lr: 0.5, step: 1, weightDecay: 0 });
      // nesterov (the default) at step 1: buf = g = 1, g + 0.9·buf = 1.9 → param − 0.5·1.9
      expectClose(await values(param), [1, 2, 3, 4, 5, 6].map((v) => v - 0.95), { what: 'after a valid call' });
    });

    it('rejects a negative or non-finite lr and a bad step', async () => {
      const { param, grad, buf } = make();
      await expectError(sgdUpdate(param, grad, buf, { lr: -0.1, step: 1 }), 'RN_INVALID_ARGUMENT', 'sgdUpdate', 'lr', '-0.1');
      await expectError(adagradUpdate(param, grad, buf, { lr: Infinity, step: 1 }), 'RN_INVALID_ARGUMENT', 'adagradUpdate', 'lr');
      await expectError(adamUpdate(param, grad, buf, Tensor.zeros([2, 3], { device }), { lr: 1e-3, step: 0 }), 'RN_INVALID_ARGUMENT', 'step', '0');
      await expectError(adamUpdate(param, grad, buf, Tensor.zeros([2, 3], { device }), { lr: 1e-3, step: 1.5 }), 'RN_INVALID_ARGUMENT', 'step', '1.5');
      await expectError(sgdUpdate(param, grad, buf, { lr: 0.1 } as never), 'RN_INVALID_ARGUMENT', 'sgdUpdate', 'step', 'undefined');
      await expectError(sgdUpdate(param, grad, buf, undefined as never), 'RN_INVALID_ARGUMENT', 'sgdUpdate', 'options');
      expect(Array.from(await values(param))).toEqual([1, 2, 3, 4, 5, 6]);
      await sgdUpdate(param, grad, buf, { lr: 0, step: 1 }); // lr 0 is allowed, as in torch
      expectClose(await values(param), [1, 2, 3, 4, 5, 6], { what: 'lr 0 leaves param' });
      await sgdUpdate(param, grad, buf, { lr: 0.1, step: 1, weightDecay: 0 });
      expectClose(await values(param), [0.81, 1.81, 2.81, 3.81, 4.81, 5.81], { what: 'after a valid call' });
    });

    it('rejects unknown options naming the op and the key', async () => {
      const { param, grad, buf } = make();
      await expectError(sgdUpdate(param, grad, buf, { lr: 0.1, step: 1, momentun: 0.9 } as never), 'RN_UNKNOWN_ATTRIBUTE', 'sgdUpdate', "'momentun'");
      await expectError(
        adamwUpdate(param, grad, buf, Tensor.zeros([2, 3], { device }), { lr: 0.1, step: 1, betas: [0.9, 0.99] } as never),
        'RN_UNKNOWN_ATTRIBUTE',
        'adamwUpdate',
        "'betas'",
      );
      await expectError(adagradUpdate(param, grad, buf, { lr: 0.1, step: 1, initialAccumulatorValue: 0.1 } as never), 'RN_UNKNOWN_ATTRIBUTE', 'adagradUpdate');
      await adagradUpdate(param, grad, buf, { lr: 0.1, step: 1 });
      expectClose(await values(buf), [1, 1, 1, 1, 1, 1], { what: 'state_sum after a valid call' });
    });

    it('rejects out-of-range hyper-parameters', async () => {
      const { param, grad, buf } = make();
      const sq = Tensor.zeros([2, 3], { device });
      await expectError(sgdUpdate(param, grad, buf, { lr: 0.1, step: 1, momentum: -0.1 }), 'RN_INVALID_ARGUMENT', 'momentum');
      await expectError(sgdUpdate(param, grad, buf, { lr: 0.1, step: 1, momentum: 0 }), 'RN_INVALID_ARGUMENT', 'nesterov', 'dampening 0');
      await expectError(sgdUpdate(param, grad, buf, { lr: 0.1, step: 1, dampening: 0.1 }), 'RN_INVALID_ARGUMENT', 'nesterov');
      await expectError(sgdUpdate(param, grad, buf, { lr: 0.1, step: 1, nesterov: 1 as never }), 'RN_INVALID_ARGUMENT', 'nesterov', 'boolean');
      await expectError(adamUpdate(param, grad, buf, sq, { lr: 0.1, step: 1, beta1: 1 }), 'RN_INVALID_ARGUMENT', 'beta1', '[0, 1)');
      await expectError(adamUpdate(param, grad, buf, sq, { lr: 0.1, step: 1, beta2: -0.5 }), 'RN_INVALID_ARGUMENT', 'beta2');
      await expectError(adamUpdate(param, grad, buf, sq, { lr: 0.1, step: 1, eps: 0 }), 'RN_INVALID_ARGUMENT', 'eps', '> 0');
      await expectError(rmspropUpdate(param, grad, buf, sq, { lr: 0.1, step: 1, weightDecay: -1 }), 'RN_INVALID_ARGUMENT', 'weightDecay');
      await expectError(adadeltaUpdate(param, grad, buf, sq, { lr: 1, step: 1, rho: 1.5 }), 'RN_INVALID_ARGUMENT', 'rho');
      await expectError(adagradUpdate(param, grad, buf, { lr: 1, step: 1, lrDecay: -1 }), 'RN_INVALID_ARGUMENT', 'lrDecay');
      expect(Array.from(await values(param))).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('requires the centered / amsgrad buffer exactly when enabled, and distinct tensors', async () => {
      const { param, grad, buf } = make();
      const sq = Tensor.zeros([2, 3], { device });
      const extra = Tensor.zeros([2, 3], { device });
      await expectError(rmspropUpdate(param, grad, sq, buf, { lr: 0.1, step: 1, centered: true }), 'RN_INVALID_ARGUMENT', 'rmspropUpdate', 'gradAvg', 'centered');
      await expectError(rmspropUpdate(param, grad, sq, buf, { lr: 0.1, step: 1, gradAvg: extra }), 'RN_INVALID_ARGUMENT', 'gradAvg');
      await expectError(adamUpdate(param, grad, buf, sq, { lr: 0.1, step: 1, amsgrad: true }), 'RN_INVALID_ARGUMENT', 'maxExpAvgSq', 'amsgrad');
      await expectError(
        rmspropUpdate(param, grad, sq, buf, { lr: 0.1, step: 1, centered: true, gradAvg: Tensor.zeros([3, 2], { device }) }),
        'RN_SHAPE_MISMATCH',
        'gradAvg',
      );
      await expectError(sgdUpdate(param, grad, param, { lr: 0.1, step: 1 }), 'RN_INVALID_ARGUMENT', 'momentumBuf', 'distinct from param');
      await expectError(adamUpdate(param, grad, sq, sq, { lr: 0.1, step: 1 }), 'RN_INVALID_ARGUMENT', 'expAvgSq', 'distinct from expAvg');
      const ints = Tensor.zeros([2, 3], { device, dtype: 'int32' });
      await expectError(sgdUpdate(param, grad, ints, { lr: 0.1, step: 1 }), 'RN_DTYPE_MISMATCH', 'momentumBuf', 'float32');
      const gone = Tensor.zeros([2, 3], { device });
      gone.dispose();
      await expectError(sgdUpdate(param, gone, buf, { lr: 0.1, step: 1 }), 'RN_DISPOSED', 'grad');
      expect(Array.from(await values(param))).toEqual([1, 2, 3, 4, 5, 6]);
      await rmspropUpdate(param, grad, sq, buf, { lr: 0.1, step: 1, centered: true, gradAvg: extra });
      expectClose(await values(extra), [0.01, 0.01, 0.01, 0.01, 0.01, 0.01], { what: 'grad_avg after a valid call' });
    });

    it('native checks: bad hyper values, hyper shape, arity and unknown attributes', async () => {
      const { param, grad, buf } = make();
      const hyper = (lr: number, step: number) => tensor([lr, step], [2], { device });
      const sq = Tensor.zeros([2, 3], { device });
      const attrs = { momentum: 0.9, dampening: 0, weight_decay: 0, nesterov: true };
      await expectError(runOp('sgd_update', [param, grad, buf, hyper(0.1, 0)], [param, buf], attrs), 'RN_INVALID_ARGUMENT', 'sgd_update', 'step');
      await expectError(runOp('sgd_update', [param, grad, buf, hyper(-1, 1)], [param, buf], attrs), 'RN_INVALID_ARGUMENT', 'sgd_update', 'learning rate');
      await expectError(runOp('sgd_update', [param, grad, buf, hyper(0.1, 2.5)], [param, buf], attrs), 'RN_INVALID_ARGUMENT', 'step', '2.5');
      await expectError(
        runOp('sgd_update', [param, grad, buf, tensor([0.1, 1, 0], [3], { device })], [param, buf], attrs),
        'RN_SHAPE_MISMATCH',
        'sgd_update',
        'hyper',
      );
      await expectError(runOp('adam_update', [param, grad, buf, hyper(0.1, 1)], [param, buf], {}), 'RN_INVALID_ARGUMENT', 'adam_update', 'inputs');
      await expectError(
        runOp('sgd_update', [param, grad, buf, hyper(0.1, 1)], [param, buf], { ...attrs, beta: 0.5 }),
        'RN_UNKNOWN_ATTRIBUTE',
        'sgd_update',
        "'beta'",
      );
      await expectError(
        runOp('sgd_update', [param, grad, buf, hyper(0.1, 1)], [param, buf], { ...attrs, momentum: 0 }),
        'RN_INVALID_ARGUMENT',
        'sgd_update',
        'nesterov',
      );
      await expectError(
        runOp('adam_update', [param, grad, buf, sq, hyper(0.1, 1)], [param, buf, sq], { beta1: 1 }),
        'RN_INVALID_ARGUMENT',
        'beta1',
      );
      expect(Array.from(await values(param))).toEqual([1, 2, 3, 4, 5, 6]);
      await runOp('sgd_update', [param, grad, buf, hyper(0.1, 1)], [param, buf], attrs);
      // nesterov at step 1: buf = g, g + 0.9·buf = 1.9 → param − 0.19
      expectClose(await values(param), [0.81, 1.81, 2.81, 3.81, 4.81, 5.81], { what: 'after a valid native call' });
      expectClose(await values(buf), [1, 1, 1, 1, 1, 1], { what: 'momentum buffer' });
    });
  });
});
