// A model on a device: flat parameter/gradient/state tensors and compiled train and eval programs,
// one per batch size. A step is: copy the batch in, one program run, read back loss and hit counts.
import { buildTrainingGraph } from '../graph/autograd.js';
import { type CompiledProgram, type FlatLayout, type MemoryReport, type OptimizerSpec, compileGraph, flatLayout } from '../graph/compile.js';
import type { IRGraph, IRNode, IRValue } from '../graph/ir.js';
import { type Module, trace } from '../nn/module.js';
import type { InitialValue } from '../nn/module.js';
import { Device, cpu } from '../runtime/device.js';
import { ResnetError, expected, formatShape } from '../runtime/errors.js';
import { Program } from '../runtime/program.js';
import { Tensor } from '../runtime/tensor.js';
import { COLOR_MAP_SIZE, colorAffineU8 } from '../ops/normalize.js';
import { anyLayoutOpsOf } from '../ops/eager.js';

/**
 * An image-folder batch as bytes (FolderLoader output 'uint8'): crops before their colour steps and each crop's
 * 12-number colour map. They are copied to the device as they are (a quarter of the floats' bytes) and the
 * color_affine_u8 op makes the normalised float input there, before the program runs.
 */
export interface ByteBatch {
  /** (N, 3, H, W) uint8. */
  pixels: Uint8Array;
  /** (N, 12) float32: M row-major for pixels on [0, 1], then c (FolderBatch.colorAffine). */
  colorAffine: Float32Array;
}

/** A batch's images: normalised floats, or bytes and colour maps finished on the device. */
export type BatchInput = Float32Array | ByteBatch;

export interface ModelRuntimeOptions {
  /** Input shape without the batch dimension, e.g. [3, 32, 32]. */
  inputShape: readonly number[];
  device?: string | Device;
  optimizer: OptimizerSpec;
  /** Parameter names excluded from weight decay. */
  noDecay?: ReadonlySet<string>;
  /** false compiles with every activation in its own buffer (for checks). */
  plan?: boolean;
  /** Top-k accuracies to count; k above the class count is clamped. */
  topk?: readonly number[];
  /** Seed of the dropout masks (varied per step). */
  dropoutSeed?: number;
  /**
   * Data parallel (lib/parallel): this replica's collective group. Training programs average the flat gradients
   * over it before the update, so every replica applies the same one.
   */
  group?: number;
  /** With `group`: batch-norm statistics over every replica of the group (SyncBN) instead of this replica's batch. */
  syncBatchNorm?: boolean;
  /**
   * CPU activations' memory layout between ops: 'blocked' (default; nChw16c where the ops take it, see
   * lib/graph/layout.ts) or 'nchw' (every value row-major, as on CUDA; slower). Ignored on other devices.
   */
  cpuLayout?: 'blocked' | 'nchw';
  /**
   * Fold each ReLU into the batch norm or add before it, forward and backward (lib/graph/fuse.ts). Default true on
   * the CPU; ignored elsewhere (the CUDA kernels do not take the fused forms yet).
   */
  fuseRelu?: boolean;
}

/** A replica's part in a data-parallel step (lib/parallel/data-parallel.ts). */
export interface ReplicaStep {
  /** Seed of the backward pass: N·n/B for a replica with n of the batch's B images among N replicas; default 1. */
  lossScale?: number;
  /** false: a placeholder replica (no images in this batch) that adds zeros to every all-reduce; default true. */
  contributes?: boolean;
}

export interface StepResult {
  /** Mean loss over the batch. */
  loss: number;
  /** Correct predictions per entry of `topk`. */
  correct: number[];
  size: number;
}

interface CompiledEntry {
  compiled: CompiledProgram;
  program: Program;
  /** Per-program tensors (input, labels, outputs), by binding name. */
  own: Map<string, Tensor>;
}

