// Collective groups from TypeScript: an in-process group of replicas (one device each) and the eager all-reduce.
import { runOp } from '../ops/eager.js';
import { checkNumber, checkOptions, checkTensor } from '../ops/validate.js';
import { Device, requireAvailable } from '../runtime/device.js';
import { expected } from '../runtime/errors.js';
import { native } from '../runtime/native.js';
import { Tensor } from '../runtime/tensor.js';

/** Default seconds a rank waits at a collective for the others before failing (the 5 minutes). */
export const DEFAULT_COLLECTIVE_TIMEOUT_SECONDS = 300;

export interface InProcessGroupOptions {
  /** A rank waiting longer fails with RN_COLLECTIVE_TIMEOUT naming the ranks that did not arrive; default 300. */
  timeoutSeconds?: number;
}

/** N replicas in this process, rank k on devices[k]; each device's worker thread takes part in every collective. */
export class InProcessGroup {
  readonly id: number;
  readonly devices: readonly Device[];
  #destroyed = false;

  constructor(devices: readonly (string | Device)[], options: InProcessGroupOptions = {}) {
    const op = 'InProcessGroup';
    checkOptions(op, options, ['timeoutSeconds']);
    if (!Array.isArray(devices) || devices.length < 1) throw expected('RN_INVALID_ARGUMENT', op, 'devices', 'a non-empty list of devices', String(devices));
    this.devices = devices.map((d) => Device.from(d));
    this.devices.forEach(requireAvailable); // loads the CUDA backend, or names what is missing
    const names = this.devices.map((d) => d.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw expected('RN_INVALID_ARGUMENT', op, 'devices', 'distinct devices (each replica blocks its own worker thread)', `'${twice}' twice`);
    const timeout = checkNumber(op, 'timeoutSeconds', options.timeoutSeconds ?? DEFAULT_COLLECTIVE_TIMEOUT_SECONDS, Number.MIN_VALUE);
    this.id = native().createInProcessGroup(names, timeout);
  }

  get size(): number {
    return this.devices.length;
  }

  /** Rank of `device` in this group. */
  rank(device: string | Device): number {
    const rank = this.devices.indexOf(Device.from(device));
    if (rank < 0) throw expected('RN_INVALID_ARGUMENT', 'InProcessGroup.rank', 'device', `one of ${this.devices.join(', ')}`, String(device));
    return rank;
  }

  /**
   * Fails the group now (RN_RANK_FAILED with `reason`): ranks waiting at an all-reduce stop instead of waiting for
   * the timeout, and every later collective throws. For a replica whose own step failed.
   */
  abort(reason: string): void {
    if (!this.#destroyed) native().abortGroup(this.id, reason);
  }

  /** Programs already built keep working; new ones cannot name the group. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    native().destroyGroup(this.id);
  }
}

export interface AllreduceOptions {
  /** Divide the sum by the group size; default true. */
  average?: boolean;
  /** This rank contributes weight·x (0: zeros); default 1. */
  weight?: number;
}

/**
 * Replaces x, in place, with its sum (or mean) over the group. Every rank must call it, each with its own tensor
 * on its own device; the promise settles once all have (or the group's timeout has passed).
 */
export async function allreduce(group: InProcessGroup, x: Tensor, options: AllreduceOptions = {}): Promise<Tensor> {
  const op = 'allreduce';
  checkOptions(op, options, ['average', 'weight']);
  checkTensor(op, 'x', x);
  group.rank(x.device);
  const average = options.average ?? true;
  if (typeof average !== 'boolean') throw expected('RN_INVALID_ARGUMENT', op, 'average', 'a boolean', String(average));
  const weight = options.weight === undefined ? undefined : checkNumber(op, 'weight', options.weight, 0);
  const inputs = [x];
  if (weight !== undefined) inputs.push(Tensor.fromArray(Float32Array.of(weight), [1], { device: x.device }));
  try {
    await runOp('allreduce_mean', inputs, [x], { group: group.id, average });
  } finally {
    inputs[1]?.dispose();
  }
  return x;
}
