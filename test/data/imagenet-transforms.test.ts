// fb.resnet.torch's ImageNet transforms: crop geometry against transcriptions of transforms.lua, Torch's bicubic scale, and the colour steps one by one.
import { describe, expect, it } from 'vitest';

import {
  type ColorDraw,
  type CropPlan,
  IMAGENET_MEAN,
  IMAGENET_STD,
  PCA_EIGVAL,
  PCA_EIGVEC,
  centerCropOffset,
  colorAffine,
  colorAffineOfMean,
  drawColor,
  drawTrain,
  imagenetTransform,
  randomScaleCrop,
  randomSizedCrop,
  scaleCenterCrop,
  scaledSize,
  sumCropLogits,
  tenCropBoxes,
} from '../../lib/data/imagenet-transforms.js';
import { Rng } from '../../lib/data/random.js';
import { type RgbImage, cubicTaps, resizeBicubic, scaleColumns, scaleColumnsToCrop, scaleRows, writeCrop } from '../../lib/data/resample.js';
import { expectClose } from '../util/check.js';

/** transforms.lua's RandomSizedCrop, line by line, on the same random stream (torch.uniform ↦ a + (b − a)·float()). */
function luaRandomSizedCrop(width: number, height: number, rng: Rng): { x1: number; y1: number; w: number; h: number } | 'fallback' {
  const uniform = (a = 0, b = 1) => a + (b - a) * rng.float();
  const round = (v: number) => Math.floor(v + 0.5);
  let attempt = 0;
  do {
    const area = height * width;
    const targetArea = uniform(0.08, 1.0) * area;
    const aspectRatio = uniform(3 / 4, 4 / 3);
    let w = round(Math.sqrt(targetArea) * aspectRatio);
    let h = round(Math.sqrt(targetArea) / aspectRatio);
    if (uniform() < 0.5) [w, h] = [h, w];
    if (h <= height && w <= width && w >= 1 && h >= 1) {
      const y1 = Math.floor(uniform(0, height - h + 0.99));
      const x1 = Math.floor(uniform(0, width - w + 0.99));
      return { x1, y1, w, h };
    }
    attempt++;
  } while (attempt < 10);
  return 'fallback';
}

/** image/generic/image.c's Main_scaleCubic_rowcol on a JS array: float32 coordinates, edge extrapolation, last sample copied. */
function torchScaleRow(src: ArrayLike<number>, dstLen: number): number[] {
  const srcLen = src.length;
  if (dstLen === srcLen) return Array.from(src);
  const dst = new Array<number>(dstLen);
  const scale = Math.fround(dstLen === 1 ? srcLen - 1 : (srcLen - 1) / (dstLen - 1));
  for (let di = 0; di < dstLen - 1; di++) {
    let siF = Math.fround(di * scale);
    const siI = Math.floor(siF);
    siF = Math.fround(siF - siI);
    const p1 = src[siI];
    const p2 = srcLen === 1 ? src[0] : src[siI + 1];
    const p0 = siI > 0 ? src[siI - 1] : 2 * p1 - p2;
    const p3 = siI + 2 < srcLen ? src[siI + 2] : 2 * p2 - p1;
    const a0 = p1;
    const a1 = -0.5 * p0 + 0.5 * p2;
    const a2 = p0 - 2.5 * p1 + 2 * p2 - 0.5 * p3;
    const a3 = -0.5 * p0 + 1.5 * p1 - 1.5 * p2 + 0.5 * p3;
    dst[di] = a0 + siF * (a1 + siF * (a2 + a3 * siF));
  }
  dst[dstLen - 1] = src[srcLen - 1];
  return dst;
}

