// `bench ops`: conv2d forward / backward-data / backward-weights and batch norm forward+backward at ResNet-50 and
// CIFAR ResNet shapes, in GFLOP/s, against PyTorch CPU timed row by row in the same run
// (scripts/bench/torch_ops.py, the faster of its channels_last and contiguous formats), so a busy machine slows
// both sides of a ratio alike. Our activations (x, dy) are nChw16c, as CPU training programs keep them
// (lib/graph/layout.ts), unless --layout nchw; weights are nchw (OIHW) either way. Convolutions run as eager
// calls; batch norm's forward and backward run as one compiled two-op program per step, as in training
// (PyTorch's side: its two aten calls).
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { conv2d, conv2dBackwardData, conv2dBackwardWeights, conv2dOutputShape } from '../../ops/conv2d.js';
import { type ValueSpec, native } from '../../runtime/native.js';
import { Program } from '../../runtime/program.js';
import { Tensor } from '../../runtime/tensor.js';
import type { Layout } from '../../runtime/layout.js';
import type { BenchOptions, BenchRow } from './index.js';
import { ratio } from './report.js';

type ConvOp = 'conv2d_forward' | 'conv2d_backward_data' | 'conv2d_backward_weights';

/** One row; the same object (as JSON) tells torch_ops.py what to time. */
interface ConvCase {
  name: string;
  op: ConvOp;
  n: number;
  c: number;
  h: number;
  w: number;
  k: number;
  kernel: number;
  stride: number;
  padding: number;
}

// [N, C, H, W, K]: the 3x3 stride-1 convolutions of ResNet-50 at batch 16 and of CIFAR ResNet at batch 128.
const SHAPES: readonly (readonly [number, number, number, number, number])[] = [
  [16, 64, 56, 56, 64],
  [16, 128, 28, 28, 128],
  [16, 256, 14, 14, 256],
  [16, 512, 7, 7, 512],
  [128, 16, 32, 32, 16],
  [128, 32, 16, 16, 32],
  [128, 64, 8, 8, 64],
];

const DIRECTIONS: readonly [ConvOp, string][] = [
  ['conv2d_forward', 'forward'],
  ['conv2d_backward_data', 'backward_data'],
  ['conv2d_backward_weights', 'backward_weights'],
];

/** Batch norm training forward then backward over one activation [N, C, H, W]. */
interface BatchNormCase {
  name: string;
  op: 'batchnorm';
  n: number;
  c: number;
  h: number;
  w: number;
}

type Case = ConvCase | BatchNormCase;

/**
 * Batch norm is memory-bound, so its "GFLOP/s" is a throughput at a fixed count of 10 flops per element for
 * forward + backward together (about what the arithmetic is: mean, variance, normalise, scale-shift; then the
 * two reductions and dx); torch_ops.py uses the same constant, so the ratio is a ratio of times.
 */
const BN_FLOPS_PER_ELEMENT = 10;

const WARMUP = 2;
const ROUNDS = 4;
const SETTLE_MS = 50;

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

function allCases(): Case[] {
  const cases: Case[] = [];
  for (const [n, c, h, w, k] of SHAPES) {
    for (const [op, label] of DIRECTIONS) {
      cases.push({ name: `conv2d ${label} ${n}x${c}x${h}x${w} k${k} 3x3/s1p1`, op, n, c, h, w, k, kernel: 3, stride: 1, padding: 1 });
    }
  }
  for (const [n, c, h, w] of SHAPES) cases.push({ name: `batchnorm fwd+bwd ${n}x${c}x${h}x${w}`, op: 'batchnorm', n, c, h, w });
  return cases;
}

/** Conv: 2·N·K·OH·OW·C·kh·kw (multiply-adds count two), the same for every direction; torch_ops.py agrees. */
function flops(c: Case): number {
  if (c.op === 'batchnorm') return BN_FLOPS_PER_ELEMENT * c.n * c.c * c.h * c.w;
  const geometry = { stride: c.stride, padding: c.padding };
  const [, , oh, ow] = conv2dOutputShape([c.n, c.c, c.h, c.w], [c.k, c.c, c.kernel, c.kernel], geometry);
  return 2 * c.n * c.k * oh * ow * c.c * c.kernel * c.kernel;
}

