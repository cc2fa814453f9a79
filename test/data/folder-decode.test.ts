// Decoding folder images: every format and colour model to the same RGB crops, EXIF orientation, tiny and huge images, bad files reported.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type DecodeJob, runDecodeJob } from '../../lib/data/decode-image.js';
import { ImageDecodeError, decodeBmp, decodePpm, jpegDisplaySize, sniffRawFormat } from '../../lib/data/image-formats.js';
import { type TransformSpec, imagenetTransform } from '../../lib/data/imagenet-transforms.js';
import type { RgbImage } from '../../lib/data/resample.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-node-decode-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const W = 12;
const H = 9;

/** A W×H pattern of at most 48 colours (so an 8-bit palette holds it). */
function pattern(): RgbImage<Uint8Array> {
  const pixels = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) pixels.set([(x * 21) % 256, (y * 29) % 256, ((x >> 2) * 80 + (y >> 2) * 40) % 256], (y * W + x) * 3);
  }
  return { pixels, width: W, height: H };
}

function encodePpm({ pixels, width, height }: RgbImage<Uint8Array>, kind: 'P3' | 'P6' | 'P6-16'): Uint8Array {
  if (kind === 'P3') {
    const rows = Array.from({ length: height }, (_, y) => Array.from(pixels.subarray(y * width * 3, (y + 1) * width * 3)).join(' '));
    return new TextEncoder().encode(`P3\n# a comment\n${width} ${height}\n255\n${rows.join('\n')}\n`);
  }
  const wide = kind === 'P6-16';
  const header = new TextEncoder().encode(`P6 ${width}\n${height} ${wide ? 65535 : 255}\n`);
  const body = new Uint8Array(pixels.length * (wide ? 2 : 1));
  // 16-bit: v·257 (big-endian) is v exactly after scaling back to 0..255.
  pixels.forEach((v, i) => (wide ? body.set([v, v], 2 * i) : (body[i] = v)));
  return Uint8Array.from([...header, ...body]);
}

function encodeBmp({ pixels, width, height }: RgbImage<Uint8Array>, bits: 8 | 24 | 32, topDown = false): Uint8Array {
  const colours = new Map<number, number>();
  if (bits === 8) for (let p = 0; p < width * height; p++) colours.set((pixels[p * 3] << 16) | (pixels[p * 3 + 1] << 8) | pixels[p * 3 + 2], 0);
  [...colours.keys()].forEach((c, i) => colours.set(c, i));
  const paletteBytes = 4 * colours.size;
  const rowBytes = Math.ceil((width * bits) / 32) * 4;
  const offset = 54 + paletteBytes;
  const out = new Uint8Array(offset + rowBytes * height);
  const view = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  view.setUint32(2, out.length, true);
  view.setUint32(10, offset, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, topDown ? -height : height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, bits, true);
  view.setUint32(46, colours.size, true);
  for (const [c, i] of colours) out.set([c & 0xff, (c >> 8) & 0xff, c >> 16, 0], 54 + 4 * i);
  for (let y = 0; y < height; y++) {
    const row = offset + (topDown ? y : height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixels.subarray((y * width + x) * 3, (y * width + x) * 3 + 3);
      if (bits === 8) out[row + x] = colours.get((r << 16) | (g << 8) | b)!;
      else out.set(bits === 24 ? [b, g, r] : [b, g, r, 0xff], row + (x * bits) / 8);
    }
  }
  return out;
}