/** Torch's image.scale(src, W, H, 'bicubic') of an (H, W, 3) image: rows, then columns. */
function torchScale(image: RgbImage, width: number, height: number): Float64Array {
  const rows: number[][][] = [];
  for (let y = 0; y < image.height; y++) {
    rows.push([0, 1, 2].map((c) => torchScaleRow(Array.from({ length: image.width }, (_, x) => image.pixels[(y * image.width + x) * 3 + c]), width)));
  }
  const out = new Float64Array(width * height * 3);
  for (let x = 0; x < width; x++) {
    for (let c = 0; c < 3; c++) {
      const column = torchScaleRow(rows.map((r) => r[c][x]), height);
      for (let y = 0; y < height; y++) out[(y * width + x) * 3 + c] = column[y];
    }
  }
  return out;
}

function patternImage(width: number, height: number, seed = 1): RgbImage<Uint8Array> {
  const rng = Rng.seeded(seed);
  return { pixels: Uint8Array.from({ length: width * height * 3 }, () => rng.int(256)), width, height };
}

/** transforms.lua's colour steps on a (3, H, W) float image in [0, 1], in place, in the drawn order; then ColorNormalize. */
function luaColor(chw: Float64Array, plane: number, draw: ColorDraw): void {
  const grey = (i: number) => 0.299 * chw[i] + 0.587 * chw[plane + i] + 0.114 * chw[2 * plane + i];
  for (const { op, alpha } of draw.jitter) {
    if (op === 'brightness') {
      for (let i = 0; i < 3 * plane; i++) chw[i] = chw[i] * alpha + (1 - alpha) * 0;
    } else if (op === 'contrast') {
      let mean = 0;
      for (let i = 0; i < plane; i++) mean += grey(i);
      mean /= plane;
      for (let i = 0; i < 3 * plane; i++) chw[i] = chw[i] * alpha + (1 - alpha) * mean;
    } else {
      const gs = Float64Array.from({ length: plane }, (_, i) => grey(i));
      for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) chw[c * plane + i] = chw[c * plane + i] * alpha + (1 - alpha) * gs[i];
    }
  }
  for (let c = 0; c < 3; c++) {
    let rgb = 0;
    for (let j = 0; j < 3; j++) rgb += PCA_EIGVEC[c][j] * draw.lighting[j] * PCA_EIGVAL[j];
    for (let i = 0; i < plane; i++) chw[c * plane + i] += rgb;
  }
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) chw[c * plane + i] = (chw[c * plane + i] - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
}

