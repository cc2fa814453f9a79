// The bundled default dataset: UCI hand-written digits upscaled to 32×32, stored as CIFAR-10 binary files in data/digits/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ResnetError } from '../runtime/errors.js';
import { CIFAR10_RECORD, type Dataset, readCifarFiles } from './cifar.js';
import type { Normalization } from './transforms.js';

/** Training-set statistics printed by scripts/make-digits.py; the three channels hold the same gray. */
export const DIGITS_NORMALIZATION: Normalization = {
  mean: [77.7683, 77.7683, 77.7683],
  std: [82.5117, 82.5117, 82.5117],
};

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new ResnetError('RN_INTERNAL', 'resnet-node: cannot find the package root');
    dir = parent;
  }
  return dir;
}

export const digitsDir = (): string => join(packageRoot(), 'data', 'digits');

/** 1,497 training and 300 test images (30 per class) of the digits 0–9; see data/digits/README.md. */
export async function loadDigits(): Promise<Dataset> {
  const read = (file: string) => readCifarFiles([join(digitsDir(), file)], CIFAR10_RECORD, 'loadDigits');
  const train = await read('train.bin');
  const test = await read('test.bin');
  // A mirrored digit is another glyph (or none), so training augmentation crops but never flips.
  return { name: 'digits', train, test, classes: 10, normalization: DIGITS_NORMALIZATION, flipProbability: 0 };
}
