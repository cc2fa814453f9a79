// The NCCL process group: cuda devices across processes, one rank each, the NCCL unique id from rank 0 through the
// rendezvous store (native/gloo/process_group.cc → native/cuda/nccl.cc). Without a GPU: asking for it is a clear
// RN_DEVICE_UNAVAILABLE before any rendezvous. On a GPU: a group of one sums and broadcasts exactly; with 2 GPUs,
// 2 processes with SyncBN train as 1 replica with the whole batch. (scripts/gpu/nccl-procs.ts runs the same on a
// GPU machine with 2 processes sharing one GPU, which NCCL allows from 2.30.)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ProcessGroup } from '../../lib/parallel/process-group.js';
import { cudaDeviceCount } from '../../lib/runtime/device.js';
import { native } from '../../lib/runtime/native.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { freePort } from '../util/net.js';
import { rng } from '../util/random.js';
import { BATCHES, batchOf, inputShape, maxAbsDiff, optimizer, smallResNet } from './model.js';

const root = join(import.meta.dirname, '..', '..');
const gpus = cudaDeviceCount();

describe.skipIf(!native().hasGloo)('NCCL process group (cuda devices across processes)', () => {
  it.skipIf(gpus > 0)("'cuda:0' without a driver is RN_DEVICE_UNAVAILABLE naming the device, at once, before any rendezvous (skipped: this machine has a GPU)", async () => {
    const port = await freePort();
    const started = performance.now();
    const error = await ProcessGroup.create({ rank: 1, worldSize: 2, masterPort: port, device: 'cuda:0', timeoutSeconds: 30 }).then(
      () => expect.fail('expected the group to be refused'),
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error.code).toBe('RN_DEVICE_UNAVAILABLE');
    expect(error.message).toContain('cuda:0');
    // A rank 1 that tried the rendezvous would wait the 30 s timeout for rank 0's store.
    expect((performance.now() - started) / 1000).toBeLessThan(5);
  });

  it.skipIf(gpus === 0)('a group of one process on cuda:0 sums and broadcasts exactly (skipped: needs a GPU)', async () => {
    const group = await ProcessGroup.create({ rank: 0, worldSize: 1, masterPort: await freePort(), device: 'cuda:0', timeoutSeconds: 30 });
    try {
      const values = Float32Array.from({ length: 100_003 }, (_, i) => Math.sin(i));
      expect(Array.from(await group.sum(values.slice()))).toEqual(Array.from(values));
      const t = Tensor.fromArray(values, [values.length], { device: 'cuda:0' });
      await group.broadcastTensor(t);
      expect(Array.from((await t.toArray()) as Float32Array)).toEqual(Array.from(values));
      t.dispose();
    } finally {
      group.destroy();
    }
  });

  it.skipIf(gpus < 2)('2 processes on cuda:0 and cuda:1 with SyncBN equal 1 replica with the full batch after 5 steps (skipped: needs 2 GPUs)', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'rn-nccl-'));
    const worker = join(root, 'test', 'parallel', 'gloo-worker.ts');
    const runs = [0, 1].map((rank) => {
      const child = spawn(process.execPath, [join(root, 'node_modules', 'vite-node', 'vite-node.mjs'), worker, '5', join(dir, `rank${rank}.json`)], {
        cwd: root,
        env: { ...process.env, RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RN_COLLECTIVE_TIMEOUT: '60', RN_TEST_DEVICE: `cuda:${rank}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<{ code: number | null; out: string }>((resolve) => child.on('exit', (code) => resolve({ code, out })));
    });
    const exits = await Promise.all(runs);
    exits.forEach((e, rank) => expect(e.code, `rank ${rank}: ${e.out}`).toBe(0));
    const [r0, r1] = [0, 1].map((rank) => JSON.parse(readFileSync(join(dir, `rank${rank}.json`), 'utf8')) as Record<string, number[]>);
    expect(maxAbsDiff(Float32Array.from(r0.params), Float32Array.from(r1.params))).toBe(0);
    const module = smallResNet();
    const single = new ModelRuntime(module, { inputShape, optimizer, device: 'cuda:0' });
    await single.load(module.initialState(rng(9)));
    for (const [step, size] of BATCHES.entries()) {
      const { x, labels } = batchOf(size, 100 + step);
      await single.trainStep(x, labels, 0.1);
    }
    const diff = maxAbsDiff((await single.params.toArray()) as Float32Array, Float32Array.from(r0.params));
    console.log(`2 processes (NCCL, SyncBN) vs 1 replica on cuda:0 after 5 steps: max |Δparam| ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
    single.dispose();
  }, 180_000);
});