describe('crop geometry', () => {
  it('RandomSizedCrop draws exactly what transforms.lua draws, including its √area·r, √area/r sides', () => {
    const sizes: [number, number][] = [[500, 375], [375, 500], [100, 80], [3, 2], [1000, 10]];
    for (const [width, height] of sizes) {
      for (let seed = 0; seed < 300; seed++) {
        const mine = randomSizedCrop(width, height, 224, Rng.seeded(seed));
        const lua = luaRandomSizedCrop(width, height, Rng.seeded(seed));
        if (lua === 'fallback') {
          expect(mine).toEqual(scaleCenterCrop(width, height, 224, 224));
        } else {
          expect(mine).toEqual({ x: { start: lua.x1, length: lua.w, size: 224, first: 0, count: 224 }, y: { start: lua.y1, length: lua.h, size: 224, first: 0, count: 224 } });
        }
      }
    }
  });

  it('keeps random crops inside the image with 8–100 % of its area and sides in ratio (3/4)²..(4/3)²', () => {
    const [width, height] = [500, 375];
    const rng = Rng.seeded(7);
    const areas: number[] = [];
    let swapped = 0;
    for (let i = 0; i < 3000; i++) {
      const { x, y } = randomSizedCrop(width, height, 224, rng);
      expect(x.first === 0 && y.first === 0 && x.count === 224 && y.count === 224 && x.size === 224 && y.size === 224).toBe(true);
      expect(x.start >= 0 && y.start >= 0 && x.start + x.length <= width && y.start + y.length <= height).toBe(true);
      const area = (x.length * y.length) / (width * height);
      // Rounding each side moves the area by at most (w + h)/2 + 1/4 pixels.
      const slack = (x.length + y.length) / 2 / (width * height) + 1e-6;
      expect(area).toBeGreaterThanOrEqual(0.08 * (1 - 0.02) - slack);
      expect(area).toBeLessThanOrEqual(1 + slack);
      const ratio = x.length / y.length;
      expect(ratio).toBeGreaterThanOrEqual(((3 / 4) ** 2) * (1 - 1 / Math.min(x.length, y.length)));
      expect(ratio).toBeLessThanOrEqual(((4 / 3) ** 2) * (1 + 1 / Math.min(x.length, y.length)));
      if (ratio < 1) swapped++;
      areas.push(area);
    }
    expect(Math.min(...areas)).toBeLessThan(0.1);
    expect(Math.max(...areas)).toBeGreaterThan(0.9);
    expect(swapped / areas.length).toBeGreaterThan(0.3);
    expect(swapped / areas.length).toBeLessThan(0.7);
  });

  it('falls back to Scale + CenterCrop when nothing fits, and never crops zero pixels from tiny images', () => {
    expect(randomSizedCrop(1000, 10, 224, Rng.seeded(1))).toEqual({
      x: { start: 0, length: 1000, size: 22400, first: centerCropOffset(22400, 224), count: 224 },
      y: { start: 0, length: 10, size: 224, first: 0, count: 224 },
    });
    for (let seed = 0; seed < 200; seed++) {
      const { x, y } = randomSizedCrop(1, 1, 224, Rng.seeded(seed));
      expect([x.start, x.length, y.start, y.length]).toEqual([0, 1, 0, 1]);
    }
  });

  it('scales the shorter side as Scale() does (floored) and centre-crops at ceil((size − 224)/2)', () => {
    expect(scaledSize(500, 375, 256)).toEqual([341, 256]);
    expect(scaledSize(375, 500, 256)).toEqual([256, 341]);
    expect(scaledSize(256, 400, 256)).toEqual([256, 400]); // already there: untouched
    expect(scaledSize(300, 300, 256)).toEqual([256, 256]);
    expect(centerCropOffset(341, 224)).toBe(59);
    expect(centerCropOffset(256, 224)).toBe(16);
    expect(centerCropOffset(225, 224)).toBe(1);
    expect(scaleCenterCrop(500, 375, 256, 224)).toEqual({
      x: { start: 0, length: 500, size: 341, first: 59, count: 224 },
      y: { start: 0, length: 375, size: 256, first: 16, count: 224 },
    });
    expect(() => scaleCenterCrop(500, 375, 200, 224)).toThrow(/Expected a shorter side ≥ the crop size 224 for scaleTo but received 200/);
  });

  it("draws the paper's scale augmentation as RandomScale(256, 480) + RandomCrop(224)", () => {
    const rng = Rng.seeded(3);
    const shorter: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const { x, y } = randomScaleCrop(500, 375, 256, 480, 224, rng);
      expect(y.size).toBeGreaterThanOrEqual(256);
      expect(y.size).toBeLessThanOrEqual(480);
      expect(x.size).toBe(Math.floor((500 / 375) * y.size + 0.5));
      expect(x.first + 224 <= x.size && y.first + 224 <= y.size && x.first >= 0 && y.first >= 0).toBe(true);
      expect([x.start, x.length, y.start, y.length, x.count, y.count]).toEqual([0, 500, 0, 375, 224, 224]);
      shorter.push(y.size);
    }
    expect(Math.min(...shorter)).toBe(256);
    expect(Math.max(...shorter)).toBe(480);
    expect(() => imagenetTransform('train', 224, [200, 480])).toThrow(/Expected integers \[min, max\] with 224 ≤ min ≤ max for scaleAugmentation/);
  });

  it('lays out ten crops as centre, four corners, then the same five of the mirror image', () => {
    expect(tenCropBoxes(341, 256, 224)).toEqual([
      { x: 59, y: 16, flip: false },
      { x: 0, y: 0, flip: false },
      { x: 117, y: 0, flip: false },
      { x: 0, y: 32, flip: false },
      { x: 117, y: 32, flip: false },
      { x: 59, y: 16, flip: true },
      { x: 0, y: 0, flip: true },
      { x: 117, y: 0, flip: true },
      { x: 0, y: 32, flip: true },
      { x: 117, y: 32, flip: true },
    ]);
    // Written out, a mirrored crop's first column is the image column counted from the right.
    const width = 7;
    const height = 5;
    const coords: RgbImage<Float64Array> = { pixels: new Float64Array(width * height * 3), width, height };
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) coords.pixels.set([x, y, 0], (y * width + x) * 3);
    const out = new Uint8Array(10 * 3 * 9);
    const boxes = tenCropBoxes(width, height, 3);
    boxes.forEach((box, k) => writeCrop(coords, box, 3, out, k * 27));
    const firstColumnAndRow = boxes.map((_, k) => [out[k * 27], out[k * 27 + 9]]);
    expect(firstColumnAndRow).toEqual([
      [2, 1], [0, 0], [4, 0], [0, 2], [4, 2],
      [4, 1], [6, 0], [2, 0], [6, 2], [2, 2],
    ]);
  });
});

