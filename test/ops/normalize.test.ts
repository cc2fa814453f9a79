// normalize_u8 (uint8 batch → float32, per-channel mean/std on the 0–255 scale) against a float64 reference rounded
// to float32 — the op's result exactly — and against lib/data's fillBatch, on every available device.
import { describe, expect, it } from 'vitest';

import { CIFAR10_NORMALIZATION, type ImageSet } from '../../lib/data/cifar.js';
import { fillBatch } from '../../lib/data/transforms.js';
import { normalizeU8 } from '../../lib/ops/normalize.js';
import type { ResnetError } from '../../lib/runtime/errors.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { randint, size } from '../util/random.js';
import { testDevices, values } from '../util/tensors.js';

function normalizeRef(x: Uint8Array, shape: readonly number[], mean: readonly number[], std: readonly number[]): Float64Array {
  const [, c, h, w] = shape;
  const plane = h * w;
  return Float64Array.from(x, (v, i) => {
    const channel = Math.floor(i / plane) % c;
    return Math.fround((v - mean[channel]) / std[channel]);
  });
}

async function errorOf(promise: Promise<unknown>): Promise<ResnetError> {
  return promise.then(
    () => expect.fail('expected an error') as never,
    (e: unknown) => e as ResnetError,
  );
}

describe.each(testDevices)('normalize_u8 on %s', (device) => {
  const cases: { shape: number[]; mean: number[]; std: number[] }[] = [
    { shape: [1, 3, 4, 5], mean: [125.3, 123.0, 113.9], std: [63.0, 62.1, 66.7] }, // planes of 4k values
    { shape: [2, 1, 3, 3], mean: [0.5], std: [0.25] }, // odd planes
    { shape: [3, 5, 7, 9], mean: [0, 10, 127.5, 200, 255], std: [1, 2, 127.5, 3.5, 255] },
    { shape: [1, 2, 1, 1], mean: [128, 0], std: [64, 255] }, // integral lists travel as integers
  ];

  it.each(cases)('y = (x − mean[c]) / std[c] for %j', async ({ shape, mean, std }) => {
    const bytes = Uint8Array.from(randint(size(shape), 5 + shape[1], 256));
    bytes[0] = 0;
    bytes[bytes.length - 1] = 255;
    const x = Tensor.fromArray(bytes, shape, { dtype: 'uint8', device });
    const y = await normalizeU8(x, { mean, std });
    expect(y.dtype).toBe('float32');
    expect(y.shape).toEqual(shape);
    expect(y.device.name).toBe(device);
    expect(Array.from(await values(y))).toEqual(Array.from(normalizeRef(bytes, shape, mean, std)));
  });

  it('gives exactly what fillBatch gives for the same CIFAR images', async () => {
    const count = 4;
    const images = Uint8Array.from(randint(count * 3 * 32 * 32, 77, 256));
    const set: ImageSet = { images, labels: new Int32Array(count), count, channels: 3, height: 32, width: 32 };
    const expected = new Float32Array(count * 3 * 32 * 32);
    fillBatch(expected, set, [0, 1, 2, 3], CIFAR10_NORMALIZATION);
    const x = Tensor.fromArray(images, [count, 3, 32, 32], { dtype: 'uint8', device });
    const y = await normalizeU8(x, CIFAR10_NORMALIZATION);
    expect(Array.from((await y.toArray()) as Float32Array)).toEqual(Array.from(expected));
  });

  it('rejects bad inputs naming the op, then still works', async () => {
    const x = Tensor.fromArray(Uint8Array.of(0, 255, 7, 9), [1, 2, 1, 2], { dtype: 'uint8', device });
    const floats = Tensor.zeros([1, 2, 1, 2], { device });
    expect(await errorOf(normalizeU8(floats, { mean: [0, 0], std: [1, 1] }))).toMatchObject({
      code: 'RN_DTYPE_MISMATCH',
      message: expect.stringMatching(/^normalizeU8: .*uint8/),
    });
    expect(await errorOf(normalizeU8(x, { mean: [0], std: [1, 1] }))).toMatchObject({
      code: 'RN_INVALID_ARGUMENT',
      message: expect.stringContaining('2 finite numbers'),
    });
    expect(await errorOf(normalizeU8(x, { mean: [0, 0], std: [1, 0] }))).toMatchObject({ code: 'RN_INVALID_ARGUMENT' });
    expect(await errorOf(normalizeU8(x, { mean: [0, 0], std: [1, 1], scale: 2 } as never))).toMatchObject({
      code: 'RN_UNKNOWN_ATTRIBUTE',
    });
    const y = await normalizeU8(x, { mean: [0, 0], std: [1, 255] });
    expect(Array.from(await values(y))).toEqual([0, 255, 7 / 255, 9 / 255].map(Math.fround));
  });
});
