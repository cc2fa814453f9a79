// The compiler: a (training or evaluation) graph → one Program spec with flat parameter buffers,
// views, in-place ops and a planned activation arena; plus the memory report.
import { ResnetError } from '../runtime/errors.js';
import type { AttrValue, ProgramSpec, ValueSpec } from '../runtime/native.js';
import type { IRGraph, IRValue } from './ir.js';
import { valueBytes } from './ir.js';
import { fuseRelu } from './fuse.js';
import { assignLayouts } from './layout.js';
import { planArena } from './planner.js';

/** Where each parameter (and BN buffer) lives in the flat tensors, by state-dict name. */
export interface FlatLayout {
  /** Parameters in flat order: weight-decayed ones first, then the rest. */
  params: { name: string; shape: number[]; offset: number; size: number; decay: boolean }[];
  paramCount: number;
  decayedCount: number;
  buffers: { name: string; shape: number[]; offset: number; size: number }[];
  bufferCount: number;
}

/** Builds the flat layout from a graph's parameter and buffer values (named, unique). */
export function flatLayout(graph: IRGraph, noDecay: ReadonlySet<string> = new Set()): FlatLayout {
  const params = graph.values.filter((v) => v.kind === 'param');
  const ordered = [...params.filter((p) => !noDecay.has(p.name!)), ...params.filter((p) => noDecay.has(p.name!))];
  let offset = 0;
  const layout: FlatLayout = { params: [], paramCount: 0, decayedCount: 0, buffers: [], bufferCount: 0 };
  for (const p of ordered) {
    if (!p.name) throw new ResnetError('RN_INVALID_ARGUMENT', `parameter value ${p.id} has no name`, 'compile');
    const size = p.shape.reduce((a, b) => a * b, 1);
    const decay = !noDecay.has(p.name);
    layout.params.push({ name: p.name, shape: [...p.shape], offset, size, decay });
    offset += size;
    if (decay) layout.decayedCount = offset;
  }
  layout.paramCount = offset;
  offset = 0;
  for (const b of graph.values.filter((v) => v.kind === 'buffer')) {
    const size = b.shape.reduce((a, c) => a * c, 1);
    layout.buffers.push({ name: b.name!, shape: [...b.shape], offset, size });
    offset += size;
  }
  layout.bufferCount = offset;
  return layout;
}

export interface OptimizerSpec {
  /** Native update op, e.g. 'sgd_update'; its inputs are (param, grad, ...state, hyper). */
  op: string;
  /** Number of state buffers the op keeps per parameter element. */
  states: number;
  /** Attributes; `weight_decay` is applied only to the decayed group. */
  attrs: Record<string, AttrValue>;
}

export interface CompileOptions {
  layout: FlatLayout;
  /** Appends the optimizer update over the flat buffers (training programs). */
  optimizer?: OptimizerSpec;
  /** false: every arena value gets its own bytes (the "naive" layout; for checks). Default true. */
  plan?: boolean;
  /** Ops that may write their output over one input, when that input is not read again. */
  inPlace?: boolean;
  /**
   * Data parallel: averages the flat gradients over this collective group (allreduce_mean, weighted by the
   * 'replica_weight' input) between the backward pass and the update, so every replica applies the same one.
   */
  allreduceGroup?: number;
  /**
   * Ops whose kernels take blocked (nChw16c) activations (`native().kernelNames('cpu', true)`): when given, the
   * layout pass (lib/graph/layout.ts) keeps activations blocked between them. Omit for nchw everywhere (CUDA).
   */
  blockedOps?: ReadonlySet<string>;
  /**
   * Folds each ReLU into the batch norm or add before it, forward and backward (lib/graph/fuse.ts): for backends
   * whose kernels take the `relu` attribute (the CPU). Default false.
   */
  fuseRelu?: boolean;
}

