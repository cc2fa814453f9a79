// What the GPU check's TypeScript scripts share: fb.resnet.torch's models as torch_train.py builds them, and
// deterministic weights and batches (the same in every run, so that PyTorch can replay them).
import { resnet } from '../../lib/models/resnet.js';

/** fb.resnet.torch's models: CIFAR depths 6n+2 on 32×32, ImageNet depths on 224×224 (torch_train.py's twins). */
export function build(name: string, zeroInitLastBN = false) {
  const depth = Number(name.replace('resnet', ''));
  const imagenet = [18, 34, 50, 101, 152, 200].includes(depth);
  const module = resnet({ depth, dataset: imagenet ? 'imagenet' : 'cifar10', zeroInitLastBN });
  return { module, side: imagenet ? 224 : 32, classes: imagenet ? 1000 : 10 };
}

export function generator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function batchOf(seed: number, batch: number, side: number, classes: number): { x: Float32Array; y: Int32Array } {
  const u = generator(seed);
  const x = Float32Array.from({ length: batch * 3 * side * side }, () => Math.sqrt(-2 * Math.log(u() || 1e-12)) * Math.cos(2 * Math.PI * u()));
  const y = Int32Array.from({ length: batch }, () => Math.floor(u() * classes));
  return { x, y };
}