function randomTensor(shape: readonly number[], seed: number, layout: Layout = 'nchw'): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = s / 1073741824 - 1;
  }
  return Tensor.fromArray(data, shape, { layout });
}

/** One row's inputs and the call that is timed; the step resolves with its outputs, disposed by the caller. */
interface Prepared {
  step: () => Promise<Tensor[]>;
  inputs: Tensor[];
  dispose?: () => void;
}

/** Arena offsets are multiples of this, as lib/graph/compile.ts lays them out. */
const ARENA_ALIGN = 64;

/**
 * Batch norm forward (training) then backward as one compiled program, run once per timed step: that is how a
 * training step runs them (one program per step, lib/graph/compile.ts), with the results (y, the saved statistics,
 * dx, dgamma, dbeta) in the program's arena. As two eager calls, each call's round trip to the device thread and
 * back (~50 µs on this VM) cost as much as the kernels themselves at 7×7 and 8×8 planes (~0.1 ms each).
 */
function prepareBatchNorm(c: BatchNormCase, layout: Layout): Prepared {
  const shape = [c.n, c.c, c.h, c.w];
  const x = randomTensor(shape, 4, layout);
  const dy = randomTensor(shape, 5, layout);
  const gamma = randomTensor([c.c], 6);
  const beta = randomTensor([c.c], 7);
  const runningMean = Tensor.zeros([c.c]);
  const runningVar = Tensor.fromArray(new Float32Array(c.c).fill(1), [c.c]);
  const inputs = [x, dy, gamma, beta, runningMean, runningVar];
  const activation: ValueSpec = { shape, dtype: 'float32', ...(layout === 'nchw' ? {} : { layout }) };
  const vector: ValueSpec = { shape: [c.c], dtype: 'float32' };
  // 0-5 bound (the inputs above), 6-11 in the arena: y, saveMean, saveInvStd, dx, dgamma, dbeta
  const values: ValueSpec[] = [activation, activation, vector, vector, vector, vector];
  let arenaBytes = 0;
  for (const spec of [activation, vector, vector, activation, vector, vector]) {
    values.push({ ...spec, offset: arenaBytes });
    arenaBytes += Math.ceil((4 * spec.shape.reduce((a, b) => a * b, 1)) / ARENA_ALIGN) * ARENA_ALIGN;
  }
  const attrs = { eps: 1e-5, momentum: 0.1 };
  const program = new Program(x.device, {
    values,
    ops: [
      { op: 'batchnorm_forward_training', inputs: [0, 2, 3, 4, 5], outputs: [6, 4, 5, 7, 8], attrs },
      { op: 'batchnorm_backward', inputs: [0, 1, 2, 7, 8], outputs: [9, 10, 11], attrs: { eps: attrs.eps } },
    ],
    externals: [0, 1, 2, 3, 4, 5],
    arenaBytes,
  });
  const step = async () => {
    await program.run(inputs);
    return [];
  };
  return { step, inputs, dispose: () => program.dispose() };
}

function prepareConv(c: ConvCase, layout: Layout): Prepared {
  const geometry = { stride: c.stride, padding: c.padding };
  const xShape = [c.n, c.c, c.h, c.w];
  const wShape = [c.k, c.c, c.kernel, c.kernel];
  const x = randomTensor(xShape, 1, layout);
  const w = randomTensor(wShape, 2);
  const dy = randomTensor(conv2dOutputShape(xShape, wShape, geometry), 3, layout);
  const steps: Record<ConvOp, () => Promise<Tensor[]>> = {
    conv2d_forward: async () => [await conv2d(x, w, geometry)],
    conv2d_backward_data: async () => [await conv2dBackwardData(dy, w, xShape, geometry)],
    conv2d_backward_weights: async () => [(await conv2dBackwardWeights(x, dy, wShape, geometry)).dw],
  };
  return { step: steps[c.op], inputs: [x, w, dy] };
}

