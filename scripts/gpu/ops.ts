// GPU check (a): every op on cuda:0 against the CPU backend on the same random inputs, forward and backward.
// Prints one row per case (worst normwise relative error max|gpu−cpu| / max|cpu| over its outputs, or exact
// equality for integer outputs) and writes the rows as JSON. Exit status 1 when a case fails or a CPU op has
// no CUDA kernel. --device cpu compares the CPU with itself: a check of this script without a GPU.
// Usage: node ops.js [--json FILE] [--tolerance 1e-3] [--device cuda:0]
import { writeFileSync } from 'node:fs';

import { runOp } from '../../lib/ops/eager.js';
import * as ops from '../../lib/ops/index.js';
import { InProcessGroup, allreduce } from '../../lib/parallel/group.js';
import { native } from '../../lib/runtime/native.js';
import { type DType, Tensor } from '../../lib/runtime/tensor.js';

import { generator } from './common.js';

type HostArray = Float32Array | Int32Array | Uint8Array | BigInt64Array;
type Result = Tensor | number[];

interface Input {
  data: HostArray;
  shape: number[];
  dtype: DType;
}

interface OpCase {
  name: string;
  /** The native kernels it exercises (to spot CPU kernels no case covers). */
  kernels: string[];
  inputs: Input[];
  run: (t: Tensor[]) => Promise<Result[]>;
}

export interface CaseRow {
  name: string;
  kernels: string[];
  /** Worst normwise relative error of the float outputs; integer outputs must match exactly. */
  relativeError: number;
  integerMismatches: number;
  ok: boolean;
  error?: string;
}

// Seeded inputs (mulberry32, Box–Muller: ./common.ts), so a failure reproduces.
let seedCounter = 1;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
function randn(shape: number[], scale = 1): Input {
  const u = generator(seedCounter++);
  const data = Float32Array.from({ length: size(shape) }, () => Math.sqrt(-2 * Math.log(u() || 1e-12)) * Math.cos(2 * Math.PI * u()) * scale);
  return { data, shape, dtype: 'float32' };
}
function positive(shape: number[], lo = 0.5, hi = 2): Input {
  const u = generator(seedCounter++);
  return { data: Float32Array.from({ length: size(shape) }, () => lo + (hi - lo) * u()), shape, dtype: 'float32' };
}
function labels(n: number, classes: number): Input {
  const u = generator(seedCounter++);
  return { data: Int32Array.from({ length: n }, () => Math.floor(u() * classes)), shape: [n], dtype: 'int32' };
}
function bytes(shape: number[]): Input {
  const u = generator(seedCounter++);
  return { data: Uint8Array.from({ length: size(shape) }, () => Math.floor(u() * 256)), shape, dtype: 'uint8' };
}

function convCases(): OpCase[] {
  const geometries = [
    { n: 2, c: 3, h: 9, w: 7, k: 5, kh: 3, kw: 3, stride: 1, padding: 1 },
    { n: 4, c: 16, h: 16, w: 16, k: 32, kh: 3, kw: 3, stride: 2, padding: 1 },
    { n: 1, c: 5, h: 11, w: 13, k: 7, kh: 1, kw: 1, stride: 2, padding: 0 },
    { n: 2, c: 3, h: 32, w: 32, k: 16, kh: 7, kw: 7, stride: 2, padding: 3 },
    { n: 8, c: 64, h: 14, w: 14, k: 64, kh: 3, kw: 3, stride: 1, padding: 1 },
  ];
  return geometries.flatMap((g) => {
    const opts = { stride: g.stride, padding: g.padding };
    const x = randn([g.n, g.c, g.h, g.w]);
    const w = randn([g.k, g.c, g.kh, g.kw], 0.2);
    const b = randn([g.k]);
    const outShape = ops.conv2dOutputShape(x.shape, w.shape, opts);
    const dy = randn(outShape);
    const tag = JSON.stringify(g);
    return [
      { name: `conv2d forward ${tag}`, kernels: ['conv2d_forward'], inputs: [x, w, b], run: async ([tx, tw, tb]) => [await ops.conv2d(tx, tw, { ...opts, bias: tb })] },
      { name: `conv2d backward data ${tag}`, kernels: ['conv2d_backward_data'], inputs: [dy, w], run: async ([tdy, tw]) => [await ops.conv2dBackwardData(tdy, tw, x.shape, opts)] },
      {
        name: `conv2d backward weights ${tag}`,
        kernels: ['conv2d_backward_weights'],
        inputs: [x, dy],
        run: async ([tx, tdy]) => {
          const { dw, db } = await ops.conv2dBackwardWeights(tx, tdy, w.shape, { ...opts, bias: true });
          return [dw, db!];
        },
      },
    ] satisfies OpCase[];
  });
}

