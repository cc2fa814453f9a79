// BatchLoader: seeded epochs that are permutations, partial last batches, shards that tile each batch, exact resume.
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { CIFAR10_NORMALIZATION } from '../../lib/data/cifar.js';
import { loadDigits } from '../../lib/data/digits.js';
import { type Batch, BatchLoader, type BatchLoaderOptions } from '../../lib/data/loader.js';
import { fillBatch } from '../../lib/data/transforms.js';
import { IMAGE_BYTES, bytesOf, indexedSet, reference } from './fixtures.js';

const set = indexedSet(23);
const trainOptions: BatchLoaderOptions = { batchSize: 8, normalization: CIFAR10_NORMALIZATION, train: true, seed: 17 };

async function collect(loader: BatchLoader, delays?: () => number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of loader.epoch()) {
    out.push(batch);
    if (delays) await sleep(delays());
  }
  return out;
}

const order = (batches: Batch[]) => batches.flatMap((b) => Array.from(b.y));

/** Everything a batch holds, x as its bytes: exact, and quick to compare. */
const fingerprint = (batches: Batch[]) => batches.map((b) => ({ index: b.index, epoch: b.epoch, size: b.size, y: Array.from(b.y), x: bytesOf(b.x) }));

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

describe('BatchLoader', () => {
  it('gives the same batches for the same seed, whatever the consumer does between them', async () => {
    const fast = new BatchLoader(set, trainOptions);
    const slow = new BatchLoader(set, trainOptions);
    let tick = 0;
    for (let epoch = 0; epoch < 2; epoch++) {
      const a = await collect(fast);
      const b = await collect(slow, () => [0, 5, 1, 12][tick++ % 4]);
      expect(fingerprint(b)).toEqual(fingerprint(a));
    }
    const other = await collect(new BatchLoader(set, { ...trainOptions, seed: 18 }));
    const first = await collect(new BatchLoader(set, trainOptions));
    expect(order(other)).not.toEqual(order(first));
  });

  it('visits each image once per epoch, in a fresh order each epoch', async () => {
    const loader = new BatchLoader(set, trainOptions);
    const orders: number[][] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      const batches = await collect(loader);
      expect(batches.map((b) => b.epoch)).toEqual([epoch, epoch, epoch]);
      orders.push(order(batches));
      expect([...orders[epoch]].sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    }
    expect(new Set(orders.map((o) => o.join())).size).toBe(3);
    expect(loader.epochsStarted).toBe(3);
  });

  it('keeps the last partial batch, with x sized to it', async () => {
    const loader = new BatchLoader(set, trainOptions);
    expect(loader.batchesPerEpoch).toBe(3);
    const batches = await collect(loader);
    expect(batches.map((b) => [b.index, b.size, b.y.length, b.x.length])).toEqual([
      [0, 8, 8, 8 * IMAGE_BYTES],
      [1, 8, 8, 8 * IMAGE_BYTES],
      [2, 7, 7, 7 * IMAGE_BYTES],
    ]);
  });

  it('gives each training image as one of its 2×9×9 flips and crops, and not always the same one', async () => {
    const batches = await collect(new BatchLoader(set, trainOptions));
    const placements = new Set<string>();
    for (const batch of batches) {
      for (let k = 0; k < batch.size; k++) {
        const x = batch.x.subarray(k * IMAGE_BYTES, (k + 1) * IMAGE_BYTES);
        let found: string | undefined;
        for (const flip of [false, true]) {
          for (let cropY = 0; cropY <= 8 && !found; cropY++) {
            for (let cropX = 0; cropX <= 8 && !found; cropX++) {
              const wanted = reference(set, batch.y[k], CIFAR10_NORMALIZATION, flip, cropX, cropY, 4);
              if (wanted.every((v, i) => Math.abs(v - x[i]) <= 1e-5)) found = `${flip} ${cropX} ${cropY}`;
            }
          }
        }
        expect(found, `batch ${batch.index} sample ${k}`).toBeDefined();
        placements.add(found!);
      }
    }
    expect(placements.size).toBeGreaterThan(10);
  });

  it('in evaluation gives the images in order, normalised only', async () => {
    const loader = new BatchLoader(set, { ...trainOptions, train: false });
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = await collect(loader);
      expect(order(batches)).toEqual(Array.from({ length: 23 }, (_, i) => i));
      const wanted = new Float32Array(23 * IMAGE_BYTES);
      fillBatch(wanted, set, order(batches), CIFAR10_NORMALIZATION);
      expect(bytesOf(concat(batches.map((b) => b.x)))).toBe(bytesOf(wanted));
    }
  });

  it('cuts every batch into disjoint shards that together are the unsharded batch', async () => {
    for (const train of [true, false]) {
      for (const worldSize of [2, 3, 8]) {
        const whole = await collect(new BatchLoader(set, { ...trainOptions, train }));
        const shards = await Promise.all(
          Array.from({ length: worldSize }, (_, rank) => collect(new BatchLoader(set, { ...trainOptions, train, shard: { rank, worldSize } }))),
        );
        for (const shard of shards) expect(shard.length).toBe(whole.length);
        for (const [b, batch] of whole.entries()) {
          const pieces = shards.map((s) => s[b]);
          const sizes = pieces.map((p) => p.size);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
          expect(pieces.flatMap((p) => Array.from(p.y))).toEqual(Array.from(batch.y));
          expect(bytesOf(concat(pieces.map((p) => p.x)))).toBe(bytesOf(batch.x));
        }
        const seen = shards.flatMap(order);
        expect(seen.length).toBe(23);
        expect(new Set(seen).size).toBe(23);
      }
    }
  });

  it('gives empty shards of a last batch smaller than worldSize, so ranks stay in step', async () => {
    const tiny = indexedSet(9);
    const pieces = await Promise.all(
      [0, 1, 2, 3].map((rank) => collect(new BatchLoader(tiny, { ...trainOptions, shard: { rank, worldSize: 4 } }))),
    );
    expect(pieces.map((p) => p.map((b) => b.size))).toEqual([
      [2, 0],
      [2, 0],
      [2, 0],
      [2, 1],
    ]);
  });

  it('resumes from a saved state with exactly the epoch an uninterrupted run sees next', async () => {
    const uninterrupted = new BatchLoader(set, trainOptions);
    await collect(uninterrupted);
    const saved = JSON.parse(JSON.stringify(uninterrupted.state()));
    const next = await collect(uninterrupted);
    const after = await collect(uninterrupted);

    const resumed = new BatchLoader(set, trainOptions);
    resumed.restore(saved);
    expect(resumed.epochsStarted).toBe(1);
    expect(fingerprint(await collect(resumed))).toEqual(fingerprint(next));
    expect(fingerprint(await collect(resumed))).toEqual(fingerprint(after));
    expect(next[0].epoch).toBe(1);
  });

  it('reports the next epoch state as soon as an epoch starts, so a checkpoint mid-epoch resumes after it', async () => {
    const loader = new BatchLoader(set, trainOptions);
    const epoch = loader.epoch();
    const afterStart = loader.state();
    await epoch.next();
    expect(loader.state()).toEqual(afterStart);
    expect(afterStart.epoch).toBe(1);
  });

  it('lets a consumer stop early', async () => {
    const loader = new BatchLoader(set, trainOptions);
    for await (const batch of loader.epoch()) {
      expect(batch.index).toBe(0);
      break;
    }
    await sleep(5);
    expect((await collect(loader)).length).toBe(3);
  });

  it('rejects bad options with the argument named', () => {
    expect(() => new BatchLoader(set, { ...trainOptions, batchSize: 0 })).toThrow(/Expected a positive integer for batchSize but received 0/);
    expect(() => new BatchLoader(set, { ...trainOptions, shard: { rank: 2, worldSize: 2 } })).toThrow(/Expected integers 0 ≤ rank < worldSize for shard/);
    expect(() => new BatchLoader(set, { ...trainOptions, normalization: { mean: [1], std: [1] } })).toThrow(/for normalization/);
    expect(() => new BatchLoader({ ...set, count: 24 }, trainOptions)).toThrow(/for set but received count 24/);
    const loader = new BatchLoader(set, trainOptions);
    expect(() => loader.restore({ epoch: -1, rng: [1, 2, 3, 4] })).toThrow(/for state.epoch/);
    expect(() => loader.restore({ epoch: 1, rng: [0, 0, 0, 0] })).toThrow(/for state but received \[0,0,0,0\]/);
  });

  it('serves the digits in 12 batches of 128 with a last one of 89, normalised to mean ≈ 0 and std ≈ 1', async () => {
    const digits = await loadDigits();
    const loader = new BatchLoader(digits.train, { batchSize: 128, normalization: digits.normalization, train: false });
    const batches = await collect(loader);
    expect(batches.map((b) => b.size)).toEqual([...new Array(11).fill(128), 89]);
    let sum = 0;
    let squares = 0;
    let n = 0;
    for (const { x } of batches) {
      for (const v of x) {
        sum += v;
        squares += v * v;
      }
      n += x.length;
    }
    expect(sum / n).toBeCloseTo(0, 3);
    expect(Math.sqrt(squares / n - (sum / n) ** 2)).toBeCloseTo(1, 3);
  });
});
