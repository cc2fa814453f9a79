// Native JPEG crops (native/image, libjpeg-turbo) against the sharp path on fixed images: exact at full size, DCT scaling's
// geometry and tolerance, the files left to sharp, the decode threads, damaged files and bad calls.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type DecodeJob, runDecodeJob } from '../../lib/data/decode-image.js';
import { DecodePool } from '../../lib/data/decode-pool.js';
import { ImageDecodeError } from '../../lib/data/image-formats.js';
import { type CropPlan, type TransformSpec, colorAffineOfMean, drawTrain, imagenetTransform } from '../../lib/data/imagenet-transforms.js';
import { type JpegDecoder, cropJpeg, nativeJpegHeader, nativeJpegLibrary } from '../../lib/data/jpeg-crop.js';
import { Rng } from '../../lib/data/random.js';
import { native } from '../../lib/runtime/native.js';

const hasLibjpeg = nativeJpegLibrary() !== '';
const NO_COLOUR = colorAffineOfMean(null); // M = identity, c = 0: crops on the 0–255 scale

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-node-jpeg-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A photograph-like RGB image: smooth colour fields (a cubic upscale of random cells) plus ±grain noise. */
async function photoPixels(rng: Rng, width: number, height: number, grain: number): Promise<Buffer> {
  const cells = Buffer.from(Uint8Array.from({ length: 8 * 6 * 3 }, () => rng.int(256)));
  const { data } = await sharp(cells, { raw: { width: 8, height: 6, channels: 3 } }).resize(width, height, { kernel: 'cubic' }).raw().toBuffer({ resolveWithObject: true });
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, data[i] + rng.int(2 * grain + 1) - grain));
  return data;
}

type Flavour = 'baseline 4:2:0' | 'progressive' | '4:4:4' | 'grey' | 'quality 75, standard tables';

async function jpegOf(pixels: Buffer, width: number, height: number, flavour: Flavour): Promise<Buffer> {
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  switch (flavour) {
    case 'baseline 4:2:0': return image.jpeg({ quality: 90 }).toBuffer();
    case 'progressive': return image.jpeg({ quality: 90, progressive: true }).toBuffer();
    case '4:4:4': return image.jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
    case 'grey': return image.toColourspace('b-w').jpeg({ quality: 90 }).toBuffer();
    case 'quality 75, standard tables': return image.jpeg({ quality: 75, optimiseCoding: false }).toBuffer();
  }
}

async function file(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** Every file at `draws` epoch positions each: many crops per file, near every edge among them. */
async function decodeAll(files: string[], spec: TransformSpec, jpegDecoder: JpegDecoder, output: DecodeJob['output'], draws = 1) {
  const repeated = files.flatMap((f) => Array<string>(draws).fill(f));
  const result = await runDecodeJob({ files: repeated, positions: repeated.map((_, i) => i), seed: 3, spec, output, jpegDecoder });
  expect(result.skipped).toEqual([]);
  return result;
}

function differences(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number; bias: number } {
  let max = 0;
  let sum = 0;
  let signed = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    max = Math.max(max, Math.abs(d));
    sum += Math.abs(d);
    signed += d;
  }
  return { max, mean: sum / a.length, bias: signed / a.length };
}

const FLAVOURS: Flavour[] = ['baseline 4:2:0', 'progressive', '4:4:4', 'grey', 'quality 75, standard tables'];
const SPECS = [imagenetTransform('train', 48), imagenetTransform('val', 48), imagenetTransform('tenCrop', 48)];