export interface MemoryReport {
  /** Parameters, gradients, optimizer state and BN buffers: the same in every strategy. */
  fixedBytes: number;
  /** Every activation and gradient its own buffer. */
  naive: number;
  /** fb.resnet.torch's shareGradInput: outputs own buffers; gradients share one buffer per op type. */
  shareGradInput: number;
  /** This compiler: in-place ops plus the planned arena. */
  planned: number;
}

export interface CompiledProgram {
  spec: ProgramSpec;
  /** Names of the tensors run() binds, in order: 'params', 'grads', 'buffers', 'state0'…, then graph inputs/outputs by value name. */
  bindings: string[];
  /** Shapes and dtypes of the bound tensors, in the same order. */
  bindingValues: { name: string; shape: number[]; dtype: IRValue['dtype'] }[];
  memory: MemoryReport;
  /** Values kept blocked and reorders added by the layout pass (0 and 0 without `blockedOps`). */
  layouts: { blocked: number; reorders: number };
  /** ReLUs folded by the fusion pass (zeros without `fuseRelu`). */
  fused: { batchnormRelu: number; batchnormReluBackward: number; addRelu: number };
}

const ALIGN = 64;
// Output 0 may take the memory of these inputs (indices) when they are read for the last time.
const IN_PLACE: Record<string, number[]> = { relu_forward: [0], relu_backward: [1], add: [0, 1] };

