// fb.resnet.torch's ImageNet transforms as pure decisions: where each crop comes from, and the colour steps folded into one affine map.
import { expected } from '../runtime/errors.js';
import { type Rng, randperm } from './random.js';

/** ColorNormalize constants of datasets/imagenet.lua, on [0, 1] pixels. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
/** AlexNet PCA lighting: eigenvalues and eigenvectors (rows) of the RGB covariance, from datasets/imagenet.lua. */
export const PCA_EIGVAL = [0.2175, 0.0188, 0.0045] as const;
export const PCA_EIGVEC = [
  [-0.5675, 0.7192, 0.4009],
  [-0.5808, -0.0045, -0.814],
  [-0.5836, -0.6948, 0.4203],
] as const;
/** transforms.lua's grayscale(): the weights of R, G and B. */
export const GRAY_WEIGHTS = [0.299, 0.587, 0.114] as const;

/**
 * One axis of a crop: the source interval [start, start + length) is scaled (Torch's bicubic image.scale)
 * to `size` samples, of which samples first .. first + count − 1 are kept.
 */
export interface AxisPlan {
  start: number;
  length: number;
  size: number;
  first: number;
  count: number;
}

/** Where an output image comes from, in the (EXIF-oriented) source image. */
export interface CropPlan {
  x: AxisPlan;
  y: AxisPlan;
}

/** A crop of an already scaled image; with `flip`, x counts from the right of the mirrored image. */
export interface CropBox {
  x: number;
  y: number;
  flip: boolean;
}

/** Torch's torch.round: halves away from zero. */
function torchRound(value: number): number {
  return Math.sign(value) * Math.floor(Math.abs(value) + 0.5);
}

/** Torch's torch.uniform(a, b). */
function uniform(rng: Rng, a: number, b: number): number {
  return a + (b - a) * rng.float();
}

/** Torch's torch.random(a, b): an integer in [a, b]. */
function randomInt(rng: Rng, a: number, b: number): number {
  return a + rng.int(b - a + 1);
}

/** A standard normal draw (Box–Muller, as Torch's normal()). */
export function normal(rng: Rng): number {
  const u = 1 - rng.float(); // (0, 1]: log stays finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.float());
}

function checkSize(op: string, what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw expected('RN_INVALID_ARGUMENT', op, what, 'a positive integer', String(value));
}

/** Scale(size)'s output: the shorter side becomes `size`, the other keeps the aspect (floored, as Torch sizes tensors). */
export function scaledSize(width: number, height: number, size: number): [number, number] {
  checkSize('scaledSize', 'size', size);
  if ((width <= height && width === size) || (height <= width && height === size)) return [width, height];
  return width < height ? [size, Math.floor((height / width) * size)] : [Math.floor((width / height) * size), size];
}

/** CenterCrop's offset along an axis of `length`: ceil((length − size) / 2). */
export function centerCropOffset(length: number, size: number): number {
  return Math.ceil((length - size) / 2);
}

function wholeAxis(length: number, size: number, first: number, count: number): AxisPlan {
  return { start: 0, length, size, first, count };
}

/** Scale(scaleTo) then CenterCrop(size): validation, and RandomSizedCrop's fallback (with scaleTo = size). */
export function scaleCenterCrop(width: number, height: number, scaleTo: number, size: number): CropPlan {
  checkSize('scaleCenterCrop', 'size', size);
  const [sw, sh] = scaledSize(width, height, scaleTo);
  if (sw < size || sh < size) {
    throw expected('RN_INVALID_ARGUMENT', 'scaleCenterCrop', 'scaleTo', `a shorter side ≥ the crop size ${size}`, String(scaleTo));
  }
  return { x: wholeAxis(width, sw, centerCropOffset(sw, size), size), y: wholeAxis(height, sh, centerCropOffset(sh, size), size) };
}