export class ModelRuntime {
  readonly module: Module;
  readonly device: Device;
  readonly layout: FlatLayout;
  readonly options: ModelRuntimeOptions;
  readonly classes: number;
  readonly topk: number[];
  /** Optimizer steps taken (the `step` of the update rule; also BN's num_batches_tracked). */
  step = 0;
  readonly params: Tensor;
  readonly grads: Tensor;
  readonly buffers: Tensor | undefined;
  readonly states: Tensor[];
  readonly #hyper: Tensor;
  readonly #one: Tensor;
  readonly #seed: Tensor;
  /** The bound weight of this replica's all-reduce contributions (with a group). */
  readonly #replicaWeight: Tensor | undefined;
  #lossScale = 1;
  readonly #programs = new Map<string, CompiledEntry>();
  #disposed = false;

  constructor(module: Module, options: ModelRuntimeOptions) {
    this.module = module;
    this.options = options;
    this.device = Device.from(options.device ?? cpu);
    const probe = trace(module, options.inputShape, { mode: 'train', batch: 2 });
    const out = probe.graph.values[probe.output];
    if (out.shape.length !== 2) {
      throw expected('RN_SHAPE_MISMATCH', 'ModelRuntime', 'model output', 'logits [N, classes]', formatShape(out.shape));
    }
    this.classes = out.shape[1];
    this.topk = (options.topk ?? [1, 5]).map((k) => Math.min(k, this.classes));
    this.layout = flatLayout(probe.graph, options.noDecay);
    const dev = { device: this.device };
    this.params = Tensor.zeros([this.layout.paramCount], dev);
    this.grads = Tensor.zeros([this.layout.paramCount], dev);
    this.buffers = this.layout.bufferCount > 0 ? Tensor.zeros([this.layout.bufferCount], dev) : undefined;
    this.states = Array.from({ length: options.optimizer.states }, () => Tensor.zeros([this.layout.paramCount], dev));
    this.#hyper = Tensor.zeros([2], dev);
    this.#one = Tensor.fromArray(Float32Array.of(1), [1], dev);
    this.#seed = Tensor.zeros([1], { ...dev, dtype: 'int64' });
    if (options.group !== undefined) this.#replicaWeight = Tensor.fromArray(Float32Array.of(1), [1], dev);
  }

  /** Writes initial or loaded values (parameters and float buffers, by state-dict name). */
  async load(state: ReadonlyMap<string, InitialValue>, { strict = true }: { strict?: boolean } = {}): Promise<void> {
    const params = new Float32Array(this.layout.paramCount);
    for (const p of this.layout.params) {
      const v = state.get(p.name);
      if (!v) {
        if (strict) throw new ResnetError('RN_INVALID_ARGUMENT', `missing parameter '${p.name}'`, 'ModelRuntime.load');
        continue;
      }
      if (!(v instanceof Float32Array) || v.length !== p.size) {
        throw expected('RN_SHAPE_MISMATCH', 'ModelRuntime.load', `parameter '${p.name}'`, `${p.size} float32 values ${formatShape(p.shape)}`, `${v.length} ${v.constructor.name}`);
      }
      params.set(v, p.offset);
    }
    await this.params.write(params);
    if (this.buffers) {
      const buffers = new Float32Array(this.layout.bufferCount);
      for (const b of this.layout.buffers) {
        const v = state.get(b.name);
        if (!v) {
          if (strict) throw new ResnetError('RN_INVALID_ARGUMENT', `missing buffer '${b.name}'`, 'ModelRuntime.load');
          continue;
        }
        if (!(v instanceof Float32Array) || v.length !== b.size) {
          throw expected('RN_SHAPE_MISMATCH', 'ModelRuntime.load', `buffer '${b.name}'`, `${b.size} float32 values`, `${v.length}`);
        }
        buffers.set(v, b.offset);
      }
      await this.buffers.write(buffers);
    }
    const tracked = [...state.entries()].find(([k]) => k.endsWith('num_batches_tracked'));
    if (tracked && tracked[1] instanceof BigInt64Array) this.step = Number(tracked[1][0]);
  }