/** Compiles a graph for one batch size. Training graphs carry 'grad' values and get the optimizer. */
export function compileGraph(source: IRGraph, options: CompileOptions): CompiledProgram {
  const { layout } = options;
  const fusion = options.fuseRelu ? fuseRelu(source) : undefined;
  const fusedGraph = fusion?.graph ?? source;
  const assignment = options.blockedOps ? assignLayouts(fusedGraph, options.blockedOps) : undefined;
  const graph = assignment?.graph ?? fusedGraph;
  const layoutOf = (id: number) => (assignment?.blocked.has(id) ? { layout: 'nChw16c' as const } : {});
  const values = graph.values;
  const nodes = graph.nodes;
  const specValues: ValueSpec[] = [];
  const bindings: string[] = [];
  const bindingValues: CompiledProgram['bindingValues'] = [];
  const bindingIds: number[] = [];
  const bind = (name: string, shape: number[], dtype: IRValue['dtype']) => {
    specValues.push({ shape, dtype });
    bindings.push(name);
    bindingIds.push(specValues.length - 1);
    bindingValues.push({ name, shape, dtype });
    return specValues.length - 1;
  };
  const hasGrads = values.some((v) => v.kind === 'grad');
  const flatParams = bind('params', [layout.paramCount], 'float32');
  const flatGrads = hasGrads ? bind('grads', [layout.paramCount], 'float32') : -1;
  const flatBuffers = layout.bufferCount > 0 ? bind('buffers', [layout.bufferCount], 'float32') : -1;
  const states = options.optimizer ? Array.from({ length: options.optimizer.states }, (_, i) => bind(`state${i}`, [layout.paramCount], 'float32')) : [];
  const hyper = options.optimizer ? bind('hyper', [2], 'float32') : -1;

  const paramAt = new Map(layout.params.map((p) => [p.name, p]));
  const bufferAt = new Map(layout.buffers.map((b) => [b.name, b]));
  const gradOf = new Map<number, number>(); // grad value id → param value id
  if (hasGrads) {
    // A parameter's gradient value is named "<param>.grad" by the backward pass.
    const byName = new Map(values.filter((v) => v.kind === 'param').map((v) => [v.name!, v.id]));
    for (const v of values) {
      if (v.kind === 'grad') {
        const param = byName.get(v.name!.replace(/\.grad$/, ''));
        if (param === undefined) throw new ResnetError('RN_INTERNAL', `gradient ${v.name} has no parameter`, 'compile');
        gradOf.set(v.id, param);
      }
    }
  }

  // Alias groups: reshape outputs are views of their input; in-place outputs share their input's bytes.
  const parent = values.map((v) => v.id);
  const find = (v: number): number => (parent[v] === v ? v : (parent[v] = find(parent[v])));
  const isArenaKind = (v: IRValue) => v.kind === 'activation' || v.kind === 'aux';
  for (const n of nodes) if (n.op === 'reshape') parent[find(n.outputs[0])] = find(n.inputs[0]);
  const lastUse = new Map<number, number>();
  const firstDef = new Map<number, number>();
  nodes.forEach((n, k) => {
    for (const i of n.inputs) lastUse.set(find(i), Math.max(lastUse.get(find(i)) ?? -1, k));
    for (const o of n.outputs) if (!firstDef.has(find(o))) firstDef.set(find(o), k);
  });
  if (options.inPlace !== false && options.plan !== false) {
    nodes.forEach((n, k) => {
      for (const i of IN_PLACE[n.op] ?? []) {
        const input = find(n.inputs[i]);
        const output = find(n.outputs[0]);
        if (input === output || !isArenaKind(values[input]) || !isArenaKind(values[output])) continue;
        if (valueBytes(values[input]) !== valueBytes(values[output]) || lastUse.get(input) !== k) continue;
        parent[output] = input;
        lastUse.set(input, Math.max(k, lastUse.get(output) ?? k));
        break;
      }
    });
  }

  // Every value becomes a binding, a view or an arena slice.
  const specId = new Map<number, number>();
  const arenaRoots: number[] = [];
  for (const v of values) {
    const root = find(v.id);
    if (v.kind === 'param') {
      const p = paramAt.get(v.name!)!;
      specValues.push({ shape: v.shape, dtype: v.dtype, viewOf: flatParams, offset: p.offset * 4 });
    } else if (v.kind === 'grad') {
      const p = paramAt.get(values[gradOf.get(v.id)!].name!)!;
      specValues.push({ shape: v.shape, dtype: v.dtype, viewOf: flatGrads, offset: p.offset * 4 });
    } else if (v.kind === 'buffer') {
      const b = bufferAt.get(v.name!)!;
      specValues.push({ shape: v.shape, dtype: v.dtype, viewOf: flatBuffers, offset: b.offset * 4 });
    } else if (v.kind === 'input' || v.kind === 'label' || v.kind === 'output') {
      if (!v.name) throw new ResnetError('RN_INVALID_ARGUMENT', `bound value ${v.id} has no name`, 'compile');
      bind(v.name, v.shape, v.dtype);
    } else if (root !== v.id) {
      specValues.push({ shape: v.shape, dtype: v.dtype, viewOf: specId.get(root)!, offset: 0, ...layoutOf(v.id) });
    } else {
      specValues.push({ shape: v.shape, dtype: v.dtype, offset: 0, ...layoutOf(v.id) }); // offset filled by the plan
      arenaRoots.push(v.id);
    }
    specId.set(v.id, specValues.length - 1);
  }

  // Lifetimes of arena roots on the schedule → offsets.
  const buffers = arenaRoots.map((id) => {
    const start = firstDef.get(id) ?? 0;
    return { id, bytes: groupBytes(id), start, end: Math.max(start, lastUse.get(id) ?? start) };
  });
  function groupBytes(root: number): number {
    let bytes = 0;
    for (const v of values) if (find(v.id) === root) bytes = Math.max(bytes, valueBytes(v));
    return bytes;
  }
  let arenaBytes = 0;
  if (options.plan === false) {
    for (const b of buffers) {
      specValues[specId.get(b.id)!].offset = arenaBytes;
      arenaBytes += Math.ceil(b.bytes / ALIGN) * ALIGN;
    }
  } else {
    const plan = planArena(buffers, { alignment: ALIGN });
    for (const b of buffers) specValues[specId.get(b.id)!].offset = plan.offsets.get(b.id)!;
    arenaBytes = plan.arenaBytes;
  }

  const ops: ProgramSpec['ops'] = nodes
    .filter((n) => n.op !== 'reshape')
    .map((n) => ({ op: n.op, inputs: n.inputs.map((i) => specId.get(i)!), outputs: n.outputs.map((o) => specId.get(o)!), attrs: n.attrs }));

  if (options.allreduceGroup !== undefined && hasGrads) {
    // One op over the flat buffer covers every gradient; SyncBN graphs already have the weight input.
    const weightValue = values.find((v) => v.kind === 'input' && v.name === 'replica_weight');
    const weight = weightValue ? specId.get(weightValue.id)! : bind('replica_weight', [1], 'float32');
    ops.push({ op: 'allreduce_mean', inputs: [flatGrads, weight], outputs: [flatGrads], attrs: { group: options.allreduceGroup, average: true } });
  }

  if (options.optimizer) {
    const { op, attrs } = options.optimizer;
    const groups = [
      { offset: 0, size: layout.decayedCount, decay: true },
      { offset: layout.decayedCount, size: layout.paramCount - layout.decayedCount, decay: false },
    ].filter((g) => g.size > 0);
    for (const g of groups) {
      const view = (base: number) => {
        specValues.push({ shape: [g.size], dtype: 'float32', viewOf: base, offset: g.offset * 4 });
        return specValues.length - 1;
      };
      const param = view(flatParams);
      const stateViews = states.map(view);
      ops.push({
        op,
        inputs: [param, view(flatGrads), ...stateViews, hyper],
        outputs: [param, ...stateViews],
        attrs: g.decay ? attrs : { ...attrs, weight_decay: 0 },
      });
    }
  }

  const fixedBytes = 4 * (layout.paramCount * (1 + (hasGrads ? 1 : 0) + states.length) + layout.bufferCount);
  // Naive and shareGradInput are the strategies' costs for the graph as written (before fusion and reorders).
  const memory = memoryReport(source, fixedBytes, arenaBytes);
  return {
    spec: { values: specValues, ops, externals: bindingIds, arenaBytes },
    bindings,
    bindingValues,
    memory,
    layouts: { blocked: assignment?.blocked.size ?? 0, reorders: assignment?.reorders ?? 0 },
    fused: fusion?.fused ?? { batchnormRelu: 0, batchnormReluBackward: 0, addRelu: 0 },
  };
}

