// Module: a Torch-style tree of named children, parameters and buffers that emits its forward ops into a Graph.
import { Graph, type GraphMode } from '../graph/graph.js';
import { ResnetError, expected } from '../runtime/errors.js';
import type { Rng } from './init.js';

export type InitialValue = Float32Array | BigInt64Array;

export interface ParamSpec {
  readonly shape: readonly number[];
  /** BN γ/β and biases: the optimizer option that exempts them from weight decay skips these. */
  readonly noWeightDecay: boolean;
  readonly init: (rng: Rng) => Float32Array;
}

export interface BufferSpec {
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int64';
  readonly init: () => InitialValue;
  /** False for state kept only so checkpoints match torchvision (num_batches_tracked): no graph reads it. */
  readonly traced: boolean;
}

export interface NamedParameter extends ParamSpec {
  readonly name: string;
}

export interface NamedBuffer extends BufferSpec {
  readonly name: string;
}

const CHILD_NAME = /^[A-Za-z0-9_]+$/;

export abstract class Module {
  readonly params = new Map<string, ParamSpec>();
  readonly buffers = new Map<string, BufferSpec>();
  /** Torch's train/evaluate flag; a module acts in training mode only when it and the graph both train. */
  training = true;
  readonly #children = new Map<string, Module>();

  /** y = f(x): appends this module's ops to `g` and returns the output value id. */
  abstract forward(g: Graph, x: number): number;

  get children(): ReadonlyMap<string, Module> {
    return this.#children;
  }

  child(name: string): Module {
    const m = this.#children.get(name);
    if (!m) {
      throw expected(
        'RN_INVALID_ARGUMENT',
        this.constructor.name,
        'child name',
        `one of ${[...this.#children.keys()].join(', ') || '(none)'}`,
        `'${name}'`,
      );
    }
    return m;
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.#children.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** This module and every descendant with its dotted path ('' for this one), parents first. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.#children) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  namedParameters(): NamedParameter[] {
    const out: NamedParameter[] = [];
    for (const [path, m] of this.namedModules()) {
      for (const [name, spec] of m.params) out.push({ ...spec, name: join(path, name) });
    }
    return out;
  }

  namedBuffers(): NamedBuffer[] {
    const out: NamedBuffer[] = [];
    for (const [path, m] of this.namedModules()) {
      for (const [name, spec] of m.buffers) out.push({ ...spec, name: join(path, name) });
    }
    return out;
  }

  /** PyTorch's state_dict order: each module's parameters, then its buffers, then its children. */
  stateDictKeys(): string[] {
    const keys: string[] = [];
    for (const [path, m] of this.namedModules()) {
      for (const name of m.params.keys()) keys.push(join(path, name));
      for (const name of m.buffers.keys()) keys.push(join(path, name));
    }
    return keys;
  }

  numParameters(): number {
    return this.namedParameters().reduce((sum, p) => sum + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Initial parameters and buffers in state-dict order; parameters draw from `rng` in that order. */
  initialState(rng: Rng): Map<string, InitialValue> {
    if (typeof rng !== 'function') {
      throw expected(
        'RN_INVALID_ARGUMENT',
        'initialState',
        'rng',
        'a function returning uniform [0,1) numbers',
        typeof rng,
      );
    }
    const state = new Map<string, InitialValue>();
    for (const [path, m] of this.namedModules()) {
      for (const [name, spec] of m.params) state.set(join(path, name), spec.init(rng));
      for (const [name, spec] of m.buffers) state.set(join(path, name), spec.init());
    }
    return state;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    if (typeof name !== 'string' || !CHILD_NAME.test(name)) {
      throw expected('RN_INVALID_ARGUMENT', this.constructor.name, 'child name', 'letters, digits or _ (no dots)', JSON.stringify(name));
    }
    if (this.#children.has(name) || this.params.has(name) || this.buffers.has(name)) {
      throw expected('RN_INVALID_ARGUMENT', this.constructor.name, 'child name', 'a name not yet used', `'${name}'`);
    }
    if (!(module instanceof Module)) {
      throw expected('RN_INVALID_ARGUMENT', this.constructor.name, `child '${name}'`, 'a Module', String(module));
    }
    this.#children.set(name, module);
    return module;
  }

  protected addParam(name: string, spec: ParamSpec): void {
    this.params.set(name, spec);
  }

  protected addBuffer(name: string, spec: BufferSpec): void {
    this.buffers.set(name, spec);
  }

  /** Runs child `name` with the graph's module path extended by `name`. */
  protected forwardChild(g: Graph, name: string, x: number): number {
    const m = this.child(name);
    return g.within(name, () => m.forward(g, x));
  }

  /** The graph value of this module's parameter `name` (declared by trace, or on first use). */
  protected paramValue(g: Graph, name: string): number {
    const spec = this.params.get(name);
    if (!spec) throw new ResnetError('RN_INTERNAL', `${this.constructor.name} has no parameter '${name}'`);
    return g.param(g.qualify(name), spec.shape);
  }

  protected bufferValue(g: Graph, name: string): number {
    const spec = this.buffers.get(name);
    if (!spec) throw new ResnetError('RN_INTERNAL', `${this.constructor.name} has no buffer '${name}'`);
    return g.buffer(g.qualify(name), spec.shape, spec.dtype);
  }

  protected trainingIn(g: Graph): boolean {
    return this.training && g.mode === 'train';
  }
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

export interface TraceOptions {
  /** Defaults to 'train' when the module is in training mode, else 'eval'. */
  mode?: GraphMode;
  /** Prepended to inputShape; default 1. */
  batch?: number;
  /** SyncBN across the replicas of this collective group (see GraphOptions). */
  syncBatchNormGroup?: number;
}

export interface Trace {
  graph: Graph;
  /** The 'input' value [batch, ...inputShape]. */
  input: number;
  output: number;
}

/**
 * Emits `module`'s forward pass for one input of shape [batch, ...inputShape]. Parameters and traced
 * buffers are declared first, in state-dict order, so graph order equals checkpoint order.
 */
export function trace(module: Module, inputShape: readonly number[], options: TraceOptions = {}): Trace {
  if (!(module instanceof Module)) throw expected('RN_INVALID_ARGUMENT', 'trace', 'module', 'a Module', String(module));
  const batch = options.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw expected('RN_INVALID_ARGUMENT', 'trace', 'batch', 'an integer ≥ 1', String(batch));
  if (!Array.isArray(inputShape) || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw expected(
      'RN_INVALID_ARGUMENT',
      'trace',
      'inputShape',
      'positive integer sizes without the batch dimension',
      JSON.stringify(inputShape),
    );
  }
  const graph = new Graph(options.mode ?? (module.training ? 'train' : 'eval'), { syncBatchNormGroup: options.syncBatchNormGroup });
  const input = graph.input('input', [batch, ...inputShape]);
  for (const [path, m] of module.namedModules()) {
    for (const [name, spec] of m.params) graph.param(join(path, name), spec.shape);
    for (const [name, spec] of m.buffers) if (spec.traced) graph.buffer(join(path, name), spec.shape, spec.dtype);
  }
  const output = module.forward(graph, input);
  return { graph, input, output };
}