/**
 * RandomSizedCrop(size) of transforms.lua, draws in its order: up to 10 tries of area U(0.08, 1)·area and
 * r = U(3/4, 4/3), w = round(√area·r), h = round(√area / r) (so w/h = r², as the code has it), w and h
 * swapped with probability 1/2, then y1 and x1; if no try fits, Scale(size) + CenterCrop(size).
 * Unlike Torch, a try giving a 0-pixel side (images of a pixel or two) counts as not fitting.
 */
export function randomSizedCrop(width: number, height: number, size: number, rng: Rng): CropPlan {
  checkSize('randomSizedCrop', 'size', size);
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = width * height;
    const targetArea = uniform(rng, 0.08, 1.0) * area;
    const aspectRatio = uniform(rng, 3 / 4, 4 / 3);
    let w = torchRound(Math.sqrt(targetArea) * aspectRatio);
    let h = torchRound(Math.sqrt(targetArea) / aspectRatio);
    if (rng.float() < 0.5) [w, h] = [h, w];
    if (h <= height && w <= width && h >= 1 && w >= 1) {
      const y1 = Math.floor(uniform(rng, 0, height - h + 0.99));
      const x1 = Math.floor(uniform(rng, 0, width - w + 0.99));
      return { x: { start: x1, length: w, size, first: 0, count: size }, y: { start: y1, length: h, size, first: 0, count: size } };
    }
  }
  return scaleCenterCrop(width, height, size, size);
}

/**
 * The paper's scale augmentation, RandomScale(min, max) then RandomCrop(size) of transforms.lua: the shorter
 * side becomes torch.random(min, max), the other round(aspect·that), then a uniform size×size crop (x1, then y1).
 */
export function randomScaleCrop(width: number, height: number, min: number, max: number, size: number, rng: Rng): CropPlan {
  checkSize('randomScaleCrop', 'size', size);
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < size || max < min) {
    throw expected('RN_INVALID_ARGUMENT', 'randomScaleCrop', '[min, max]', `integers with ${size} ≤ min ≤ max`, `[${min}, ${max}]`);
  }
  const target = randomInt(rng, min, max);
  let targetW = target;
  let targetH = target;
  if (width < height) targetH = torchRound((height / width) * targetW);
  else targetW = torchRound((width / height) * targetH);
  const x1 = randomInt(rng, 0, targetW - size);
  const y1 = randomInt(rng, 0, targetH - size);
  return { x: wholeAxis(width, targetW, x1, size), y: wholeAxis(height, targetH, y1, size) };
}

/**
 * TenCrop(size) of transforms.lua, for an image already scaled to width × height: the centre, top-left,
 * top-right, bottom-left and bottom-right crops of the image, then the same five of its mirror image.
 */
export function tenCropBoxes(width: number, height: number, size: number): CropBox[] {
  checkSize('tenCropBoxes', 'size', size);
  if (width < size || height < size) {
    throw expected('RN_INVALID_ARGUMENT', 'tenCropBoxes', 'the scaled image', `sides ≥ ${size}`, `${width}×${height}`);
  }
  const boxes: CropBox[] = [];
  for (const flip of [false, true]) {
    boxes.push(
      { x: centerCropOffset(width, size), y: centerCropOffset(height, size), flip },
      { x: 0, y: 0, flip },
      { x: width - size, y: 0, flip },
      { x: 0, y: height - size, flip },
      { x: width - size, y: height - size, flip },
    );
  }
  return boxes;
}

export interface ColorJitterOptions {
  brightness: number;
  contrast: number;
  saturation: number;
}

/** What ColorJitter and Lighting drew for one image. */
export interface ColorDraw {
  /** The jitter steps in the order applied, each with its blend factor α = 1 + U(−var, var). */
  jitter: { op: 'brightness' | 'contrast' | 'saturation'; alpha: number }[];
  /** Lighting's α ~ N(0, alphastd)³. */
  lighting: [number, number, number];
}

/**
 * ColorJitter then Lighting, drawn as transforms.lua draws them: RandomOrder's permutation, each step's α
 * as it runs (steps with var 0 are left out, as ColorJitter leaves them out), then Lighting's three normals.
 */
