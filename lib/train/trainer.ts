// The training loop: epochs of batches through a ModelRuntime, validation every epoch, checkpoints,
// exact resume — reported through typed events so the CLI, loggers and users all see the same thing.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';

import type { SourceBatch, TrainingData } from '../data/source.js';
import type { Module } from '../nn/module.js';
import { type OptimizerOptions, optimizerSpec } from '../optim/optimizers.js';
import { type ScheduleOptions, learningRate } from '../optim/schedule.js';
import type { Device } from '../runtime/device.js';
import { ResnetError, expected } from '../runtime/errors.js';
import { Rng } from '../data/random.js';
import { type TrainerState, loadOptimizerState, loadWeights, modelTensors, readLatest, saveCheckpoint } from './checkpoint.js';
import { DataParallel } from '../parallel/data-parallel.js';
import type { ProcessGroup } from '../parallel/process-group.js';
import { type BatchInput, ModelRuntime } from './model.js';
import { sumCropLogits } from '../data/imagenet-transforms.js';

export interface StartEvent { epochs: number; startEpoch: number; batchesPerEpoch: number; params: number; trainImages: number; testImages: number; device: string }
export interface BatchEvent { epoch: number; batch: number; batches: number; loss: number; top1: number; top5: number; lr: number; imagesPerSec: number; etaSec: number }
export interface EpochEvent { epoch: number; trainLoss: number; trainTop1: number; trainTop5: number; lr: number; seconds: number; imagesPerSec: number; skipped: number }
export interface SkipEvent { epoch: number; path: string; reason: string }
export interface ValidationEvent { epoch: number; loss: number; top1: number; top5: number; best: boolean }
export interface CheckpointEvent { epoch: number; path: string; best: boolean }
export interface EndEvent { stopped: boolean; epochs: number; testTop1: number; testTop5: number; testLoss: number; trainLoss: number; bestTop1: number | null; bestEpoch: number | null; seconds: number }

/** Errors are percentages (100 − accuracy), as fb.resnet.torch prints them. */
export interface TrainerEvents {
  start: [StartEvent];
  batch: [BatchEvent];
  epoch: [EpochEvent];
  validation: [ValidationEvent];
  checkpoint: [CheckpointEvent];
  /** A training or validation file that could not be read and was left out. */
  skip: [SkipEvent];
  end: [EndEvent];
}

export interface TrainerOptions {
  model: Module;
  /** Use imageSetData() for in-memory sets (CIFAR, digits). */
  data: TrainingData;
  batchSize?: number;
  epochs: number;
  schedule: Omit<ScheduleOptions, 'epochs'>;
  optimizer: OptimizerOptions;
  device?: string | Device;
  /** Data parallel over these devices (one replica each; the batch is split across them); overrides `device`. */
  devices?: readonly (string | Device)[];
  /** With several devices: batch-norm statistics over all replicas (SyncBN) instead of per replica. */
  syncBatchNorm?: boolean;
  /**
   * Data parallel across processes: this process is one rank (on the group's device); it reads its shard of
   * every batch, gradients are all-reduced over the group, and only rank 0 writes checkpoints. Events carry
   * the whole group's epoch and validation numbers on every rank; batch events are this rank's share.
   */
  processGroup?: ProcessGroup;
  /** Checkpoint folder (created); none: no checkpoints. */
  save?: string;
  /** Continue from the latest checkpoint in this folder. */
  resume?: string;
  /** Start from these weights (safetensors, torchvision keys); the optimizer starts fresh. */
  weights?: string;
  seed?: number;
  /** Recorded in checkpoints so a resumed run can check it is the same run. */
  config?: Record<string, unknown>;
  /**
   * Data that can hand over bytes (TrainingData.byteInput: image folders) on one device per process: batches go
   * to the device as uint8 crops plus colour maps and are normalised there (color_affine_u8). Default true; false
   * reads normalised floats from the loader. In-process data parallel (`devices`) always reads floats.
   */
  byteInput?: boolean;
}

/** What the runtime reads of a batch: its floats, or its bytes and colour maps. */
function inputOf(batch: SourceBatch): BatchInput {
  return batch.pixels && batch.colorAffine ? { pixels: batch.pixels, colorAffine: batch.colorAffine } : batch.x;
}

/** Mean-of-batches accumulator weighted by batch size; errors in percent. */
class Meter {
  images = 0;
  loss = 0;
  hits: number[] = [0, 0];
  add(loss: number, correct: readonly number[], size: number): void {
    this.images += size;
    this.loss += loss * size;
    correct.forEach((c, i) => (this.hits[i] = (this.hits[i] ?? 0) + c));
  }
  get meanLoss(): number { return this.images ? this.loss / this.images : NaN; }
  /** Sums this meter (and `extra`) over a process group's ranks in place; returns the summed extras. */
  async reduce(group: ProcessGroup, extra: number[] = []): Promise<number[]> {
    const sums = await group.sum(Float32Array.from([this.images, this.loss, ...this.hits, ...extra]));
    this.images = sums[0];
    this.loss = sums[1];
    this.hits = Array.from(sums.subarray(2, 2 + this.hits.length));
    return Array.from(sums.subarray(2 + this.hits.length));
  }
  error(i: number): number { return this.images ? 100 * (1 - this.hits[i] / this.images) : NaN; }
}

