// The eager functional API's one execution path: a one-op Program, cached by op, attributes and shapes.
import type { Device } from '../runtime/device.js';
import { type Layout, blockable } from '../runtime/layout.js';
import { ResnetError, expected, formatShape } from '../runtime/errors.js';
import { type AttrValue, type ValueSpec, native } from '../runtime/native.js';
import { Program } from '../runtime/program.js';
import { type DType, Tensor } from '../runtime/tensor.js';

export type Attrs = Record<string, AttrValue | undefined>;

/**
 * A fresh output the op allocates, or an existing tensor it writes (in place when it is also an input). A fresh
 * output without a layout is blocked (nChw16c) when the op's kernel takes that layout, an input of rank 4 is
 * blocked and the output can be ([N, C, H, W] with C % 16 == 0; not a weight gradient); otherwise nchw.
 */
export type OutputSpec = { shape: readonly number[]; dtype?: DType; layout?: Layout } | Tensor;

const anyLayoutOps = new Map<string, ReadonlySet<string>>();

/** Ops whose kernels on this device's backend take blocked (nChw16c) operands, as the addon registers them. */
export function anyLayoutOpsOf(device: Device): ReadonlySet<string> {
  let ops = anyLayoutOps.get(device.kind);
  if (!ops) {
    ops = new Set(native().kernelNames(device.kind, true));
    anyLayoutOps.set(device.kind, ops);
  }
  return ops;
}

function freshLayout(op: string, device: Device, inputs: readonly Tensor[], out: { shape: readonly number[]; dtype?: DType; layout?: Layout }): Layout {
  if (out.layout) return out.layout;
  if (op === 'conv2d_backward_weights' || !blockable(out.shape, out.dtype ?? 'float32')) return 'nchw';
  if (!inputs.some((t) => t.rank === 4 && t.layout === 'nChw16c')) return 'nchw';
  return anyLayoutOpsOf(device).has(op) ? 'nChw16c' : 'nchw';
}

const CACHE_LIMIT = 512;
const cache = new Map<string, Program>();

function signature(t: { shape: readonly number[]; dtype: string; layout?: Layout }): string {
  return `${t.dtype}${formatShape(t.shape)}${t.layout === 'nChw16c' ? ' nChw16c' : ''}`;
}

function cached(key: string, make: () => Program): Program {
  let program = cache.get(key);
  if (program) {
    cache.delete(key); // re-insert: most recently used last
    cache.set(key, program);
    return program;
  }
  program = make();
  cache.set(key, program);
  if (cache.size > CACHE_LIMIT) {
    const [oldestKey, oldest] = cache.entries().next().value as [string, Program];
    cache.delete(oldestKey);
    oldest.dispose();
  }
  return program;
}

/** Number of cached one-op programs (for tests and leak checks). */
export function eagerCacheSize(): number {
  return cache.size;
}

export function clearEagerCache(): void {
  for (const program of cache.values()) program.dispose();
  cache.clear();
}

/** Checks that every input is a live tensor on one device; returns that device. */
export function commonDevice(op: string, inputs: readonly Tensor[]): Device {
  if (inputs.length === 0) throw new ResnetError('RN_INVALID_ARGUMENT', 'no input tensors', op);
  for (const [i, t] of inputs.entries()) {
    if (!(t instanceof Tensor)) throw expected('RN_INVALID_ARGUMENT', op, `input ${i}`, 'a Tensor', typeof t);
    if (t.disposed) throw new ResnetError('RN_DISPOSED', `input ${i} (${signature(t)}) has been disposed`, op);
    if (t.device !== inputs[0].device) {
      throw expected('RN_INVALID_ARGUMENT', op, `input ${i}`, `device ${inputs[0].device}`, `${t.device}`);
    }
  }
  return inputs[0].device;
}

/**
 * Runs `op` once. Inputs are bound as given; each output is either allocated here or an existing tensor
 * (aliasing an input when it is the same object). Resolves with the output tensors in order.
 */
export async function runOp(
  op: string,
  inputs: readonly Tensor[],
  outputs: readonly OutputSpec[],
  attrs: Attrs = {},
): Promise<Tensor[]> {
  const device = commonDevice(op, inputs);
  if (!anyLayoutOpsOf(device).has(op)) {
    for (const [i, t] of [...inputs, ...outputs].entries()) {
      if (t instanceof Tensor && t.layout !== 'nchw') {
        throw expected('RN_INVALID_ARGUMENT', op, `${i < inputs.length ? `input ${i}` : `output ${i - inputs.length}`} (${signature(t)})`, 'layout nchw (this op takes no other on ' + device.kind + ')', `${t.layout} (convert with toLayout)`);
      }
    }
  }
  const bound: Tensor[] = [...inputs];
  const outputIds: number[] = [];
  const fresh: Tensor[] = [];
  const results: Tensor[] = [];
  const aliasKey: string[] = [];
  for (const out of outputs) {
    if (out instanceof Tensor) {
      if (out.disposed) throw new ResnetError('RN_DISPOSED', `output ${signature(out)} has been disposed`, op);
      const alias = inputs.indexOf(out);
      if (alias >= 0) {
        outputIds.push(alias);
        aliasKey.push(`a${alias}`);
      } else {
        outputIds.push(bound.length);
        bound.push(out);
        aliasKey.push('x');
      }
      results.push(out);
    } else {
      const t = Tensor.empty(out.shape, { dtype: out.dtype ?? 'float32', device, layout: freshLayout(op, device, inputs, out) });
      fresh.push(t);
      outputIds.push(bound.length);
      bound.push(t);
      results.push(t);
      aliasKey.push('n');
    }
  }
  const key = [op, device.name, JSON.stringify(attrs), bound.map(signature).join(';'), aliasKey.join(',')].join('|');
  try {
    const program = cached(key, () => {
      const values: ValueSpec[] = bound.map((t) => ({ shape: t.shape, dtype: t.dtype, ...(t.layout === 'nchw' ? {} : { layout: t.layout }) }));
      return new Program(device, {
        values,
        ops: [{ op, inputs: inputs.map((_, i) => i), outputs: outputIds, attrs }],
        externals: values.map((_, i) => i),
        arenaBytes: 0,
      });
    });
    await program.run(bound);
  } catch (error) {
    for (const t of fresh) t.dispose();
    const broken = cache.get(key);
    if (broken) {
      cache.delete(key);
      broken.dispose();
    }
    throw error;
  }
  return results;
}
