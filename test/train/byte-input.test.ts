// Image-folder batches as bytes: uint8 crops and colour maps go to the device and color_affine_u8 makes the input
// there. Training through that path equals training on the same crops normalised on the host (loss within 1e-5),
// and the Trainer reads bytes from folder data by default.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type FolderBatch, type FolderData, folderData } from '../../lib/data/folder.js';
import { Rng } from '../../lib/data/random.js';
import { resnet } from '../../lib/models/resnet.js';
import { colorAffineU8 } from '../../lib/ops/normalize.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { Trainer } from '../../lib/train/trainer.js';
import { testDevices } from '../util/tensors.js';

const SIZE = 32;
let root: string;
let data: FolderData;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'rn-byte-input-'));
  for (const split of ['train', 'val']) {
    for (const [c, name] of ['ants', 'bees', 'cats'].entries()) {
      mkdirSync(join(root, split, name), { recursive: true });
      for (let i = 0; i < 4; i++) {
        const rng = Rng.seeded(c * 10 + i + (split === 'val' ? 100 : 0));
        const pixels = Buffer.from(Uint8Array.from({ length: 48 * 40 * 3 }, (_, k) => (k % 3 === c ? 128 : 0) + rng.int(128)));
        const image = sharp(pixels, { raw: { width: 48, height: 40, channels: 3 } });
        // JPEGs take the native crop path, PNGs the sharp one: both hand over bytes and maps.
        if (i % 2) await image.png().toFile(join(root, split, name, `${i}.png`));
        else await image.jpeg({ quality: 90 }).toFile(join(root, split, name, `${i}.jpg`));
      }
    }
  }
  data = await folderData(root, { imageSize: SIZE, nThreads: 1 });
});

