// Module tree: names, state-dict order, train/eval, tracing with module paths, and each layer's ops.
import { describe, expect, it } from 'vitest';

import {
  AvgPool2d,
  BatchNorm2d,
  Concat,
  Conv2d,
  Dropout,
  Flatten,
  GlobalAvgPool,
  Identity,
  Linear,
  MaxPool2d,
  ReLU,
  Residual,
  Sequential,
  ShortcutA,
  trace,
} from '../../lib/nn/index.js';

const ops = (nodes: { op: string }[]): string[] => nodes.map((n) => n.op);

describe('module tree', () => {
  const net = (): Sequential =>
    new Sequential([
      ['conv1', new Conv2d(3, 8, 3, { padding: 1, bias: true })],
      ['bn1', new BatchNorm2d(8)],
      ['relu', new ReLU()],
      ['pool', new GlobalAvgPool()],
      ['fc', new Linear(8, 4)],
    ]);

  it('names parameters and buffers by path, in PyTorch state-dict order', () => {
    const m = net();
    expect(m.stateDictKeys()).toEqual([
      'conv1.weight',
      'conv1.bias',
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
      'fc.weight',
      'fc.bias',
    ]);
    expect(m.namedParameters().map((p) => [p.name, p.shape, p.noWeightDecay])).toEqual([
      ['conv1.weight', [8, 3, 3, 3], false],
      ['conv1.bias', [8], true],
      ['bn1.weight', [8], true],
      ['bn1.bias', [8], true],
      ['fc.weight', [4, 8], false],
      ['fc.bias', [4], true],
    ]);
    expect(m.namedBuffers().map((b) => [b.name, b.shape, b.dtype, b.traced])).toEqual([
      ['bn1.running_mean', [8], 'float32', true],
      ['bn1.running_var', [8], 'float32', true],
      ['bn1.num_batches_tracked', [], 'int64', false],
    ]);
    expect(m.numParameters()).toBe(8 * 27 + 8 + 8 + 8 + 32 + 4);
    expect([...m.namedModules()].map(([path]) => path)).toEqual(['', 'conv1', 'bn1', 'relu', 'pool', 'fc']);
  });

  it('numbers unnamed children 0, 1, … and add() appends', () => {
    const s = new Sequential([new Conv2d(1, 2, 1), new ReLU()]).add(new Conv2d(2, 3, 1)).add(new Identity(), 'id');
    expect([...s.children.keys()]).toEqual(['0', '1', '2', 'id']);
    expect(s.stateDictKeys()).toEqual(['0.weight', '2.weight']);
    expect(() => s.add(new ReLU(), 'id')).toThrow(/Expected a name not yet used for child name but received 'id'/);
    expect(() => s.add(new ReLU(), 'a.b')).toThrow(/no dots/);
    expect(() => s.child('nope')).toThrow(/Expected one of 0, 1, 2, id for child name but received 'nope'/);
  });

  it('train() and eval() reach every descendant; trace follows the flag unless told', () => {
    const m = net();
    m.eval();
    expect([...m.namedModules()].every(([, x]) => !x.training)).toBe(true);
    expect(trace(m, [3, 4, 4]).graph.mode).toBe('eval');
    expect(ops(trace(m, [3, 4, 4]).graph.nodes)).toContain('batchnorm_forward_inference');
    m.train();
    expect([...m.namedModules()].every(([, x]) => x.training)).toBe(true);
    expect(trace(m, [3, 4, 4]).graph.mode).toBe('train');
    expect(trace(m, [3, 4, 4], { mode: 'eval' }).graph.mode).toBe('eval');
  });

  it('a BN module in eval mode inside a training graph uses running statistics (frozen BN)', () => {
    const m = net();
    m.child('bn1').eval();
    const { graph } = trace(m, [3, 4, 4], { mode: 'train', batch: 2 });
    expect(ops(graph.nodes)).toEqual(['conv2d_forward', 'batchnorm_forward_inference', 'relu_forward', 'global_avgpool_forward', 'linear_forward']);
  });

  it('trace declares the input, then parameters and traced buffers in state-dict order', () => {
    const m = net();
    const { graph, input, output } = trace(m, [3, 5, 6], { batch: 2 });
    expect(graph.values[input]).toMatchObject({ kind: 'input', name: 'input', shape: [2, 3, 5, 6] });
    const declared = graph.values.filter((v) => v.kind === 'param' || v.kind === 'buffer').map((v) => v.name);
    expect(declared).toEqual(m.stateDictKeys().filter((k) => !k.endsWith('num_batches_tracked')));
    expect(graph.shape(output)).toEqual([2, 4]);
    expect(graph.nodes.map((n) => n.module)).toEqual(['conv1', 'bn1', 'relu', 'pool', 'fc']);
    const conv = graph.nodes[0];
    expect(conv.inputs.slice(1).map((id) => graph.values[id].name)).toEqual(['conv1.weight', 'conv1.bias']);
    const bn = graph.nodes[1];
    expect(bn.inputs.slice(1).map((id) => graph.values[id].name)).toEqual(['bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var']);
  });

  it('trace reports a wrong input with the module path and the shapes', () => {
    expect(() => trace(net(), [4, 5, 6])).toThrow(
      'conv2d_forward in conv1: Expected 3 channels (weight [8,3,3,3]) for input x but received [1,4,5,6]',
    );
    const nested = new Sequential([['features', new Sequential([['c', new Conv2d(3, 4, 3)]])], ['fc', new Linear(5, 2)], ['x', new Flatten()]]);
    expect(() => trace(nested, [3, 3, 3])).toThrow(/linear_forward in fc: Expected a rank-2 tensor for input x but received \[1,4,1,1\]/);
    expect(() => trace(net(), [3, 4, 4], { batch: 0 })).toThrow(/Expected an integer ≥ 1 for batch but received 0/);
    expect(() => trace(net(), [1, 3, 4, 4.5])).toThrow(/positive integer sizes without the batch dimension/);
  });
});

