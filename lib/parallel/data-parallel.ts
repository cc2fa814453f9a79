// DataParallel: one ModelRuntime per device, each run by its device's own worker thread, the batch split across
// them and the flat gradients all-reduced inside every replica's training program. Model code is unchanged.
//
// The arithmetic that makes N replicas × B/N equal one replica × B, uneven batches included: replica k holds n_k
// of the batch's B images (sizes differ by at most one) and seeds its backward pass with N·n_k/B instead of 1, so
// its gradients are N times its images' part of the gradient of the batch's mean loss; the all-reduce averages
// them over the N replicas, giving exactly that gradient. (With an even split the seed is 1: plain averaging.)
// When B < N, the replicas without images run a placeholder image with seed 0 and all-reduce weight 0: they add
// zeros to every all-reduce and apply the same update as the others.
//
// Parameters, buffers and optimizer state are copied from replica 0 to the others when loaded, so all start
// equal; every replica then applies the same all-reduced update and stays bit-identical to replica 0.
// Checkpoints are replica 0's. Batch-norm batch statistics are per replica (as in fb.resnet.torch) unless
// syncBatchNorm; evaluation uses replica 0's running statistics on every replica, so what is validated is
// what is saved.
import type { InitialValue, Module } from '../nn/module.js';
import { Device } from '../runtime/device.js';
import { ResnetError, expected, formatShape } from '../runtime/errors.js';
import { native } from '../runtime/native.js';
import type { Tensor } from '../runtime/tensor.js';
import { ModelRuntime, type ModelRuntimeOptions, type StepResult } from '../train/model.js';
import { InProcessGroup } from './group.js';

export interface DataParallelOptions extends Omit<ModelRuntimeOptions, 'device' | 'group'> {
  /** One replica per device, replica 0 first; distinct devices ('cpu', 'cpu:1', 'cuda:0', …). */
  devices: readonly (string | Device)[];
  /** OpenMP threads of each CPU replica; default: the process's CPU thread count / the number of CPU replicas. */
  threadsPerReplica?: number;
  /** Seconds a replica waits at an all-reduce for the others before failing; default 300. */
  timeoutSeconds?: number;
}

/** Contiguous shares of a batch of `batch` images over `replicas`: sizes differ by at most one, larger first. */
export function splitBatch(batch: number, replicas: number): { start: number; size: number }[] {
  const base = Math.floor(batch / replicas);
  const extra = batch % replicas;
  let start = 0;
  return Array.from({ length: replicas }, (_, k) => {
    const size = base + (k < extra ? 1 : 0);
    const share = { start, size };
    start += size;
    return share;
  });
}

export class DataParallel {
  readonly replicas: readonly ModelRuntime[];
  readonly group: InProcessGroup;
  readonly options: DataParallelOptions;
  /** BN running statistics of replicas 1… may differ from replica 0's (per-replica batch statistics). */
  #buffersDiverged = false;
  readonly #placeholder: { x: Float32Array; labels: Int32Array };

  constructor(module: Module, options: DataParallelOptions) {
    const op = 'DataParallel';
    const devices = (options.devices ?? []).map((d) => Device.from(d));
    if (devices.length < 1) throw expected('RN_INVALID_ARGUMENT', op, 'devices', 'at least one device', '[]');
    this.options = options;
    this.group = new InProcessGroup(devices, { timeoutSeconds: options.timeoutSeconds });
    for (const kind of new Set(devices.map((d) => d.kind))) {
      if (!native().kernelNames(kind).includes('allreduce_mean')) {
        this.group.destroy();
        throw new ResnetError('RN_UNKNOWN_OP', `data parallel on '${kind}' devices needs its all-reduce kernel, which this build does not have yet`, op);
      }
    }
    const cpus = devices.filter((d) => d.kind === 'cpu');
    if (cpus.length) {
      const threads = options.threadsPerReplica ?? Math.max(1, Math.floor(native().cpuInfo().threads / cpus.length));
      if (!Number.isInteger(threads) || threads < 1) throw expected('RN_INVALID_ARGUMENT', op, 'threadsPerReplica', 'an integer ≥ 1', String(threads));
      for (const d of cpus) native().setDeviceThreads(d.name, threads);
    }
    const { devices: _devices, threadsPerReplica: _threads, timeoutSeconds: _timeout, ...runtimeOptions } = options;
    this.replicas = devices.map(
      (device, k) =>
        new ModelRuntime(module, {
          ...runtimeOptions,
          device,
          group: this.group.id,
          // Distinct dropout masks per replica.
          dropoutSeed: (options.dropoutSeed ?? 0) * devices.length + k,
        }),
    );
    const per = options.inputShape.reduce((a, b) => a * b, 1);
    this.#placeholder = { x: new Float32Array(per), labels: new Int32Array(1) };
  }

  get devices(): Device[] {
    return this.replicas.map((r) => r.device);
  }

