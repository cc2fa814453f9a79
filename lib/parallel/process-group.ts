// Data parallel across processes: the launch environment (torchrun's variables, or Slurm's), the process group
// formed through rank 0's TCP store (Gloo on cpu devices, NCCL on cuda ones), and the few collectives the Trainer
// needs besides the gradient one.
import { runOp } from '../ops/eager.js';
import { checkNumber, checkTensor } from '../ops/validate.js';
import { Device, requireAvailable } from '../runtime/device.js';
import { ResnetError, expected } from '../runtime/errors.js';
import { native } from '../runtime/native.js';
import { Tensor } from '../runtime/tensor.js';
import { DEFAULT_COLLECTIVE_TIMEOUT_SECONDS } from './group.js';

export const DEFAULT_MASTER_ADDR = '127.0.0.1';
export const DEFAULT_MASTER_PORT = 29500;

/** Where this process stands in a multi-process job, from its environment. */
export interface LaunchEnv {
  rank: number;
  worldSize: number;
  /** Rank among the processes of this node (picks cuda:LOCAL_RANK; divides the CPU cores). */
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** Which variables said so. */
  source: 'torchrun' | 'slurm';
}

type Env = Record<string, string | undefined>;

function envInteger(env: Env, name: string, min: number, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new ResnetError('RN_INVALID_ARGUMENT', `the environment variable ${name} is missing (set by \`resnet-node launch\`, torchrun or Slurm)`);
  }
  if (!/^\s*\d+\s*$/.test(raw) || Number(raw) < min) {
    throw expected('RN_INVALID_ARGUMENT', undefined, `the environment variable ${name}`, `an integer ≥ ${min}`, `'${raw}'`);
  }
  return Number(raw);
}

/**
 * The multi-process environment, or undefined for a plain single process. torchrun's RANK and WORLD_SIZE (with
 * LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) win; else Slurm's SLURM_PROCID, SLURM_NTASKS,
 * SLURM_LOCALID (and SLURM_NTASKS_PER_NODE). A bad value is an error naming the variable.
 */
export function launchEnv(env: Env = process.env): LaunchEnv | undefined {
  let rank: number, worldSize: number, localRank: number, localWorldSize: number;
  let source: LaunchEnv['source'];
  if (env.RANK !== undefined || env.WORLD_SIZE !== undefined) {
    source = 'torchrun';
    worldSize = envInteger(env, 'WORLD_SIZE', 1);
    rank = envInteger(env, 'RANK', 0);
    localWorldSize = envInteger(env, 'LOCAL_WORLD_SIZE', 1, 1);
    localRank = envInteger(env, 'LOCAL_RANK', 0, 0);
  } else if (env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined) {
    source = 'slurm';
    worldSize = envInteger(env, 'SLURM_NTASKS', 1);
    rank = envInteger(env, 'SLURM_PROCID', 0);
    localRank = envInteger(env, 'SLURM_LOCALID', 0, 0);
    // "2(x3)" is 2 tasks on each of 3 nodes; heterogeneous lists ("2,1") take the first.
    const perNode = /^\s*(\d+)/.exec(env.SLURM_NTASKS_PER_NODE ?? '')?.[1];
    localWorldSize = perNode ? Math.max(1, Number(perNode)) : Math.max(1, localRank + 1);
  } else {
    return undefined;
  }
  const [rankName, sizeName, localName] = source === 'torchrun' ? ['RANK', 'WORLD_SIZE', 'LOCAL_RANK'] : ['SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID'];
  if (rank >= worldSize) throw new ResnetError('RN_INVALID_ARGUMENT', `${rankName}=${rank} but ${sizeName}=${worldSize}: a rank must be below the world size`);
  if (localRank >= localWorldSize && source === 'torchrun') {
    throw new ResnetError('RN_INVALID_ARGUMENT', `${localName}=${localRank} but LOCAL_WORLD_SIZE=${localWorldSize}: a local rank must be below the local world size`);
  }
  if (localWorldSize > worldSize) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `LOCAL_WORLD_SIZE=${localWorldSize} is more than ${sizeName}=${worldSize}`);
  }
  const masterAddr = (env.MASTER_ADDR ?? '').trim() || DEFAULT_MASTER_ADDR;
  const masterPort = envInteger(env, 'MASTER_PORT', 1, DEFAULT_MASTER_PORT);
  if (masterPort > 65535) throw expected('RN_INVALID_ARGUMENT', undefined, 'the environment variable MASTER_PORT', 'a port in 1…65535', `'${env.MASTER_PORT}'`);
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, source };
}