async function secondsOfOneRun(step: () => Promise<Tensor[]>): Promise<number> {
  const start = process.hrtime.bigint();
  const outputs = await step();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  for (const t of outputs) t.dispose();
  return seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * torch_ops.py --serve: one JSON case per stdin line, one JSON result per stdout line; null once it is gone.
 * RN_PYTHON names another interpreter than python3 (a virtual environment's, say).
 */
class TorchBaseline {
  private readonly lines: AsyncIterator<string>;
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private failed = false;

  constructor(threads: number) {
    const script = fileURLToPath(new URL('../../../scripts/bench/torch_ops.py', import.meta.url));
    const args = [script, '--serve', '--threads', String(threads)];
    this.child = spawn(process.env.RN_PYTHON ?? 'python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.on('error', (error) => {
      this.fail(`could not start python3 (${error.message})`);
    });
    this.child.stdin.on('error', () => {});
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  /** Waits until torch is imported, so that its start-up does not compete with our first timings. */
  async ready(): Promise<void> {
    if (!(await this.next())) this.fail('python3 scripts/bench/torch_ops.py exited (is torch installed? `python3 -c "import torch"`)');
  }

  private async next(): Promise<string | undefined> {
    if (this.failed) return undefined;
    const line = await this.lines.next();
    return line.done ? undefined : line.value;
  }

  private fail(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    console.error(`bench ops: no PyTorch baseline: ${reason}; baseline columns are null.`);
  }

  /** Seconds of `runs` timed runs of the case per PyTorch memory format (it warms up on a new case). */
  async seconds(c: Case, runs: number): Promise<Record<string, number[]> | null> {
    if (this.failed) return null;
    this.child.stdin.write(`${JSON.stringify({ case: c, runs })}\n`);
    const line = await this.next();
    if (line === undefined) {
      this.fail('python3 scripts/bench/torch_ops.py exited');
      return null;
    }
    return (JSON.parse(line) as { seconds: Record<string, number[]> }).seconds;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/**
 * Times one row: warm-up runs (the first builds and caches our program), then 4 rounds of ⌈iterations / 2⌉
 * back-to-back runs of ours and then of PyTorch's (per memory format), so that load from elsewhere falls on both;
 * medians of each. Runs go back to back as in a training step: alternating single runs made each side start while the other's
 * OpenMP threads still spun on the two cores. A pause before each block lets those threads go to sleep.
 */
async function timeRow(c: Case, iterations: number, torch: TorchBaseline, layout: Layout): Promise<BenchRow> {
  const ours = c.op === 'batchnorm' ? prepareBatchNorm(c, layout) : prepareConv(c, layout);
  const oursSeconds: number[] = [];
  const torchSeconds = new Map<string, number[]>();
  const perRound = Math.ceil(iterations / 2);
  try {
    for (let i = 0; i < WARMUP; i++) await secondsOfOneRun(ours.step);
    for (let round = 0; round < ROUNDS; round++) {
      await settle();
      for (let i = 0; i < perRound; i++) oursSeconds.push(await secondsOfOneRun(ours.step));
      await settle();
      for (const [format, seconds] of Object.entries((await torch.seconds(c, perRound)) ?? {})) {
        torchSeconds.set(format, [...(torchSeconds.get(format) ?? []), ...seconds]);
      }
    }
  } finally {
    for (const t of ours.inputs) t.dispose();
    ours.dispose?.();
  }
  const oursGflops = flops(c) / median(oursSeconds) / 1e9;
  const formats = [...torchSeconds.values()].map((seconds) => flops(c) / median(seconds) / 1e9);
  const baseline = formats.length ? Math.max(...formats) : null;
  return { name: c.name, ours: oursGflops, baseline, unit: 'GFLOP/s', ratio: ratio(oursGflops, baseline) };
}

/** Times every row against PyTorch (the faster of its two memory formats) and returns the rows; the caller prints them. */
export async function benchOps(options: BenchOptions): Promise<BenchRow[]> {
  const layout: Layout = options.layout === 'nchw' ? 'nchw' : 'nChw16c';
  const iterations = options.iterations ?? 10;
  const cases = allCases().filter((c) => !options.only || c.name.includes(options.only));
  const torch = new TorchBaseline(native().cpuInfo().threads);
  const rows: BenchRow[] = [];
  try {
    await torch.ready();
    for (const c of cases) {
      const row = await timeRow(c, iterations, torch, layout);
      rows.push(row);
      if (!options.json) console.error(`  ${row.name}: ${row.ours.toFixed(1)} vs ${row.baseline?.toFixed(1) ?? '—'} GFLOP/s`);
    }
  } finally {
    torch.close();
  }
  return rows;
}