/**
 * Ten-crop scores from per-image logit sums: hits at each k (rank = logits strictly above the label's, as
 * the native top-k), and the mean cross-entropy of the crop-averaged logits.
 */
export function scoreLogits(summed: Float32Array, labels: Int32Array, classes: number, topk: readonly number[], crops: number): { loss: number; correct: number[] } {
  const correct = topk.map(() => 0);
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = summed.subarray(i * classes, (i + 1) * classes);
    const target = row[labels[i]];
    let above = 0;
    let max = -Infinity;
    for (const v of row) {
      if (v > target) above++;
      max = Math.max(max, v / crops);
    }
    topk.forEach((k, j) => (correct[j] += above < k ? 1 : 0));
    let sum = 0;
    for (const v of row) sum += Math.exp(v / crops - max);
    loss += Math.log(sum) + max - target / crops;
  }
  return { loss: loss / labels.length, correct };
}

export class Trainer extends EventEmitter<TrainerEvents> {
  readonly options: TrainerOptions;
  readonly batchSize: number;
  #runtime: ModelRuntime | DataParallel | undefined;
  #stopRequested = false;

  constructor(options: TrainerOptions) {
    super();
    const batchSize = options.batchSize ?? 128;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw expected('RN_INVALID_ARGUMENT', 'Trainer', 'batchSize', 'an integer ≥ 1', String(batchSize));
    if (!Number.isInteger(options.epochs) || options.epochs < 1) throw expected('RN_INVALID_ARGUMENT', 'Trainer', 'epochs', 'an integer ≥ 1', String(options.epochs));
    this.options = options;
    this.batchSize = batchSize;
  }

  get runtime(): ModelRuntime | DataParallel | undefined {
    return this.#runtime;
  }