function memoryReport(graph: IRGraph, fixedBytes: number, plannedArena: number): MemoryReport {
  const produced = new Map<number, string>(); // value → op that wrote it
  for (const n of graph.nodes) for (const o of n.outputs) if (!produced.has(o)) produced.set(o, n.op);
  const isTensor = (v: IRValue) => v.kind === 'activation' || v.kind === 'aux';
  const viewOutputs = new Set(graph.nodes.filter((n) => n.op === 'reshape').map((n) => n.outputs[0]));
  let naive = 0;
  let forwardBytes = 0;
  const gradShare = new Map<string, number>();
  for (const v of graph.values) {
    if (!isTensor(v) || viewOutputs.has(v.id)) continue;
    const bytes = valueBytes(v);
    naive += bytes;
    const op = produced.get(v.id) ?? '';
    if (/_backward|^accumulate$/.test(op) || (op === 'add' && isGradient(graph, v.id))) {
      gradShare.set(op, Math.max(gradShare.get(op) ?? 0, bytes));
    } else {
      forwardBytes += bytes;
    }
  }
  const shared = forwardBytes + [...gradShare.values()].reduce((a, b) => a + b, 0);
  return { fixedBytes, naive: fixedBytes + naive, shareGradInput: fixedBytes + shared, planned: fixedBytes + plannedArena };
}

/** An 'add' written after the loss node sums gradients (the forward adds come before it). */
function isGradient(graph: IRGraph, id: number): boolean {
  const lossAt = graph.nodes.findIndex((n) => n.op === 'softmax_cross_entropy_forward');
  const at = graph.nodes.findIndex((n) => n.outputs.includes(id));
  return lossAt >= 0 && at > lossAt;
}
