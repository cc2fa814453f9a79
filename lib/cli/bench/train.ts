// `bench train`: training steps (img/s) of CIFAR ResNet-20/56 and ImageNet ResNet-50 against PyTorch CPU,
// each row timed for both in the same run (ours, then scripts/bench/torch_train.py), so load hits both.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { resnet } from '../../models/resnet.js';
import { optimizerSpec } from '../../optim/optimizers.js';
import { native } from '../../runtime/native.js';
import { ModelRuntime } from '../../train/model.js';
import type { BenchOptions, BenchRow } from './index.js';
import { ratio } from './report.js';

interface TrainCase {
  name: string;
  depth: number;
  dataset: 'cifar10' | 'imagenet';
  batch: number;
  side: number;
}

const ROUNDS = 3;

const CASES: readonly TrainCase[] = [
  { name: 'train resnet20 cifar b128', depth: 20, dataset: 'cifar10', batch: 128, side: 32 },
  { name: 'train resnet56 cifar b128', depth: 56, dataset: 'cifar10', batch: 128, side: 32 },
  { name: 'train resnet50 imagenet b16', depth: 50, dataset: 'imagenet', batch: 16, side: 224 },
];

/** Median images per second over `steps` training steps after two warm-up steps. */
async function ours(c: TrainCase, steps: number, cpuLayout: 'blocked' | 'nchw'): Promise<number> {
  const model = resnet({ depth: c.depth, dataset: c.dataset });
  const runtime = new ModelRuntime(model, { inputShape: [3, c.side, c.side], optimizer: optimizerSpec({ name: 'sgd' }), cpuLayout });
  try {
    let s = 12345;
    await runtime.load(model.initialState(() => ((s = (s * 16807) % 2147483647) / 2147483647)));
    const x = Float32Array.from({ length: c.batch * 3 * c.side * c.side }, () => Math.random() * 2 - 1);
    const classes = c.dataset === 'imagenet' ? 1000 : 10;
    const y = Int32Array.from({ length: c.batch }, (_, i) => i % classes);
    for (let i = 0; i < 2; i++) await runtime.trainStep(x, y, 0.1);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      await runtime.trainStep(x, y, 0.1);
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return (c.batch * 1000) / times[Math.floor(times.length / 2)];
  } finally {
    runtime.dispose();
  }
}

function torchBaseline(c: TrainCase, steps: number, threads: number): { rate: number | null; note: string } {
  const script = fileURLToPath(new URL('../../../scripts/bench/torch_train.py', import.meta.url));
  const r = spawnSync('python3', [script, '--model', `resnet${c.depth}`, '--batch', String(c.batch), '--steps', String(steps), '--threads', String(threads), '--json'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return { rate: null, note: (r.stderr || r.error?.message || 'failed').trim().split('\n').at(-1) ?? '' };
  const row = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { imagesPerSec: number; format: string };
  return { rate: row.imagesPerSec, note: row.format };
}

export async function benchTrain(options: BenchOptions): Promise<BenchRow[]> {
  const steps = options.iterations ?? 10;
  const threads = native().cpuInfo().threads;
  const rows: BenchRow[] = [];
  for (const c of CASES) {
    if (options.only && !c.name.includes(options.only)) continue;
    // Rounds alternate ours and PyTorch so a change in machine load hits both; each side keeps its best round.
    const rowSteps = c.dataset === 'imagenet' ? Math.min(steps, 5) : steps;
    let mine = 0;
    let base: { rate: number | null; note: string } = { rate: null, note: '' };
    for (let round = 0; round < ROUNDS; round++) {
      mine = Math.max(mine, await ours(c, rowSteps, options.layout ?? 'blocked'));
      const b = torchBaseline(c, rowSteps, threads);
      if (b.rate !== null) base = { rate: Math.max(base.rate ?? 0, b.rate), note: b.note };
      else if (base.rate === null) base = b;
      if (!options.json) console.error(`${c.name}: round ${round + 1}/${ROUNDS} ours ${mine.toFixed(1)} img/s, PyTorch ${base.rate?.toFixed(1) ?? '—'} img/s`);
    }
    if (base.rate === null && !options.json) console.error(`PyTorch baseline for ${c.name} unavailable: ${base.note}`);
    rows.push({ name: c.name, ours: mine, baseline: base.rate, unit: 'img/s', ratio: ratio(mine, base.rate) });
  }
  return rows;
}