/** Seconds a rank waits at a collective: the given value, else RN_COLLECTIVE_TIMEOUT, else 300. */
export function collectiveTimeout(seconds?: number, env: Env = process.env): number {
  if (seconds) return checkNumber('collectiveTimeout', 'timeout', seconds, Number.MIN_VALUE);
  const raw = env.RN_COLLECTIVE_TIMEOUT;
  if (raw === undefined || raw === '') return DEFAULT_COLLECTIVE_TIMEOUT_SECONDS;
  const value = Number(raw);
  if (!(value > 0) || !Number.isFinite(value)) {
    throw expected('RN_INVALID_ARGUMENT', undefined, 'the environment variable RN_COLLECTIVE_TIMEOUT', 'seconds > 0', `'${raw}'`);
  }
  return value;
}

export interface ProcessGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr?: string;
  masterPort?: number;
  /** This process's device; default cpu. One device per process. */
  device?: string | Device;
  /** Seconds to wait for the other ranks, at the rendezvous and at every collective; default 300. */
  timeoutSeconds?: number;
  /** Network interface for Gloo's connections (RN_GLOO_IFACE); default: the one that reaches masterAddr. */
  iface?: string;
}

/**
 * This process's rank in a group of processes, over Gloo (cpu) or NCCL (cuda: one GPU per process, the unique id
 * from rank 0 through the store); every rank creates it with the same world size.
 */
export class ProcessGroup {
  readonly id: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly device: Device;
  #destroyed = false;

  private constructor(id: number, rank: number, worldSize: number, device: Device) {
    this.id = id;
    this.rank = rank;
    this.worldSize = worldSize;
    this.device = device;
  }

  /** Settles once every rank has joined; RN_RENDEZVOUS_FAILED names what went wrong (port taken, ranks missing …). */
  static async create(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const op = 'ProcessGroup';
    const { rank, worldSize } = options;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw expected('RN_INVALID_ARGUMENT', op, 'worldSize', 'an integer ≥ 1', String(worldSize));
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw expected('RN_INVALID_ARGUMENT', op, 'rank', `an integer in 0…${worldSize - 1}`, String(rank));
    const masterPort = options.masterPort ?? DEFAULT_MASTER_PORT;
    if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) throw expected('RN_INVALID_ARGUMENT', op, 'masterPort', 'a port in 1…65535', String(masterPort));
    const device = Device.from(options.device ?? 'cpu');
    requireAvailable(device); // a cuda device: loads the CUDA backend (NCCL), or names what is missing
    if (!native().hasGloo) {
      // The rendezvous store is built with Gloo, so cuda groups (NCCL) need it too.
      throw new ResnetError('RN_DEVICE_UNAVAILABLE', 'this build has no Gloo, whose rendezvous training across processes needs (on cpu and cuda devices): install libgloo-dev (Debian/Ubuntu) and rebuild with `npm run build:native`', op);
    }
    const timeoutSeconds = checkNumber(op, 'timeoutSeconds', options.timeoutSeconds ?? DEFAULT_COLLECTIVE_TIMEOUT_SECONDS, Number.MIN_VALUE);
    const id = await native().createProcessGroup({
      rank, worldSize, masterAddr: options.masterAddr ?? DEFAULT_MASTER_ADDR, masterPort, device: device.name, timeoutSeconds, iface: options.iface ?? process.env.RN_GLOO_IFACE ?? '',
    });
    return new ProcessGroup(id, rank, worldSize, device);
  }

  get size(): number {
    return this.worldSize;
  }

  /** Replaces `values` with their sum over every rank (float32); every rank must call it with as many values. */
  async sum(values: Float32Array): Promise<Float32Array> {
    return this.#reduce(values, 1);
  }

  /** Replaces `values` with rank 0's on every rank. */
  async broadcast(values: Float32Array): Promise<Float32Array> {
    return this.#reduce(values, this.rank === 0 ? 1 : 0);
  }

  /** Writes rank 0's contents of `tensor` (on this process's device) into every rank's. */
  async broadcastTensor(tensor: Tensor): Promise<void> {
    checkTensor('ProcessGroup.broadcastTensor', 'tensor', tensor);
    await this.#run(tensor, this.rank === 0 ? 1 : 0);
  }

  async #reduce(values: Float32Array, weight: number): Promise<Float32Array> {
    const t = Tensor.fromArray(values, [values.length], { device: this.device });
    try {
      await this.#run(t, weight);
      return (await t.toArray()) as Float32Array;
    } finally {
      t.dispose();
    }
  }

  // A weight-0 rank adds exact zeros, so a weighted sum with rank 0 alone at weight 1 is a bit-exact broadcast.
  async #run(x: Tensor, weight: number): Promise<void> {
    if (this.#destroyed) throw new ResnetError('RN_DISPOSED', 'the process group was destroyed', 'ProcessGroup');
    const w = Tensor.fromArray(Float32Array.of(weight), [1], { device: this.device });
    try {
      await runOp('allreduce_mean', [x, w], [x], { group: this.id, average: false });
    } finally {
      w.dispose();
    }
  }

  /** Programs already built keep their rank (and rank 0 its store) until they are disposed. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    native().destroyGroup(this.id);
  }
}
