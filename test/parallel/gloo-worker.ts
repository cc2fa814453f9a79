// One rank of the multi-process tests, run through vite-node with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set:
// joins the group (Gloo; NCCL with RN_TEST_DEVICE=cuda:N) and trains the small test network with SyncBN on its share of each batch.
//   argv: <steps> <out.json>   (batch sizes cycle through 8, 7, 8, 1, 5; "out" gets the parameters, buffers, momentum)
// Prints "step N" after each step; on an error prints one JSON line {"error": code, "message": …} and exits 3.
import { writeFileSync } from 'node:fs';

import { splitBatch } from '../../lib/parallel/data-parallel.js';
import { ProcessGroup, collectiveTimeout, launchEnv } from '../../lib/parallel/process-group.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { rng } from '../util/random.js';
import { BATCHES, batchOf, inputShape, optimizer, smallResNet } from './model.js';

const [steps, out] = [Number(process.argv[2] ?? 5), process.argv[3]];
try {
  const env = launchEnv()!;
  // RN_TEST_DEVICE: this rank's device (cuda:N: the NCCL process group; default cpu: Gloo).
  const device = process.env.RN_TEST_DEVICE ?? 'cpu';
  const group = await ProcessGroup.create({ rank: env.rank, worldSize: env.worldSize, masterAddr: env.masterAddr, masterPort: env.masterPort, device, timeoutSeconds: collectiveTimeout() });
  const module = smallResNet();
  const runtime = new ModelRuntime(module, { inputShape, optimizer, device: group.device, group: group.id, syncBatchNorm: true });
  // Each rank starts from a different initialisation: the broadcast must make them rank 0's.
  await runtime.load(module.initialState(rng(9 + group.rank * 1000)));
  for (const t of [runtime.params, runtime.buffers!, ...runtime.states]) await group.broadcastTensor(t);
  const per = inputShape.reduce((a, b) => a * b, 1);
  for (let step = 0; step < steps; step++) {
    const size = BATCHES[step % BATCHES.length];
    const { x, labels } = batchOf(size, 100 + (step % BATCHES.length));
    const share = splitBatch(size, group.worldSize)[group.rank];
    if (share.size === 0) {
      await runtime.trainStep(new Float32Array(per), new Int32Array(1), 0.1, { lossScale: 0, contributes: false });
    } else {
      const xs = x.subarray(share.start * per, (share.start + share.size) * per);
      await runtime.trainStep(xs, labels.subarray(share.start, share.start + share.size), 0.1, { lossScale: (group.worldSize * share.size) / size });
    }
    console.log(`step ${step + 1}`);
  }
  if (out) {
    const floats = async (t: { toArray(): Promise<unknown> }) => Array.from((await t.toArray()) as Float32Array);
    writeFileSync(out, JSON.stringify({ params: await floats(runtime.params), buffers: await floats(runtime.buffers!), momentum: await floats(runtime.states[0]) }));
  }
  runtime.dispose();
  group.destroy();
} catch (error) {
  const e = error as { code?: string; message: string };
  console.log(JSON.stringify({ error: e.code ?? 'unknown', message: e.message }));
  process.exitCode = 3;
}