describe("Torch's bicubic image.scale", () => {
  it('matches a transcription of image.c for up-, down- and same-size scaling, one-pixel sources included', () => {
    const cases: [number, number, number, number][] = [[7, 5, 11, 13], [30, 20, 9, 7], [1, 1, 4, 4], [6, 1, 6, 3], [2, 3, 2, 3]];
    for (const [w, h, W, H] of cases) {
      const src = patternImage(w, h, w * 100 + h);
      const full = { start: 0, length: w, size: W, first: 0, count: W };
      const { image, mean } = resizeBicubic(src, 0, 0, full, { start: 0, length: h, size: H, first: 0, count: H });
      const wanted = torchScale(src, W, H);
      expectClose(image.pixels, wanted, { rtol: 1e-5, atol: 1e-3, what: `${w}×${h} → ${W}×${H}` });
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let i = c; i < wanted.length; i += 3) sum += wanted[i];
        expect(mean[c]).toBeCloseTo(sum / (W * H), 6);
      }
    }
  });

  it('computes a window of the scaled image as the same pixels, from a source region at an offset', () => {
    const src = patternImage(40, 30, 9);
    const full = resizeBicubic(src, 0, 0, { start: 5, length: 30, size: 50, first: 0, count: 50 }, { start: 3, length: 20, size: 24, first: 0, count: 24 });
    const fullPixels = Float64Array.from(full.image.pixels);
    // The crop of rows 3..22 and columns 5..34, read from a copy of just that region.
    const region: RgbImage<Uint8Array> = { pixels: new Uint8Array(30 * 20 * 3), width: 30, height: 20 };
    for (let y = 0; y < 20; y++) region.pixels.set(src.pixels.subarray(((y + 3) * 40 + 5) * 3, ((y + 3) * 40 + 35) * 3), y * 30 * 3);
    const window = resizeBicubic(region, 5, 3, { start: 5, length: 30, size: 50, first: 11, count: 17 }, { start: 3, length: 20, size: 24, first: 4, count: 9 });
    const wanted: number[] = [];
    for (let y = 4; y < 13; y++) for (let x = 11; x < 28; x++) wanted.push(...fullPixels.subarray((y * 50 + x) * 3, (y * 50 + x) * 3 + 3));
    expect(Array.from(window.image.pixels)).toEqual(wanted);
    expect(() => resizeBicubic(region, 6, 3, { start: 5, length: 30, size: 50, first: 0, count: 50 }, { start: 3, length: 20, size: 24, first: 0, count: 24 })).toThrow(
      /Expected pixels -1\.\.28 × 0\.\.19 for the source/,
    );
  });

  it('writes a crop in one pass (colour map, flip) exactly as the window written out by writeCrop', () => {
    const src = patternImage(50, 40, 3);
    const x = { start: 4, length: 41, size: 16, first: 0, count: 16 };
    const y = { start: 2, length: 30, size: 16, first: 0, count: 16 };
    const affine = colorAffine(drawColor(Rng.seeded(5), { brightness: 0.4, contrast: 0.4, saturation: 0.4 }, 0.1), [0.4, 0.5, 0.6], { mean: IMAGENET_MEAN, std: IMAGENET_STD });
    for (const flip of [false, true]) {
      const fused = new Float32Array(2 * 3 * 256);
      scaleColumnsToCrop(scaleRows(src, 0, 0, x, y), affine, flip, fused, 3 * 256);
      const twoStep = new Float32Array(2 * 3 * 256);
      writeCrop(scaleColumns(scaleRows(src, 0, 0, x, y)), { x: 0, y: 0, flip }, 16, twoStep, 3 * 256, affine);
      expect(fused).toEqual(twoStep);
      expect(fused.subarray(0, 3 * 256).every((v) => v === 0)).toBe(true);
    }
  });

  it('weights always sum to one, so a flat image stays flat', () => {
    for (const [length, size] of [[375, 224], [100, 224], [224, 224], [2, 224], [1000, 3]]) {
      const { weight } = cubicTaps(length, size, 0, size);
      for (let k = 0; k < size; k++) expect(weight[4 * k] + weight[4 * k + 1] + weight[4 * k + 2] + weight[4 * k + 3]).toBeCloseTo(1, 12);
    }
  });
});

