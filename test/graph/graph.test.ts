// The forward IR: shape inference against PyTorch's rules, native op names and attrs, in-place BN outputs, errors.
import { describe, expect, it } from 'vitest';

import { Graph, windowOutputSize } from '../../lib/graph/graph.js';
import { ResnetError } from '../../lib/runtime/errors.js';

function catchError(fn: () => unknown): ResnetError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ResnetError);
    return error as ResnetError;
  }
  throw new Error('expected a ResnetError');
}

describe('windowOutputSize', () => {
  // [size, kernel, stride, padding, dilation, ceilMode, PyTorch's output size] — read off torch 2.13.
  const cases: Array<[number, number, number, number, number, boolean, number]> = [
    [7, 5, 2, 1, 1, false, 3],
    [9, 3, 2, 1, 1, false, 5],
    [9, 3, 1, 2, 2, false, 9],
    [224, 7, 2, 3, 1, false, 112],
    [10, 3, 3, 0, 2, false, 2],
    [6, 3, 2, 0, 1, false, 2],
    [6, 3, 2, 0, 1, true, 3],
    [5, 2, 2, 1, 1, true, 3],
    [7, 3, 2, 1, 1, true, 4],
    [32, 3, 2, 1, 1, true, 17],
    [112, 3, 2, 1, 1, false, 56],
    [1, 1, 1, 0, 1, true, 1],
    // ceil mode would give 5, but the last window would start in the right padding: PyTorch drops it.
    [10, 4, 3, 2, 1, true, 4],
  ];
  it.each(cases)('size %i kernel %i stride %i pad %i dilation %i ceil %s → %i', (size, k, s, p, d, ceil, out) => {
    expect(windowOutputSize(size, k, s, p, d, ceil)).toBe(out);
  });

  it('floor mode counts exactly the windows that fit in the padded input', () => {
    for (let size = 1; size <= 12; size++) {
      for (const [k, s, p, d] of [[1, 1, 0, 1], [3, 1, 1, 1], [3, 2, 1, 1], [2, 3, 0, 1], [3, 2, 2, 2], [5, 3, 2, 1]]) {
        let windows = 0;
        for (let start = 0; start + d * (k - 1) < size + 2 * p; start += s) windows++;
        expect(windowOutputSize(size, k, s, p, d)).toBe(windows);
      }
    }
  });
});

describe('Graph values', () => {
  it('declares inputs, labels, params and buffers with kinds, names and sequential ids', () => {
    const g = new Graph();
    const x = g.input('input', [2, 3, 8, 8]);
    const y = g.label('label', [2]);
    const w = g.param('conv1.weight', [4, 3, 3, 3]);
    const rm = g.buffer('bn1.running_mean', [4]);
    expect([x, y, w, rm]).toEqual([0, 1, 2, 3]);
    expect(g.values.map((v) => [v.kind, v.dtype, v.name])).toEqual([
      ['input', 'float32', 'input'],
      ['label', 'int32', 'label'],
      ['param', 'float32', 'conv1.weight'],
      ['buffer', 'float32', 'bn1.running_mean'],
    ]);
    expect(g.lookup('conv1.weight')?.id).toBe(w);
    expect(g.ofKind('param').map((v) => v.id)).toEqual([w]);
    expect(g.mode).toBe('train');
  });

  it('returns the same param for the same name and shape, and rejects a clash', () => {
    const g = new Graph();
    const w = g.param('fc.weight', [10, 64]);
    expect(g.param('fc.weight', [10, 64])).toBe(w);
    expect(() => g.param('fc.weight', [10, 32])).toThrow(/Expected param float32\[10,32\] for 'fc.weight' but received param float32\[10,64\]/);
    expect(() => g.input('fc.weight', [1])).toThrow(/already a param/);
    expect(() => g.input('bad', [2, 0])).toThrow(/Expected positive integer sizes for shape of 'bad' but received \[2,0\]/);
    expect(() => new Graph('test' as never)).toThrow(/'train' or 'eval'/);
  });

  it('copies shapes, so editing one value cannot change another', () => {
    const g = new Graph();
    const x = g.input('input', [2, 3, 4, 4]);
    const y = g.relu(x);
    g.values[y].shape[0] = 99;
    expect(g.values[x].shape).toEqual([2, 3, 4, 4]);
  });
});

