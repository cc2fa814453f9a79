// Torch's bicubic image.scale over a window of its output, and crops written out as (C, H, W) floats or bytes.
import { expected } from '../runtime/errors.js';
import type { AxisPlan, ColorAffine, CropBox } from './imagenet-transforms.js';

/** For each output sample, four source indices and their weights: out[i] = Σₖ weight[4i+k]·src[index[4i+k]]. */
export interface CubicTaps {
  index: Int32Array;
  weight: Float64Array;
}

/**
 * Torch's Main_scaleCubic_rowcol (image/generic/image.c) for output samples first..first+count−1 of a
 * `size`-long scale of `length` samples: corners aligned (sample d reads source d·(length−1)/(size−1), in
 * float32 as Torch computes it), Catmull-Rom weights, the missing neighbour at either end extrapolated
 * linearly, the last sample copied, equal lengths copied. A single source sample is repeated (Torch reads
 * past the end there). Indices count from the start of the source interval.
 */
export function cubicTaps(length: number, size: number, first: number, count: number): CubicTaps {
  if (!Number.isInteger(length) || length < 1 || !Number.isInteger(size) || size < 1) {
    throw expected('RN_INVALID_ARGUMENT', 'cubicTaps', 'length and size', 'positive integers', `${length}, ${size}`);
  }
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 || first + count > size) {
    throw expected('RN_INVALID_ARGUMENT', 'cubicTaps', 'first and count', `a window inside 0..${size - 1}`, `${first}, ${count}`);
  }
  const index = new Int32Array(4 * count);
  const weight = new Float64Array(4 * count);
  const scale = Math.fround(size === 1 ? length - 1 : (length - 1) / (size - 1));
  for (let k = 0; k < count; k++) {
    const d = first + k;
    const q = 4 * k;
    if (size === length || d === size - 1 || length === 1) {
      const source = size === length ? d : length - 1;
      index.fill(source, q, q + 4);
      weight[q + 1] = 1;
      continue;
    }
    const position = Math.fround(d * scale);
    const i = Math.floor(position);
    const t = Math.fround(position - i);
    let w0 = t * (-0.5 + t * (1 - 0.5 * t));
    let w1 = 1 + t * t * (-2.5 + 1.5 * t);
    let w2 = t * (0.5 + t * (2 - 1.5 * t));
    let w3 = t * t * (-0.5 + 0.5 * t);
    let i0 = i - 1;
    let i3 = i + 2;
    if (i === 0) {
      // p0 = 2·p1 − p2
      w1 += 2 * w0;
      w2 -= w0;
      w0 = 0;
      i0 = i;
    }
    if (i + 2 >= length) {
      // p3 = 2·p2 − p1
      w2 += 2 * w3;
      w1 -= w3;
      w3 = 0;
      i3 = i + 1;
    }
    index[q] = i0;
    index[q + 1] = i;
    index[q + 2] = i + 1;
    index[q + 3] = i3;
    weight[q] = w0;
    weight[q + 1] = w1;
    weight[q + 2] = w2;
    weight[q + 3] = w3;
  }
  return { index, weight };
}

function span(index: Int32Array, shift: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of index) {
    lo = Math.min(lo, i);
    hi = Math.max(hi, i);
  }
  return [lo + shift, hi + shift];
}

/** The source samples an axis plan reads: [lo, hi] within the image. */
export function axisSpan(axis: AxisPlan): [number, number] {
  return span(cubicTaps(axis.length, axis.size, axis.first, axis.count).index, axis.start);
}

/** An RGB image as (H, W, 3) values. */
export interface RgbImage<T extends Uint8Array | Float64Array = Uint8Array | Float64Array> {
  pixels: T; // (height, width, 3)
  width: number;
  height: number;
}

// One worker scales one image at a time: both passes reuse these buffers.
let rowBuffer = new Float64Array(0);
let windowBuffer = new Float64Array(0);

/** The row pass of a scale: (rows, count_x, 3) values in a scratch buffer, valid until the next scaleRows(). */
export interface ScaledRows {
  values: Float64Array;
  width: number;
  /** Column-pass taps, their indices counting from the first row held. */
  taps: CubicTaps;
  /** Per-channel means of the finished window, on the source's scale. */
  mean: [number, number, number];
}

/**
 * The row pass (Torch scales rows first) of `src`, which holds the image from (originX, originY), for the
 * output window and source intervals `x` and `y`. Only the rows the column pass reads are scaled, and the
 * window's means come out of the row sums: each output row weighs its source rows by its column taps.
 */