  /** Parameters and buffers by state-dict name (torchvision keys), num_batches_tracked included. */
  async stateDict(): Promise<Map<string, InitialValue>> {
    const out = new Map<string, InitialValue>();
    const params = (await this.params.toArray()) as Float32Array;
    const buffers = this.buffers ? ((await this.buffers.toArray()) as Float32Array) : new Float32Array(0);
    const flat = new Map<string, Float32Array>();
    for (const p of this.layout.params) flat.set(p.name, params.slice(p.offset, p.offset + p.size));
    for (const b of this.layout.buffers) flat.set(b.name, buffers.slice(b.offset, b.offset + b.size));
    for (const key of this.module.stateDictKeys()) {
      const v = flat.get(key);
      if (v) out.set(key, v);
      else if (key.endsWith('num_batches_tracked')) out.set(key, BigInt64Array.of(BigInt(this.step)));
    }
    return out;
  }

  /** Optimizer state as flat arrays (state0…), in the layout's parameter order. */
  async optimizerState(): Promise<Float32Array[]> {
    return Promise.all(this.states.map(async (s) => (await s.toArray()) as Float32Array));
  }

  async loadOptimizerState(states: readonly Float32Array[]): Promise<void> {
    if (states.length !== this.states.length) {
      throw expected('RN_INVALID_ARGUMENT', 'loadOptimizerState', 'state buffers', `${this.states.length}`, `${states.length}`);
    }
    await Promise.all(states.map((s, i) => this.states[i].write(s)));
  }

  /** Fills every optimizer state buffer with `value` (Adagrad's initial accumulator). */
  async fillOptimizerState(value: number): Promise<void> {
    await Promise.all(this.states.map((s) => s.write(new Float32Array(this.layout.paramCount).fill(value))));
  }

  /** The training graph for batch size `batch` (before compilation): for memory reports and tests. */
  trainingGraph(batch: number): IRGraph {
    const syncBatchNormGroup = this.options.syncBatchNorm ? this.options.group : undefined;
    const { graph, output } = trace(this.module, this.options.inputShape, { mode: 'train', batch, syncBatchNormGroup });
    const labels = graph.label('labels', [batch]);
    return buildTrainingGraph(graph, output, labels, this.topk);
  }

  evaluationGraph(batch: number): IRGraph & { loss: number; correct: number } {
    const { graph, output } = trace(this.module, this.options.inputShape, { mode: 'eval', batch });
    const labels = graph.label('labels', [batch]);
    const values: IRValue[] = graph.values.map((v) => ({ ...v }));
    const nodes: IRNode[] = [...graph.nodes];
    const add = (shape: number[], dtype: 'float32' | 'int32', kind: 'output' | 'aux', name: string) => {
      values.push({ id: values.length, shape, dtype, kind, name });
      return values.length - 1;
    };
    const loss = add([1], 'float32', 'output', 'loss');
    const losses = add([batch], 'float32', 'aux', 'losses');
    const probs = add([batch, this.classes], 'float32', 'aux', 'probs');
    nodes.push({ op: 'softmax_cross_entropy_forward', inputs: [output, labels], outputs: [loss, losses, probs], attrs: {} });
    const correct = add([this.topk.length], 'int32', 'output', 'correct');
    nodes.push({ op: 'topk_correct', inputs: [output, labels], outputs: [correct], attrs: { ks: this.topk } });
    return { values, nodes, loss, correct };
  }

  /** Evaluation graph whose output is the logits themselves (ten-crop evaluation sums them per image). */
  logitsGraph(batch: number): IRGraph {
    const { graph, output } = trace(this.module, this.options.inputShape, { mode: 'eval', batch });
    const values: IRValue[] = graph.values.map((v) => (v.id === output ? { ...v, kind: 'output', name: 'logits' } : { ...v }));
    return { values, nodes: [...graph.nodes] };
  }

  memory(batch: number): MemoryReport {
    const { optimizer, plan, group } = this.options;
    return compileGraph(this.trainingGraph(batch), { layout: this.layout, optimizer, plan, allreduceGroup: group, blockedOps: this.#blockedOps(), fuseRelu: this.#fuseRelu() }).memory;
  }

  /** The ops that take blocked activations here, or undefined for nchw everywhere. */
  #blockedOps(): ReadonlySet<string> | undefined {
    if (this.device.kind !== 'cpu' || this.options.cpuLayout === 'nchw') return undefined;
    return anyLayoutOpsOf(this.device);
  }

  #fuseRelu(): boolean {
    return this.device.kind === 'cpu' && this.options.fuseRelu !== false;
  }

