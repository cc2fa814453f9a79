// The forward graph IR: typed values and nodes named for native ops, appended by builders that infer and check shapes.
import { type ErrorCode, ResnetError, expected, formatShape } from '../runtime/errors.js';
import type { AttrValue } from '../runtime/native.js';

export type GraphDType = 'float32' | 'int32' | 'int64' | 'uint8';
export type ValueKind = 'input' | 'label' | 'param' | 'buffer' | 'activation' | 'aux';
export type GraphMode = 'train' | 'eval';
export type Pair = readonly [number, number];

export interface Value {
  id: number;
  shape: number[];
  dtype: GraphDType;
  kind: ValueKind;
  name?: string;
}

export interface Node {
  /** The native kernel's name, e.g. 'conv2d_forward'; 'reshape' has no kernel (the compiler makes it a view). */
  op: string;
  inputs: number[];
  outputs: number[];
  attrs: Record<string, AttrValue>;
  /** Path of the module that emitted the node, e.g. 'layer1.0.conv1'. */
  module?: string;
}

export interface Conv2dOptions {
  stride?: number | Pair;
  padding?: number | Pair;
  dilation?: number | Pair;
}

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  /** Running statistics instead of batch statistics; defaults to the graph's mode being 'eval'. */
  inference?: boolean;
}

export interface Pool2dOptions {
  kernel: number | Pair;
  /** Defaults to the kernel size. */
  stride?: number | Pair;
  padding?: number | Pair;
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  countIncludePad?: boolean;
}

const DROPOUT_SEED = 'dropout_seed';
const REPLICA_WEIGHT = 'replica_weight';

export interface GraphOptions {
  /**
   * SyncBN: training batch norms take their statistics over every replica of this collective group
   * (an id from createInProcessGroup), through batchnorm_stats → allreduce_mean → batchnorm_apply_training.
   */
  syncBatchNormGroup?: number;
}