afterAll(async () => {
  await data?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

/**
 * The float input the device makes from a byte batch, computed on the host as color_affine_u8 does: per channel the
 * chain fma(M₂/255, b, fma(M₁/255, g, fma(M₀/255, r, c))) in float32. A product of a float32 and a byte is exact in
 * float64, so each step is its fused multiply-add rounded to float32 (up to a double-rounding tie, which these do not hit).
 */
function hostFloats(batch: FolderBatch): Float32Array {
  const plane = SIZE * SIZE;
  const pixels = batch.pixels!;
  const out = new Float32Array(pixels.length);
  for (let n = 0; n < batch.size * batch.cropsPerImage; n++) {
    const map = batch.colorAffine!.subarray(n * 12, n * 12 + 12);
    const m = Array.from(map.subarray(0, 9), (v) => Math.fround(v / 255));
    for (let p = 0; p < plane; p++) {
      const at = n * 3 * plane + p;
      const rgb = [pixels[at], pixels[at + plane], pixels[at + 2 * plane]];
      for (let r = 0; r < 3; r++) {
        const t = Math.fround(m[r * 3] * rgb[0] + map[9 + r]);
        const u = Math.fround(m[r * 3 + 1] * rgb[1] + t);
        out[at + r * plane] = Math.fround(m[r * 3 + 2] * rgb[2] + u);
      }
    }
  }
  return out;
}

async function runtimeOn(device: string): Promise<ModelRuntime> {
  const model = resnet({ depth: 18, dataset: 'imagenet', numClasses: 3 });
  const runtime = new ModelRuntime(model, { inputShape: [3, SIZE, SIZE], device, optimizer: optimizerSpec({ name: 'sgd', momentum: 0.9, weightDecay: 1e-4 }) });
  const rng = Rng.seeded(7);
  await runtime.load(model.initialState(() => rng.float()));
  return runtime;
}

describe.each(testDevices)('byte batches on %s', (device) => {
  it('train and evaluate as the same crops normalised on the host (the same input bits; loss within 1e-5)', async () => {
    const bytes = await runtimeOn(device);
    const floats = await runtimeOn(device);
    try {
      let steps = 0;
      for await (const batch of data.trainLoader({ batchSize: 4, seed: 5, output: 'uint8' }).epoch()) {
        if (steps === 3) break;
        expect(batch.x.length).toBe(0);
        if (steps === 0) {
          // The op itself gives the host's bits.
          const x = Tensor.fromArray(batch.pixels!, [batch.size, 3, SIZE, SIZE], { dtype: 'uint8', device });
          const m = Tensor.fromArray(batch.colorAffine!, [batch.size, 12], { device });
          const y = await colorAffineU8(x, m);
          expect(Array.from((await y.toArray()) as Float32Array)).toEqual(Array.from(hostFloats(batch)));
          for (const t of [x, m, y]) t.dispose();
        }
        const a = await bytes.trainStep({ pixels: batch.pixels!, colorAffine: batch.colorAffine! }, batch.y, 0.05);
        const b = await floats.trainStep(hostFloats(batch), batch.y, 0.05);
        expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b.loss)));
        expect(a.correct).toEqual(b.correct);
        steps++;
      }
      expect(steps).toBe(3);
      for await (const batch of data.testLoader({ batchSize: 6, output: 'uint8' }).epoch()) {
        const a = await bytes.evalStep({ pixels: batch.pixels!, colorAffine: batch.colorAffine! }, batch.y);
        const b = await floats.evalStep(hostFloats(batch), batch.y);
        expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b.loss)));
        const la = await bytes.logits({ pixels: batch.pixels!, colorAffine: batch.colorAffine! }, batch.size);
        const lb = await floats.logits(hostFloats(batch), batch.size);
        for (let i = 0; i < lb.length; i++) expect(Math.abs(la[i] - lb[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(lb[i])));
      }
      const [pa, pb] = [await bytes.params.toArray(), await floats.params.toArray()] as Float32Array[];
      let worst = 0;
      for (let i = 0; i < pb.length; i++) worst = Math.max(worst, Math.abs(pa[i] - pb[i]));
      expect(worst).toBeLessThanOrEqual(1e-5);
    } finally {
      bytes.dispose();
      floats.dispose();
    }
  });

  it('rejects byte batches of the wrong size or for a non-RGB model', async () => {
    const runtime = await runtimeOn(device);
    try {
      const pixels = new Uint8Array(2 * 3 * SIZE * SIZE);
      await expect(runtime.trainStep({ pixels, colorAffine: new Float32Array(12) }, Int32Array.of(0, 1), 0.1)).rejects.toMatchObject({
        code: 'RN_SHAPE_MISMATCH',
        message: expect.stringMatching(/^trainStep: .*2×\[3,32,32\] bytes and 2×12 colour-map floats for 2 labels/),
      });
      await expect(runtime.evalStep({ pixels: pixels.subarray(1), colorAffine: new Float32Array(24) }, Int32Array.of(0, 1))).rejects.toMatchObject({ code: 'RN_SHAPE_MISMATCH' });
      await expect(runtime.logits({ pixels } as never, 2)).rejects.toMatchObject({ code: 'RN_INVALID_ARGUMENT' });
      const r = await runtime.evalStep({ pixels, colorAffine: new Float32Array(24) }, Int32Array.of(0, 1));
      expect(Number.isFinite(r.loss)).toBe(true);
    } finally {
      runtime.dispose();
    }
  });
});

describe('the Trainer on folder data', () => {
  it('reads bytes by default and floats with byteInput false; the two train alike', async () => {
    const losses: Record<string, number[]> = {};
    for (const byteInput of [true, false]) {
      const outputs: string[] = [];
      const trainer = new Trainer({
        model: resnet({ depth: 18, dataset: 'imagenet', numClasses: 3 }),
        data: {
          ...data,
          trainLoader: (o) => {
            outputs.push(`train:${o.output}`);
            return data.trainLoader(o);
          },
          testLoader: (o) => {
            outputs.push(`test:${o.output}`);
            return data.testLoader(o);
          },
        },
        batchSize: 4,
        epochs: 1,
        schedule: { name: 'constant', lr: 0.05 },
        optimizer: { name: 'sgd', momentum: 0.9 },
        seed: 3,
        byteInput,
      });
      const seen: number[] = [];
      trainer.on('batch', (e) => seen.push(e.loss));
      const end = await trainer.fit();
      expect(Number.isFinite(end.testLoss)).toBe(true);
      const output = byteInput ? 'uint8' : 'float32';
      expect(outputs).toEqual([`train:${output}`, `test:${output}`]);
      losses[output] = seen;
    }
    // The float loader's crops are the bytes before rounding (half a level, ≤ 0.009 after normalisation, apart): the
    // first losses are close, not equal (measured 0.028 apart: batch norm over 4 tiny crops amplifies); later ones drift.
    expect(losses.uint8.length).toBe(3);
    expect(losses.float32.length).toBe(3);
    expect(Math.abs(losses.uint8[0] - losses.float32[0])).toBeLessThan(0.1);
  });
});