async function file(name: string, bytes: Uint8Array | Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

function fromRaw(image: RgbImage<Uint8Array>, channels = 3) {
  return sharp(Buffer.from(image.pixels), { raw: { width: image.width, height: image.height, channels: channels as 3 } });
}

async function decode(files: string[], spec: TransformSpec, output: DecodeJob['output'] = 'uint8', seed = 1) {
  return runDecodeJob({ files, positions: files.map((_, i) => i), seed, spec, output });
}

/** Crop k of a byte result as (3, s, s). */
function crop(data: ArrayBuffer, k: number, size: number): Uint8Array {
  return new Uint8Array(data, k * 3 * size * size, 3 * size * size);
}

const VAL = imagenetTransform('val', 8); // Scale(9), CenterCrop(8)

describe('image formats', () => {
  it('decodes PNG, lossless WebP, PPM (P3, P6, 16-bit) and BMP (8/24/32-bit, bottom-up or top-down) to the same pixels, whatever the extension', async () => {
    const image = pattern();
    const files = [
      await file('a.png', await fromRaw(image).png().toBuffer()),
      await file('b.WEBP', await fromRaw(image).webp({ lossless: true }).toBuffer()),
      await file('c.ppm', encodePpm(image, 'P6')),
      await file('d.PPM', encodePpm(image, 'P3')),
      await file('e.ppm', encodePpm(image, 'P6-16')),
      await file('f.bmp', encodeBmp(image, 24)),
      await file('g.BMP', encodeBmp(image, 32, true)),
      await file('h.bmp', encodeBmp(image, 8)),
      await file('png-named.jpg', await fromRaw(image).png().toBuffer()),
      await file('ppm-named.bmp', encodePpm(image, 'P6')),
    ];
    const result = await decode(files, VAL, 'float32');
    expect(result.skipped).toEqual([]);
    expect(result.written).toEqual(files.map((_, i) => i));
    const all = new Float32Array(result.data);
    const each = 3 * 8 * 8;
    for (let k = 1; k < files.length; k++) expect(all.subarray(k * each, (k + 1) * each), files[k]).toEqual(all.subarray(0, each));
  });

  it('parses PPM and BMP headers and rejects what it cannot read with the reason', () => {
    expect(sniffRawFormat(new TextEncoder().encode('P6\n1 1\n255\n'))).toBe('ppm');
    expect(sniffRawFormat(Uint8Array.of(0x42, 0x4d, 0))).toBe('bmp');
    expect(sniffRawFormat(Uint8Array.of(0xff, 0xd8, 0xff))).toBeNull();
    expect(decodePpm(new TextEncoder().encode('P2 2 1 15 0 15'))).toEqual({ pixels: Uint8Array.of(0, 0, 0, 255, 255, 255), width: 2, height: 1 });
    expect(() => decodePpm(new TextEncoder().encode('P6 4 4 255\n\x01\x02'))).toThrow(/PPM: truncated \(2 of 48 pixel bytes\)/);
    expect(() => decodePpm(new TextEncoder().encode('P3 1 1 255 1 2'))).toThrow(/PPM: truncated/);
    expect(() => decodePpm(new TextEncoder().encode('P6 0 4 255\n'))).toThrow(/bad dimensions 0×4/);
    const bmp = encodeBmp(pattern(), 24);
    expect(() => decodeBmp(bmp.subarray(0, bmp.length - 5))).toThrow(/BMP: truncated/);
    const rle = bmp.slice();
    new DataView(rle.buffer).setUint32(30, 1, true);
    expect(() => decodeBmp(rle)).toThrow(ImageDecodeError);
    expect(() => decodeBmp(rle)).toThrow(/unsupported compression 1/);
  });
});

describe('JPEG headers', () => {
  it('give the displayed size that libvips reports, EXIF orientation included, or leave the file to libvips', async () => {
    const image = fromRaw(pattern());
    const jpegs = [
      await image.clone().jpeg().toBuffer(),
      await image.clone().jpeg({ progressive: true }).toBuffer(),
      await image.clone().toColourspace('cmyk').jpeg().toBuffer(),
      await image.clone().toColourspace('b-w').jpeg().toBuffer(),
      ...(await Promise.all([2, 3, 5, 6, 7, 8].map((orientation) => image.clone().jpeg().withMetadata({ orientation }).toBuffer()))),
    ];
    for (const [k, jpeg] of jpegs.entries()) {
      const meta = await sharp(jpeg).metadata();
      expect(jpegDisplaySize(jpeg), `jpeg ${k}`).toEqual([meta.autoOrient.width, meta.autoOrient.height]);
    }
    expect(jpegDisplaySize(jpegs[7])).toEqual([H, W]); // orientation 6: turned a quarter
    expect(jpegDisplaySize(await image.clone().png().toBuffer())).toBeNull();
    expect(jpegDisplaySize(jpegs[0].subarray(0, 20))).toBeNull();
  });
});

describe('colour models', () => {
  it('gives grey, grey+alpha, RGBA and CMYK images as RGB: alpha dropped, grey replicated, CMYK converted', async () => {
    const image = pattern();
    const rgba = new Uint8Array(W * H * 4);
    for (let p = 0; p < W * H; p++) rgba.set([...image.pixels.subarray(p * 3, p * 3 + 3), p % 2 ? 0 : 255], p * 4);
    const files = [
      await file('rgb.png', await fromRaw(image).png().toBuffer()),
      await file('rgba.png', await sharp(Buffer.from(rgba), { raw: { width: W, height: H, channels: 4 } }).png().toBuffer()),
      await file('grey.png', await fromRaw(image).toColourspace('b-w').png().toBuffer()),
      await file('grey-alpha.png', await sharp(Buffer.from(rgba), { raw: { width: W, height: H, channels: 4 } }).toColourspace('b-w').png().toBuffer()),
      await file('cmyk.jpg', await fromRaw(image).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer()),
    ];
    for (const [name, channels] of [['grey.png', 1], ['grey-alpha.png', 2], ['cmyk.jpg', 4], ['rgba.png', 4]] as const) {
      expect((await sharp(join(dir, name)).metadata()).channels, name).toBe(channels);
    }
    const result = await decode(files, VAL);
    expect(result.written).toEqual([0, 1, 2, 3, 4]);
    const [rgb, fromRgba, grey, greyAlpha, cmyk] = [0, 1, 2, 3, 4].map((k) => crop(result.data, k, 8));
    expect(fromRgba).toEqual(rgb);
    expect(greyAlpha).toEqual(grey);
    const plane = 64;
    expect(grey.subarray(0, plane)).toEqual(grey.subarray(plane, 2 * plane));
    expect(grey.subarray(0, plane)).toEqual(grey.subarray(2 * plane));
    // Grey is libvips's luminance of the colour image (not exactly Rec. 601's), CMYK a lossy round trip of it.
    const meanAbs = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
    const luma = Uint8Array.from({ length: plane }, (_, i) => 0.299 * rgb[i] + 0.587 * rgb[plane + i] + 0.114 * rgb[2 * plane + i]);
    expect(meanAbs(grey.subarray(0, plane), luma)).toBeLessThan(16);
    expect(meanAbs(cmyk, rgb)).toBeLessThan(16);
  });

  it('turns images by their EXIF orientation before cropping', async () => {
    // Stored 16×8, left half black; orientation 6 shows it 8×16 with the black half on top.
    const stored = new Uint8Array(16 * 8 * 3);
    for (let y = 0; y < 8; y++) for (let x = 8; x < 16; x++) stored.fill(255, (y * 16 + x) * 3, (y * 16 + x) * 3 + 3);
    const path = await file('rotated.jpg', await sharp(Buffer.from(stored), { raw: { width: 16, height: 8, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer());
    const result = await decode([path], VAL);
    const red = crop(result.data, 0, 8).subarray(0, 64);
    const row = (y: number) => red.subarray(y * 8, y * 8 + 8).reduce((a, b) => a + b, 0) / 8;
    expect(row(0)).toBeLessThan(40);
    expect(row(7)).toBeGreaterThan(215);
  });
});

describe('sizes', () => {
  it('crops 1×1 images and 6000×4000 photographs (DCT-scaled on decode by libjpeg, or shrunk on load by libvips)', async () => {
    const tiny = await file('tiny.png', await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toBuffer());
    const huge = await file('huge.jpg', await sharp({ create: { width: 6000, height: 4000, channels: 3, background: { r: 30, g: 160, b: 90 } } }).jpeg().toBuffer());
    const train = imagenetTransform('train', 32);
    for (const spec of [train, VAL, imagenetTransform('tenCrop', 32), imagenetTransform('train', 32, [37, 55])]) {
      const result = await decode([tiny, huge], spec, 'uint8', 5);
      expect(result.skipped, spec.kind).toEqual([]);
      const values = new Uint8Array(result.data);
      const half = values.length / 2;
      // Flat images stay flat through any crop and scale.
      for (const [part, colour] of [[values.subarray(0, half), [200, 100, 50]], [values.subarray(half), [30, 160, 90]]] as const) {
        const plane = spec.size * spec.size;
        for (let c = 0; c < 3; c++) for (let i = c * plane; i < part.length; i += 3 * plane) expect(Math.abs(part[i] - colour[c])).toBeLessThanOrEqual(2);
      }
    }
    const floats = new Float32Array((await decode([tiny, huge], train, 'float32', 9)).data);
    expect(floats.every(Number.isFinite)).toBe(true);
  });
});

describe('bad files', () => {
  it('reports empty, truncated, corrupt, non-image and missing files with the reason, and still decodes the rest', async () => {
    const image = pattern();
    const jpeg = await fromRaw(image).jpeg().toBuffer();
    const png = await fromRaw(image).png().toBuffer();
    const badHeader = Buffer.from(jpeg);
    badHeader.fill(0xff, 2, 40);
    const files = [
      await file('good.jpg', jpeg),
      await file('empty.jpg', new Uint8Array(0)),
      await file('truncated.jpg', jpeg.subarray(0, jpeg.length >> 1)),
      await file('truncated.png', png.subarray(0, png.length >> 1)),
      await file('corrupt.jpg', badHeader),
      await file('notes.png', new TextEncoder().encode('not an image at all')),
      await file('short.ppm', encodePpm(image, 'P6').subarray(0, 30)),
      join(dir, 'deleted.jpg'),
      await file('good.png', png),
    ];
    const result = await decode(files, imagenetTransform('train', 16), 'float32');
    expect(result.written).toEqual([0, 8]);
    expect(new Float32Array(result.data).length).toBe(files.length * 3 * 16 * 16); // room for all; the loader trims it
    const reasons = Object.fromEntries(result.skipped.map((s) => [files[s.index].split('/').at(-1), s.reason]));
    expect(reasons).toEqual({
      'empty.jpg': 'empty file',
      'truncated.jpg': expect.stringMatching(/premature end/i),
      'truncated.png': expect.stringMatching(/libpng read error|corrupt/i),
      'corrupt.jpg': expect.stringMatching(/corrupt header/i),
      'notes.png': expect.stringMatching(/unsupported image format/),
      'short.ppm': expect.stringMatching(/PPM: truncated/),
      'deleted.jpg': expect.stringMatching(/ENOENT/),
    });
  });
});
