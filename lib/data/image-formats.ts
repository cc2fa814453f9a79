// PPM/PGM and uncompressed BMP, which libvips as sharp ships it cannot load: short parsers to RGB bytes; JPEG headers.
import type { RgbImage } from './resample.js';

/** The most pixels a parsed image may have: sharp's default limitInputPixels (0x3FFF²). */
export const MAX_PIXELS = 0x3fff * 0x3fff;

/** Why a file could not be read as an image; the message is what a batch's `skipped` reports. */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

/** 'ppm' or 'bmp' when the bytes start like one (whatever the file is called); otherwise sharp's formats. */
export function sniffRawFormat(bytes: Uint8Array): 'ppm' | 'bmp' | null {
  if (bytes.length >= 3 && bytes[0] === 0x50 && [0x32, 0x33, 0x35, 0x36].includes(bytes[1]) && isSpace(bytes[2])) return 'ppm';
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return 'bmp';
  return null;
}

export function decodeRawFormat(bytes: Uint8Array, format: 'ppm' | 'bmp'): RgbImage<Uint8Array> {
  return format === 'ppm' ? decodePpm(bytes) : decodeBmp(bytes);
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

function checkDimensions(format: string, width: number, height: number): void {
  if (!(width >= 1 && height >= 1) || width * height > MAX_PIXELS) {
    throw new ImageDecodeError(`${format}: bad dimensions ${width}×${height}`);
  }
}

/** What a JPEG's markers say before its scan: enough to plan crops and to choose a decoder. */
export interface JpegHeader {
  /** Stored size (before EXIF orientation). */
  width: number;
  height: number;
  /** EXIF orientation 1–8 (1 when there is none). */
  orientation: number;
  /** The frame's SOFn marker (0xc0 baseline, 0xc1 extended, 0xc2 progressive, …) and its colour components. */
  frame: number;
  components: number;
  /** An embedded ICC profile (APP2 ICC_PROFILE), which libvips converts to sRGB through. */
  icc: boolean;
}

/**
 * A JPEG's header from its markers: SOFn for the size, the first Exif APP1 for the orientation, APP2 for an ICC
 * profile. Null for anything unexpected, to be left to libvips.
 */
export function jpegHeader(bytes: Uint8Array): JpegHeader | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let orientation = 1;
  let sawExif = false;
  let icc = false;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // no length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image, or scan data before any frame header
    const length = view.getUint16(at + 2);
    const body = at + 4;
    if (length < 2 || body + length - 2 > bytes.length) return null;
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (length < 8) return null;
      const height = view.getUint16(body + 1);
      const width = view.getUint16(body + 3);
      if (width === 0 || height === 0) return null; // height from a DNL marker: rare, left to libvips
      return { width, height, orientation, frame: marker, components: bytes[body + 5], icc };
    }
    if (marker === 0xe1 && !sawExif && length >= 16 && String.fromCharCode(...bytes.subarray(body, body + 4)) === 'Exif') {
      sawExif = true;
      const found = exifOrientation(new DataView(bytes.buffer, bytes.byteOffset + body + 6, length - 8));
      if (found === null) return null;
      orientation = found;
    }
    if (marker === 0xe2 && length >= 16 && String.fromCharCode(...bytes.subarray(body, body + 11)) === 'ICC_PROFILE') icc = true;
    at = body + length - 2;
  }
  return null;
}

/** A JPEG's size as displayed (EXIF orientations 5–8 swap the sides); null where jpegHeader() is. */
export function jpegDisplaySize(bytes: Uint8Array): [number, number] | null {
  const header = jpegHeader(bytes);
  if (!header) return null;
  const { width, height, orientation } = header;
  return orientation >= 5 && orientation <= 8 ? [height, width] : [width, height];
}

/** The Orientation (0x0112) of a TIFF-structured Exif block's IFD0: 1 when absent, null when unreadable. */
function exifOrientation(tiff: DataView): number | null {
  if (tiff.byteLength < 8) return null;
  const order = tiff.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return null;
  const little = order === 0x4949;
  const ifd = tiff.getUint32(4, little);
  if (ifd + 2 > tiff.byteLength) return null;
  const entries = tiff.getUint16(ifd, little);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > tiff.byteLength) return null;
    if (tiff.getUint16(entry, little) === 0x0112) return tiff.getUint16(entry + 2, little) === 3 ? tiff.getUint16(entry + 8, little) : null;
  }
  return 1;
}

