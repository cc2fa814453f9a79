// The in-process all-reduce: several CPU devices, sums and means against a float64 reference, the replica
// weight, identical bits on every rank, and a missing rank failing with an error that names it.
import { describe, expect, it } from 'vitest';

import { InProcessGroup, allreduce } from '../../lib/parallel/group.js';
import { Device } from '../../lib/runtime/device.js';
import type { ResnetError } from '../../lib/runtime/errors.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { randn } from '../util/random.js';

const devices = ['cpu', 'cpu:1', 'cpu:2'];
const length = 10_007; // not a multiple of the group size: uneven slices

function buffers(seed: number): Float32Array[] {
  return devices.map((_, k) => Float32Array.from(randn(length, seed + k)));
}

async function reduceAll(group: InProcessGroup, data: Float32Array[], options: { average?: boolean; weights?: number[] }): Promise<Float32Array[]> {
  const tensors = data.map((d, k) => Tensor.fromArray(d, [length], { device: group.devices[k] }));
  await Promise.all(tensors.map((t, k) => allreduce(group, t, { average: options.average, weight: options.weights?.[k] })));
  const out = await Promise.all(tensors.map(async (t) => (await t.toArray()) as Float32Array));
  tensors.forEach((t) => t.dispose());
  return out;
}

function expectClose(actual: Float32Array, expected: Float64Array): void {
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  expect(worst).toBeLessThan(1e-6);
}

describe('CPU devices', () => {
  it("'cpu' and 'cpu:0' are one Device; 'cpu:N' are further devices with their own names", () => {
    expect(Device.from('cpu')).toBe(Device.from('cpu:0'));
    expect(Device.from('cpu:0').name).toBe('cpu');
    expect(Device.from('cpu:2').name).toBe('cpu:2');
    expect(Device.from('cpu:2')).not.toBe(Device.from('cpu'));
    expect(Tensor.zeros([2], { device: 'cpu:3' }).device.name).toBe('cpu:3');
  });
});

describe('allreduce_mean (in-process group)', () => {
  it('sums and averages 3 replicas’ buffers, every rank ending with the same bits', async () => {
    const group = new InProcessGroup(devices);
    const data = buffers(11);
    const sum = Float64Array.from({ length }, (_, i) => data.reduce((s, d) => s + d[i], 0));
    const summed = await reduceAll(group, data, { average: false });
    for (const out of summed) expectClose(out, sum);
    expect(Buffer.from(summed[1].buffer).equals(Buffer.from(summed[0].buffer))).toBe(true);
    expect(Buffer.from(summed[2].buffer).equals(Buffer.from(summed[0].buffer))).toBe(true);

    const averaged = await reduceAll(group, data, {});
    for (const out of averaged) expectClose(out, sum.map((s) => s / 3));
    group.destroy();
  });

  it('weights each contribution; weight 0 adds zeros even over NaN', async () => {
    const group = new InProcessGroup(devices);
    const data = buffers(21);
    data[2].fill(Number.NaN);
    const expected = Float64Array.from({ length }, (_, i) => 0.5 * data[0][i] + 2 * data[1][i]);
    for (const out of await reduceAll(group, data, { average: false, weights: [0.5, 2, 0] })) expectClose(out, expected);
    group.destroy();
  });

  it('a rank that never arrives fails the others with RN_COLLECTIVE_TIMEOUT naming it, and the group stays failed', async () => {
    const group = new InProcessGroup(devices, { timeoutSeconds: 0.3 });
    const tensors = [0, 1].map((k) => Tensor.zeros([16], { device: group.devices[k] }));
    const started = performance.now();
    const settled = await Promise.allSettled(tensors.map((t) => allreduce(group, t)));
    const seconds = (performance.now() - started) / 1000;
    expect(seconds).toBeLessThan(10);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      const error = (s as PromiseRejectedResult).reason as ResnetError;
      expect(error.code).toBe('RN_COLLECTIVE_TIMEOUT');
      expect(error.message).toMatch(/rank 2 \(cpu:2\), which did not arrive/);
    }
    // The late rank, and any later collective of the group, fail at once with the same error.
    const late = Tensor.zeros([16], { device: 'cpu:2' });
    await expect(allreduce(group, late)).rejects.toMatchObject({ code: 'RN_COLLECTIVE_TIMEOUT', message: expect.stringContaining('rank 2 (cpu:2)') });
    group.destroy();
  });

  it('rejects a device twice, a device outside the group and a destroyed group', async () => {
    expect(() => new InProcessGroup(['cpu', 'cpu:0'])).toThrow(/distinct devices/);
    const group = new InProcessGroup(['cpu:1', 'cpu:2']);
    await expect(allreduce(group, Tensor.zeros([4]))).rejects.toThrow(/one of cpu:1, cpu:2/);
    group.destroy();
    await expect(allreduce(group, Tensor.zeros([4], { device: 'cpu:1' }))).rejects.toMatchObject({ code: 'RN_INVALID_ARGUMENT', message: expect.stringContaining('no collective group') });
  });
});
