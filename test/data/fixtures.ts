// Synthetic CIFAR-format files and image sets for the data tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ImageSet } from '../../lib/data/cifar.js';
import type { Normalization } from '../../lib/data/transforms.js';

export const IMAGE_BYTES = 3 * 32 * 32;
const SIDE = 32;
const PLANE = SIDE * SIDE;

/** A byte of record `record`'s pixels that differs between records and along the image. */
export function pixelOf(record: number, byte: number): number {
  return (record * 37 + byte * 11 + (byte >> 10) * 5) % 256;
}

/** Records of `header` bytes (from headerOf) then 3072 pixel bytes from pixelOf(firstRecord + r, i). */
export function records(count: number, headerOf: (r: number) => number[], firstRecord = 0): Uint8Array {
  const header = headerOf(0).length;
  const out = new Uint8Array(count * (header + IMAGE_BYTES));
  for (let r = 0; r < count; r++) {
    const start = r * (header + IMAGE_BYTES);
    out.set(headerOf(r), start);
    for (let i = 0; i < IMAGE_BYTES; i++) out[start + header + i] = pixelOf(firstRecord + r, i);
  }
  return out;
}

export async function withTmpDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'resnet-node-data-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** count images whose label is their own index, so a batch's y says which images it holds. */
export function indexedSet(count: number, fill: (image: number, byte: number) => number = pixelOf): ImageSet {
  const images = new Uint8Array(count * IMAGE_BYTES);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < IMAGE_BYTES; i++) images[n * IMAGE_BYTES + i] = fill(n, i);
  }
  return { images, labels: Int32Array.from({ length: count }, (_, i) => i), count, channels: 3, height: 32, width: 32 };
}

/**
 * fb.resnet.torch, step by step in float64: ColorNormalize, HorizontalFlip, then RandomCrop(32, pad) —
 * a zeroed (3, 32 + 2·pad, 32 + 2·pad) tensor with the image copied into its middle, cropped at (cropX, cropY).
 */
export function reference(set: ImageSet, index: number, norm: Normalization, flip: boolean, cropX: number, cropY: number, pad: number): Float64Array {
  const normalized = new Float64Array(IMAGE_BYTES);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < PLANE; i++) normalized[c * PLANE + i] = (set.images[index * IMAGE_BYTES + c * PLANE + i] - norm.mean[c]) / norm.std[c];
  }
  const flipped = new Float64Array(IMAGE_BYTES);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) flipped[c * PLANE + y * SIDE + x] = normalized[c * PLANE + y * SIDE + (flip ? SIDE - 1 - x : x)];
    }
  }
  const P = SIDE + 2 * pad;
  const padded = new Float64Array(3 * P * P);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) padded[c * P * P + (y + pad) * P + x + pad] = flipped[c * PLANE + y * SIDE + x];
    }
  }
  const out = new Float64Array(IMAGE_BYTES);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) out[c * PLANE + y * SIDE + x] = padded[c * P * P + (y + cropY) * P + x + cropX];
    }
  }
  return out;
}

/** The bytes of a float array, for exact and fast comparison of whole batches. */
export function bytesOf(x: Float32Array): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
}
