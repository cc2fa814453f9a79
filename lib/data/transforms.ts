// fb.resnet.torch's CIFAR transforms written straight into a float batch: ColorNormalize → HorizontalFlip(0.5) → RandomCrop(32, pad 4).
import { expected } from '../runtime/errors.js';
import type { ImageSet } from './cifar.js';
import { Rng } from './random.js';

/** Per-channel mean and standard deviation on the 0–255 scale: x ↦ (x − mean) / std. */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Training-time augmentation. Sample k of a batch takes its flip and crop from the random stream
 * keyed by (seed, first + k), so an image's augmentation depends on its position in the epoch only,
 * not on how the epoch is cut into batches or shards.
 */
export interface Augmentation {
  seed: number;
  /** Epoch position of the batch's first sample. */
  first: number;
  /** Zero padding on each side before the crop back to the original size; fb.resnet.torch uses 4. */
  padding?: number;
  flipProbability?: number;
}

/** Where a sample is taken from: mirrored or not, then cropped at (cropX, cropY) of the padded image. */
export interface Placement {
  flip: boolean;
  /** Left edge of the crop in the padded image, 0..2·padding. */
  cropX: number;
  /** Top edge of the crop in the padded image, 0..2·padding. */
  cropY: number;
}

const scratch = Rng.seeded(0);

/** The flip and crop that fillBatch gives the sample at `position` of the stream `seed`. */
export function placementAt(seed: number, position: number, padding = 4, flipProbability = 0.5): Placement {
  scratch.reseed(seed, position);
  // Draw order as in fb.resnet.torch: the flip coin, then the crop's x, then its y.
  const flip = scratch.float() < flipProbability;
  const cropX = scratch.int(2 * padding + 1);
  const cropY = scratch.int(2 * padding + 1);
  return { flip, cropX, cropY };
}

function normalizationTable(normalization: Normalization, channels: number): Float32Array {
  const { mean, std } = normalization ?? {};
  const valid =
    Array.isArray(mean) &&
    Array.isArray(std) &&
    mean.length === channels &&
    std.length === channels &&
    mean.every(Number.isFinite) &&
    std.every((s) => Number.isFinite(s) && s > 0);
  if (!valid) {
    throw expected('RN_INVALID_ARGUMENT', 'fillBatch', 'normalization', `{mean, std} with ${channels} finite values each and std > 0`, JSON.stringify(normalization));
  }
  // One entry per channel and byte value: the per-pixel work is a table look-up.
  const table = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v - mean[c]) / std[c];
  }
  return table;
}

/**
 * Writes the images `indices` of `set` into `out` (B, C, H, W), normalised; with `augmentation`, each
 * is also mirrored and cropped as placementAt says, the padding being zeros after normalisation.
 */
export function fillBatch(
  out: Float32Array,
  set: ImageSet,
  indices: ArrayLike<number>,
  normalization: Normalization,
  augmentation?: Augmentation,
): void {
  const { channels, height, width, images } = set;
  const plane = height * width;
  const imageSize = channels * plane;
  if (!(out instanceof Float32Array) || out.length < indices.length * imageSize) {
    throw expected('RN_INVALID_ARGUMENT', 'fillBatch', 'out', `a Float32Array of at least ${indices.length}×${imageSize} values`, out instanceof Float32Array ? `${out.length} values` : String(out));
  }
  const table = normalizationTable(normalization, channels);
  const padding = augmentation?.padding ?? 4;
  const flipProbability = augmentation?.flipProbability ?? 0.5;
  if (augmentation && (!Number.isInteger(padding) || padding < 0 || padding >= Math.min(height, width))) {
    throw expected('RN_INVALID_ARGUMENT', 'fillBatch', 'augmentation.padding', `an integer in 0..${Math.min(height, width) - 1}`, String(padding));
  }

  for (let k = 0; k < indices.length; k++) {
    const index = indices[k];
    if (!Number.isInteger(index) || index < 0 || index >= set.count) {
      throw expected('RN_INVALID_ARGUMENT', 'fillBatch', `indices[${k}]`, `an image index in 0..${set.count - 1}`, String(index));
    }
    const place = augmentation ? placementAt(augmentation.seed, augmentation.first + k, padding, flipProbability) : undefined;
    const pad = place ? padding : 0;
    const cropX = place?.cropX ?? 0;
    const cropY = place?.cropY ?? 0;
    const flip = place?.flip ?? false;
    // Output column x reads column x + cropX − pad of the (mirrored) image; outside it lies padding.
    const shiftX = cropX - pad;
    const x0 = Math.max(0, -shiftX);
    const x1 = Math.min(width, width - shiftX);
    for (let c = 0; c < channels; c++) {
      const lut = c * 256;
      for (let y = 0; y < height; y++) {
        const dst = k * imageSize + c * plane + y * width;
        const sy = y + cropY - pad;
        if (sy < 0 || sy >= height) {
          for (let x = 0; x < width; x++) out[dst + x] = 0;
          continue;
        }
        const row = index * imageSize + c * plane + sy * width;
        // Plain loops: fill() calls on a few values each were slower here.
        for (let x = 0; x < x0; x++) out[dst + x] = 0;
        if (flip) {
          const last = row + width - 1 - shiftX;
          for (let x = x0; x < x1; x++) out[dst + x] = table[lut + images[last - x]];
        } else {
          const first = row + shiftX;
          for (let x = x0; x < x1; x++) out[dst + x] = table[lut + images[first + x]];
        }
        for (let x = x1; x < width; x++) out[dst + x] = 0;
      }
    }
  }
}