  #entry(mode: 'train' | 'eval' | 'logits', batch: number): CompiledEntry {
    const key = `${mode}:${batch}`;
    let entry = this.#programs.get(key);
    if (entry) return entry;
    const graph = mode === 'train' ? this.trainingGraph(batch) : mode === 'eval' ? this.evaluationGraph(batch) : this.logitsGraph(batch);
    const compiled = compileGraph(graph, {
      layout: this.layout,
      optimizer: mode === 'train' ? this.options.optimizer : undefined,
      plan: this.options.plan,
      allreduceGroup: mode === 'train' ? this.options.group : undefined,
      blockedOps: this.#blockedOps(),
      fuseRelu: this.#fuseRelu(),
    });
    const own = new Map<string, Tensor>();
    for (const b of compiled.bindingValues) {
      if (['params', 'grads', 'buffers', 'hyper', 'one', 'dropout_seed', 'replica_weight'].includes(b.name) || /^state\d+$/.test(b.name)) continue;
      own.set(b.name, Tensor.empty(b.shape, { dtype: b.dtype, device: this.device }));
    }
    entry = { compiled, program: new Program(this.device, compiled.spec), own };
    this.#programs.set(key, entry);
    return entry;
  }

  #bound(entry: CompiledEntry): Tensor[] {
    return entry.compiled.bindings.map((name) => {
      switch (name) {
        case 'params': return this.params;
        case 'grads': return this.grads;
        case 'buffers': return this.buffers!;
        case 'hyper': return this.#hyper;
        case 'one': return this.#one;
        case 'dropout_seed': return this.#seed;
        case 'replica_weight': return this.#replicaWeight!;
        default: {
          const state = /^state(\d+)$/.exec(name);
          if (state) return this.states[Number(state[1])];
          return entry.own.get(name)!;
        }
      }
    });
  }

  #checkInput(op: string, name: string, x: BatchInput, count: number, what: string): void {
    if (this.#disposed) throw new ResnetError('RN_DISPOSED', 'the model runtime has been disposed', op);
    const per = this.options.inputShape.reduce((a, b) => a * b, 1);
    if (x instanceof Float32Array) {
      if (!Number.isInteger(count) || count < 1 || x.length !== count * per) {
        throw expected('RN_SHAPE_MISMATCH', op, name, `${count}×${formatShape(this.options.inputShape)} floats${what}`, `${x.length} floats`);
      }
      return;
    }
    if (typeof x !== 'object' || x === null || !(x.pixels instanceof Uint8Array) || !(x.colorAffine instanceof Float32Array)) {
      throw expected('RN_INVALID_ARGUMENT', op, name, 'a Float32Array or { pixels: Uint8Array, colorAffine: Float32Array }', x === null ? 'null' : typeof x);
    }
    if (this.options.inputShape.length !== 3 || this.options.inputShape[0] !== 3) {
      throw expected('RN_INVALID_ARGUMENT', op, name, `floats (byte batches need an RGB input shape [3, H, W])`, `bytes for input shape ${formatShape(this.options.inputShape)}`);
    }
    if (!Number.isInteger(count) || count < 1 || x.pixels.length !== count * per || x.colorAffine.length !== count * COLOR_MAP_SIZE) {
      throw expected(
        'RN_SHAPE_MISMATCH', op, name,
        `${count}×${formatShape(this.options.inputShape)} bytes and ${count}×${COLOR_MAP_SIZE} colour-map floats${what}`,
        `${x.pixels.length} bytes and ${x.colorAffine.length} floats`,
      );
    }
  }

  /**
   * Queues the batch's copy into the program's float input: a plain write, or for bytes their copies and the
   * color_affine_u8 op writing the input on the device. Queued in order on the device's worker before the run.
   */
  #writeInput(entry: CompiledEntry, x: BatchInput): Promise<unknown>[] {
    const input = entry.own.get('input')!;
    if (x instanceof Float32Array) return [input.write(x)];
    let pixels = entry.own.get('input_u8');
    let maps = entry.own.get('input_color_map');
    if (!pixels || !maps) {
      pixels = Tensor.empty(input.shape, { dtype: 'uint8', device: this.device });
      maps = Tensor.empty([input.shape[0], COLOR_MAP_SIZE], { device: this.device });
      entry.own.set('input_u8', pixels);
      entry.own.set('input_color_map', maps);
    }
    return [pixels.write(x.pixels), maps.write(x.colorAffine), colorAffineU8(pixels, maps, input)];
  }

  async #run(mode: 'train' | 'eval', x: BatchInput, labels: Int32Array): Promise<StepResult> {
    const op = mode === 'train' ? 'trainStep' : 'evalStep';
    const size = labels.length;
    this.#checkInput(op, 'batch', x, size, ` for ${size} labels`);
    const entry = this.#entry(mode, size);
    // Queued in order on the device's worker: the copies land before the program reads them.
    const writes = [...this.#writeInput(entry, x), entry.own.get('labels')!.write(labels)];
    const run = entry.program.run(this.#bound(entry));
    const [loss, correct] = await Promise.all([entry.own.get('loss')!.toArray(), entry.own.get('correct')!.toArray(), ...writes, run]);
    return { loss: (loss as Float32Array)[0], correct: Array.from(correct as Int32Array), size };
  }

  /** One optimizer step on a batch at learning rate `lr` (as one replica of a data-parallel step: `replica`). */
  async trainStep(x: BatchInput, labels: Int32Array, lr: number, replica: ReplicaStep = {}): Promise<StepResult> {
    const { lossScale = 1, contributes = true } = replica;
    if (!(Number.isFinite(lossScale) && lossScale >= 0)) throw expected('RN_INVALID_ARGUMENT', 'trainStep', 'lossScale', 'a finite number ≥ 0', String(lossScale));
    this.step += 1;
    const writes = [
      this.#hyper.write(Float32Array.of(lr, this.step)),
      this.#seed.write(BigInt64Array.of(BigInt((this.options.dropoutSeed ?? 0) * 1_000_003 + this.step))),
    ];
    if (lossScale !== this.#lossScale) {
      this.#lossScale = lossScale;
      writes.push(this.#one.write(Float32Array.of(lossScale)));
    }
    if (this.#replicaWeight) writes.push(this.#replicaWeight.write(Float32Array.of(contributes ? 1 : 0)));
    const [result] = await Promise.all([this.#run('train', x, labels), ...writes]);
    return result;
  }

  /** Loss and hit counts on a batch in evaluation mode (running BN statistics, no update). */
  async evalStep(x: BatchInput, labels: Int32Array): Promise<StepResult> {
    return this.#run('eval', x, labels);
  }

  /** Evaluation-mode logits (count, classes) of `count` images; for ten-crop evaluation and inference. */
  async logits(x: BatchInput, count: number): Promise<Float32Array> {
    this.#checkInput('logits', 'x', x, count, '');
    const entry = this.#entry('logits', count);
    const writes = this.#writeInput(entry, x);
    const run = entry.program.run(this.#bound(entry));
    const [out] = await Promise.all([entry.own.get('logits')!.toArray(), ...writes, run]);
    return out as Float32Array;
  }

  /** Time per op kind over this model's programs (runs made with native().setProfiling(true)). */
  profile(): { op: string; calls: number; seconds: number }[] {
    const total = new Map<string, { op: string; calls: number; seconds: number }>();
    for (const e of this.#programs.values()) {
      for (const row of e.program.profile()) {
        const t = total.get(row.op) ?? { op: row.op, calls: 0, seconds: 0 };
        t.calls += row.calls;
        t.seconds += row.seconds;
        total.set(row.op, t);
      }
    }
    return [...total.values()].sort((a, b) => b.seconds - a.seconds);
  }

  dispose(): void {
    this.#disposed = true;
    for (const e of this.#programs.values()) {
      e.program.dispose();
      for (const t of e.own.values()) t.dispose();
    }
    this.#programs.clear();
    for (const t of [this.params, this.grads, this.buffers, ...this.states, this.#hyper, this.#one, this.#seed, this.#replicaWeight]) t?.dispose();
  }
}