describe('Graph builders', () => {
  it('conv2d: output shape, op name, attrs, optional bias', () => {
    const g = new Graph();
    const x = g.input('input', [2, 3, 7, 9]);
    const w = g.param('w', [8, 3, 5, 3]);
    const b = g.param('b', [8]);
    const y = g.conv2d(x, w, b, { stride: 2, padding: [1, 1] });
    // OH = floor((7+2−4−1)/2)+1 = 3, OW = floor((9+2−2−1)/2)+1 = 5
    expect(g.shape(y)).toEqual([2, 8, 3, 5]);
    expect(g.nodes[0]).toEqual({ op: 'conv2d_forward', inputs: [x, w, b], outputs: [y], attrs: { stride: [2, 2], padding: [1, 1], dilation: [1, 1] } });
    const z = g.conv2d(x, w, undefined, { dilation: [1, 2], padding: [2, 2] });
    expect(g.nodes[1].inputs).toEqual([x, w]);
    // OW = floor((9+4−2·2−1)/1)+1 = 9
    expect(g.shape(z)).toEqual([2, 8, 7, 9]);
    expect(g.values[y].kind).toBe('activation');
  });

  it('conv2d: errors name the module path and the shapes', () => {
    const g = new Graph();
    const x = g.input('input', [2, 32, 8, 8]);
    const w = g.param('layer1.0.conv1.weight', [64, 64, 3, 3]);
    const error = catchError(() => g.within('layer1', () => g.within('0', () => g.within('conv1', () => g.conv2d(x, w, undefined)))));
    expect(error.code).toBe('RN_SHAPE_MISMATCH');
    expect(error.message).toBe('conv2d_forward in layer1.0.conv1: Expected 64 channels (weight [64,64,3,3]) for input x but received [2,32,8,8]');
    const small = g.input('small', [1, 64, 2, 2]);
    expect(() => g.conv2d(small, w, undefined)).toThrow(/fits the 3×3 window \(output 0×0\) for input x but received \[1,64,2,2\]/);
    expect(() => g.conv2d(x, w, undefined, { stride: 0 })).toThrow(/Expected an integer ≥ 1 for stride\[0\] but received 0/);
    const b = g.param('b', [3]);
    const ok = g.input('ok', [1, 64, 4, 4]);
    expect(() => g.conv2d(ok, w, b)).toThrow(/Expected shape \[64\] for bias but received \[3\]/);
    expect(() => g.conv2d(99, w, undefined)).toThrow(/value id of this graph/);
    expect(g.nodes).toHaveLength(0);
  });

  it('batchNorm in training: running stats updated in place, save_mean/save_invstd aux', () => {
    const g = new Graph('train');
    const x = g.input('input', [4, 3, 5, 5]);
    const [gamma, beta] = [g.param('bn.weight', [3]), g.param('bn.bias', [3])];
    const [rm, rv] = [g.buffer('bn.running_mean', [3]), g.buffer('bn.running_var', [3])];
    const y = g.batchNorm(x, gamma, beta, rm, rv, { eps: 1e-5, momentum: 0.1 });
    const node = g.nodes[0];
    expect(node.op).toBe('batchnorm_forward_training');
    expect(node.inputs).toEqual([x, gamma, beta, rm, rv]);
    expect(node.outputs[0]).toBe(y);
    expect(node.outputs[1]).toBe(node.inputs[3]);
    expect(node.outputs[2]).toBe(node.inputs[4]);
    expect(node.outputs.slice(3).map((id) => [g.values[id].kind, g.values[id].shape])).toEqual([['aux', [3]], ['aux', [3]]]);
    expect(node.attrs).toEqual({ eps: 1e-5, momentum: 0.1 });
    expect(g.shape(y)).toEqual([4, 3, 5, 5]);
  });

  it('batchNorm in eval mode (or asked for inference) uses running statistics', () => {
    for (const g of [new Graph('eval'), new Graph('train')]) {
      const x = g.input('input', [1, 2, 1, 1]);
      const ids = [g.param('w', [2]), g.param('b', [2]), g.buffer('m', [2]), g.buffer('v', [2])];
      const inference = g.mode === 'train' ? { inference: true } : {};
      const y = g.batchNorm(x, ids[0], ids[1], ids[2], ids[3], { eps: 1e-3, ...inference });
      expect(g.nodes[0]).toEqual({ op: 'batchnorm_forward_inference', inputs: [x, ...ids], outputs: [y], attrs: { eps: 1e-3 } });
    }
  });

  it('batchNorm rejects wrong parameter shapes and a single value per channel in training', () => {
    const g = new Graph();
    const x = g.input('input', [1, 3, 1, 1]);
    const p3 = g.param('p3', [3]);
    const p4 = g.param('p4', [4]);
    expect(() => g.batchNorm(x, p4, p3, p3, p3)).toThrow(/Expected shape \[3\] for gamma but received \[4\]/);
    expect(() => g.batchNorm(x, p3, p3, p3, p3)).toThrow(/more than one value per channel in training for input x but received \[1,3,1,1\]/);
    const flat = g.input('flat', [2, 3]);
    expect(() => g.batchNorm(flat, p3, p3, p3, p3)).toThrow(/Expected a rank-4 tensor for input x but received \[2,3\]/);
  });

  it('relu and add', () => {
    const g = new Graph();
    const a = g.input('a', [2, 3, 4, 4]);
    const b = g.input('b', [2, 3, 4, 4]);
    const r = g.relu(a);
    const c = g.add(r, b);
    expect(g.nodes.map((n) => [n.op, n.inputs, n.outputs, n.attrs])).toEqual([
      ['relu_forward', [a], [r], {}],
      ['add', [r, b], [c], {}],
    ]);
    const other = g.input('other', [2, 6, 2, 2]);
    expect(() => g.add(a, other)).toThrow(/add: Expected shape \[2,3,4,4\] \(as a\) for b but received \[2,6,2,2\]/);
    const labels = g.label('labels', [2]);
    expect(() => g.relu(labels)).toThrow(/Expected float32 for input x but received int32\[2\]/);
  });

  it('maxPool2d: int32 indices as aux, attrs kernel/stride/padding/ceil_mode', () => {
    const g = new Graph();
    const x = g.input('input', [2, 64, 112, 112]);
    const y = g.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 });
    expect(g.shape(y)).toEqual([2, 64, 56, 56]);
    const node = g.nodes[0];
    expect(node.op).toBe('maxpool2d_forward');
    expect(node.attrs).toEqual({ kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: false });
    const indices = g.values[node.outputs[1]];
    expect([indices.kind, indices.dtype, indices.shape]).toEqual(['aux', 'int32', [2, 64, 56, 56]]);
    const z = g.maxPool2d(g.input('odd', [1, 1, 10, 10]), { kernel: 4, stride: 3, padding: 2, ceilMode: true });
    expect(g.shape(z)).toEqual([1, 1, 4, 4]);
    expect(() => g.maxPool2d(x, { kernel: 2, padding: 2 })).toThrow(/Expected at most half the kernel \[2,2\] for padding but received \[2,2\]/);
  });

  it('avgPool2d defaults: stride = kernel, count_include_pad true', () => {
    const g = new Graph();
    const x = g.input('input', [2, 64, 8, 8]);
    const y = g.avgPool2d(x, { kernel: 8 });
    expect(g.shape(y)).toEqual([2, 64, 1, 1]);
    expect(g.nodes[0]).toMatchObject({ op: 'avgpool2d_forward', attrs: { kernel: [8, 8], stride: [8, 8], padding: [0, 0], ceil_mode: false, count_include_pad: true } });
    g.avgPool2d(x, { kernel: [3, 2], stride: 1, padding: [1, 1], countIncludePad: false });
    expect(g.shape(g.nodes[1].outputs[0])).toEqual([2, 64, 8, 9]);
    expect(g.nodes[1].attrs.count_include_pad).toBe(false);
  });

  it('globalAvgPool, linear, shortcutA, concat, reshape', () => {
    const g = new Graph();
    const x = g.input('input', [3, 16, 7, 5]);
    const p = g.globalAvgPool(x);
    expect(g.shape(p)).toEqual([3, 16]);
    const w = g.param('fc.weight', [10, 16]);
    const b = g.param('fc.bias', [10]);
    expect(g.shape(g.linear(p, w, b))).toEqual([3, 10]);
    expect(g.nodes[1]).toMatchObject({ op: 'linear_forward', inputs: [p, w, b], attrs: {} });
    expect(() => g.linear(p, g.param('w2', [10, 15]))).toThrow(/linear_forward: Expected 15 features \(weight \[10,15\]\) for input x but received \[3,16\]/);

    const s = g.shortcutA(x, 2, 32);
    expect(g.shape(s)).toEqual([3, 32, 4, 3]); // ceil(7/2), ceil(5/2)
    expect(g.nodes.at(-1)).toMatchObject({ op: 'shortcut_a_forward', attrs: { stride: 2 } });
    expect(() => g.shortcutA(x, 2, 8)).toThrow(/Expected an integer ≥ 16 for outChannels but received 8/);

    const c = g.concat([x, g.input('other', [3, 4, 7, 5])]);
    expect(g.shape(c)).toEqual([3, 20, 7, 5]);
    expect(g.nodes.at(-1)).toMatchObject({ op: 'concat_forward', attrs: {} });
    expect(() => g.concat([x, g.input('bad', [3, 4, 7, 6])])).toThrow(/Expected shape \[3,\*,7,5\] \(as parts\[0\]\) for parts\[1\] but received \[3,4,7,6\]/);

    const r = g.reshape(x, [3, 16 * 7 * 5]);
    expect(g.nodes.at(-1)).toMatchObject({ op: 'reshape', inputs: [x], outputs: [r], attrs: {} });
    expect(() => g.reshape(x, [3, 16])).toThrow(/Expected 1680 elements \(as x \[3,16,7,5\]\) for shape but received \[3,16\]/);
  });

  it('dropout: one shared int64 seed input, a uint8 mask, identity in eval mode', () => {
    const g = new Graph('train');
    const x = g.input('input', [4, 10]);
    const y1 = g.dropout(x, 0.5);
    const y2 = g.dropout(y1, 0.2);
    const seed = g.lookup('dropout_seed')!;
    expect([seed.kind, seed.dtype, seed.shape]).toEqual(['input', 'int64', [1]]);
    expect(g.nodes.map((n) => [n.op, n.inputs, n.attrs])).toEqual([
      ['dropout_forward', [x, seed.id], { p: 0.5 }],
      ['dropout_forward', [y1, seed.id], { p: 0.2 }],
    ]);
    const mask = g.values[g.nodes[0].outputs[1]];
    expect([mask.kind, mask.dtype, mask.shape]).toEqual(['aux', 'uint8', [4, 10]]);
    expect(g.shape(y2)).toEqual([4, 10]);
    expect(g.dropout(y2, 0)).toBe(y2);
    expect(() => g.dropout(x, 1)).toThrow(/Expected a number in \[0, 1\) for p but received 1/);

    const e = new Graph('eval');
    const ex = e.input('input', [4, 10]);
    expect(e.dropout(ex, 0.5)).toBe(ex);
    expect(e.nodes).toHaveLength(0);
    expect(e.lookup('dropout_seed')).toBeUndefined();
  });

  it('nodes carry the module path given by within(); root nodes carry none', () => {
    const g = new Graph();
    const x = g.input('input', [1, 2, 3, 3]);
    const y = g.relu(x);
    g.within('layer1', () => g.within('0', () => {
      expect(g.modulePath).toBe('layer1.0');
      expect(g.qualify('weight')).toBe('layer1.0.weight');
      g.relu(y);
    }));
    expect(g.modulePath).toBe('');
    expect(g.qualify('weight')).toBe('weight');
    expect('module' in g.nodes[0]).toBe(false);
    expect(g.nodes[1].module).toBe('layer1.0');
  });
});