function batchNormCases(): OpCase[] {
  return [[2, 3, 5, 7], [8, 64, 16, 16], [3, 4, 1, 1]].flatMap((shape) => {
    const c = shape[1];
    const x = randn(shape, 2);
    const gamma = positive([c]);
    const beta = randn([c]);
    const mean = randn([c], 0.1);
    const variance = positive([c]);
    const dy = randn(shape);
    const tag = JSON.stringify(shape);
    return [
      {
        name: `batchnorm training forward + backward ${tag}`,
        kernels: ['batchnorm_forward_training', 'batchnorm_backward'],
        inputs: [x, gamma, beta, mean, variance, dy],
        run: async ([tx, tg, tb, tm, tv, tdy]) => {
          const f = await ops.batchNormTraining(tx, tg, tb, tm, tv, { momentum: 0.1, eps: 1e-5 });
          const g = await ops.batchNormBackward(tx, tdy, tg, f.saveMean, f.saveInvStd, { eps: 1e-5 });
          return [f.y, f.saveMean, f.saveInvStd, tm, tv, g.dx, g.dgamma, g.dbeta];
        },
      },
      {
        name: `batchnorm inference ${tag}`,
        kernels: ['batchnorm_forward_inference'],
        inputs: [x, gamma, beta, mean, variance],
        run: async ([tx, tg, tb, tm, tv]) => [await ops.batchNormInference(tx, tg, tb, tm, tv, { eps: 1e-5 })],
      },
    ] satisfies OpCase[];
  });
}

function poolCases(): OpCase[] {
  const cases: OpCase[] = [];
  for (const [shape, options] of [
    [[2, 3, 9, 7], { kernel: 3, stride: 2, padding: 1 }],
    [[4, 64, 112, 112], { kernel: 3, stride: 2, padding: 1 }],
    [[1, 2, 6, 6], { kernel: 2, stride: 2, padding: 0, ceilMode: true }],
  ] as const) {
    const x = randn([...shape]);
    const outShape = ops.pool2dOutputShape(x.shape, options);
    const dy = randn(outShape);
    const tag = `${JSON.stringify(shape)} ${JSON.stringify(options)}`;
    cases.push({
      name: `max pool forward + backward ${tag}`,
      kernels: ['maxpool2d_forward', 'maxpool2d_backward'],
      inputs: [x, dy],
      run: async ([tx, tdy]) => {
        const { y, indices } = await ops.maxPool2d(tx, options);
        return [y, indices, await ops.maxPool2dBackward(tdy, indices, x.shape, options)];
      },
    });
    for (const countIncludePad of [true, false]) {
      const avg = { ...options, countIncludePad };
      cases.push({
        name: `avg pool forward + backward ${tag} countIncludePad=${countIncludePad}`,
        kernels: ['avgpool2d_forward', 'avgpool2d_backward'],
        inputs: [x, dy],
        run: async ([tx, tdy]) => [await ops.avgPool2d(tx, avg), await ops.avgPool2dBackward(tdy, x.shape, avg)],
      });
    }
  }
  for (const shape of [[2, 5, 7, 3], [32, 2048, 7, 7]]) {
    const x = randn(shape);
    const dy = randn([shape[0], shape[1]]);
    cases.push({
      name: `global avg pool forward + backward ${JSON.stringify(shape)}`,
      kernels: ['global_avgpool_forward', 'global_avgpool_backward'],
      inputs: [x, dy],
      run: async ([tx, tdy]) => [await ops.globalAvgPool(tx), await ops.globalAvgPoolBackward(tdy, shape)],
    });
  }
  return cases;
}