describe('layers', () => {
  it('Conv2d options reach the node; bad options are named', () => {
    const { graph } = trace(new Conv2d(3, 4, [3, 5], { stride: [2, 1], padding: [1, 2], dilation: 1 }), [3, 9, 9]);
    expect(graph.nodes[0].attrs).toEqual({ stride: [2, 1], padding: [1, 2], dilation: [1, 1] });
    expect(graph.shape(graph.nodes[0].outputs[0])).toEqual([1, 4, 5, 9]);
    expect(new Conv2d(3, 4, 3).params.has('bias')).toBe(false);
    expect(() => new Conv2d(3, 4, 3, { groups: 2 } as never)).toThrow(/unknown option 'groups'/);
    expect(() => new Conv2d(3, 0, 3)).toThrow(/Expected an integer ≥ 1 for outChannels but received 0/);
    expect(() => new Conv2d(3, 4, [3, 3, 3] as never)).toThrow(/Expected an integer or \[h, w\] for kernel/);
  });

  it('BatchNorm2d passes eps and momentum', () => {
    const { graph } = trace(new BatchNorm2d(4, { eps: 1e-3, momentum: 0.01 }), [4, 2, 2], { batch: 2 });
    expect(graph.nodes[0].attrs).toEqual({ eps: 1e-3, momentum: 0.01 });
    expect(() => new BatchNorm2d(4, { momentum: 2 })).toThrow(/Expected a number in \[0, 1\] for momentum but received 2/);
  });

  it('MaxPool2d and AvgPool2d', () => {
    const { graph } = trace(new Sequential([new MaxPool2d(3, { stride: 2, padding: 1 }), new AvgPool2d(2, { ceilMode: true, countIncludePad: false })]), [2, 9, 9]);
    expect(graph.nodes.map((n) => [n.op, n.attrs])).toEqual([
      ['maxpool2d_forward', { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: false }],
      ['avgpool2d_forward', { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: true, count_include_pad: false }],
    ]);
    expect(graph.shape(graph.nodes[1].outputs[0])).toEqual([1, 2, 3, 3]); // 9 → 5 → ceil(5/2)
  });

  it('Flatten reshapes 4-D inputs and passes 2-D ones through', () => {
    const { graph, output } = trace(new Sequential([new Flatten(), new Linear(3 * 4 * 5, 2), new Flatten()]), [3, 4, 5], { batch: 2 });
    expect(ops(graph.nodes)).toEqual(['reshape', 'linear_forward']);
    expect(graph.shape(graph.nodes[0].outputs[0])).toEqual([2, 60]);
    expect(graph.shape(output)).toEqual([2, 2]);
  });

  it('Dropout is a node only in training; every dropout shares the seed input', () => {
    const m = new Sequential([new Flatten(), new Dropout(0.3), new Linear(8, 8), new Dropout()]);
    const train = trace(m, [2, 2, 2], { mode: 'train' }).graph;
    expect(ops(train.nodes)).toEqual(['reshape', 'dropout_forward', 'linear_forward', 'dropout_forward']);
    const seeds = new Set(train.nodes.filter((n) => n.op === 'dropout_forward').map((n) => n.inputs[1]));
    expect([...seeds].map((id) => train.values[id].name)).toEqual(['dropout_seed']);
    expect(train.nodes.filter((n) => n.op === 'dropout_forward').map((n) => n.attrs.p)).toEqual([0.3, 0.5]);
    expect(ops(trace(m, [2, 2, 2], { mode: 'eval' }).graph.nodes)).toEqual(['reshape', 'linear_forward']);
    expect(() => new Dropout(1)).toThrow(/Expected a number in \[0, 1\) for p but received 1/);
  });

  it('Concat joins its branches along channels', () => {
    const m = new Concat([['a', new Conv2d(3, 4, 1)], ['b', new Sequential([new Conv2d(3, 2, 3, { padding: 1 }), new ReLU()])], ['c', new Identity()]]);
    const { graph, output } = trace(m, [3, 6, 6]);
    expect(graph.shape(output)).toEqual([1, 9, 6, 6]);
    expect(graph.nodes.map((n) => [n.op, n.module])).toEqual([
      ['conv2d_forward', 'a'],
      ['conv2d_forward', 'b.0'],
      ['relu_forward', 'b.1'],
      ['concat_forward', undefined],
    ]);
    expect(m.stateDictKeys()).toEqual(['a.weight', 'b.0.weight']);
  });
});

