// JPEG crops decoded and transformed in one native pass (native/image, libjpeg-turbo): which files take it, and the call.
import { native } from '../runtime/native.js';
import { ImageDecodeError, type JpegHeader, MAX_PIXELS, jpegHeader } from './image-formats.js';
import type { CropBox, CropPlan } from './imagenet-transforms.js';

/**
 * How a decode job reads JPEGs. 'libjpeg': natively, only the region the crop reads, DCT-scaled by 1/2, 1/4 or 1/8
 * where the crop is reduced at least that much on both axes (the default where the addon has libjpeg; otherwise
 * Torch's bicubic on the decoded pixels exactly); 'libjpeg-full': natively, never DCT-scaled; 'sharp': libvips, as
 * every other format.
 * Files the native path does not take (EXIF-turned, ICC profiles, CMYK, lossless …) go to sharp whatever is chosen.
 */
export type JpegDecoder = 'libjpeg' | 'libjpeg-full' | 'sharp';
export const JPEG_DECODERS: readonly JpegDecoder[] = ['libjpeg', 'libjpeg-full', 'sharp'];

/** SOF markers libjpeg-turbo 2.x decodes: baseline, extended and progressive, Huffman or arithmetic coded. */
const NATIVE_FRAMES = new Set([0xc0, 0xc1, 0xc2, 0xc9, 0xca]);

let library: string | undefined;

/** The native JPEG library ('libjpeg-turbo 2.1.5'), or '' where the addon has none or does not load in this thread. */
export function nativeJpegLibrary(): string {
  if (library === undefined) {
    try {
      library = native().jpegLibrary?.() ?? '';
    } catch {
      library = '';
    }
  }
  return library;
}

/** The decoder a job uses when it names none. */
export function defaultJpegDecoder(): JpegDecoder {
  return nativeJpegLibrary() ? 'libjpeg' : 'sharp';
}

/**
 * The header of a JPEG the native path takes: 1 or 3 components, a frame libjpeg-turbo decodes, no EXIF turn
 * (orientation 1), no ICC profile (libvips converts through it, libjpeg does not) and at most sharp's pixel limit
 * (larger files go to sharp, which names the limit). Null for anything else.
 */
export function nativeJpegHeader(bytes: Uint8Array): JpegHeader | null {
  const header = jpegHeader(bytes);
  if (!header || header.orientation !== 1 || header.icc || !NATIVE_FRAMES.has(header.frame)) return null;
  if ((header.components !== 1 && header.components !== 3) || header.width * header.height > MAX_PIXELS) return null;
  return header;
}

export interface JpegCropTarget {
  /** (crops, 3, size, size) floats, or bytes with `affine`. */
  out: Float32Array | Uint8Array;
  affine?: Float32Array;
  /** The crop slot of the first box. */
  firstCrop: number;
}

/**
 * Cuts `plan` from the JPEG (a file nativeJpegHeader took), writes `boxes` as cropSize² crops with the colour map
 * `colour` (colorAffineOfMean), and returns the DCT scale n of n/8 it decoded at; null when the file turned out to
 * need the general decoder (a CMYK frame, say). A corrupt or truncated file throws ImageDecodeError with libjpeg's reason.
 */
export function cropJpeg(bytes: Uint8Array, plan: CropPlan, boxes: readonly CropBox[], cropSize: number, colour: Float64Array, dctScaling: boolean, target: JpegCropTarget): number | null {
  const { x, y } = plan;
  const outcome = native().cropJpeg(bytes, {
    plan: Int32Array.of(x.start, x.length, x.size, x.first, x.count, y.start, y.length, y.size, y.first, y.count),
    boxes: Int32Array.from(boxes.flatMap((b) => [b.x, b.y, b.flip ? 1 : 0])),
    cropSize,
    colour,
    dctScaling,
    out: target.out,
    affine: target.affine,
    firstCrop: target.firstCrop,
  });
  if ('error' in outcome) throw new ImageDecodeError(outcome.error);
  return 'scale' in outcome ? outcome.scale : null;
}