export function drawColor(rng: Rng, jitter: ColorJitterOptions, lightingStd: number): ColorDraw {
  const steps = (['brightness', 'contrast', 'saturation'] as const).filter((op) => jitter[op] !== 0);
  const order = steps.length > 0 ? randperm(steps.length, rng) : [];
  const draws = Array.from(order, (i) => ({ op: steps[i], alpha: 1 + uniform(rng, -jitter[steps[i]], jitter[steps[i]]) }));
  const lighting: [number, number, number] = [0, 0, 0];
  if (lightingStd !== 0) for (let i = 0; i < 3; i++) lighting[i] = normal(rng) * lightingStd;
  return { jitter: draws, lighting };
}

/**
 * out = M·rgb + c for an RGB pixel in [0, 1]: M row-major in [0..8], c in [9..11]. Every ImageNet colour step
 * is affine per pixel; Contrast needs the image's mean, which the running map gives from the input's mean.
 */
export type ColorAffine = Float64Array;

function identityAffine(): ColorAffine {
  return Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0);
}

/** affine ← T·affine for the 3×3 T (row-major) and offset t: the step x ↦ T·x + t after it. */
function compose(affine: ColorAffine, t: readonly number[], offset: readonly number[]): void {
  const m = affine.slice();
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) affine[r * 3 + c] = t[r * 3] * m[c] + t[r * 3 + 1] * m[3 + c] + t[r * 3 + 2] * m[6 + c];
    affine[9 + r] = t[r * 3] * m[9] + t[r * 3 + 1] * m[10] + t[r * 3 + 2] * m[11] + offset[r];
  }
}

/**
 * The affine map of the drawn jitter and lighting for an image whose channel means (on [0, 1]) are `mean`,
 * then ColorNormalize with (mean, std) if given: exactly the steps of transforms.lua in its order, unclamped.
 */
export function colorAffine(draw: ColorDraw | null, mean: readonly number[], normalize?: { mean: readonly number[]; std: readonly number[] }): ColorAffine {
  const affine = identityAffine();
  const [gr, gg, gb] = GRAY_WEIGHTS;
  for (const { op, alpha } of draw?.jitter ?? []) {
    const beta = 1 - alpha;
    if (op === 'brightness') {
      compose(affine, [alpha, 0, 0, 0, alpha, 0, 0, 0, alpha], [0, 0, 0]);
    } else if (op === 'contrast') {
      // Blend with the grey mean of the image as it is now.
      const now = [0, 1, 2].map((r) => affine[r * 3] * mean[0] + affine[r * 3 + 1] * mean[1] + affine[r * 3 + 2] * mean[2] + affine[9 + r]);
      const grey = gr * now[0] + gg * now[1] + gb * now[2];
      compose(affine, [alpha, 0, 0, 0, alpha, 0, 0, 0, alpha], [beta * grey, beta * grey, beta * grey]);
    } else {
      const row = [beta * gr, beta * gg, beta * gb];
      compose(affine, [alpha + row[0], row[1], row[2], row[0], alpha + row[1], row[2], row[0], row[1], alpha + row[2]], [0, 0, 0]);
    }
  }
  if (draw) {
    const rgb = PCA_EIGVEC.map((row) => row[0] * draw.lighting[0] * PCA_EIGVAL[0] + row[1] * draw.lighting[1] * PCA_EIGVAL[1] + row[2] * draw.lighting[2] * PCA_EIGVAL[2]);
    compose(affine, [1, 0, 0, 0, 1, 0, 0, 0, 1], rgb);
  }
  if (normalize) {
    const s = normalize.std;
    compose(affine, [1 / s[0], 0, 0, 0, 1 / s[1], 0, 0, 0, 1 / s[2]], [0, 1, 2].map((c) => -normalize.mean[c] / s[c]));
  }
  return affine;
}

/**
 * colorAffine as a function of the image's mean, for code that learns the mean later (the native JPEG crops): the
 * map's matrix does not depend on the mean and its offset is affine in it (Contrast blends with a grey that is), so
 * 21 numbers hold it: M (9), c at mean 0 (3), and dc/dmean (3×3, row-major). c(mean) = c₀ + (dc/dmean)·mean.
 */
