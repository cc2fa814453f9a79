// Data parallel across processes over Gloo on loopback: 2 processes equal 1 replica with the whole batch, a killed
// or stopped rank makes the other fail naming it within the timeout, bad environments and rendezvous problems are
// clear errors, and `resnet-node launch` runs `train` end to end.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { parseOptions } from '../../lib/cli/args.js';
import { trainOptions, trainerFromOptions } from '../../lib/cli/train.js';
import { ProcessGroup, collectiveTimeout, launchEnv } from '../../lib/parallel/process-group.js';
import { native } from '../../lib/runtime/native.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { freePort } from '../util/net.js';
import { rng } from '../util/random.js';
import { BATCHES, batchOf, inputShape, maxAbsDiff, optimizer, smallResNet } from './model.js';

const root = join(import.meta.dirname, '..', '..');
const viteNode = join(root, 'node_modules', 'vite-node', 'vite-node.mjs');
const worker = join(root, 'test', 'parallel', 'gloo-worker.ts');
const cli = join(root, 'test', 'util', 'cli-main.ts');

interface Run {
  child: ChildProcess;
  out: string[];
  err: string[];
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; seconds: number }>;
}

function start(args: string[], env: Record<string, string>): Run {
  const started = performance.now();
  const child = spawn(process.execPath, [viteNode, ...args], { cwd: root, env: { ...process.env, RN_NUM_THREADS: '1', ...env } });
  const out: string[] = [];
  const err: string[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => err.push(d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; seconds: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, seconds: (performance.now() - started) / 1000 })),
  );
  return { child, out, err, done };
}

function rankEnv(rank: number, worldSize: number, port: number, timeout = 60): Record<string, string> {
  return { RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RN_COLLECTIVE_TIMEOUT: String(timeout) };
}