export function scaleRows(src: RgbImage<Uint8Array>, originX: number, originY: number, x: AxisPlan, y: AxisPlan): ScaledRows {
  const tx = cubicTaps(x.length, x.size, x.first, x.count);
  const ty = cubicTaps(y.length, y.size, y.first, y.count);
  const shiftX = x.start - originX;
  const shiftY = y.start - originY;
  const [rowLo, rowHi] = span(ty.index, shiftY);
  const [colLo, colHi] = span(tx.index, shiftX);
  if (rowLo < 0 || colLo < 0 || rowHi >= src.height || colHi >= src.width) {
    throw expected('RN_INVALID_ARGUMENT', 'scaleRows', 'the source', `pixels ${colLo}..${colHi} × ${rowLo}..${rowHi}`, `${src.width}×${src.height} at (${originX}, ${originY})`);
  }
  const outW = x.count;
  const rows = rowHi - rowLo + 1;
  if (rowBuffer.length < rows * outW * 3) rowBuffer = new Float64Array(rows * outW * 3);
  const values = rowBuffer; // a local: module bindings are re-checked on every access in a loop
  const pixels = src.pixels;
  const xw = tx.weight;
  const column = new Int32Array(4 * outW); // byte offsets of the taps within a row
  for (let q = 0; q < 4 * outW; q++) column[q] = (tx.index[q] + shiftX) * 3;
  const rowSums = new Float64Array(rows * 3);
  for (let r = 0; r < rows; r++) {
    const row = (rowLo + r) * src.width * 3;
    let d = r * outW * 3;
    let sumR = 0;
    let sumG = 0;
    let sumB = 0;
    for (let q = 0; q < 4 * outW; q += 4) {
      const p0 = row + column[q];
      const p1 = row + column[q + 1];
      const p2 = row + column[q + 2];
      const p3 = row + column[q + 3];
      const w0 = xw[q];
      const w1 = xw[q + 1];
      const w2 = xw[q + 2];
      const w3 = xw[q + 3];
      const red = pixels[p0] * w0 + pixels[p1] * w1 + pixels[p2] * w2 + pixels[p3] * w3;
      const green = pixels[p0 + 1] * w0 + pixels[p1 + 1] * w1 + pixels[p2 + 1] * w2 + pixels[p3 + 1] * w3;
      const blue = pixels[p0 + 2] * w0 + pixels[p1 + 2] * w1 + pixels[p2 + 2] * w2 + pixels[p3 + 2] * w3;
      values[d] = red;
      values[d + 1] = green;
      values[d + 2] = blue;
      d += 3;
      sumR += red;
      sumG += green;
      sumB += blue;
    }
    rowSums.set([sumR, sumG, sumB], r * 3);
  }
  const index = Int32Array.from(ty.index, (i) => i + shiftY - rowLo);
  const mean: [number, number, number] = [0, 0, 0];
  for (let q = 0; q < index.length; q++) for (let c = 0; c < 3; c++) mean[c] += ty.weight[q] * rowSums[index[q] * 3 + c];
  const n = outW * y.count;
  return { values, width: outW, taps: { index, weight: ty.weight }, mean: [mean[0] / n, mean[1] / n, mean[2] / n] };
}

/** The column pass into a (count_y, count_x, 3) window: a scratch buffer, valid until the next call. */
export function scaleColumns(rows: ScaledRows): RgbImage<Float64Array> {
  const { values, width, taps } = rows;
  const height = taps.index.length / 4;
  const stride = width * 3;
  if (windowBuffer.length < height * stride) windowBuffer = new Float64Array(height * stride);
  const out = windowBuffer.subarray(0, height * stride);
  for (let k = 0; k < height; k++) {
    const q = 4 * k;
    const r0 = taps.index[q] * stride;
    const r1 = taps.index[q + 1] * stride;
    const r2 = taps.index[q + 2] * stride;
    const r3 = taps.index[q + 3] * stride;
    const w0 = taps.weight[q];
    const w1 = taps.weight[q + 1];
    const w2 = taps.weight[q + 2];
    const w3 = taps.weight[q + 3];
    const d = k * stride;
    for (let j = 0; j < stride; j++) out[d + j] = values[r0 + j] * w0 + values[r1 + j] * w1 + values[r2 + j] * w2 + values[r3 + j] * w3;
  }
  return { pixels: out, width, height };
}

/**
 * The column pass written straight out as one normalised crop (3, h, w) at `offset` of `out`: colour map
 * (for [0, 1] pixels) applied and, with `flip`, columns mirrored; the same floats as scaleColumns then writeCrop.
 */