describe('Graph summaries', () => {
  it('macs counts conv and linear multiply-adds for the whole batch', () => {
    const g = new Graph();
    const x = g.input('input', [2, 3, 8, 8]);
    const c = g.conv2d(x, g.param('w', [4, 3, 3, 3]), undefined, { padding: 1 }); // [2,4,8,8]
    const p = g.globalAvgPool(g.relu(c)); // no MACs
    g.linear(p, g.param('fc', [5, 4]));
    let conv = 0;
    for (let n = 0; n < 2; n++) for (let k = 0; k < 4; k++) for (let i = 0; i < 64; i++) conv += 3 * 3 * 3;
    expect(g.macs()).toBe(conv + 2 * 5 * 4);
  });

  it('describe lists declarations and nodes with module paths', () => {
    const g = new Graph('eval');
    const x = g.input('input', [1, 3, 4, 4]);
    g.within('conv1', () => g.conv2d(x, g.param('conv1.weight', [2, 3, 1, 1]), undefined));
    const text = g.describe();
    expect(text).toContain('Graph(eval): 3 values, 1 nodes, 96 MACs');
    expect(text).toContain('param  conv1.weight %1:float32[2,3,1,1]');
    expect(text).toContain('conv2d_forward [conv1] (%0:float32[1,3,4,4], %1:float32[2,3,1,1]) → (%2:float32[1,2,4,4]) {stride=[1,1] padding=[0,0] dilation=[1,1]}');
  });
});