/** Resolves once `run` has printed `text` on stdout. */
async function waitFor(run: Run, text: string): Promise<void> {
  while (!run.out.join('').includes(text)) {
    if (run.child.exitCode !== null) throw new Error(`exited before printing '${text}': ${run.out.join('')}${run.err.join('')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `resnet-node ARGV` from the sources (test/util/cli-main.ts; the arguments travel in RN_CLI_ARGV, `--` included). */
function cliRun(argv: string[], env: Record<string, string> = {}): Run {
  return start([cli], { ...env, RN_CLI_ARGV: JSON.stringify(argv) });
}

const lastJson = (run: Run) => JSON.parse(run.out.join('').trim().split('\n').pop()!) as Record<string, unknown>;

describe.skipIf(!native().hasGloo)('Gloo process group (2 processes on loopback)', () => {
  it('2 processes with SyncBN equal 1 replica with the full batch after 5 steps (batches 8, 7 = 4+3, 8, 1 = 1+0, 5)', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'rn-gloo-'));
    const runs = [0, 1].map((rank) => start([worker, '5', join(dir, `rank${rank}.json`)], rankEnv(rank, 2, port)));
    const exits = await Promise.all(runs.map((r) => r.done));
    exits.forEach((e, rank) => expect(e.code, `rank ${rank}: ${runs[rank].out.join('')}${runs[rank].err.join('')}`).toBe(0));
    const [r0, r1] = [0, 1].map((rank) => JSON.parse(readFileSync(join(dir, `rank${rank}.json`), 'utf8')) as Record<string, number[]>);
    expect(Buffer.from(Float32Array.from(r1.params).buffer).equals(Buffer.from(Float32Array.from(r0.params).buffer)), 'ranks bit-identical').toBe(true);

    const module = smallResNet();
    const single = new ModelRuntime(module, { inputShape, optimizer, device: 'cpu' });
    await single.load(module.initialState(rng(9))); // rank 0's initialisation
    for (const [step, size] of BATCHES.entries()) {
      const { x, labels } = batchOf(size, 100 + step);
      await single.trainStep(x, labels, 0.1);
    }
    const floats = async (t: { toArray(): Promise<unknown> }) => (await t.toArray()) as Float32Array;
    const paramDiff = maxAbsDiff(await floats(single.params), Float32Array.from(r0.params));
    const bufferDiff = maxAbsDiff(await floats(single.buffers!), Float32Array.from(r0.buffers));
    const momentumDiff = maxAbsDiff((await single.optimizerState())[0], Float32Array.from(r0.momentum));
    console.log(`2 processes (Gloo, SyncBN) vs 1 replica after 5 steps: max |Δparam| ${paramDiff.toExponential(2)}, |Δrunning stat| ${bufferDiff.toExponential(2)}, |Δmomentum| ${momentumDiff.toExponential(2)}`);
    expect(paramDiff).toBeLessThan(1e-5);
    expect(bufferDiff).toBeLessThan(1e-5);
    expect(momentumDiff).toBeLessThan(1e-5);
    single.dispose();
  });

  it('a killed rank makes the other fail at once naming it (RN_RANK_FAILED); a stopped one, after the timeout (RN_COLLECTIVE_TIMEOUT)', async () => {
    const timeout = 2;
    // Both cases at once, each a pair of processes on its own port.
    const cases = await Promise.all(
      (['SIGKILL', 'SIGSTOP'] as const).map(async (signal) => {
        const port = await freePort();
        const runs = [0, 1].map((rank) => start([worker, '1000000'], rankEnv(rank, 2, port, timeout)));
        await Promise.all(runs.map((r) => waitFor(r, 'step 3\n')));
        const failedAt = performance.now();
        runs[1].child.kill(signal);
        const exit = await runs[0].done;
        const seconds = (performance.now() - failedAt) / 1000;
        runs[1].child.kill('SIGKILL');
        await runs[1].done;
        return { signal, exit, seconds, result: lastJson(runs[0]) };
      }),
    );
    for (const { signal, exit, seconds, result } of cases) {
      console.log(`${signal} of rank 1: rank 0 stopped after ${seconds.toFixed(2)} s with ${result.error}: ${String(result.message)}`);
      expect(exit.code).toBe(3);
      expect(result.error).toBe(signal === 'SIGKILL' ? 'RN_RANK_FAILED' : 'RN_COLLECTIVE_TIMEOUT');
      expect(result.message).toMatch(/rank 0 of 2: rank 1 stopped responding/);
      // Detection (at once, or the timeout) plus the window for the other ranks' notes (max(timeout / 4, 1 s)).
      expect(seconds).toBeLessThan(signal === 'SIGKILL' ? 1 + 2 : timeout + 1 + 2);
    }
  });

  it('bad environments, a taken port, differing world sizes, a duplicate or a missing rank are clear errors', async () => {
    expect(launchEnv({})).toBeUndefined();
    expect(launchEnv({ RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2' })).toEqual({
      rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2, masterAddr: '127.0.0.1', masterPort: 29500, source: 'torchrun',
    });
    expect(launchEnv({ SLURM_PROCID: '3', SLURM_NTASKS: '4', SLURM_LOCALID: '1', SLURM_NTASKS_PER_NODE: '2(x2)', MASTER_ADDR: 'node7', MASTER_PORT: '1234' })).toEqual({
      rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, masterAddr: 'node7', masterPort: 1234, source: 'slurm',
    });
    expect(() => launchEnv({ RANK: 'one', WORLD_SIZE: '2' })).toThrow("Expected an integer ≥ 0 for the environment variable RANK but received 'one'");
    expect(() => launchEnv({ RANK: '2', WORLD_SIZE: '2' })).toThrow('RANK=2 but WORLD_SIZE=2');
    expect(() => launchEnv({ RANK: '0' })).toThrow('WORLD_SIZE is missing');
    expect(() => launchEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000' })).toThrow("a port in 1…65535 for the environment variable MASTER_PORT but received '70000'");
    expect(() => launchEnv({ RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '2', LOCAL_WORLD_SIZE: '2' })).toThrow('LOCAL_RANK=2 but LOCAL_WORLD_SIZE=2');
    expect(() => collectiveTimeout(undefined, { RN_COLLECTIVE_TIMEOUT: 'soon' })).toThrow("seconds > 0 for the environment variable RN_COLLECTIVE_TIMEOUT but received 'soon'");
    expect(collectiveTimeout(undefined, {})).toBe(300);
    await expect(ProcessGroup.create({ rank: 2, worldSize: 2 })).rejects.toThrow('Expected an integer in 0…1 for rank but received 2');

    // Rank 0 cannot serve the store on a port that is taken.
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const takenPort = (taken.address() as { port: number }).port;
    await expect(ProcessGroup.create({ rank: 0, worldSize: 2, masterPort: takenPort, device: 'cpu:5', timeoutSeconds: 1 })).rejects.toMatchObject({
      code: 'RN_RENDEZVOUS_FAILED',
      message: expect.stringContaining(`rank 0 cannot listen on port ${takenPort} for the rendezvous store (Address already in use): another program uses it`),
    });
    await new Promise((resolve) => taken.close(resolve));

    // Ranks of one process each, here on devices of their own in this process: the store and Gloo do not mind.
    const port = await freePort();
    const rank0 = ProcessGroup.create({ rank: 0, worldSize: 3, masterPort: port, device: 'cpu:5', timeoutSeconds: 1.5 });
    const rank0Failed = expect(rank0).rejects.toMatchObject({ code: 'RN_RENDEZVOUS_FAILED', message: expect.stringMatching(/ranks? (1, )?2 did not join the process group at 127\.0\.0\.1:\d+ within 1\.5 s/) });
    await expect(ProcessGroup.create({ rank: 1, worldSize: 2, masterPort: port, device: 'cpu:6', timeoutSeconds: 1.5 })).rejects.toThrow(
      'rank 1 has WORLD_SIZE 2 but rank 0 has 3: every process of the group must be started with the same world size',
    );
    const rank1 = ProcessGroup.create({ rank: 1, worldSize: 3, masterPort: port, device: 'cpu:6', timeoutSeconds: 1.5 });
    const rank1Failed = expect(rank1).rejects.toMatchObject({ code: 'RN_RENDEZVOUS_FAILED' });
    await new Promise((r) => setTimeout(r, 200));
    await expect(ProcessGroup.create({ rank: 1, worldSize: 3, masterPort: port, device: 'cpu:7', timeoutSeconds: 1.5 })).rejects.toThrow(
      'two processes say they are rank 1: every process needs its own RANK',
    );
    await rank0Failed;
    await rank1Failed;

    // Nobody at the address at all.
    await expect(ProcessGroup.create({ rank: 1, worldSize: 2, masterPort: await freePort(), device: 'cpu:6', timeoutSeconds: 0.5 })).rejects.toThrow(
      /rank 1 could not reach rank 0's rendezvous store at 127\.0\.0\.1:\d+ within 0\.5 s \(Connection refused\)/,
    );
  });
});

describe.skipIf(!native().hasGloo)('resnet-node launch', () => {
  it('launch --nproc-per-node 2 -- train --json: rank 0 alone reports and saves; it ends with the end event of a single-process run', async () => {
    const save = mkdtempSync(join(tmpdir(), 'rn-launch-'));
    const train = ['train', '--json', '--depth', '8', '--nEpochs', '1', '--batchSize', '128', '--syncBN', '--manualSeed', '5'];
    const port = await freePort();
    const launched = cliRun(['launch', '--nproc-per-node', '2', '--master-port', String(port), '--timeout', '60', '--', process.execPath, viteNode, cli, ...train, '--save', save]);
    const a = await launched.done;
    expect(a.code, launched.err.join('')).toBe(0);
    // The same command line in one process (here, in this one).
    const started = performance.now();
    const alone = await (await trainerFromOptions(parseOptions([...train, '--save', ''], trainOptions, 'train').options)).fit();
    const singleSeconds = (performance.now() - started) / 1000;
    const lines = launched.out.join('').trim().split('\n');
    expect(lines.filter((l) => l.startsWith('[rank 1]')), 'rank 1 prints nothing').toEqual([]);
    const end = lastJson(launched);
    console.log(`launch 2 processes: ${a.seconds.toFixed(1)} s, end ${JSON.stringify(end)}; one process: ${singleSeconds.toFixed(1)} s, trainLoss ${alone.trainLoss}`);
    expect(Object.keys(end).sort()).toEqual(['event', ...Object.keys(alone)].sort());
    expect(end.event).toBe('end');
    expect(end.epochs).toBe(1);
    // Disjoint shards with SyncBN: the same training as one process with the whole batch.
    expect(Math.abs((end.trainLoss as number) - alone.trainLoss)).toBeLessThan(1e-4);
    expect(Math.abs((end.testLoss as number) - alone.testLoss)).toBeLessThan(1e-3);
    expect(readdirSync(save)).toEqual(expect.arrayContaining(['latest.json', 'model_1.safetensors', 'model_best.safetensors']));
  });

  it('a worker that fails stops the others, and launch exits with its code naming its rank; Ctrl-C stops every worker', async () => {
    const script = "process.on('SIGINT', () => process.exit(130)); console.log('up ' + process.env.RANK + ' ' + process.pid); if (process.env.RANK === '1') setTimeout(() => process.exit(3), 300); setInterval(() => {}, 1000);";
    const failing = cliRun(['launch', '--nproc-per-node', '2', '--timeout', '1', '--', process.execPath, '-e', script]);
    const interrupted = cliRun(['launch', '--nproc-per-node', '2', '--master-port', String(await freePort()), '--', process.execPath, '-e', script.replace("process.env.RANK === '1'", 'false')]);
    const exit = await failing.done;
    expect(exit.code).toBe(3);
    expect(failing.err.join('')).toMatch(/rank 1 \(pid \d+\) exited with code 3; stopping the other workers/);
    expect(failing.err.join('')).toContain('launch: failed: rank 1 exited with code 3');
    expect(exit.seconds).toBeLessThan(20);

    await waitFor(interrupted, 'up 0');
    await waitFor(interrupted, 'up 1');
    const pids = [...interrupted.out.join('').matchAll(/up \d (\d+)/g)].map((m) => Number(m[1]));
    interrupted.child.kill('SIGINT');
    const stopped = await interrupted.done;
    expect(stopped.code).toBe(130);
    for (const pid of pids) expect(() => process.kill(pid, 0), `worker ${pid} is gone`).toThrow();

    const usage = cliRun(['launch', '--nproc-per-node', '2', 'train']);
    const loopback = cliRun(['launch', '--nnodes', '2', '--', 'train']);
    expect((await usage.done).code).toBe(2);
    expect(usage.err.join('')).toContain("give the workers' command after --");
    expect((await loopback.done).code).toBe(2);
    expect(loopback.err.join('')).toContain("with --nnodes 2, --master-addr must be node 0's address as the other nodes reach it, not 127.0.0.1");
  });
});