describe('colour steps', () => {
  it('folds jitter, lighting and ColorNormalize into one map equal to applying them one by one', () => {
    const size = 4;
    const plane = size * size;
    const src = patternImage(size, size, 5);
    const image: RgbImage<Float64Array> = { pixels: Float64Array.from(src.pixels), width: size, height: size };
    const mean = [0, 1, 2].map((c) => src.pixels.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / plane / 255);
    const jitter = { brightness: 0.4, contrast: 0.4, saturation: 0.4 };
    const orders = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const draw = drawColor(Rng.seeded(seed), jitter, 0.1);
      const order = draw.jitter.map((s) => s.op).join(',');
      orders.add(order);
      const out = new Float32Array(3 * plane);
      writeCrop(image, { x: 0, y: 0, flip: false }, size, out, 0, colorAffine(draw, mean, { mean: IMAGENET_MEAN, std: IMAGENET_STD }));
      const wanted = new Float64Array(3 * plane);
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) wanted[c * plane + i] = src.pixels[i * 3 + c] / 255;
      luaColor(wanted, plane, draw);
      expectClose(out, wanted, { rtol: 1e-5, atol: 1e-5, what: `seed ${seed}: ${order}` });
    }
    expect(orders.size).toBe(6); // every order of the three steps occurs
  });

  it('draws blend factors in 1 ± var and lighting α with the given deviation, leaving out steps with var 0', () => {
    const rng = Rng.seeded(11);
    const lighting: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const draw = drawColor(rng, { brightness: 0.4, contrast: 0, saturation: 0.2 }, 0.1);
      expect(draw.jitter.map((s) => s.op).sort()).toEqual(['brightness', 'saturation']);
      for (const { op, alpha } of draw.jitter) expect(Math.abs(alpha - 1)).toBeLessThanOrEqual(op === 'brightness' ? 0.4 : 0.2);
      lighting.push(...draw.lighting);
    }
    const std = Math.sqrt(lighting.reduce((a, v) => a + v * v, 0) / lighting.length);
    expect(std).toBeGreaterThan(0.095);
    expect(std).toBeLessThan(0.105);
    expect(drawColor(Rng.seeded(1), { brightness: 0, contrast: 0, saturation: 0 }, 0)).toEqual({ jitter: [], lighting: [0, 0, 0] });
  });

  it('holds the whole map as a function of the image mean in 21 numbers, for the native crops that learn the mean last', () => {
    const rng = Rng.seeded(3);
    const normalize = { mean: IMAGENET_MEAN, std: IMAGENET_STD };
    for (let seed = 0; seed < 40; seed++) {
      const draw = seed === 0 ? null : drawColor(Rng.seeded(seed), { brightness: 0.4, contrast: 0.4, saturation: 0.4 }, 0.1);
      const ofMean = colorAffineOfMean(draw, normalize);
      const mean = [rng.float(), rng.float(), rng.float()];
      const offset = [0, 1, 2].map((r) => ofMean[9 + r] + ofMean[12 + 3 * r] * mean[0] + ofMean[13 + 3 * r] * mean[1] + ofMean[14 + 3 * r] * mean[2]);
      expectClose([...ofMean.subarray(0, 9), ...offset], colorAffine(draw, mean, normalize), { rtol: 1e-12, atol: 1e-12, what: `seed ${seed}` });
    }
  });

  it('without a draw is ColorNormalize alone: (v/255 − mean)/std', () => {
    const affine = colorAffine(null, [0.3, 0.3, 0.3], { mean: IMAGENET_MEAN, std: IMAGENET_STD });
    const image: RgbImage<Float64Array> = { pixels: Float64Array.of(0, 128, 255), width: 1, height: 1 };
    const out = new Float32Array(3);
    writeCrop(image, { x: 0, y: 0, flip: false }, 1, out, 0, affine);
    expect(Array.from(out)).toEqual([(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225].map(Math.fround));
  });

  it('flips mirror each row, and byte output rounds and clamps bicubic overshoot', () => {
    const image: RgbImage<Float64Array> = { pixels: Float64Array.of(1, 2, 3, 10.4, 20.6, -3, 300, 0, 254.5, 7, 8, 9), width: 2, height: 2 };
    const bytes = new Uint8Array(12);
    writeCrop(image, { x: 0, y: 0, flip: false }, 2, bytes, 0);
    expect(Array.from(bytes)).toEqual([1, 10, 255, 7, 2, 21, 0, 8, 3, 0, 255, 9]);
    writeCrop(image, { x: 0, y: 0, flip: true }, 2, bytes, 0);
    expect(Array.from(bytes)).toEqual([10, 1, 7, 255, 21, 2, 8, 0, 0, 3, 9, 255]);
  });

  it('draws a training image in transforms.lua order: crop, then colour, then the flip', () => {
    const spec = imagenetTransform('train');
    const draw = drawTrain(500, 375, spec, Rng.seeded(42));
    const rng = Rng.seeded(42);
    const crop: CropPlan = randomSizedCrop(500, 375, 224, rng);
    const color = drawColor(rng, spec.jitter, spec.lighting);
    expect(draw).toEqual({ crop, color, flip: rng.float() < 0.5 });
    const flips = Array.from({ length: 400 }, (_, seed) => drawTrain(500, 375, spec, Rng.seeded(seed)).flip);
    expect(flips.filter(Boolean).length).toBeGreaterThan(150);
    expect(flips.filter(Boolean).length).toBeLessThan(250);
  });
});

describe('sumCropLogits', () => {
  it('sums the logits of each image over its crops', () => {
    const logits = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i); // 2 images × 3 crops × 4 classes
    expect(Array.from(sumCropLogits(logits, 3, 4))).toEqual([12, 15, 18, 21, 48, 51, 54, 57]);
    expect(() => sumCropLogits(new Float32Array(5), 3, 4)).toThrow(/Expected a multiple of crops×classes = 12 values for logits but received 5/);
  });
});