/** Output size of a convolution or pooling window along one axis (PyTorch's rule, ceil mode included). */
export function windowOutputSize(
  size: number,
  kernel: number,
  stride: number,
  padding: number,
  dilation = 1,
  ceilMode = false,
): number {
  const span = size + 2 * padding - dilation * (kernel - 1) - 1;
  let out = Math.floor((span + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  // In ceil mode the last window must start inside the input or its left padding.
  if (ceilMode && (out - 1) * stride >= size + padding) out--;
  return out;
}

export class Graph {
  readonly values: Value[] = [];
  readonly nodes: Node[] = [];
  readonly mode: GraphMode;
  readonly syncBatchNormGroup: number | undefined;
  readonly #named = new Map<string, number>();
  readonly #scope: string[] = [];

  constructor(mode: GraphMode = 'train', options: GraphOptions = {}) {
    if (mode !== 'train' && mode !== 'eval') {
      throw expected('RN_INVALID_ARGUMENT', 'Graph', 'mode', "'train' or 'eval'", JSON.stringify(mode));
    }
    this.mode = mode;
    const group = options.syncBatchNormGroup;
    if (group !== undefined && !(Number.isInteger(group) && group > 0)) {
      throw expected('RN_INVALID_ARGUMENT', 'Graph', 'syncBatchNormGroup', 'a group id (an integer ≥ 1)', String(group));
    }
    this.syncBatchNormGroup = group;
  }

  // ── values ────────────────────────────────────────────────────────────────

  input(name: string, shape: readonly number[], dtype: GraphDType = 'float32'): number {
    return this.#declare('input', name, shape, dtype);
  }

  /** Class indices for the loss (the native loss reads int32). */
  label(name: string, shape: readonly number[], dtype: GraphDType = 'int32'): number {
    return this.#declare('label', name, shape, dtype);
  }

  /** A learnable float32 tensor; asking again for the same name and shape returns the same value. */
  param(name: string, shape: readonly number[]): number {
    return this.#getOrDeclare('param', name, shape, 'float32');
  }

  /** State that is not learned (BN running statistics); same get-or-create rule as param. */
  buffer(name: string, shape: readonly number[], dtype: GraphDType = 'float32'): number {
    return this.#getOrDeclare('buffer', name, shape, dtype);
  }

  /** The int64 [1] seed input every dropout node of this graph shares; created on first use. */
  dropoutSeed(): number {
    return this.#named.get(DROPOUT_SEED) ?? this.input(DROPOUT_SEED, [1], 'int64');
  }

  /**
   * The float32 [1] input every all-reduce of this graph weights its contribution by: 1 for a replica that holds
   * images, 0 for a placeholder replica (no images in this batch: it adds zeros). Created on first use.
   */
  replicaWeight(): number {
    return this.#named.get(REPLICA_WEIGHT) ?? this.input(REPLICA_WEIGHT, [1]);
  }

  /** Appends a value that no builder made (gradients, loss terms): the door for backward rules and the compiler. */
  addValue(shape: readonly number[], dtype: GraphDType, kind: ValueKind, name?: string): number {
    if (name !== undefined) return this.#declare(kind, name, shape, dtype);
    this.#checkDeclaration('graph.addValue', 'the new value', shape, dtype, kind);
    return this.#value(shape, dtype, kind);
  }

  /** Appends a node as given, after checking that its ids exist; it carries the current module path. */
  addNode(op: string, inputs: readonly number[], outputs: readonly number[], attrs: Record<string, AttrValue> = {}): Node {
    if (typeof op !== 'string' || op === '') throw this.#error('RN_INVALID_ARGUMENT', 'graph.addNode', 'op', 'a non-empty string', String(op));
    for (const id of [...inputs, ...outputs]) this.value(id);
    this.#node(op, [...inputs], [...outputs], { ...attrs });
    return this.nodes[this.nodes.length - 1];
  }

  value(id: number): Value {
    const v = Number.isInteger(id) ? this.values[id] : undefined;
    if (!v) throw expected('RN_INVALID_ARGUMENT', this.#where('graph'), 'value id', `an id in [0, ${this.values.length})`, String(id));
    return v;
  }

  shape(id: number): number[] {
    return [...this.value(id).shape];
  }

  /** The value declared under `name` (inputs, labels, params, buffers), if any. */
  lookup(name: string): Value | undefined {
    const id = this.#named.get(name);
    return id === undefined ? undefined : this.values[id];
  }

  ofKind(kind: ValueKind): Value[] {
    return this.values.filter((v) => v.kind === kind);
  }

  // ── module scope ──────────────────────────────────────────────────────────

  /** Runs `build` with `name` appended to the module path that nodes and qualified names carry. */
  within<T>(name: string, build: () => T): T {
    this.#scope.push(name);
    try {
      return build();
    } finally {
      this.#scope.pop();
    }
  }

  get modulePath(): string {
    return this.#scope.join('.');
  }

  /** `local` prefixed with the current module path: 'weight' inside layer1.0.conv1 → 'layer1.0.conv1.weight'. */
  qualify(local: string): string {
    return this.#scope.length ? `${this.modulePath}.${local}` : local;
  }

  // ── forward builders ──────────────────────────────────────────────────────

  /** y[N,K,OH,OW] = conv(x[N,C,H,W], w[K,C,kh,kw]) (+ b[K]). */
  conv2d(x: number, w: number, b: number | undefined, options: Conv2dOptions = {}): number {
    const op = 'conv2d_forward';
    const xs = this.#float(op, 'input x', x, 4);
    const ws = this.#float(op, 'weight', w, 4);
    const stride = this.#pair(op, 'stride', options.stride ?? 1, 1);
    const padding = this.#pair(op, 'padding', options.padding ?? 0, 0);
    const dilation = this.#pair(op, 'dilation', options.dilation ?? 1, 1);
    const [n, c, h, wd] = xs;
    const [k, wc, kh, kw] = ws;
    if (wc !== c) {
      throw this.#error('RN_SHAPE_MISMATCH', op, 'input x', `${wc} channels (weight ${formatShape(ws)})`, formatShape(xs));
    }
    const inputs = [x, w];
    if (b !== undefined) {
      this.#expectShape(op, 'bias', b, [k]);
      inputs.push(b);
    }
    const oh = windowOutputSize(h, kh, stride[0], padding[0], dilation[0]);
    const ow = windowOutputSize(wd, kw, stride[1], padding[1], dilation[1]);
    this.#checkWindow(op, xs, [kh, kw], [oh, ow]);
    return this.#emit(op, inputs, [n, k, oh, ow], { stride, padding, dilation });
  }

  /**
   * Batch normalisation over N,H,W per channel. Training: batch statistics, and running_mean/var are
   * updated in place (outputs 1,2 are the ids of inputs 3,4); save_mean/save_invstd are kept for backward.
   */
  batchNorm(x: number, gamma: number, beta: number, runningMean: number, runningVar: number, options: BatchNormOptions = {}): number {
    const inference = options.inference ?? this.mode === 'eval';
    const op = inference ? 'batchnorm_forward_inference' : 'batchnorm_forward_training';
    const xs = this.#float(op, 'input x', x, 4);
    const c = xs[1];
    this.#expectShape(op, 'gamma', gamma, [c]);
    this.#expectShape(op, 'beta', beta, [c]);
    this.#expectShape(op, 'running_mean', runningMean, [c]);
    this.#expectShape(op, 'running_var', runningVar, [c]);
    const eps = this.#number(op, 'eps', options.eps ?? 1e-5, Number.MIN_VALUE, Infinity);
    const inputs = [x, gamma, beta, runningMean, runningVar];
    if (inference) return this.#emit(op, inputs, xs, { eps });
    const momentum = this.#number(op, 'momentum', options.momentum ?? 0.1, 0, 1);
    if (this.syncBatchNormGroup !== undefined) return this.#syncBatchNorm(inputs, xs, { eps, momentum });
    if (xs[0] * xs[2] * xs[3] < 2) {
      throw this.#error('RN_SHAPE_MISMATCH', op, 'input x', 'more than one value per channel in training', formatShape(xs));
    }
    const y = this.#value(xs, 'float32', 'activation');
    const saveMean = this.#value([c], 'float32', 'aux');
    const saveInvstd = this.#value([c], 'float32', 'aux');
    this.#node(op, inputs, [y, runningMean, runningVar, saveMean, saveInvstd], { eps, momentum });
    return y;
  }

  /**
   * SyncBN's training forward: per-channel shifted sums of this replica's x, summed over the group, then the
   * normalisation with those statistics (the kernel checks that the group holds more than one value per channel).
   */
  #syncBatchNorm(inputs: number[], xs: number[], attrs: { eps: number; momentum: number }): number {
    const [x, , , runningMean, runningVar] = inputs;
    const c = xs[1];
    const stats = this.#value([2 * c + 1], 'float32', 'aux');
    this.#node('batchnorm_stats', [x, runningMean], [stats], {});
    this.#node('allreduce_mean', [stats, this.replicaWeight()], [stats], { group: this.syncBatchNormGroup!, average: false });
    const y = this.#value(xs, 'float32', 'activation');
    const saveMean = this.#value([c], 'float32', 'aux');
    const saveInvstd = this.#value([c], 'float32', 'aux');
    this.#node('batchnorm_apply_training', [...inputs, stats], [y, runningMean, runningVar, saveMean, saveInvstd], attrs);
    return y;
  }

  relu(x: number): number {
    const op = 'relu_forward';
    return this.#emit(op, [x], this.#float(op, 'input x', x), {});
  }

  add(a: number, b: number): number {
    const op = 'add';
    const as = this.#float(op, 'a', a);
    const bs = this.#float(op, 'b', b);
    if (!sameShape(as, bs)) throw this.#error('RN_SHAPE_MISMATCH', op, 'b', `shape ${formatShape(as)} (as a)`, formatShape(bs));
    return this.#emit(op, [a, b], as, {});
  }

  /** Max pooling; the int32 argmax indices are an 'aux' output for backward. */
  maxPool2d(x: number, options: Pool2dOptions): number {
    const op = 'maxpool2d_forward';
    const { shape, attrs } = this.#pool(op, x, options);
    const y = this.#value(shape, 'float32', 'activation');
    const indices = this.#value(shape, 'int32', 'aux');
    this.#node(op, [x], [y, indices], attrs);
    return y;
  }

  avgPool2d(x: number, options: AvgPool2dOptions): number {
    const op = 'avgpool2d_forward';
    const { shape, attrs } = this.#pool(op, x, options);
    return this.#emit(op, [x], shape, { ...attrs, count_include_pad: options.countIncludePad ?? true });
  }

  /** Mean over H and W: [N,C,H,W] → [N,C]. */
  globalAvgPool(x: number): number {
    const op = 'global_avgpool_forward';
    const [n, c] = this.#float(op, 'input x', x, 4);
    return this.#emit(op, [x], [n, c], {});
  }

  /** y[N,out] = x[N,in]·wᵀ (+ b[out]). */
  linear(x: number, w: number, b?: number): number {
    const op = 'linear_forward';
    const xs = this.#float(op, 'input x', x, 2);
    const ws = this.#float(op, 'weight', w, 2);
    if (ws[1] !== xs[1]) {
      throw this.#error('RN_SHAPE_MISMATCH', op, 'input x', `${ws[1]} features (weight ${formatShape(ws)})`, formatShape(xs));
    }
    const inputs = [x, w];
    if (b !== undefined) {
      this.#expectShape(op, 'bias', b, [ws[0]]);
      inputs.push(b);
    }
    return this.#emit(op, inputs, [xs[0], ws[0]], {});
  }

  /** fb.resnet.torch's option-A shortcut: keep every stride-th pixel, then zero channels up to outChannels. */
  shortcutA(x: number, stride: number, outChannels: number): number {
    const op = 'shortcut_a_forward';
    const [n, c, h, w] = this.#float(op, 'input x', x, 4);
    this.#int(op, 'stride', stride, 1);
    this.#int(op, 'outChannels', outChannels, c);
    return this.#emit(op, [x], [n, outChannels, Math.ceil(h / stride), Math.ceil(w / stride)], { stride });
  }

  /** Joins parts along dimension 1 (channels); all other dimensions must agree. */
  concat(parts: readonly number[]): number {
    const op = 'concat_forward';
    if (!Array.isArray(parts) || parts.length === 0) {
      throw this.#error('RN_INVALID_ARGUMENT', op, 'parts', 'at least one value', JSON.stringify(parts));
    }
    const first = this.#float(op, 'parts[0]', parts[0]);
    if (first.length < 2) throw this.#error('RN_SHAPE_MISMATCH', op, 'parts[0]', 'rank ≥ 2', formatShape(first));
    let channels = 0;
    parts.forEach((p, i) => {
      const s = this.#float(op, `parts[${i}]`, p);
      if (s.length !== first.length || s.some((d, k) => k !== 1 && d !== first[k])) {
        const want = first.map((d, k) => (k === 1 ? '*' : String(d))).join(',');
        throw this.#error('RN_SHAPE_MISMATCH', op, `parts[${i}]`, `shape [${want}] (as parts[0])`, formatShape(s));
      }
      channels += s[1];
    });
    const shape = [...first];
    shape[1] = channels;
    return this.#emit(op, [...parts], shape, {});
  }

  /** Zeroes each element with probability p and scales the rest by 1/(1−p); the identity in eval mode or for p = 0. */
  dropout(x: number, p: number): number {
    const op = 'dropout_forward';
    const xs = this.#float(op, 'input x', x);
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw this.#error('RN_INVALID_ARGUMENT', op, 'p', 'a number in [0, 1)', String(p));
    if (this.mode === 'eval' || p === 0) return x;
    const y = this.#value(xs, 'float32', 'activation');
    const mask = this.#value(xs, 'uint8', 'aux');
    this.#node(op, [x, this.dropoutSeed()], [y, mask], { p });
    return y;
  }

  /** The same elements under another shape; the compiler turns it into a view. */
  reshape(x: number, shape: readonly number[]): number {
    const op = 'reshape';
    const xs = this.#float(op, 'input x', x);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw this.#error('RN_INVALID_ARGUMENT', op, 'shape', 'positive integer sizes', JSON.stringify(shape));
    }
    if (count(shape) !== count(xs)) {
      throw this.#error('RN_SHAPE_MISMATCH', op, 'shape', `${count(xs)} elements (as x ${formatShape(xs)})`, formatShape(shape));
    }
    return this.#emit(op, [x], [...shape], {});
  }

  // ── summaries ─────────────────────────────────────────────────────────────

  /** Multiply-adds of the conv and linear nodes for the whole batch (bias adds not counted). */
  macs(): number {
    let total = 0;
    for (const node of this.nodes) total += nodeMacs(this, node);
    return total;
  }

  /** One line per value declaration and per node, for debugging. */
  describe(): string {
    const fmt = (id: number): string => {
      const v = this.values[id];
      return `%${id}:${v.dtype}${formatShape(v.shape)}`;
    };
    const lines = [
      `Graph(${this.mode}): ${this.values.length} values, ${this.nodes.length} nodes, ${this.macs()} MACs`,
    ];
    for (const v of this.values) {
      if (v.name !== undefined) lines.push(`  ${v.kind.padEnd(6)} ${v.name} ${fmt(v.id)}`);
    }
    for (const node of this.nodes) {
      const attrs = Object.entries(node.attrs).map(([k, a]) => `${k}=${JSON.stringify(a)}`).join(' ');
      const where = node.module ? ` [${node.module}]` : '';
      const io = `(${node.inputs.map(fmt).join(', ')}) → (${node.outputs.map(fmt).join(', ')})`;
      lines.push(`  ${node.op}${where} ${io}${attrs ? ` {${attrs}}` : ''}`);
    }
    return lines.join('\n');
  }

  // ── internals ─────────────────────────────────────────────────────────────

  #where(op: string): string {
    return this.#scope.length ? `${op} in ${this.modulePath}` : op;
  }

  #error(code: ErrorCode, op: string, what: string, wanted: string, received: string): ResnetError {
    return expected(code, this.#where(op), what, wanted, received);
  }

  #declare(kind: ValueKind, name: string, shape: readonly number[], dtype: GraphDType): number {
    const op = `graph.${kind}`;
    if (typeof name !== 'string' || name === '') throw this.#error('RN_INVALID_ARGUMENT', op, 'name', 'a non-empty string', String(name));
    if (this.#named.has(name)) {
      const other = this.values[this.#named.get(name)!];
      throw this.#error('RN_INVALID_ARGUMENT', op, 'name', 'a name not yet declared', `'${name}' (already a ${other.kind})`);
    }
    this.#checkDeclaration(op, `'${name}'`, shape, dtype, kind);
    const id = this.#value([...shape], dtype, kind, name);
    this.#named.set(name, id);
    return id;
  }

  #checkDeclaration(op: string, what: string, shape: readonly number[], dtype: GraphDType, kind: ValueKind): void {
    if (!['float32', 'int32', 'int64', 'uint8'].includes(dtype)) {
      throw this.#error('RN_INVALID_ARGUMENT', op, `dtype of ${what}`, 'float32, int32, int64 or uint8', String(dtype));
    }
    if (!['input', 'label', 'param', 'buffer', 'activation', 'aux'].includes(kind)) {
      throw this.#error('RN_INVALID_ARGUMENT', op, `kind of ${what}`, 'input, label, param, buffer, activation or aux', String(kind));
    }
    if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw this.#error('RN_INVALID_ARGUMENT', op, `shape of ${what}`, 'positive integer sizes', JSON.stringify(shape));
    }
  }

  #getOrDeclare(kind: 'param' | 'buffer', name: string, shape: readonly number[], dtype: GraphDType): number {
    const id = this.#named.get(name);
    if (id === undefined) return this.#declare(kind, name, shape, dtype);
    const v = this.values[id];
    if (v.kind !== kind || v.dtype !== dtype || !sameShape(v.shape, shape)) {
      throw this.#error(
        'RN_SHAPE_MISMATCH',
        `graph.${kind}`,
        `'${name}'`,
        `${kind} ${dtype}${formatShape(shape)}`,
        `${v.kind} ${v.dtype}${formatShape(v.shape)}`,
      );
    }
    return id;
  }

  #value(shape: readonly number[], dtype: GraphDType, kind: ValueKind, name?: string): number {
    const id = this.values.length;
    const value: Value = { id, shape: [...shape], dtype, kind };
    if (name !== undefined) value.name = name;
    this.values.push(value);
    return id;
  }

  #node(op: string, inputs: number[], outputs: number[], attrs: Record<string, AttrValue>): void {
    const node: Node = { op, inputs, outputs, attrs };
    if (this.#scope.length) node.module = this.modulePath;
    this.nodes.push(node);
  }

  /** Appends a one-output node whose output is a new float32 activation. */
  #emit(op: string, inputs: number[], shape: number[], attrs: Record<string, AttrValue>): number {
    const y = this.#value(shape, 'float32', 'activation');
    this.#node(op, inputs, [y], attrs);
    return y;
  }

  #float(op: string, what: string, id: number, rank?: number): number[] {
    if (!Number.isInteger(id) || !this.values[id]) {
      throw this.#error('RN_INVALID_ARGUMENT', op, what, `a value id of this graph (0…${this.values.length - 1})`, String(id));
    }
    const v = this.values[id];
    if (v.dtype !== 'float32') throw this.#error('RN_DTYPE_MISMATCH', op, what, 'float32', `${v.dtype}${formatShape(v.shape)}`);
    if (rank !== undefined && v.shape.length !== rank) {
      throw this.#error('RN_SHAPE_MISMATCH', op, what, `a rank-${rank} tensor`, formatShape(v.shape));
    }
    return v.shape;
  }

  #expectShape(op: string, what: string, id: number, shape: number[]): void {
    const s = this.#float(op, what, id);
    if (!sameShape(s, shape)) throw this.#error('RN_SHAPE_MISMATCH', op, what, `shape ${formatShape(shape)}`, formatShape(s));
  }

  #int(op: string, what: string, value: unknown, min: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw this.#error('RN_INVALID_ARGUMENT', op, what, `an integer ≥ ${min}`, String(value));
    }
    return value;
  }

  #number(op: string, what: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !(value >= min && value <= max)) {
      throw this.#error('RN_INVALID_ARGUMENT', op, what, `a number in [${min}, ${max}]`, String(value));
    }
    return value;
  }

  #pair(op: string, what: string, value: unknown, min: number): [number, number] {
    const pair = typeof value === 'number' ? [value, value] : value;
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw this.#error('RN_INVALID_ARGUMENT', op, what, 'an integer or [h, w]', JSON.stringify(value));
    }
    return [this.#int(op, `${what}[0]`, pair[0], min), this.#int(op, `${what}[1]`, pair[1], min)];
  }

  #checkWindow(op: string, xs: number[], kernel: number[], out: number[]): void {
    if (out[0] < 1 || out[1] < 1) {
      throw this.#error(
        'RN_SHAPE_MISMATCH',
        op,
        'input x',
        `a spatial size that fits the ${kernel[0]}×${kernel[1]} window (output ${out[0]}×${out[1]})`,
        formatShape(xs),
      );
    }
  }

  #pool(op: string, x: number, options: Pool2dOptions): { shape: number[]; attrs: Record<string, AttrValue> } {
    const xs = this.#float(op, 'input x', x, 4);
    if (typeof options !== 'object' || options === null) {
      throw this.#error(
        'RN_INVALID_ARGUMENT',
        op,
        'options',
        'an object with kernel',
        String(options),
      );
    }
    const kernel = this.#pair(op, 'kernel', options.kernel, 1);
    const stride = this.#pair(op, 'stride', options.stride ?? kernel, 1);
    const padding = this.#pair(op, 'padding', options.padding ?? 0, 0);
    const ceilMode = options.ceilMode ?? false;
    if (typeof ceilMode !== 'boolean') throw this.#error('RN_INVALID_ARGUMENT', op, 'ceilMode', 'a boolean', String(ceilMode));
    for (const k of [0, 1]) {
      if (padding[k] * 2 > kernel[k]) {
        throw this.#error('RN_INVALID_ARGUMENT', op, 'padding', `at most half the kernel ${formatShape(kernel)}`, formatShape(padding));
      }
    }
    const oh = windowOutputSize(xs[2], kernel[0], stride[0], padding[0], 1, ceilMode);
    const ow = windowOutputSize(xs[3], kernel[1], stride[1], padding[1], 1, ceilMode);
    this.#checkWindow(op, xs, kernel, [oh, ow]);
    return { shape: [xs[0], xs[1], oh, ow], attrs: { kernel, stride, padding, ceil_mode: ceilMode } };
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function nodeMacs(g: Graph, node: Node): number {
  if (node.op === 'conv2d_forward') {
    const [, c, kh, kw] = g.values[node.inputs[1]].shape;
    return count(g.values[node.outputs[0]].shape) * c * kh * kw;
  }
  if (node.op === 'linear_forward') {
    const [, inFeatures] = g.values[node.inputs[1]].shape;
    return count(g.values[node.outputs[0]].shape) * inFeatures;
  }
  return 0;
}