/** Netpbm P2/P5 (grey, replicated to RGB) and P3/P6 (RGB), maxval up to 65535, scaled to 0..255. */
export function decodePpm(bytes: Uint8Array): RgbImage<Uint8Array> {
  const kind = bytes[1] - 0x30; // 2, 3, 5 or 6
  let at = 2;
  const token = (): number => {
    for (;;) {
      while (at < bytes.length && isSpace(bytes[at])) at++;
      if (bytes[at] !== 0x23) break; // '#': a comment to the end of the line
      while (at < bytes.length && bytes[at] !== 0x0a && bytes[at] !== 0x0d) at++;
    }
    const start = at;
    let value = 0;
    while (at < bytes.length && bytes[at] >= 0x30 && bytes[at] <= 0x39) value = value * 10 + bytes[at++] - 0x30;
    if (at === start) throw new ImageDecodeError(at >= bytes.length ? 'PPM: truncated' : 'PPM: expected a number');
    return value;
  };
  const width = token();
  const height = token();
  const maxval = token();
  checkDimensions('PPM', width, height);
  if (maxval < 1 || maxval > 65535) throw new ImageDecodeError(`PPM: bad maxval ${maxval}`);
  const channels = kind === 3 || kind === 6 ? 3 : 1;
  const samples = width * height * channels;
  const values = new Uint16Array(samples);
  if (kind === 5 || kind === 6) {
    at++; // the single whitespace byte before the raster
    const wide = maxval > 255;
    const need = samples * (wide ? 2 : 1);
    if (bytes.length - at < need) throw new ImageDecodeError(`PPM: truncated (${bytes.length - at} of ${need} pixel bytes)`);
    for (let i = 0; i < samples; i++) values[i] = wide ? (bytes[at + 2 * i] << 8) | bytes[at + 2 * i + 1] : bytes[at + i];
  } else {
    for (let i = 0; i < samples; i++) values[i] = token();
  }
  const pixels = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const v = values[p * channels + (channels === 3 ? c : 0)];
      if (v > maxval) throw new ImageDecodeError(`PPM: sample ${v} above maxval ${maxval}`);
      pixels[p * 3 + c] = maxval === 255 ? v : Math.round((v * 255) / maxval);
    }
  }
  return { pixels, width, height };
}

/** Channel shift of an 8-bit-wide BI_BITFIELDS mask, or −1 for any other mask. */
function maskShift(mask: number): number {
  for (let shift = 0; shift <= 24; shift += 8) if (mask >>> 0 === (0xff << shift) >>> 0) return shift;
  return -1;
}

/** Windows BMP: uncompressed 24- and 32-bit (BI_RGB, or BI_BITFIELDS with byte masks) and 8-bit palettes; bottom-up or top-down. */
export function decodeBmp(bytes: Uint8Array): RgbImage<Uint8Array> {
  if (bytes.length < 54) throw new ImageDecodeError('BMP: truncated header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (headerSize < 40) throw new ImageDecodeError(`BMP: unsupported ${headerSize}-byte (OS/2) header`);
  const width = view.getInt32(18, true);
  const signedHeight = view.getInt32(22, true);
  const bits = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const height = Math.abs(signedHeight);
  checkDimensions('BMP', width, height);
  let shifts = [16, 8, 0]; // BGR(X) byte order
  if (compression === 3 && bits === 32) {
    const masksAt = 14 + 40; // after the 40-byte header, or inside a V4/V5 header at the same place
    if (bytes.length < masksAt + 12) throw new ImageDecodeError('BMP: truncated header');
    shifts = [0, 4, 8].map((k) => maskShift(view.getUint32(masksAt + k, true)));
    if (shifts.includes(-1)) throw new ImageDecodeError('BMP: unsupported bit-field masks');
  } else if (compression !== 0) {
    throw new ImageDecodeError(`BMP: unsupported compression ${compression}`);
  }
  if (bits !== 8 && bits !== 24 && bits !== 32) throw new ImageDecodeError(`BMP: unsupported ${bits}-bit pixels`);
  let palette: Uint8Array | undefined;
  if (bits === 8) {
    const colours = view.getUint32(46, true) || 256;
    const at = 14 + headerSize;
    if (colours > 256 || bytes.length < at + 4 * colours) throw new ImageDecodeError('BMP: truncated palette');
    palette = bytes.subarray(at, at + 4 * colours);
  }
  const rowBytes = Math.ceil((width * bits) / 32) * 4;
  if (bytes.length < dataOffset + rowBytes * height) {
    throw new ImageDecodeError(`BMP: truncated (${Math.max(0, bytes.length - dataOffset)} of ${rowBytes * height} pixel bytes)`);
  }
  const pixels = new Uint8Array(width * height * 3);
  const bytesPerPixel = bits / 8;
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (signedHeight > 0 ? height - 1 - y : y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette) {
        const entry = 4 * bytes[row + x];
        if (entry >= palette.length) throw new ImageDecodeError(`BMP: palette index ${entry / 4} out of range`);
        pixels[o] = palette[entry + 2];
        pixels[o + 1] = palette[entry + 1];
        pixels[o + 2] = palette[entry];
      } else {
        const at = row + x * bytesPerPixel;
        const word = bits === 32 ? view.getUint32(at, true) : bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
        for (let c = 0; c < 3; c++) pixels[o + c] = (word >>> shifts[c]) & 0xff;
      }
    }
  }
  return { pixels, width, height };
}