function denseCases(): OpCase[] {
  const cases: OpCase[] = [];
  for (const [n, inF, outF] of [[3, 5, 7], [128, 2048, 1000], [1, 64, 10]]) {
    const x = randn([n, inF]);
    const w = randn([outF, inF], 0.1);
    const b = randn([outF]);
    const dy = randn([n, outF]);
    cases.push({
      name: `linear forward + backward [${n},${inF}]→${outF}`,
      kernels: ['linear_forward', 'linear_backward_data', 'linear_backward_weights'],
      inputs: [x, w, b, dy],
      run: async ([tx, tw, tb, tdy]) => {
        const { dw, db } = await ops.linearBackwardWeights(tx, tdy, { bias: true });
        return [await ops.linear(tx, tw, tb), await ops.linearBackwardData(tdy, tw), dw, db!];
      },
    });
  }
  for (const [n, k] of [[4, 10], [128, 1000], [1, 3]]) {
    const logits = randn([n, k], 3);
    const y = labels(n, k);
    cases.push({
      name: `softmax cross-entropy forward + backward, top-k [${n},${k}]`,
      kernels: ['softmax_cross_entropy_forward', 'softmax_cross_entropy_backward', 'topk_correct'],
      inputs: [logits, y],
      run: async ([tl, ty]) => {
        const f = await ops.softmaxCrossEntropy(tl, ty);
        const dloss = Tensor.fromArray([1], [1], { device: tl.device });
        const dlogits = await ops.softmaxCrossEntropyBackward(f.probs, ty, dloss);
        return [f.loss, f.losses, f.probs, dlogits, await ops.topkCorrect(tl, ty, [1, Math.min(5, k)])];
      },
    });
  }
  return cases;
}

function elementwiseCases(): OpCase[] {
  const shape = [4, 16, 9, 9];
  const [a, b, dy] = [randn(shape), randn(shape), randn(shape)];
  const parts = [randn([2, 3, 5, 5]), randn([2, 7, 5, 5]), randn([2, 1, 5, 5])];
  const dyConcat = randn([2, 11, 5, 5]);
  const x = randn([3, 16, 9, 9]);
  const dyShortcut = randn([3, 32, 5, 5]);
  const u8 = bytes([4, 3, 32, 32]);
  return [
    {
      name: `relu, add, accumulate ${JSON.stringify(shape)}`,
      kernels: ['relu_forward', 'relu_backward', 'add', 'accumulate'],
      inputs: [a, b, dy],
      run: async ([ta, tb, tdy]) => {
        const y = await ops.relu(ta);
        const sum = await ops.add(ta, tb);
        await ops.accumulate(sum, tdy);
        return [y, await ops.reluBackward(y, tdy), sum];
      },
    },
    {
      name: 'concat forward + backward (3, 7, 1 channels)',
      kernels: ['concat_forward', 'concat_backward'],
      inputs: [...parts, dyConcat],
      run: async ([p0, p1, p2, tdy]) => [await ops.concat([p0, p1, p2]), ...(await ops.concatBackward(tdy, [3, 7, 1]))],
    },
    {
      name: 'shortcut A forward + backward (16→32 channels, stride 2)',
      kernels: ['shortcut_a_forward', 'shortcut_a_backward'],
      inputs: [x, dyShortcut],
      run: async ([tx, tdy]) => [await ops.shortcutA(tx, { stride: 2, outChannels: 32 }), await ops.shortcutABackward(tdy, x.shape, { stride: 2 })],
    },
    {
      name: 'dropout forward + backward (p 0.3, same seed: same mask)',
      kernels: ['dropout_forward', 'dropout_backward'],
      inputs: [a, dy],
      run: async ([ta, tdy]) => {
        const { y, mask } = await ops.dropout(ta, { p: 0.3, seed: 1234 });
        return [y, mask, await ops.dropoutBackward(tdy, mask, { p: 0.3 })];
      },
    },
    {
      name: 'normalize uint8 → float32 (CIFAR mean/std)',
      kernels: ['normalize_u8'],
      inputs: [u8],
      run: async ([tx]) => [await ops.normalizeU8(tx, { mean: [125.3, 123.0, 113.9], std: [63.0, 62.1, 66.7] })],
    },
    {
      name: 'color_affine_u8 uint8 crops + colour maps → float32 (odd 57×57 planes)',
      kernels: ['color_affine_u8'],
      inputs: [bytes([6, 3, 57, 57]), randn([6, 12], 2)],
      run: async ([tx, tm]) => [await ops.colorAffineU8(tx, tm)],
    },
  ];
}

