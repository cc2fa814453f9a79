// `resnet-node launch`: starts this node's workers with torchrun's environment, relays their output, and stops them
// all when one fails or on Ctrl-C; exits non-zero naming the first rank that failed.
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { DEFAULT_MASTER_ADDR, DEFAULT_MASTER_PORT, collectiveTimeout } from '../parallel/process-group.js';
import { ResnetError } from '../runtime/errors.js';
import { type OptionDefs, formatHelp, parseOptions } from './args.js';

export const launchOptions = {
  'nproc-per-node': { type: 'integer', default: 1, min: 1, help: 'worker processes on this node (one device each)' },
  nnodes: { type: 'integer', default: 1, min: 1, help: 'nodes taking part (start launch on each)' },
  'node-rank': { type: 'integer', default: 0, min: 0, help: "this node's number, 0 … nnodes-1; node 0 runs rank 0, which serves the rendezvous" },
  'master-addr': { type: 'string', default: DEFAULT_MASTER_ADDR, help: "node 0's address, reachable from every node (MASTER_ADDR)" },
  'master-port': { type: 'integer', default: DEFAULT_MASTER_PORT, min: 1, help: "a free TCP port on node 0 for the rendezvous store (MASTER_PORT)" },
  timeout: { type: 'number', default: 0, min: 0, help: 'seconds a worker waits for the others at the rendezvous and each collective before failing; 0: RN_COLLECTIVE_TIMEOUT or 300' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies OptionDefs;

const USAGE = 'launch [options] -- train [train options]   (or -- PROGRAM [ARGS]: any program reading the same environment)';

interface Worker {
  rank: number;
  localRank: number;
  child: ChildProcess;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

/** What a worker's exit says, in words: "exited with code 1", "was killed by SIGKILL". */
function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

function relay(stream: NodeJS.ReadableStream | null, out: NodeJS.WritableStream, prefix: string): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${prefix}${line}\n`));
}

export async function launch(argv: readonly string[]): Promise<number> {
  const split = argv.indexOf('--');
  const { options: o, positionals } = parseOptions(split >= 0 ? argv.slice(0, split) : argv, launchOptions, 'launch');
  if (o.help) {
    console.log(
      formatHelp(
        'launch',
        'Starts --nproc-per-node workers on this node with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set ' +
          '(as torchrun); they meet at rank 0 over TCP and train data parallel over Gloo. A worker that fails stops the others.',
        launchOptions,
        USAGE,
      ),
    );
    return 0;
  }
  const command = split >= 0 ? argv.slice(split + 1) : [];
  if (positionals.length || command.length === 0) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `launch: give the workers' command after --, e.g. \`resnet-node launch --nproc-per-node 2 -- train --depth 20\``);
  }
  const perNode = o['nproc-per-node'];
  const nodeRank = o['node-rank'];
  if (nodeRank >= o.nnodes) throw new ResnetError('RN_INVALID_ARGUMENT', `launch: Expected --node-rank below --nnodes ${o.nnodes} but received ${nodeRank}`);
  if (o['master-port'] > 65535) throw new ResnetError('RN_INVALID_ARGUMENT', `launch: Expected a port in 1…65535 for --master-port but received ${o['master-port']}`);
  if (!o['master-addr'].trim()) throw new ResnetError('RN_INVALID_ARGUMENT', 'launch: Expected an address for --master-addr but received an empty one');
  if (o.nnodes > 1 && /^(127\.|localhost$|::1$)/.test(o['master-addr'].trim())) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `launch: with --nnodes ${o.nnodes}, --master-addr must be node 0's address as the other nodes reach it, not ${o['master-addr']}`);
  }
  const worldSize = perNode * o.nnodes;
  // `-- train …` runs this package's CLI; anything else is a program of the user's that reads the same variables.
  const [file, ...args] =
    command[0] === 'train' ? [process.execPath, fileURLToPath(new URL('../../bin/resnet-node.js', import.meta.url)), ...command] : command;
  const threads = Math.max(1, Math.floor(availableParallelism() / perNode));
  const timeout = collectiveTimeout(o.timeout || undefined);

  const workers: Worker[] = [];
  let failed: Worker | undefined;
  let interrupts = 0;
  const stopAll = (signal: NodeJS.Signals) => {
    for (const w of workers) {
      if (!w.exit) {
        try {
          process.kill(-w.child.pid!, signal); // the worker's own process group: it and anything it started
        } catch {
          w.child.kill(signal);
        }
      }
    }
  };
  const onInterrupt = () => {
    interrupts++;
    if (interrupts === 1) {
      console.error('resnet-node launch: stopping every worker after the current epoch; Ctrl-C again to stop them now');
      stopAll('SIGINT');
    } else {
      console.error('resnet-node launch: stopping every worker now');
      stopAll('SIGKILL');
    }
  };
  const onTerminate = () => stopAll('SIGTERM');
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onTerminate);

  try {
    // The first failure stops the rest: they get the window their own diagnosis needs to name the failed rank
    // (native/gloo/process_group.cc), then SIGTERM, then SIGKILL.
    const grace = (Math.min(Math.max(timeout / 4, 1), 15) + 2) * 1000;
    let reaper: NodeJS.Timeout | undefined;
    const onExit = (worker: Worker): void => {
      const exit = worker.exit!;
      const ok = exit.code === 0 || (interrupts > 0 && (exit.code === 130 || exit.signal !== null));
      if (ok || failed) return;
      failed = worker;
      console.error(`resnet-node launch: rank ${worker.rank} (pid ${worker.child.pid}) ${describeExit(exit)}; stopping the other workers`);
      reaper = setTimeout(() => {
        stopAll('SIGTERM');
        reaper = setTimeout(() => stopAll('SIGKILL'), 5000);
      }, grace);
    };
    const exits = Array.from({ length: perNode }, (_, localRank) => {
      const rank = nodeRank * perNode + localRank;
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(localRank),
        LOCAL_WORLD_SIZE: String(perNode),
        GROUP_RANK: String(nodeRank),
        MASTER_ADDR: o['master-addr'],
        MASTER_PORT: String(o['master-port']),
        RN_COLLECTIVE_TIMEOUT: String(timeout),
        RN_LAUNCH_PID: String(process.pid),
        RN_NUM_THREADS: process.env.RN_NUM_THREADS ?? String(threads),
      };
      // Rank 0 writes to our terminal directly (its progress bar, its JSON lines unprefixed); the others are prefixed.
      const direct = rank === 0;
      const child = spawn(file, args, { env, detached: true, stdio: direct ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'] });
      const worker: Worker = { rank, localRank, child };
      workers.push(worker);
      relay(child.stdout, process.stdout, `[rank ${rank}] `);
      relay(child.stderr, process.stderr, `[rank ${rank}] `);
      return new Promise<void>((resolve) => {
        child.on('error', (error) => {
          worker.exit ??= { code: 127, signal: null };
          console.error(`resnet-node launch: rank ${rank} could not start '${file}': ${error.message}`);
          onExit(worker);
          resolve();
        });
        child.on('exit', (code, signal) => {
          worker.exit = { code, signal };
          onExit(worker);
          resolve();
        });
      });
    });

    await Promise.all(exits);
    clearTimeout(reaper);
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
  }
  if (failed) {
    console.error(`resnet-node launch: failed: rank ${failed.rank} ${describeExit(failed.exit!)}`);
    return failed.exit!.code || 1;
  }
  return interrupts > 0 ? 130 : 0;
}
