// Ten-crop validation: the Trainer scores each image on the sum of its ten crops' logits.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

import { folderData } from '../../lib/data/folder.js';
import { resnet } from '../../lib/models/resnet.js';
import { Trainer } from '../../lib/train/trainer.js';
import { ModelRuntime } from '../../lib/train/model.js';

async function tree(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'rn-tencrop-'));
  for (const split of ['train', 'val']) {
    for (const [c, name] of ['ants', 'bees', 'cats'].entries()) {
      mkdirSync(join(root, split, name), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const pixels = Buffer.alloc(50 * 40 * 3, 0).map((_, k) => (k * (c + 3) + i * 17) % 251);
        await sharp(pixels, { raw: { width: 50, height: 40, channels: 3 } }).jpeg().toFile(join(root, split, name, `${i}.jpg`));
      }
    }
  }
  return root;
}

describe('ten-crop evaluation', () => {
  it('scores each image on the summed logits of its ten crops', async () => {
    const data = await folderData(await tree(), { imageSize: 32, tenCrop: true, nThreads: 1 });
    try {
      const trainer = new Trainer({
        model: resnet({ depth: 18, dataset: 'imagenet', numClasses: 3 }),
        data,
        batchSize: 20, // 2 images of 10 crops per batch
        epochs: 1,
        schedule: { name: 'constant', lr: 0.1 },
        optimizer: { name: 'sgd' },
        seed: 3,
      });
      const { runtime } = await trainer.prepare();
      const result = await trainer.evaluate();
      // The same numbers computed here from the loader's crops and the model's logits, summed by hand.
      expect(runtime).toBeInstanceOf(ModelRuntime);
      const model = runtime as ModelRuntime;
      let images = 0;
      let hits = 0;
      for await (const batch of data.testLoader({ batchSize: 20 }).epoch()) {
        const logits = await model.logits(batch.x, batch.size * 10);
        for (let i = 0; i < batch.size; i++) {
          const sums = [0, 0, 0];
          for (let k = 0; k < 10; k++) for (let c = 0; c < 3; c++) sums[c] += logits[(i * 10 + k) * 3 + c];
          const above = sums.filter((v) => v > sums[batch.y[i]]).length;
          hits += above < 1 ? 1 : 0;
          images++;
        }
      }
      expect(images).toBe(9);
      expect(result.top1).toBeCloseTo(100 * (1 - hits / images), 6);
      expect(result.top5).toBe(0); // 3 classes: every label is within the top 3
      expect(Number.isFinite(result.loss)).toBe(true);
      trainer.dispose();
    } finally {
      data.close();
    }
  });
});