function optimizerCases(): OpCase[] {
  const n = 100_003;
  const param = randn([n]);
  const grad = randn([n], 0.1);
  const state = () => positive([n], 0.01, 0.1);
  const step = { lr: 0.05, step: 3 };
  return [
    {
      name: 'sgd update (Nesterov, weight decay)',
      kernels: ['sgd_update'],
      inputs: [param, grad, state()],
      run: async ([p, g, m]) => {
        await ops.sgdUpdate(p, g, m, { ...step, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
        return [p, m];
      },
    },
    {
      name: 'rmsprop update (centered, momentum)',
      kernels: ['rmsprop_update'],
      inputs: [param, grad, state(), state(), randn([n], 0.01)],
      run: async ([p, g, sq, m, avg]) => {
        await ops.rmspropUpdate(p, g, sq, m, { ...step, momentum: 0.9, centered: true, gradAvg: avg, weightDecay: 1e-4 });
        return [p, sq, m, avg];
      },
    },
    {
      name: 'adadelta update',
      kernels: ['adadelta_update'],
      inputs: [param, grad, state(), state()],
      run: async ([p, g, sq, acc]) => {
        await ops.adadeltaUpdate(p, g, sq, acc, { ...step, weightDecay: 1e-4 });
        return [p, sq, acc];
      },
    },
    {
      name: 'adagrad update',
      kernels: ['adagrad_update'],
      inputs: [param, grad, state()],
      run: async ([p, g, sum]) => {
        await ops.adagradUpdate(p, g, sum, { ...step, lrDecay: 0.01, weightDecay: 1e-4 });
        return [p, sum];
      },
    },
    {
      name: 'adam update (AMSGrad)',
      kernels: ['adam_update'],
      inputs: [param, grad, randn([n], 0.01), state(), state()],
      run: async ([p, g, m, v, vmax]) => {
        await ops.adamUpdate(p, g, m, v, { ...step, amsgrad: true, maxExpAvgSq: vmax, weightDecay: 1e-4 });
        return [p, m, v, vmax];
      },
    },
    {
      name: 'adamw update',
      kernels: ['adamw_update'],
      inputs: [param, grad, randn([n], 0.01), state()],
      run: async ([p, g, m, v]) => {
        await ops.adamwUpdate(p, g, m, v, step);
        return [p, m, v];
      },
    },
  ];
}

// SyncBN's four kernels chained as one replica runs them (the all-reduce between them is the identity for a group
// of one, so it is left out): stats → apply_training → backward_reduce → backward_apply.
function syncBatchNormCases(): OpCase[] {
  return [[2, 3, 5, 7], [8, 64, 16, 16], [3, 4, 1, 1], [32, 256, 7, 7]].map((shape) => {
    const c = shape[1];
    const x = randn(shape, 2);
    const gamma = positive([c]);
    const beta = randn([c]);
    const mean = randn([c], 0.1);
    const variance = positive([c]);
    const dy = randn(shape);
    return {
      name: `SyncBN stats, apply, backward reduce + apply ${JSON.stringify(shape)}`,
      kernels: ['batchnorm_stats', 'batchnorm_apply_training', 'batchnorm_backward_reduce', 'batchnorm_backward_apply'],
      inputs: [x, gamma, beta, mean, variance, dy],
      run: async ([tx, tg, tb, tm, tv, tdy]) => {
        const [stats] = await runOp('batchnorm_stats', [tx, tm], [{ shape: [2 * c + 1] }]);
        const vector = { shape: [c] };
        const [y, , , saveMean, saveInvStd] = await runOp('batchnorm_apply_training', [tx, tg, tb, tm, tv, stats], [{ shape }, tm, tv, vector, vector], {
          eps: 1e-5,
          momentum: 0.1,
        });
        const [dgamma, dbeta, sums] = await runOp('batchnorm_backward_reduce', [tx, tdy, saveMean, saveInvStd], [vector, vector, { shape: [2 * c + 1] }]);
        const [dx] = await runOp('batchnorm_backward_apply', [tx, tdy, tg, saveMean, saveInvStd, sums, stats], [{ shape }]);
        return [stats, y, saveMean, saveInvStd, tm, tv, dgamma, dbeta, sums, dx];
      },
    } satisfies OpCase;
  });
}

// allreduce_mean over a group of this device alone (NCCL on cuda): weight 0.5 scales; weight 0 gives zeros even
// over inf and NaN.
function allreduceCases(): OpCase[] {
  const x = randn([100_003]);
  const poisoned = randn([4099]);
  for (let i = 0; i < poisoned.data.length; i += 97) poisoned.data[i] = i % 2 ? Number.NaN : Number.POSITIVE_INFINITY;
  return [
    {
      name: 'allreduce_mean, group of one (weight 0.5, average; weight 0 over inf/NaN)',
      kernels: ['allreduce_mean'],
      inputs: [x, poisoned],
      run: async ([tx, tp]) => {
        const group = new InProcessGroup([tx.device]);
        try {
          await allreduce(group, tx, { weight: 0.5 });
          await allreduce(group, tp, { weight: 0, average: false });
          return [tx, tp];
        } finally {
          group.destroy();
        }
      },
    },
  ];
}

async function runOn(device: string, c: OpCase): Promise<(HostArray | number[])[]> {
  const tensors = c.inputs.map((i) => Tensor.fromArray(i.data.slice(), i.shape, { dtype: i.dtype, device }));
  try {
    const results = await c.run(tensors);
    return await Promise.all(results.map(async (r) => (r instanceof Tensor ? ((await r.toArray()) as HostArray) : r)));
  } finally {
    for (const t of tensors) t.dispose();
  }
}

function compare(gpu: (HostArray | number[])[], cpu: (HostArray | number[])[]): { relativeError: number; integerMismatches: number } {
  let relativeError = 0;
  let integerMismatches = 0;
  cpu.forEach((want, k) => {
    const got = gpu[k];
    if (got.length !== want.length) {
      integerMismatches += Math.max(got.length, want.length);
      return;
    }
    if (want instanceof Float32Array) {
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(Number(got[i]) - want[i]);
        diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
        scale = Math.max(scale, Math.abs(want[i]));
      }
      relativeError = Math.max(relativeError, scale > 0 ? diff / scale : diff);
    } else {
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) integerMismatches++;
    }
  });
  return { relativeError, integerMismatches };
}