  #makeRuntime(): ModelRuntime | DataParallel {
    const { model, data, optimizer, devices } = this.options;
    const noDecay = optimizer.decayNormAndBias === false ? new Set(model.namedParameters().filter((p) => p.noWeightDecay).map((p) => p.name)) : new Set<string>();
    const options = { inputShape: data.inputShape, optimizer: optimizerSpec(optimizer), noDecay, dropoutSeed: this.options.seed ?? 0 };
    const group = this.options.processGroup;
    if (group) {
      if (devices && devices.length > 1) throw new ResnetError('RN_INVALID_ARGUMENT', 'a process of a process group drives one device: give devices or processGroup, not both', 'Trainer');
      // Distinct dropout masks per rank, as DataParallel's replicas.
      return new ModelRuntime(model, { ...options, dropoutSeed: (this.options.seed ?? 0) * group.worldSize + group.rank, device: group.device, group: group.id, syncBatchNorm: this.options.syncBatchNorm });
    }
    if (devices && devices.length > 1) return new DataParallel(model, { ...options, devices, syncBatchNorm: this.options.syncBatchNorm });
    return new ModelRuntime(model, { ...options, device: devices?.[0] ?? this.options.device });
  }

  /** Validation over the whole test set: loss and top-1/top-5 error (%). */
  /** 'uint8' where the data can hand over bytes and one ModelRuntime (this process's device) reads them. */
  #output(runtime: ModelRuntime | DataParallel): 'float32' | 'uint8' {
    return this.options.data.byteInput && this.options.byteInput !== false && runtime instanceof ModelRuntime ? 'uint8' : 'float32';
  }

  async evaluate(runtime = this.#runtime): Promise<{ loss: number; top1: number; top5: number }> {
    if (!runtime) throw new ResnetError('RN_INVALID_ARGUMENT', 'nothing to evaluate: call fit() or load weights first', 'Trainer.evaluate');
    const group = this.options.processGroup;
    // Per-rank batch statistics leave the ranks' running statistics apart: validate (and save) rank 0's.
    if (group && runtime instanceof ModelRuntime && runtime.buffers && !this.options.syncBatchNorm) await group.broadcastTensor(runtime.buffers);
    const loader = this.options.data.testLoader({ batchSize: this.batchSize, shard: this.#shard(), output: this.#output(runtime) });
    const meter = new Meter();
    for await (const batch of loader.epoch()) {
      for (const s of batch.skipped ?? []) this.emit('skip', { epoch: batch.epoch, ...s });
      if (batch.size === 0) continue;
      const crops = (batch as { cropsPerImage?: number }).cropsPerImage ?? 1;
      if (crops > 1) {
        if (!(runtime instanceof ModelRuntime)) {
          throw new ResnetError('RN_INVALID_ARGUMENT', 'ten-crop evaluation runs on one device; evaluate without --devices/--nGPU', 'Trainer.evaluate');
        }
        const summed = sumCropLogits(await runtime.logits(inputOf(batch), batch.size * crops), crops, runtime.classes);
        const r = scoreLogits(summed, batch.y, runtime.classes, runtime.topk, crops);
        meter.add(r.loss, r.correct, batch.size);
        continue;
      }
      const r = runtime instanceof ModelRuntime ? await runtime.evalStep(inputOf(batch), batch.y) : await runtime.evalStep(batch.x, batch.y);
      meter.add(r.loss, r.correct, r.size);
    }
    if (group) await meter.reduce(group);
    return { loss: meter.meanLoss, top1: meter.error(0), top5: meter.error(1) };
  }

  #shard(): { rank: number; worldSize: number } | undefined {
    const group = this.options.processGroup;
    return group ? { rank: group.rank, worldSize: group.worldSize } : undefined;
  }

  /** Prepares the runtime (fresh, from weights, or resumed) without training: for --testOnly. */
  async prepare(): Promise<{ runtime: ModelRuntime | DataParallel; state?: TrainerState }> {
    this.#runtime?.dispose();
    const runtime = this.#makeRuntime();
    this.#runtime = runtime;
    const { model, seed = 0 } = this.options;
    if (this.options.resume) {
      const state = await readLatest(this.options.resume);
      const names = runtime.layout.params.map((p) => p.name);
      if (JSON.stringify(names) !== JSON.stringify(state.paramOrder)) {
        throw new ResnetError('RN_INVALID_ARGUMENT', `the checkpoint in ${this.options.resume} is for a different model (its parameters differ from this one's)`, 'resume');
      }
      await runtime.load(await loadWeights(join(this.options.resume, state.model)));
      await runtime.loadOptimizerState(await loadOptimizerState(this.options.resume, state));
      runtime.step = state.step;
      await this.#broadcastFromRank0(runtime);
      return { runtime, state };
    }
    const rng = Rng.seeded(seed, 0x1217);
    const init = model.initialState(() => rng.float());
    await runtime.load(init);
    if (this.options.weights) await runtime.load(await loadWeights(this.options.weights), { strict: false });
    if (this.options.optimizer.name === 'adagrad') await runtime.fillOptimizerState(0);
    await this.#broadcastFromRank0(runtime);
    return { runtime };
  }

  /** Every rank starts from rank 0's parameters, buffers and optimizer state (the issue's broadcast at start). */
  async #broadcastFromRank0(runtime: ModelRuntime | DataParallel): Promise<void> {
    const group = this.options.processGroup;
    if (!group || !(runtime instanceof ModelRuntime)) return;
    for (const t of [runtime.params, ...(runtime.buffers ? [runtime.buffers] : []), ...runtime.states]) await group.broadcastTensor(t);
  }

  /** Asks fit() to return after the current epoch has been validated and checkpointed. */
  stop(): void {
    this.#stopRequested = true;
  }

  async fit(): Promise<EndEvent> {
    this.#stopRequested = false;
    const started = Date.now();
    const { data, epochs, seed = 0 } = this.options;
    const { runtime, state } = await this.prepare();
    const group = this.options.processGroup;
    const loader = data.trainLoader({ batchSize: this.batchSize, seed, shard: this.#shard(), output: this.#output(runtime) });
    const placeholder = { x: new Float32Array(data.inputShape.reduce((a, b) => a * b, 1)), y: new Int32Array(1) };
    /** Images in batch `index` over all ranks (the last one of an epoch may be short). */
    const globalBatch = (index: number) => Math.min(this.batchSize, data.trainCount - index * this.batchSize);
    const history: TrainerState['history'] = state?.history ?? [];
    let bestTop1 = state?.bestTop1 ?? null;
    let bestEpoch = state?.bestEpoch ?? null;
    const startEpoch = (state?.epoch ?? 0) + 1;
    if (state) loader.restore(state.loader as Parameters<typeof loader.restore>[0]);
    const schedule = { ...this.options.schedule, epochs } as ScheduleOptions;
    this.emit('start', {
      epochs, startEpoch, batchesPerEpoch: loader.batchesPerEpoch, params: runtime.layout.paramCount,
      trainImages: data.trainCount, testImages: data.testCount,
      device: runtime instanceof DataParallel ? runtime.devices.join(',') : runtime.device.name,
    });
    let last = { loss: NaN, top1: NaN, top5: NaN };
    let trainLoss = NaN;
    let stopped = false;
    for (let epoch = startEpoch; epoch <= epochs; epoch++) {
      if (this.#stopRequested) {
        stopped = true;
        break;
      }
      const lr = learningRate(schedule, epoch);
      const meter = new Meter();
      const epochStart = performance.now();
      const batches = loader.batchesPerEpoch;
      let skipped = 0;
      for await (const batch of loader.epoch()) {
        for (const s of batch.skipped ?? []) this.emit('skip', { epoch, ...s });
        skipped += batch.skipped?.length ?? 0;
        const stepLr = schedule.warmupEpochs ? learningRate(schedule, epoch, batch.index / batches) : lr;
        if (batch.size === 0) {
          // A rank without images in a tiny last batch still takes part in every all-reduce, adding zeros.
          if (group) await (runtime as ModelRuntime).trainStep(placeholder.x, placeholder.y, stepLr, { lossScale: 0, contributes: false });
          continue;
        }
        // Rank k's n_k of the batch's B images seed backward with N·n_k/B: the all-reduce's mean is the batch's gradient.
        const r = group
          ? await (runtime as ModelRuntime).trainStep(inputOf(batch), batch.y, stepLr, { lossScale: (group.worldSize * batch.size) / globalBatch(batch.index) })
          : runtime instanceof ModelRuntime
            ? await runtime.trainStep(inputOf(batch), batch.y, stepLr)
            : await runtime.trainStep(batch.x, batch.y, stepLr);
        if (!Number.isFinite(r.loss)) {
          throw new ResnetError('RN_INVALID_ARGUMENT', `the loss became ${r.loss} at epoch ${epoch}, batch ${batch.index + 1}: lower --LR or check the data`, 'train');
        }
        meter.add(r.loss, r.correct, r.size);
        const seconds = (performance.now() - epochStart) / 1000;
        const rate = meter.images / Math.max(seconds, 1e-9);
        this.emit('batch', {
          epoch, batch: batch.index + 1, batches, loss: r.loss, top1: 100 * (1 - r.correct[0] / r.size), top5: 100 * (1 - r.correct[1] / r.size),
          lr: stepLr, imagesPerSec: rate, etaSec: ((batches - batch.index - 1) * this.batchSize) / Math.max(rate, 1e-9),
        });
      }
      if (group) {
        // The group's epoch numbers, and one agreed answer to "stop?": every rank leaves the loop at the same epoch.
        const [stops, groupSkipped] = await meter.reduce(group, [this.#stopRequested ? 1 : 0, skipped]);
        if (stops > 0) this.#stopRequested = true;
        skipped = groupSkipped;
      }
      const seconds = (performance.now() - epochStart) / 1000;
      trainLoss = meter.meanLoss;
      this.emit('epoch', { epoch, trainLoss, trainTop1: meter.error(0), trainTop5: meter.error(1), lr, seconds, imagesPerSec: meter.images / seconds, skipped });
      last = await this.evaluate(runtime);
      const isBest = bestTop1 === null || last.top1 < bestTop1;
      if (isBest) {
        bestTop1 = last.top1;
        bestEpoch = epoch;
      }
      this.emit('validation', { epoch, ...last, best: isBest });
      history.push({ epoch, trainLoss, trainTop1: meter.error(0), testTop1: last.top1, testTop5: last.top5, testLoss: last.loss, lr });
      if (this.options.save && (group?.rank ?? 0) === 0) {
        const weights = modelTensors(await runtime.stateDict(), new Map(this.options.model.namedParameters().map((p) => [p.name, p.shape] as const).concat(this.options.model.namedBuffers().map((b) => [b.name, b.shape] as const))));
        const saved = await saveCheckpoint(
          this.options.save,
          {
            format: 'resnet-node-checkpoint-1', epoch, step: runtime.step, bestTop1, bestEpoch, loader: loader.state(),
            config: this.options.config ?? {}, classNames: data.classNames, paramOrder: runtime.layout.params.map((p) => p.name),
            model: '', optimizer: '', history,
          },
          weights,
          await runtime.optimizerState(),
          isBest,
          data.classNames ? { classes: JSON.stringify(data.classNames) } : {},
        );
        this.emit('checkpoint', { epoch, path: saved.model, best: isBest });
      }
    }
    if (startEpoch > epochs) last = await this.evaluate(runtime);
    const end: EndEvent = {
      stopped,
      epochs: history.at(-1)?.epoch ?? 0, testTop1: last.top1, testTop5: last.top5, testLoss: last.loss, trainLoss: Number.isNaN(trainLoss) ? (history.at(-1)?.trainLoss ?? NaN) : trainLoss,
      bestTop1, bestEpoch, seconds: (Date.now() - started) / 1000,
    };
    this.emit('end', end);
    return end;
  }

  dispose(): void {
    this.#runtime?.dispose();
    this.#runtime = undefined;
  }
}
