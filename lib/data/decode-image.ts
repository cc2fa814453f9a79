// One decode job: image files to crops in a batch buffer, each image's randomness from (seed, epoch position) alone.
import { readFileSync } from 'node:fs';

import sharp, { type Sharp } from 'sharp';

import { ImageDecodeError, decodeRawFormat, jpegDisplaySize, sniffRawFormat } from './image-formats.js';
import {
  type AxisPlan,
  type CropBox,
  type CropPlan,
  type TrainDraw,
  type TransformSpec,
  IMAGENET_MEAN,
  IMAGENET_STD,
  colorAffine,
  colorAffineOfMean,
  drawTrain,
  scaleCenterCrop,
  scaledSize,
  tenCropBoxes,
} from './imagenet-transforms.js';
import { type JpegDecoder, cropJpeg, defaultJpegDecoder, nativeJpegHeader } from './jpeg-crop.js';
import { Rng } from './random.js';
import { type RgbImage, type ScaledRows, axisSpan, scaleColumns, scaleColumnsToCrop, scaleRows, writeCrop } from './resample.js';

export interface DecodeJob {
  /** Absolute paths. */
  files: string[];
  /** Epoch position of each file: its augmentation comes from the stream (seed, position). */
  positions: number[];
  seed: number;
  spec: TransformSpec;
  /** float32: normalised crops, the Trainer's input; uint8: the crops' bytes plus each one's colour map (see DecodeResult.affine). */
  output: 'float32' | 'uint8';
  /** How JPEGs are read (jpeg-crop.ts); default 'libjpeg' where the addon has it, else 'sharp'. */
  jpegDecoder?: JpegDecoder;
}

export interface DecodeResult {
  /** (written × crops, 3, size, size) float32 or uint8. */
  data: ArrayBuffer;
  /** uint8 output: (written × crops, 12) float32, the map M (row-major), c giving the float crop as M·(byte/255) + c per pixel. */
  affine?: ArrayBuffer;
  /** Job indices of the images written, in order. */
  written: number[];
  skipped: { index: number; reason: string }[];
}

/** Crops at least this many times larger than the output are scaled by libvips (shrink-on-load, antialiased cubic). */
const LIBVIPS_DOWNSCALE = 2;

const NORMALIZE = { mean: IMAGENET_MEAN, std: IMAGENET_STD };

function cropsPerImage(spec: TransformSpec): number {
  return spec.kind === 'tenCrop' ? 10 : 1;
}

/** What to cut from an image of width × height, and how its crops sit in the scaled window. */
function planFor(width: number, height: number, spec: TransformSpec, rng: Rng): { plan: CropPlan; boxes: CropBox[]; draw?: TrainDraw } {
  if (spec.kind === 'train') {
    const draw = drawTrain(width, height, spec, rng);
    return { plan: draw.crop, boxes: [{ x: 0, y: 0, flip: draw.flip }], draw };
  }
  if (spec.kind === 'val') return { plan: scaleCenterCrop(width, height, spec.valScale, spec.size), boxes: [{ x: 0, y: 0, flip: false }] };
  const [sw, sh] = scaledSize(width, height, spec.valScale);
  const whole = (length: number, size: number): AxisPlan => ({ start: 0, length, size, first: 0, count: size });
  return { plan: { x: whole(width, sw), y: whole(height, sh) }, boxes: tenCropBoxes(sw, sh, spec.size) };
}

type Source = { kind: 'raw'; image: RgbImage<Uint8Array> } | { kind: 'encoded'; bytes: Uint8Array };

function sharpOf(source: Source): Sharp {
  if (source.kind === 'raw') {
    const { pixels, width, height } = source.image;
    return sharp(pixels, { raw: { width, height, channels: 3 } });
  }
  // failOn 'error': truncated and corrupt files fail; mere warnings (extraneous bytes) do not, as in PIL.
  return sharp(source.bytes, { failOn: 'error', autoOrient: true });
}