export function scaleColumnsToCrop(rows: ScaledRows, affine: ColorAffine, flip: boolean, out: Float32Array, offset: number): void {
  const { values, width, taps } = rows;
  const height = taps.index.length / 4;
  const stride = width * 3;
  const plane = width * height;
  const s = 1 / 255;
  const m00 = affine[0] * s;
  const m01 = affine[1] * s;
  const m02 = affine[2] * s;
  const m10 = affine[3] * s;
  const m11 = affine[4] * s;
  const m12 = affine[5] * s;
  const m20 = affine[6] * s;
  const m21 = affine[7] * s;
  const m22 = affine[8] * s;
  const c0 = affine[9];
  const c1 = affine[10];
  const c2 = affine[11];
  const step = flip ? -1 : 1;
  for (let k = 0; k < height; k++) {
    const q = 4 * k;
    const r0 = taps.index[q] * stride;
    const r1 = taps.index[q + 1] * stride;
    const r2 = taps.index[q + 2] * stride;
    const r3 = taps.index[q + 3] * stride;
    const w0 = taps.weight[q];
    const w1 = taps.weight[q + 1];
    const w2 = taps.weight[q + 2];
    const w3 = taps.weight[q + 3];
    let o = offset + k * width + (flip ? width - 1 : 0);
    for (let j = 0; j < stride; j += 3, o += step) {
      const r = values[r0 + j] * w0 + values[r1 + j] * w1 + values[r2 + j] * w2 + values[r3 + j] * w3;
      const g = values[r0 + j + 1] * w0 + values[r1 + j + 1] * w1 + values[r2 + j + 1] * w2 + values[r3 + j + 1] * w3;
      const b = values[r0 + j + 2] * w0 + values[r1 + j + 2] * w1 + values[r2 + j + 2] * w2 + values[r3 + j + 2] * w3;
      out[o] = m00 * r + m01 * g + m02 * b + c0;
      out[o + plane] = m10 * r + m11 * g + m12 * b + c1;
      out[o + 2 * plane] = m20 * r + m21 * g + m22 * b + c2;
    }
  }
}

/**
 * Scales `src` (rows first, then columns, as Torch) where `x` and `y` give the output window and the source
 * intervals, `src` holding the image from (originX, originY). Returns the window as (count_y, count_x, 3)
 * values on the source's scale (a scratch buffer, valid until the next call) and their per-channel means.
 */
export function resizeBicubic(
  src: RgbImage<Uint8Array>,
  originX: number,
  originY: number,
  x: AxisPlan,
  y: AxisPlan,
): { image: RgbImage<Float64Array>; mean: [number, number, number] } {
  const rows = scaleRows(src, originX, originY, x, y);
  return { image: scaleColumns(rows), mean: rows.mean };
}

/** Bicubic overshoot clamped, then rounded (a Uint8Array would wrap instead). */
function toByte(value: number): number {
  return value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value);
}

/**
 * Writes the size×size crop `box` of `image` (values on the 0–255 scale) into `out` at `offset` as (3, size, size):
 * with an affine map (for [0, 1] pixels) as floats M·(v/255) + c; without one, as bytes round(v) clamped to 0..255.
 */
export function writeCrop(
  image: RgbImage<Float64Array>,
  box: CropBox,
  size: number,
  out: Float32Array | Uint8Array,
  offset: number,
  affine?: ColorAffine,
): void {
  if (box.x < 0 || box.y < 0 || box.x + size > image.width || box.y + size > image.height) {
    throw expected('RN_INVALID_ARGUMENT', 'writeCrop', 'box', `a ${size}×${size} crop inside ${image.width}×${image.height}`, JSON.stringify(box));
  }
  const plane = size * size;
  const { pixels, width } = image;
  // Output column j reads image column first + step·j.
  const first = box.flip ? width - 1 - box.x : box.x;
  const step = box.flip ? -3 : 3;
  if (affine) {
    const s = 1 / 255;
    const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = Array.from(affine.subarray(0, 9), (v) => v * s);
    const [c0, c1, c2] = affine.subarray(9, 12);
    for (let y = 0; y < size; y++) {
      let p = ((box.y + y) * width + first) * 3;
      const o = offset + y * size;
      for (let j = 0; j < size; j++, p += step) {
        const r = pixels[p];
        const g = pixels[p + 1];
        const b = pixels[p + 2];
        out[o + j] = m00 * r + m01 * g + m02 * b + c0;
        out[o + plane + j] = m10 * r + m11 * g + m12 * b + c1;
        out[o + 2 * plane + j] = m20 * r + m21 * g + m22 * b + c2;
      }
    }
    return;
  }
  for (let y = 0; y < size; y++) {
    let p = ((box.y + y) * width + first) * 3;
    const o = offset + y * size;
    for (let j = 0; j < size; j++, p += step) {
      out[o + j] = toByte(pixels[p]);
      out[o + plane + j] = toByte(pixels[p + 1]);
      out[o + 2 * plane + j] = toByte(pixels[p + 2]);
    }
  }
}
