// color_affine_u8 (uint8 crops + per-crop colour maps → the normalised float32 input) against a float64 reference of
// y[n, r] = Σ_k (M[r, k] / 255)·x[n, k] + c[r], on every available device; the maps are real ones (colorAffineOfMean).
// Tolerance: |y − ref| ≤ 1e-5·max(1, |ref|) (float32 arithmetic on values of a few units: a few ulp).
import { describe, expect, it } from 'vitest';

import { IMAGENET_MEAN, IMAGENET_STD, colorAffine, drawColor } from '../../lib/data/imagenet-transforms.js';
import { Rng } from '../../lib/data/random.js';
import { colorAffineU8 } from '../../lib/ops/normalize.js';
import type { ResnetError } from '../../lib/runtime/errors.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { randint, size } from '../util/random.js';
import { testDevices, values } from '../util/tensors.js';

function colorAffineRef(x: Uint8Array, maps: Float32Array, shape: readonly number[]): Float64Array {
  const [n, , h, w] = shape;
  const plane = h * w;
  const y = new Float64Array(x.length);
  for (let i = 0; i < n; i++) {
    const m = maps.subarray(i * 12, i * 12 + 12);
    for (let p = 0; p < plane; p++) {
      const at = i * 3 * plane + p;
      const rgb = [x[at], x[at + plane], x[at + 2 * plane]];
      for (let r = 0; r < 3; r++) {
        y[at + r * plane] = (m[r * 3] * rgb[0] + m[r * 3 + 1] * rgb[1] + m[r * 3 + 2] * rgb[2]) / 255 + m[9 + r];
      }
    }
  }
  return y;
}

/** Real crop maps: seeded jitter and lighting draws at random crop means, then ImageNet normalisation. */
function maps(count: number, seed: number): Float32Array {
  const rng = Rng.seeded(seed);
  const out = new Float32Array(count * 12);
  for (let i = 0; i < count; i++) {
    const draw = i % 3 === 2 ? null : drawColor(rng, { brightness: 0.4, contrast: 0.4, saturation: 0.4 }, 0.1);
    const mean = [rng.float(), rng.float(), rng.float()];
    out.set(colorAffine(draw, mean, { mean: IMAGENET_MEAN, std: IMAGENET_STD }), i * 12);
  }
  return out;
}

async function errorOf(promise: Promise<unknown>): Promise<ResnetError> {
  return promise.then(
    () => expect.fail('expected an error') as never,
    (e: unknown) => e as ResnetError,
  );
}

describe.each(testDevices)('color_affine_u8 on %s', (device) => {
  it.each([[[1, 3, 4, 5]], [[3, 3, 7, 9]], [[5, 3, 32, 32]], [[2, 3, 1, 1]], [[2, 3, 70, 70]]])('y = M·(x/255) + c for %j', async (shape) => {
    const bytes = Uint8Array.from(randint(size(shape), shape[2] * 7 + shape[0], 256));
    bytes[0] = 0;
    bytes[bytes.length - 1] = 255;
    const m = maps(shape[0], shape[3]);
    const x = Tensor.fromArray(bytes, shape, { dtype: 'uint8', device });
    const mt = Tensor.fromArray(m, [shape[0], 12], { device });
    const y = await colorAffineU8(x, mt);
    expect(y.dtype).toBe('float32');
    expect(y.shape).toEqual(shape);
    expect(y.device.name).toBe(device);
    const got = await values(y);
    const want = colorAffineRef(bytes, m, shape);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it('writes into an existing tensor (out)', async () => {
    const shape = [2, 3, 3, 3];
    const bytes = Uint8Array.from(randint(size(shape), 9, 256));
    const m = maps(2, 4);
    const x = Tensor.fromArray(bytes, shape, { dtype: 'uint8', device });
    const out = Tensor.zeros(shape, { device });
    const y = await colorAffineU8(x, Tensor.fromArray(m, [2, 12], { device }), out);
    expect(y).toBe(out);
    const got = await values(out);
    const want = colorAffineRef(bytes, m, shape);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i])));
  });

  it('rejects bad inputs naming the op, then still works', async () => {
    const x = Tensor.fromArray(new Uint8Array(2 * 3 * 2 * 2).fill(255), [2, 3, 2, 2], { dtype: 'uint8', device });
    const m = Tensor.fromArray(maps(2, 1), [2, 12], { device });
    expect(await errorOf(colorAffineU8(Tensor.zeros([2, 3, 2, 2], { device }), m))).toMatchObject({
      code: 'RN_DTYPE_MISMATCH',
      message: expect.stringMatching(/^colorAffineU8: .*x.*uint8/),
    });
    expect(await errorOf(colorAffineU8(Tensor.zeros([2, 1, 2, 2], { dtype: 'uint8', device }), m))).toMatchObject({
      code: 'RN_SHAPE_MISMATCH',
      message: expect.stringMatching(/^colorAffineU8: .*\[N, 3, H, W\]/),
    });
    expect(await errorOf(colorAffineU8(x, Tensor.zeros([3, 12], { device })))).toMatchObject({
      code: 'RN_SHAPE_MISMATCH',
      message: expect.stringMatching(/^colorAffineU8: .*float32\[2,12\]/),
    });
    expect(await errorOf(colorAffineU8(x, Tensor.zeros([2, 9], { device })))).toMatchObject({ code: 'RN_SHAPE_MISMATCH' });
    expect(await errorOf(colorAffineU8(x, Tensor.zeros([2, 12], { dtype: 'int32', device })))).toMatchObject({ code: 'RN_DTYPE_MISMATCH' });
    expect(await errorOf(colorAffineU8(x, m, Tensor.zeros([2, 3, 2, 3], { device })))).toMatchObject({
      code: 'RN_SHAPE_MISMATCH',
      message: expect.stringMatching(/^colorAffineU8: .*out/),
    });
    const identity = Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0.5);
    identity.set([2, 0, 0, 0, 2, 0, 0, 0, 2, -1, -1, -1], 12);
    const y = await colorAffineU8(x, Tensor.fromArray(identity, [2, 12], { device }));
    // 255·fround(1/255) is 1 within an ulp.
    for (const v of await values(y)) expect(Math.abs(v - 1)).toBeLessThanOrEqual(2 ** -23);
  });
});
