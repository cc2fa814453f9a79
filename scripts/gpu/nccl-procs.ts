// NCCL across processes on a GPU machine: N processes, one rank each, form a ProcessGroup on cuda devices (the
// NCCL unique id from rank 0 through the rendezvous store), check a weighted all-reduce against a float64
// reference, and time an all-reduce of ResNet-50's 25.6 M gradient floats. With fewer GPUs than processes the
// ranks share cuda:0 … (round robin), which NCCL allows from 2.30 with NCCL_MULTI_RANK_GPU_ENABLE=1 (set here);
// an older NCCL refuses it, and then the check is that every rank stops with NCCL's reason instead of hanging.
// Prints one JSON line; exit status 1 when a check fails.
// Usage: node nccl-procs.js [--processes 2] [--floats 25600000] [--iterations 20] [--timeout 60] [--device cpu]
//        (a rank: the same script with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and RN_TEST_DEVICE set)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import * as ops from '../../lib/ops/index.js';
import { ProcessGroup, collectiveTimeout, launchEnv } from '../../lib/parallel/process-group.js';
import { cudaDeviceCount, cudaInfo } from '../../lib/runtime/device.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { freePort } from '../../test/util/net.js';

function option(argv: string[], name: string, fallback: string): string {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : fallback;
}

function rankData(rank: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.001 + rank) * (rank + 1));
}

/** One rank: prints one JSON line {rank, relativeError, allreduceMs, accumulateMs} or {rank, error}. */
async function rank(argv: string[]): Promise<number> {
  const env = launchEnv()!;
  const device = process.env.RN_TEST_DEVICE ?? 'cuda:0';
  const floats = Number(option(argv, '--floats', '25600000'));
  const iterations = Number(option(argv, '--iterations', '20'));
  const started = performance.now();
  try {
    const group = await ProcessGroup.create({ rank: env.rank, worldSize: env.worldSize, masterAddr: env.masterAddr, masterPort: env.masterPort, device, timeoutSeconds: collectiveTimeout() });
    const joinMs = performance.now() - started;
    const n = 1_000_003;
    const weights = Array.from({ length: env.worldSize }, (_, k) => 0.5 + k);
    const want = Float64Array.from({ length: n }, (_, i) => {
      let sum = 0;
      for (let k = 0; k < env.worldSize; k++) sum += Math.fround(weights[k] * Math.fround(Math.sin(i * 0.001 + k) * (k + 1)));
      return sum;
    });
    const mine = rankData(env.rank, n).map((v) => v * weights[env.rank]);
    const got = await group.sum(mine); // through cuda memory: ProcessGroup's tensors live on its device
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
    // Time: an all-reduce of `floats` in place on the device, and a device-side accumulate of the same size.
    const big = Tensor.zeros([floats], { device });
    const src = Tensor.zeros([floats], { device });
    const time = async (step: () => Promise<unknown>) => {
      await step();
      const t0 = performance.now();
      for (let i = 0; i < iterations; i++) await step();
      return (performance.now() - t0) / iterations;
    };
    const allreduceMs = await time(() => group.broadcastTensor(big));
    const accumulateMs = await time(() => ops.accumulate(big, src));
    [big, src].forEach((t) => t.dispose());
    group.destroy();
    console.log(JSON.stringify({ rank: env.rank, device, joinMs, relativeError: worst, allreduceMs, accumulateMs }));
    return 0;
  } catch (error) {
    const e = error as Error & { code?: string };
    console.log(JSON.stringify({ rank: env.rank, device, error: e.code ?? 'Error', message: e.message, seconds: (performance.now() - started) / 1000 }));
    return 3;
  }
}

async function main(argv: string[]): Promise<number> {
  const processes = Number(option(argv, '--processes', '2'));
  const timeout = Number(option(argv, '--timeout', '60'));
  // --device cpu: the same over Gloo (check.sh --dry-run checks this harness so).
  const cpu = option(argv, '--device', 'cuda') === 'cpu';
  const gpus = cpu ? 0 : cudaDeviceCount();
  const devices = Array.from({ length: processes }, (_, k) => (cpu ? 'cpu' : `cuda:${gpus > 0 ? k % gpus : 0}`));
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const started = performance.now();
  const results = await Promise.all(
    devices.map(
      (device, k) =>
        new Promise<{ code: number | null; line: Record<string, unknown> }>((resolve) => {
          const child = spawn(process.execPath, [script, '--rank', ...argv], {
            env: {
              ...process.env, RANK: String(k), WORLD_SIZE: String(processes), LOCAL_RANK: String(k), LOCAL_WORLD_SIZE: String(processes),
              MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RN_COLLECTIVE_TIMEOUT: String(timeout), RN_TEST_DEVICE: device,
              NCCL_MULTI_RANK_GPU_ENABLE: '1',
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
          // A rank still there well after the timeout is the hang this check exists to catch.
          const killer = setTimeout(() => child.kill('SIGKILL'), (timeout + 60) * 1000);
          child.on('exit', (code) => {
            clearTimeout(killer);
            const last = out.trim().split('\n').pop() ?? '';
            let line: Record<string, unknown>;
            try {
              line = JSON.parse(last) as Record<string, unknown>;
            } catch {
              line = { rank: k, error: 'no result', output: out.slice(-500) };
            }
            resolve({ code, line });
          });
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const lines = results.map((r) => r.line);
  const sharing = !cpu && new Set(devices).size < devices.length;
  const correct = results.every((r) => r.code === 0 && (r.line.relativeError as number) < 1e-6);
  // NCCL before 2.30 refuses two ranks on one GPU: then every rank must have stopped with NCCL's reason.
  const refused = sharing && results.every((r) => r.code === 3 && /nccl/i.test(String(r.line.message ?? '')) && r.line.error !== 'RN_DEVICE_UNAVAILABLE');
  let nccl: string | null = null;
  try {
    nccl = cudaInfo().nccl;
  } catch {
    // no CUDA here: the ranks' errors say why
  }
  const row = {
    check: 'nccl across processes',
    processes,
    devices,
    nccl,
    seconds,
    outcome: correct ? 'all-reduce exact' : refused ? 'refused by NCCL (ranks sharing a GPU), every rank stopped with the reason' : 'FAILED',
    ranks: lines,
    ok: correct || refused,
  };
  console.log(JSON.stringify(row));
  return row.ok ? 0 : 1;
}

const argv = process.argv.slice(2);
process.exitCode = argv.includes('--rank') ? await rank(argv) : await main(argv);