describe.skipIf(!hasLibjpeg)('native JPEG crops', () => {
  it('at full size give the sharp path’s crops: the same decoded pixels, Torch’s bicubic in float32 instead of float64', async () => {
    const rng = Rng.seeded(1);
    const files: string[] = [];
    for (const [k, flavour] of FLAVOURS.entries()) {
      // 150×94 at crop size 48: no crop is reduced 2× on both axes, where the sharp path hands over to libvips.
      const pixels = await photoPixels(rng, 150, 94, 20);
      files.push(await file(`full-${k}.jpg`, await jpegOf(pixels, 150, 94, flavour)));
    }
    for (const spec of SPECS) {
      const draws = spec.kind === 'train' ? 12 : 1;
      const floats = differences(
        new Float32Array((await decodeAll(files, spec, 'libjpeg-full', 'float32', draws)).data),
        new Float32Array((await decodeAll(files, spec, 'sharp', 'float32', draws)).data),
      );
      expect(floats.max, spec.kind).toBeLessThan(2e-4); // normalised units: 1/255/0.225 ≈ 0.017 is one level
      const bytes = differences(
        new Uint8Array((await decodeAll(files, spec, 'libjpeg-full', 'uint8', draws)).data),
        new Uint8Array((await decodeAll(files, spec, 'sharp', 'uint8', draws)).data),
      );
      expect(bytes.max, spec.kind).toBeLessThanOrEqual(1); // a value at .5 may round either way
      expect(bytes.mean, spec.kind).toBeLessThan(1e-3);
      // The default decoder scales nothing here, so it is this exact path.
      expect(new Uint8Array((await decodeAll(files, spec, 'libjpeg', 'uint8', draws)).data)).toEqual(
        new Uint8Array((await decodeAll(files, spec, 'libjpeg-full', 'uint8', draws)).data),
      );
    }
  });

  it('DCT-scale a window reduced 2×, 4× or 8× on both axes by 1/2, 1/4, 1/8, sampling the same positions', async () => {
    // A ramp (red = x/2, green = y/2): bicubic and the scaled IDCT both reproduce it, so any shift in where the
    // samples sit shows as a bias against the full-size decode (one source pixel = half a level).
    const side = 512;
    const ramp = Buffer.alloc(side * side * 3);
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) ramp.set([x >> 1, y >> 1, 128], (y * side + x) * 3);
    const jpeg = await sharp(ramp, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();
    const size = 24;
    const cases: [CropPlan, number][] = [
      [plan(40, 47, 60, 47, size), 8], // under 2×: full size
      [plan(40, 48, 60, 48, size), 4], // exactly 2× on both axes
      [plan(40, 48, 60, 47, size), 8], // 2× across only
      [plan(100, 300, 30, 97, size), 2], // 12.5× across, but only 4× down
      [plan(33, 201, 301, 150, size), 2],
      [plan(10, 400, 20, 480, size), 1],
      [plan(200, 110, 250, 100, size), 2],
    ];
    for (const [window, scale] of cases) {
      const what = JSON.stringify(window);
      const scaled = new Uint8Array(3 * size * size);
      const full = new Uint8Array(3 * size * size);
      const affine = new Float32Array(12);
      expect(cropJpeg(jpeg, window, [{ x: 0, y: 0, flip: false }], size, NO_COLOUR, true, { out: scaled, affine, firstCrop: 0 }), what).toBe(scale);
      expect(cropJpeg(jpeg, window, [{ x: 0, y: 0, flip: false }], size, NO_COLOUR, false, { out: full, affine, firstCrop: 0 }), what).toBe(8);
      for (const channel of [0, 1]) {
        const plane = size * size;
        const d = differences(scaled.subarray(channel * plane, (channel + 1) * plane), full.subarray(channel * plane, (channel + 1) * plane));
        expect(Math.abs(d.bias), `${what} channel ${channel}`).toBeLessThan(0.25); // half a source pixel
        expect(d.max, `${what} channel ${channel}`).toBeLessThanOrEqual(3);
      }
    }
  });

  it('DCT-scaled crops of large photographs stay within a few levels of Torch’s bicubic at full size', async () => {
    // Stated tolerance, smooth photographs: mean |Δ| ≤ 1 level, max ≤ 16 levels; the scaled IDCT low-passes where
    // Torch's bicubic does not, so fine detail and edges differ most.
    const rng = Rng.seeded(9);
    const files: string[] = [];
    for (let k = 0; k < 4; k++) files.push(await file(`large-${k}.jpg`, await jpegOf(await photoPixels(rng, 900, 700, 0), 900, 700, FLAVOURS[k])));
    const spec = imagenetTransform('train', 48);
    for (const path of files) expect(nativeJpegHeader(await readFile(path)), path).not.toBeNull();
    const draws = 8;
    const mine = new Uint8Array((await decodeAll(files, spec, 'libjpeg', 'uint8', draws)).data);
    const theirs = new Uint8Array((await decodeAll(files, spec, 'libjpeg-full', 'uint8', draws)).data);
    const d = differences(mine, theirs);
    expect(d.mean).toBeLessThanOrEqual(1);
    expect(d.max).toBeLessThanOrEqual(16);
    // Most of these crops are reduced 2× or more on both axes: the comparison is of the scaled path.
    const rng2 = Rng.seeded(0);
    let scaled = 0;
    for (let position = 0; position < files.length * draws; position++) {
      rng2.reseed(3, position);
      const { crop } = drawTrain(900, 700, spec, rng2);
      if (crop.x.length >= 2 * crop.x.size && crop.y.length >= 2 * crop.y.size) scaled++;
    }
    expect(scaled).toBeGreaterThan((files.length * draws) / 2);
  });

  it('leave EXIF-turned, ICC-profiled and CMYK files to sharp, so they decode as before', async () => {
    const pixels = await photoPixels(Rng.seeded(4), 64, 48, 10);
    const image = () => sharp(pixels, { raw: { width: 64, height: 48, channels: 3 } });
    const jpegs: [string, Buffer][] = [
      ['turned.jpg', await image().jpeg().withMetadata({ orientation: 6 }).toBuffer()],
      ['icc.jpg', await image().withIccProfile('p3').jpeg().toBuffer()],
      ['cmyk.jpg', await image().toColourspace('cmyk').jpeg().toBuffer()],
    ];
    const files: string[] = [];
    for (const [name, bytes] of jpegs) {
      expect(nativeJpegHeader(bytes), name).toBeNull();
      files.push(await file(name, bytes));
    }
    for (const spec of SPECS) {
      const mine = await decodeAll(files, spec, 'libjpeg', 'float32');
      expect(new Float32Array(mine.data)).toEqual(new Float32Array((await decodeAll(files, spec, 'sharp', 'float32')).data));
    }
    // Given a CMYK file anyway, the native call hands it back rather than guessing at its colours.
    const out = new Float32Array(3 * 16 * 16);
    expect(cropJpeg(jpegs[2][1], plan(0, 64, 0, 48, 16), [{ x: 0, y: 0, flip: false }], 16, NO_COLOUR, true, { out, firstCrop: 0 })).toBeNull();
  });

  it('run on the decode pool’s threads too', async () => {
    const rng = Rng.seeded(6);
    const files = [
      await file('pool-0.jpg', await jpegOf(await photoPixels(rng, 400, 300, 20), 400, 300, 'baseline 4:2:0')),
      await file('pool-1.jpg', await jpegOf(await photoPixels(rng, 300, 400, 20), 300, 400, 'progressive')),
    ];
    const spec = imagenetTransform('train', 32); // most crops are DCT-scaled, unlike anything sharp computes
    const job = { files: [...files, ...files, ...files], positions: [0, 1, 2, 3, 4, 5], seed: 8, spec, output: 'float32' as const };
    const pool = new DecodePool(2);
    try {
      const threaded = new Float32Array((await pool.run(job)).data);
      expect(threaded).toEqual(new Float32Array((await runDecodeJob({ ...job, jpegDecoder: 'libjpeg' })).data));
      expect(differences(threaded, new Float32Array((await runDecodeJob({ ...job, jpegDecoder: 'sharp' })).data)).max).toBeGreaterThan(0.01);
    } finally {
      await pool.close();
    }
  });

  it('report truncated and damaged files with libjpeg’s reason and never take the process down', async () => {
    const rng = Rng.seeded(7);
    const good = await jpegOf(await photoPixels(rng, 96, 72, 20), 96, 72, 'baseline 4:2:0');
    const out = new Float32Array(3 * 16 * 16);
    const call = (bytes: Uint8Array) => cropJpeg(bytes, plan(0, 96, 0, 72, 16), [{ x: 0, y: 0, flip: true }], 16, NO_COLOUR, true, { out, firstCrop: 0 });
    expect(call(good)).toBe(2); // 72 rows to 16: decoded at 2/8
    expect(() => call(good.subarray(0, good.length - 200))).toThrow(ImageDecodeError);
    expect(() => call(good.subarray(0, good.length - 200))).toThrow(/Premature end of JPEG file/);
    expect(() => call(Buffer.from('\xff\xd8 not really a JPEG', 'latin1'))).toThrow(ImageDecodeError);
    // Damaged copies (bytes overwritten anywhere, header included): each is cropped or reported, nothing else.
    let written = 0;
    let reported = 0;
    for (let trial = 0; trial < 400; trial++) {
      const bad = Buffer.from(good);
      for (let k = 0; k < 1 + (trial % 4); k++) bad[rng.int(bad.length)] = rng.int(256);
      try {
        if (call(bad) !== null) written++;
      } catch (error) {
        expect(error).toBeInstanceOf(ImageDecodeError);
        reported++;
      }
    }
    expect(written + reported).toBe(400);
    expect(reported).toBeGreaterThan(0);
    expect(written).toBeGreaterThan(0);
  });

  it('reject a window outside the image, boxes outside the window and too small an output, naming what was wrong', async () => {
    const jpeg = await jpegOf(await photoPixels(Rng.seeded(2), 40, 30, 0), 40, 30, 'baseline 4:2:0');
    const request = (changes: Partial<Parameters<ReturnType<typeof native>['cropJpeg']>[1]>) => ({
      plan: Int32Array.of(0, 40, 16, 0, 16, 0, 30, 16, 0, 16),
      boxes: Int32Array.of(0, 0, 0),
      cropSize: 16,
      colour: NO_COLOUR,
      dctScaling: true,
      out: new Float32Array(3 * 16 * 16),
      firstCrop: 0,
      ...changes,
    });
    const addon = native();
    expect(addon.cropJpeg(jpeg, request({}))).toEqual({ scale: 8 });
    expect(() => addon.cropJpeg(jpeg, request({ plan: Int32Array.of(0, 41, 16, 0, 16, 0, 30, 16, 0, 16) }))).toThrow(
      /cropJpeg: Expected a window inside the image for plan.x but received start 0, length 41, .* for an image 40 long/,
    );
    expect(() => addon.cropJpeg(jpeg, request({ boxes: Int32Array.of(1, 0, 0) }))).toThrow(/Expected crop boxes inside the 16×16 window but received \(1, 0\)/);
    expect(() => addon.cropJpeg(jpeg, request({ firstCrop: 1 }))).toThrow(/request.out holds 768 values, crops up to 2 need 1536/);
    expect(() => addon.cropJpeg(jpeg, request({ out: new Uint8Array(768) }))).toThrow(/Expected a Float32Array with byte output for request.affine/);
    expect(() => addon.cropJpeg(jpeg, request({ colour: new Float64Array(12) }))).toThrow(/Expected 21 values for request.colour/);
    try {
      addon.cropJpeg(jpeg, request({ plan: Int32Array.of(0, 40, 16, 0, 17, 0, 30, 16, 0, 16) }));
      expect.unreachable();
    } catch (error) {
      expect((error as { code?: string }).code).toBe('RN_INVALID_ARGUMENT');
    }
    expect(addon.cropJpeg(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), request({}))).toEqual({ error: expect.stringMatching(/Not a JPEG file/) });
  });
});

function plan(x: number, width: number, y: number, height: number, size: number): CropPlan {
  return { x: { start: x, length: width, size, first: 0, count: size }, y: { start: y, length: height, size, first: 0, count: size } };
}
