// The resnet-node command as users call it: help, errors naming the bad option, info, doctor and a
// short training run whose last JSON line is the `end` event.
import { describe, expect, it } from 'vitest';

import { main } from '../../lib/cli/index.js';
import { launchOptions } from '../../lib/cli/launch.js';
import { trainOptions } from '../../lib/cli/train.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stdout.write.bind(process.stdout);
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  process.stdout.write = ((chunk: string) => (out.push(String(chunk).replace(/\n$/, '')), true)) as typeof process.stdout.write;
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    process.stdout.write = write;
  }
}

describe('resnet-node CLI', () => {
  it('train --help lists every option', async () => {
    const { code, out } = await run(['train', '--help']);
    expect(code).toBe(0);
    for (const name of Object.keys(trainOptions)) expect(out).toContain(`--${name}`);
  });

  it('launch --help lists every option; bad node numbers and ports are errors that name them', async () => {
    const { code, out } = await run(['launch', '--help']);
    expect(code).toBe(0);
    for (const name of Object.keys(launchOptions)) expect(out).toContain(`--${name}`);
    const node = await run(['launch', '--nnodes', '2', '--node-rank', '2', '--master-addr', '10.0.0.1', '--', 'train']);
    expect(node.code).toBe(2);
    expect(node.err).toContain('Expected --node-rank below --nnodes 2 but received 2');
    const port = await run(['launch', '--master-port', '70000', '--', 'train']);
    expect(port.err).toContain('Expected a port in 1…65535 for --master-port but received 70000');
    const workers = await run(['launch', '--nproc-per-node', '0', '--', 'train']);
    expect(workers.err).toContain("Expected an integer ≥ 1 for --nproc-per-node but received '0'");
  });

  it('an unknown option or a bad value is an error that names it', async () => {
    const unknown = await run(['train', '--lr', '0.1']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown option '--lr' \(did you mean --LR\?\)/);
    const bad = await run(['train', '--batchSize', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^resnet-node train: Expected an integer.* for --batchSize but received 'many'/); // the command named once
    const prefetch = await run(['train', '--prefetch', '0']);
    expect(prefetch.code).toBe(2);
    expect(prefetch.err).toContain("Expected an integer ≥ 1 for --prefetch but received '0'");
    const choice = await run(['train', '--optimizer', 'lbfgs']);
    expect(choice.err).toContain('sgd|rmsprop|adadelta|adagrad|adam|adamw');
    const command = await run(['trian']);
    expect(command.code).toBe(2);
    expect(command.err).toContain("unknown command 'trian'");
  });

  it('info --json: parameters, multiply-adds, and planned memory ≤ 50% of naive', async () => {
    for (const [model, batch, params] of [['resnet50', '32', 25_557_032], ['resnet110', '128', 1_727_962]] as const) {
      const { code, out } = await run(['info', '--model', model, '--batch', batch, '--json']);
      expect(code).toBe(0);
      const r = JSON.parse(out) as { params: number; macs: number; memory: { naive: number; shareGradInput: number; planned: number } };
      expect(r.params).toBe(params);
      expect(r.memory.planned).toBeLessThanOrEqual(0.5 * r.memory.naive);
      expect(r.memory.shareGradInput).toBeLessThan(r.memory.naive);
      console.log(`${model} batch ${batch}: planned ${(100 * r.memory.planned / r.memory.naive).toFixed(1)}% of naive, shareGradInput ${(100 * r.memory.shareGradInput / r.memory.naive).toFixed(1)}%`);
    }
  });

  it('doctor --json reports the CPU backend and the CUDA state', async () => {
    const { out } = await run(['doctor', '--json']);
    const r = JSON.parse(out) as { addon: { loaded: boolean }; cpu: { onednn: string; kernels: string[] }; jpeg: string; cuda: Record<string, unknown> };
    expect(r.addon.loaded).toBe(true);
    expect(typeof r.jpeg).toBe('string'); // 'libjpeg-turbo 2.1.5', or '' in a build without libjpeg
    expect(r.cpu.onednn).toMatch(/^2\./);
    expect(r.cpu.kernels).toContain('conv2d_forward');
    for (const key of ['available', 'reason', 'driver', 'runtime', 'cudnn', 'cublas', 'nccl', 'devices']) expect(r.cuda).toHaveProperty(key);
  });

  it('train --json ends with the end event', async () => {
    const { code, out } = await run(['train', '--depth', '8', '--nEpochs', '1', '--save', '', '--json']);
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0].event).toBe('start');
    const end = lines.at(-1)!;
    expect(end.event).toBe('end');
    for (const key of ['testTop1', 'testTop5', 'trainLoss']) expect(typeof end[key]).toBe('number');
  });
});
