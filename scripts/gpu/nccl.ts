// NCCL check on a GPU machine: all-reduce correctness on a group of one rank (or of every visible GPU with
// --all), and the time of an all-reduce of a 25.6 M-float buffer (ResNet-50's gradient) against a plain device
// reduction of the same buffer: accumulate (dst += src, what one rank's share of a reduction reads and writes).
// Prints one JSON line per result; exit status 1 when a check fails.
// Usage: node nccl.js [--device cuda:0] [--all] [--floats 25600000] [--iterations 20]
import * as ops from '../../lib/ops/index.js';
import { InProcessGroup, allreduce } from '../../lib/parallel/group.js';
import { cudaDeviceCount } from '../../lib/runtime/device.js';
import { Tensor } from '../../lib/runtime/tensor.js';

function option(argv: string[], name: string, fallback: string): string {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : fallback;
}

function print(row: Record<string, unknown>): void {
  console.log(JSON.stringify(row));
}

async function correctness(devices: string[]): Promise<boolean> {
  const n = 1_000_003;
  const data = devices.map((_, k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.001 + k) * (k + 1)));
  const weights = devices.map((_, k) => (k === devices.length - 1 && devices.length > 1 ? 0 : 0.5 + k));
  const want = Float64Array.from({ length: n }, (_, i) => data.reduce((s, d, k) => s + weights[k] * d[i], 0) / devices.length);
  const group = new InProcessGroup(devices);
  const tensors = data.map((d, k) => Tensor.fromArray(d, [n], { device: devices[k] }));
  try {
    const started = performance.now();
    await Promise.all(tensors.map((t, k) => allreduce(group, t, { weight: weights[k] })));
    const ms = performance.now() - started;
    const got = await Promise.all(tensors.map(async (t) => (await t.toArray()) as Float32Array));
    let worst = 0;
    for (const g of got) for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(g[i] - want[i]) / (1 + Math.abs(want[i])));
    const identical = got.every((g) => Buffer.from(g.buffer).equals(Buffer.from(got[0].buffer)));
    const ok = worst < 1e-6 && identical;
    print({ check: 'nccl allreduce correctness', devices, floats: n, weights, relativeError: worst, identicalOnEveryRank: identical, firstCallMs: ms, ok });
    return ok;
  } finally {
    tensors.forEach((t) => t.dispose());
    group.destroy();
  }
}

async function timeIt(iterations: number, step: () => Promise<unknown>): Promise<number> {
  await step(); // warm-up: programs built, NCCL buffers registered
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await step();
  return (performance.now() - started) / iterations;
}

async function bandwidth(devices: string[], floats: number, iterations: number): Promise<void> {
  const bytes = floats * 4;
  const group = new InProcessGroup(devices);
  const buffers = devices.map((d) => Tensor.zeros([floats], { device: d }));
  const src = Tensor.zeros([floats], { device: devices[0] });
  try {
    const ncclMs = await timeIt(iterations, () => Promise.all(buffers.map((t) => allreduce(group, t, { average: true }))));
    // The device-side baseline on rank 0: dst += src over the same number of floats (reads 2, writes 1 buffer).
    const accumulateMs = await timeIt(iterations, () => ops.accumulate(buffers[0], src));
    print({
      check: 'nccl allreduce time',
      devices,
      floats,
      iterations,
      ncclAllreduceMs: ncclMs,
      // NCCL's "bus bandwidth" convention: 2·(N−1)/N·bytes per all-reduce (0 traffic for one rank).
      ncclBusGBs: devices.length > 1 ? ((2 * (devices.length - 1)) / devices.length) * bytes / (ncclMs * 1e6) : null,
      accumulateMs,
      accumulateGBs: (3 * bytes) / (accumulateMs * 1e6),
      note: 'each time includes one eager op round trip from JS (program run + stream sync)',
    });
  } finally {
    [...buffers, src].forEach((t) => t.dispose());
    group.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  const device = option(argv, '--device', 'cuda:0');
  const floats = Number(option(argv, '--floats', '25600000'));
  const iterations = Number(option(argv, '--iterations', '20'));
  const count = cudaDeviceCount();
  const devices = argv.includes('--all') && count > 1 ? Array.from({ length: count }, (_, k) => `cuda:${k}`) : [device];
  let ok = true;
  try {
    ok = (await correctness(devices)) && ok;
    await bandwidth(devices, floats, iterations);
  } catch (error) {
    print({ check: 'nccl', devices, ok: false, error: error instanceof Error ? error.message : String(error) });
    ok = false;
  }
  return ok ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