describe('Residual and ShortcutA', () => {
  it('runs preact before the split, then branch, shortcut, add and post', () => {
    const block = new Residual({
      preact: [['bn1', new BatchNorm2d(4)], ['relu1', new ReLU()]],
      branch: [['conv1', new Conv2d(4, 8, 3, { stride: 2, padding: 1 })]],
      shortcut: ['downsample', new ShortcutA(4, 8, 2)],
      post: [['relu', new ReLU()]],
    });
    const root = new Sequential([['block', block]]);
    const { graph, input, output } = trace(root, [4, 5, 5], { batch: 2 });
    expect(graph.nodes.map((n) => [n.op, n.module])).toEqual([
      ['batchnorm_forward_training', 'block.bn1'],
      ['relu_forward', 'block.relu1'],
      ['conv2d_forward', 'block.conv1'],
      ['shortcut_a_forward', 'block.downsample'],
      ['add', 'block'],
      ['relu_forward', 'block.relu'],
    ]);
    const preactivated = graph.nodes[1].outputs[0];
    expect(graph.nodes[2].inputs[0]).toBe(preactivated);
    expect(graph.nodes[3].inputs[0]).toBe(preactivated);
    expect(graph.nodes[0].inputs[0]).toBe(input);
    expect(graph.nodes[4].inputs).toEqual([graph.nodes[2].outputs[0], graph.nodes[3].outputs[0]]);
    expect(graph.shape(output)).toEqual([2, 8, 3, 3]);
    expect(block.stateDictKeys()).toEqual(['bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'conv1.weight']);
  });

  it('an identity shortcut adds the block input; a shape mismatch names the shortcut', () => {
    const id = new Residual({ branch: [['conv1', new Conv2d(4, 4, 3, { padding: 1 })]] });
    const { graph, input } = trace(id, [4, 3, 3]);
    expect(graph.nodes[1]).toMatchObject({ op: 'add', inputs: [graph.nodes[0].outputs[0], input] });
    const bad = new Sequential([['layer', new Residual({ branch: [['conv1', new Conv2d(4, 8, 3, { padding: 1 })]] })]]);
    expect(() => trace(bad, [4, 3, 3])).toThrow("Residual layer: Expected the branch's shape [1,8,3,3] for the shortcut output (identity) but received [1,4,3,3]");
    expect(() => new Residual({ branch: [] })).toThrow(/non-empty list/);
  });

  it('ShortcutA is the identity when nothing changes and checks its input', () => {
    expect(trace(new ShortcutA(4, 4, 1), [4, 3, 3]).graph.nodes).toHaveLength(0);
    const { graph, output } = trace(new ShortcutA(16, 32, 2), [16, 7, 7]);
    expect(graph.nodes[0]).toMatchObject({ op: 'shortcut_a_forward', attrs: { stride: 2 } });
    expect(graph.shape(output)).toEqual([1, 32, 4, 4]);
    expect(() => trace(new ShortcutA(16, 32, 2), [8, 7, 7])).toThrow(/Expected \[N,16,H,W\] for input x but received \[1,8,7,7\]/);
    expect(() => new ShortcutA(16, 8, 2)).toThrow(/Expected an integer ≥ 16 for outChannels but received 8/);
  });
});