  /** Replica 0's: what checkpoints and reports describe. */
  get device(): Device {
    return this.replicas[0].device;
  }
  get layout(): ModelRuntime['layout'] {
    return this.replicas[0].layout;
  }
  get classes(): number {
    return this.replicas[0].classes;
  }
  get topk(): number[] {
    return this.replicas[0].topk;
  }
  get step(): number {
    return this.replicas[0].step;
  }
  set step(step: number) {
    for (const r of this.replicas) r.step = step;
  }

  /** Loads replica 0 and copies it to the others. */
  async load(state: ReadonlyMap<string, InitialValue>, options: { strict?: boolean } = {}): Promise<void> {
    await this.replicas[0].load(state, options);
    await this.broadcast();
  }

  /** Copies replica 0's parameters, buffers, optimizer state and step into every other replica. */
  async broadcast(): Promise<void> {
    const [first, ...rest] = this.replicas;
    const tensorsOf = (r: ModelRuntime): Tensor[] => [r.params, ...(r.buffers ? [r.buffers] : []), ...r.states];
    const sources = tensorsOf(first);
    for (const [i, source] of sources.entries()) {
      const data = await source.toArray();
      await Promise.all(rest.map((r) => tensorsOf(r)[i].write(data)));
    }
    for (const r of rest) r.step = first.step;
    this.#buffersDiverged = false;
  }

  async stateDict(): Promise<Map<string, InitialValue>> {
    return this.replicas[0].stateDict();
  }

  async optimizerState(): Promise<Float32Array[]> {
    return this.replicas[0].optimizerState();
  }

  async loadOptimizerState(states: readonly Float32Array[]): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.loadOptimizerState(states)));
  }

  async fillOptimizerState(value: number): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.fillOptimizerState(value)));
  }

  memory(batch: number): ReturnType<ModelRuntime['memory']> {
    return this.replicas[0].memory(Math.ceil(batch / this.replicas.length));
  }

  #split(op: string, x: Float32Array, labels: Int32Array) {
    const per = this.options.inputShape.reduce((a, b) => a * b, 1);
    const batch = labels.length;
    if (batch < 1 || x.length !== batch * per) {
      throw expected('RN_SHAPE_MISMATCH', `DataParallel.${op}`, 'batch', `${batch}×${formatShape(this.options.inputShape)} floats for ${batch} labels`, `${x.length} floats`);
    }
    return splitBatch(batch, this.replicas.length).map(({ start, size }) => ({
      size,
      x: x.subarray(start * per, (start + size) * per),
      labels: labels.subarray(start, start + size),
    }));
  }

  /** The batch's mean loss and hit counts from the replicas' (a mean over images, not over replicas). */
  static #combine(results: (StepResult | undefined)[], batch: number): StepResult {
    const done = results.filter((r): r is StepResult => r !== undefined);
    return {
      loss: done.reduce((sum, r) => sum + (r.loss * r.size) / batch, 0),
      correct: done[0].correct.map((_, i) => done.reduce((sum, r) => sum + r.correct[i], 0)),
      size: batch,
    };
  }

  /** One optimizer step on a batch split across the replicas, each on its own worker thread at once. */
  async trainStep(x: Float32Array, labels: Int32Array, lr: number): Promise<StepResult> {
    const shares = this.#split('trainStep', x, labels);
    const n = this.replicas.length;
    const batch = labels.length;
    const results = await Promise.all(
      this.replicas.map((r, k) => {
        const share = shares[k];
        const p = this.#placeholder;
        const step =
          share.size > 0
            ? r.trainStep(share.x, share.labels, lr, { lossScale: (n * share.size) / batch })
            : r.trainStep(p.x, p.labels, lr, { lossScale: 0, contributes: false }).then(() => undefined);
        // A replica whose step fails never reaches the all-reduce: fail the group, so that the others stop waiting
        // for it now rather than at the group's timeout.
        return step.catch((error: unknown) => {
          this.group.abort(`replica ${k} (${this.replicas[k].device.name}) failed: ${error instanceof Error ? error.message : String(error)}`);
          throw error;
        });
      }),
    );
    if (n > 1 && !this.options.syncBatchNorm) this.#buffersDiverged = true;
    return DataParallel.#combine(results, batch);
  }

  /** Loss and hit counts in evaluation mode, the batch split across the replicas (replica 0's running statistics). */
  async evalStep(x: Float32Array, labels: Int32Array): Promise<StepResult> {
    const shares = this.#split('evalStep', x, labels);
    if (this.#buffersDiverged) await this.#copyBuffers();
    const results = await Promise.all(this.replicas.map((r, k) => (shares[k].size > 0 ? r.evalStep(shares[k].x, shares[k].labels) : undefined)));
    return DataParallel.#combine(results, labels.length);
  }

  async #copyBuffers(): Promise<void> {
    const [first, ...rest] = this.replicas;
    if (first.buffers) {
      const data = await first.buffers.toArray();
      await Promise.all(rest.map((r) => r.buffers!.write(data)));
    }
    this.#buffersDiverged = false;
  }

  /** Time per op kind over replica 0's programs. */
  profile(): ReturnType<ModelRuntime['profile']> {
    return this.replicas[0].profile();
  }

  dispose(): void {
    for (const r of this.replicas) r.dispose();
    this.group.destroy();
  }
}