// Kernels the CPU alone needs: layout_reorder moves activations between nchw and the CPU's blocked layout
// (lib/graph/layout.ts), which CUDA programs never use.
const CPU_ONLY = new Set(['layout_reorder']);

export async function checkOps(tolerance: number, device = 'cuda:0'): Promise<{ rows: CaseRow[]; uncovered: string[] }> {
  const cases = [...convCases(), ...batchNormCases(), ...poolCases(), ...denseCases(), ...elementwiseCases(), ...optimizerCases(), ...syncBatchNormCases(), ...allreduceCases()];
  const rows: CaseRow[] = [];
  for (const c of cases) {
    try {
      const cpu = await runOn('cpu', c);
      const gpu = await runOn(device, c);
      const { relativeError, integerMismatches } = compare(gpu, cpu);
      rows.push({ name: c.name, kernels: c.kernels, relativeError, integerMismatches, ok: relativeError <= tolerance && integerMismatches === 0 });
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      rows.push({ name: c.name, kernels: c.kernels, relativeError: NaN, integerMismatches: 0, ok: false, error: message });
    }
  }
  const covered = new Set(cases.flatMap((c) => c.kernels));
  const backend = device.split(':')[0];
  const theirs = new Set(native().kernelNames(backend));
  const uncovered = native()
    .kernelNames('cpu')
    .filter((k) => !CPU_ONLY.has(k) && (!theirs.has(k) || !covered.has(k)))
    .map((k) => `${k}${theirs.has(k) ? ' (no case here)' : ` (no ${backend} kernel)`}`);
  return { rows, uncovered };
}

async function main(argv: string[]): Promise<number> {
  const jsonAt = argv.indexOf('--json');
  const tolAt = argv.indexOf('--tolerance');
  const deviceAt = argv.indexOf('--device');
  const tolerance = tolAt >= 0 ? Number(argv[tolAt + 1]) : 1e-3;
  const device = deviceAt >= 0 ? argv[deviceAt + 1] : 'cuda:0';
  // The CPU reference without Winograd: its float32 results are ~1e-4 off (setting cpu_conv, native/cpu/conv2d.cc).
  native().setSetting('cpu_conv', 'direct');
  const { rows, uncovered } = await checkOps(tolerance, device);
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`${`op case (${device} vs cpu)`.padEnd(width)}  rel. error  int. diff  result`);
  for (const r of rows) {
    const err = r.error ? 'error' : r.relativeError.toExponential(2);
    console.log(`${r.name.padEnd(width)}  ${err.padStart(10)}  ${String(r.integerMismatches).padStart(9)}  ${r.ok ? 'ok' : `FAIL${r.error ? `: ${r.error}` : ''}`}`);
  }
  for (const k of uncovered) console.log(`not checked: ${k}`);
  const failed = rows.filter((r) => !r.ok).length;
  console.log(`ops: ${rows.length - failed}/${rows.length} cases within ${tolerance} (integers exact); ${uncovered.length} CPU kernels not checked`);
  if (jsonAt >= 0) writeFileSync(argv[jsonAt + 1], JSON.stringify({ tolerance, rows, uncovered }, null, 1));
  return failed === 0 && uncovered.length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