export function colorAffineOfMean(draw: ColorDraw | null, normalize?: { mean: readonly number[]; std: readonly number[] }): Float64Array {
  const atZero = colorAffine(draw, [0, 0, 0], normalize);
  const out = new Float64Array(21);
  out.set(atZero, 0);
  for (let c = 0; c < 3; c++) {
    const unit = [0, 0, 0];
    unit[c] = 1;
    const atUnit = colorAffine(draw, unit, normalize);
    for (let r = 0; r < 3; r++) out[12 + r * 3 + c] = atUnit[9 + r] - atZero[9 + r];
  }
  return out;
}

/** The ImageNet pipeline of one split, as datasets/imagenet.lua builds it, with its sizes as options. */
export interface TransformSpec {
  /** train: random crop, jitter, lighting, flip; val: centre crop; tenCrop: ten crops per image. */
  kind: 'train' | 'val' | 'tenCrop';
  /** Side of the output crops; fb.resnet.torch: 224. */
  size: number;
  /** Scale() of the shorter side before validation crops; fb.resnet.torch: 256. */
  valScale: number;
  /** Training crops by the paper's scale augmentation, shorter side U[min, max] (e.g. [256, 480]), instead of RandomSizedCrop. */
  scaleAugmentation?: [number, number];
  jitter: ColorJitterOptions;
  /** Lighting's alphastd; fb.resnet.torch: 0.1. */
  lighting: number;
  flipProbability: number;
}

/** fb.resnet.torch's pipeline for `kind` at crop size `size` (validation scales to 256/224 of it). */
export function imagenetTransform(kind: TransformSpec['kind'], size = 224, scaleAugmentation?: [number, number]): TransformSpec {
  checkSize('imagenetTransform', 'size', size);
  if (scaleAugmentation) {
    const [min, max] = scaleAugmentation;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < size || max < min) {
      throw expected('RN_INVALID_ARGUMENT', 'imagenetTransform', 'scaleAugmentation', `integers [min, max] with ${size} ≤ min ≤ max`, JSON.stringify(scaleAugmentation));
    }
  }
  return {
    kind,
    size,
    valScale: Math.round((size * 256) / 224),
    scaleAugmentation,
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4 },
    lighting: 0.1,
    flipProbability: 0.5,
  };
}

/** Everything drawn for one training image, in transforms.lua's order: crop, jitter, lighting, flip. */
export interface TrainDraw {
  crop: CropPlan;
  color: ColorDraw;
  flip: boolean;
}

export function drawTrain(width: number, height: number, spec: TransformSpec, rng: Rng): TrainDraw {
  const crop = spec.scaleAugmentation
    ? randomScaleCrop(width, height, spec.scaleAugmentation[0], spec.scaleAugmentation[1], spec.size, rng)
    : randomSizedCrop(width, height, spec.size, rng);
  const color = drawColor(rng, spec.jitter, spec.lighting);
  const flip = rng.float() < spec.flipProbability;
  return { crop, color, flip };
}

/**
 * Ten-crop evaluation: the per-image logits are the sums of the logits of its crops (fb.resnet.torch sums
 * over the 10 crops). `logits` is (images × crops, classes), crops of an image adjacent; returns (images, classes).
 */
export function sumCropLogits(logits: Float32Array, crops: number, classes: number): Float32Array {
  checkSize('sumCropLogits', 'crops', crops);
  checkSize('sumCropLogits', 'classes', classes);
  if (logits.length % (crops * classes) !== 0) {
    throw expected('RN_INVALID_ARGUMENT', 'sumCropLogits', 'logits', `a multiple of crops×classes = ${crops * classes} values`, `${logits.length}`);
  }
  const images = logits.length / (crops * classes);
  const out = new Float32Array(images * classes); // (images, classes)
  for (let i = 0; i < images; i++) {
    for (let k = 0; k < crops; k++) {
      const row = (i * crops + k) * classes;
      for (let c = 0; c < classes; c++) out[i * classes + c] += logits[row + c];
    }
  }
  return out;
}