describe('Graph extension points', () => {
  it('addValue and addNode append what backward rules need, with the module path and id checks', () => {
    const g = new Graph();
    const x = g.input('input', [2, 4]);
    const logits = g.linear(x, g.param('fc.weight', [3, 4]));
    const labels = g.label('labels', [2]);
    const loss = g.addValue([1], 'float32', 'activation');
    const probs = g.addValue([2, 3], 'float32', 'aux');
    const node = g.within('loss', () => g.addNode('softmax_cross_entropy_forward', [logits, labels], [loss, probs]));
    expect(node).toEqual({ op: 'softmax_cross_entropy_forward', inputs: [logits, labels], outputs: [loss, probs], attrs: {}, module: 'loss' });
    expect(g.nodes.at(-1)).toBe(node);
    expect(g.addValue([1], 'int64', 'input', 'step')).toBe(g.lookup('step')!.id);
    expect(() => g.addNode('x', [99], [])).toThrow(/Expected an id in \[0, 7\) for value id but received 99/);
    expect(() => g.addValue([], 'float32', 'activation')).toThrow(/Expected positive integer sizes for shape of the new value but received \[\]/);
    expect(() => g.addValue([1], 'float64' as never, 'activation')).toThrow(/for dtype of the new value but received float64/);
    expect(() => g.addValue([1], 'float32', 'grad' as never)).toThrow(/for kind of the new value but received grad/);
  });
});