async function toRgb(pipeline: Sharp): Promise<RgbImage<Uint8Array>> {
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new ImageDecodeError(`decoded to ${info.channels} channels, not 3`);
  return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/**
 * The plan's window, scaled by libvips (shrink-on-load, antialiased cubic) for reductions of LIBVIPS_DOWNSCALE
 * or more, otherwise as rows of Torch's bicubic from just the source region the taps read.
 */
async function scaledWindow(source: Source, width: number, height: number, plan: CropPlan): Promise<{ image: RgbImage<Float64Array>; mean: number[] } | ScaledRows> {
  const { x, y } = plan;
  if (Math.min(x.length / x.size, y.length / y.size) >= LIBVIPS_DOWNSCALE) {
    // Scale the whole image so the window is a plain extract; libvips decodes JPEG/WebP shrunk on load.
    const fullW = Math.max(Math.round((width * x.size) / x.length), x.count);
    const fullH = Math.max(Math.round((height * y.size) / y.length), y.count);
    const left = Math.min(Math.round((x.start * x.size) / x.length) + x.first, fullW - x.count);
    const top = Math.min(Math.round((y.start * y.size) / y.length) + y.first, fullH - y.count);
    const window = await toRgb(
      sharpOf(source).resize(fullW, fullH, { fit: 'fill', kernel: 'cubic' }).extract({ left, top, width: x.count, height: y.count }),
    );
    const pixels = Float64Array.from(window.pixels);
    const mean = [0, 0, 0];
    for (let i = 0; i < pixels.length; i++) mean[i % 3] += pixels[i];
    return { image: { pixels, width: window.width, height: window.height }, mean: mean.map((m) => m / (window.width * window.height)) };
  }
  if (source.kind === 'raw') return scaleRows(source.image, 0, 0, x, y);
  // Only the rows and columns the taps read are decoded (libvips stops reading a JPEG below the last row).
  const [x0, x1] = axisSpan(x);
  const [y0, y1] = axisSpan(y);
  const region = await toRgb(sharpOf(source).extract({ left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 }));
  return scaleRows(region, x0, y0, x, y);
}

async function imageSize(source: Source): Promise<[number, number]> {
  if (source.kind === 'raw') return [source.image.width, source.image.height];
  // Most images are JPEGs, whose header says their size without a libvips call.
  const jpeg = jpegDisplaySize(source.bytes);
  if (jpeg) return jpeg;
  const meta = await sharp(source.bytes, { failOn: 'error' }).metadata();
  const oriented = meta.autoOrient ?? meta;
  return [oriented.width, oriented.height];
}

function readSource(path: string): Source {
  const bytes = readFileSync(path);
  if (bytes.length === 0) throw new ImageDecodeError('empty file');
  const raw = sniffRawFormat(bytes);
  return raw ? { kind: 'raw', image: decodeRawFormat(bytes, raw) } : { kind: 'encoded', bytes };
}

/** Decodes and transforms the job's files in order; a file that fails is reported and left out. */
export async function runDecodeJob(job: DecodeJob): Promise<DecodeResult> {
  const { spec } = job;
  const crops = cropsPerImage(spec);
  const cropValues = 3 * spec.size * spec.size;
  const slots = job.files.length * crops;
  const data = job.output === 'float32' ? new Float32Array(slots * cropValues) : new Uint8Array(slots * cropValues);
  const affines = job.output === 'uint8' ? new Float32Array(slots * 12) : undefined;
  const written: number[] = [];
  const skipped: DecodeResult['skipped'] = [];
  const rng = Rng.seeded(0);
  const jpegDecoder = job.jpegDecoder ?? defaultJpegDecoder();
  for (let index = 0; index < job.files.length; index++) {
    try {
      rng.reseed(job.seed, job.positions[index]);
      const source = readSource(job.files[index]);
      const jpeg = source.kind === 'encoded' && jpegDecoder !== 'sharp' ? nativeJpegHeader(source.bytes) : null;
      const [width, height] = jpeg ? [jpeg.width, jpeg.height] : await imageSize(source);
      const { plan, boxes, draw } = planFor(width, height, spec, rng);
      const slot = written.length * crops;
      if (jpeg && source.kind === 'encoded') {
        // Decode, crop, resize, colour and flip in one native pass; null: a file libjpeg leaves to libvips after all.
        const colour = colorAffineOfMean(draw?.color ?? null, NORMALIZE);
        if (cropJpeg(source.bytes, plan, boxes, spec.size, colour, jpegDecoder === 'libjpeg', { out: data, affine: affines, firstCrop: slot }) !== null) {
          written.push(index);
          continue;
        }
      }
      const scaled = await scaledWindow(source, width, height, plan);
      const affine = colorAffine(draw?.color ?? null, scaled.mean.map((m) => m / 255), NORMALIZE);
      if ('taps' in scaled && crops === 1 && data instanceof Float32Array) {
        // The common case in one pass: column pass, colour map and flip straight into the batch.
        scaleColumnsToCrop(scaled, affine, boxes[0].flip, data, slot * cropValues);
      } else {
        const image = 'taps' in scaled ? scaleColumns(scaled) : scaled.image;
        for (let k = 0; k < crops; k++) {
          writeCrop(image, boxes[k], spec.size, data, (slot + k) * cropValues, affines ? undefined : affine);
          affines?.set(affine, (slot + k) * 12);
        }
      }
      written.push(index);
    } catch (error) {
      skipped.push({ index, reason: (error as Error).message?.split('\n')[0] || String(error) });
    }
  }
  return { data: data.buffer as ArrayBuffer, affine: affines?.buffer as ArrayBuffer | undefined, written, skipped };
}
