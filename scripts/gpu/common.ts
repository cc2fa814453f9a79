// What the GPU check's TypeScript scripts share: fb.resnet.torch's models as torch_train.py builds them, and
// deterministic weights and batches (the same in every run, so that PyTorch can replay them).
import { resnet } from '../../lib/models/resnet.js';
import { rng } from '../../test/util/random.js';

/** fb.resnet.torch's models: CIFAR depths 6n+2 on 32×32, ImageNet depths on 224×224 (torch_train.py's twins). */
export function build(name: string, zeroInitLastBN = false) {
  const depth = Number(name.replace('resnet', ''));
  const imagenet = [18, 34, 50, 101, 152, 200].includes(depth);
  const module = resnet({ depth, dataset: imagenet ? 'imagenet' : 'cifar10', zeroInitLastBN });
  return { module, side: imagenet ? 224 : 32, classes: imagenet ? 1000 : 10 };
}

/** mulberry32, the tests' seeded generator (test/util/random.ts). */
export const generator = rng;

export function batchOf(seed: number, batch: number, side: number, classes: number): { x: Float32Array; y: Int32Array } {
  const u = generator(seed);
  const x = Float32Array.from({ length: batch * 3 * side * side }, () => Math.sqrt(-2 * Math.log(u() || 1e-12)) * Math.cos(2 * Math.PI * u()));
  const y = Int32Array.from({ length: batch }, () => Math.floor(u() * classes));
  return { x, y };
}
