// safetensors: round trips of every dtype, the byte layout, each kind of corruption, and a cross-check with Python.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  type SafetensorsDtype,
  type SafetensorsTensor,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
} from '../../lib/io/safetensors.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { randn, rng } from '../util/random.js';

const ALL_DTYPES: SafetensorsDtype[] = ['BOOL', 'U8', 'I8', 'U16', 'I16', 'F16', 'BF16', 'U32', 'I32', 'F32', 'U64', 'I64', 'F64', 'F8_E4M3', 'F8_E5M2'];

/** Random finite values of `dtype`: half and 8-bit floats as bit patterns that avoid NaN and infinity. */
function randomTensor(dtype: SafetensorsDtype, shape: number[], seed: number): SafetensorsTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = rng(seed);
  const ints = (lo: number, hi: number) => Array.from({ length: n }, () => lo + Math.floor(u() * (hi - lo)));
  const sign = (bits: number, signBit: number) => (u() < 0.5 ? bits : bits | signBit);
  const big = (lo: bigint, span: bigint) => Array.from({ length: n }, () => lo + (BigInt(Math.floor(u() * 2 ** 32)) * span) / 2n ** 32n);
  switch (dtype) {
    case 'BOOL':
      return { dtype, shape, data: Uint8Array.from(ints(0, 2)) };
    case 'U8':
      return { dtype, shape, data: Uint8Array.from(ints(0, 256)) };
    case 'I8':
      return { dtype, shape, data: Int8Array.from(ints(-128, 128)) };
    case 'U16':
      return { dtype, shape, data: Uint16Array.from(ints(0, 65536)) };
    case 'I16':
      return { dtype, shape, data: Int16Array.from(ints(-32768, 32768)) };
    case 'F16': // exponent field below 31: finite
      return { dtype, shape, data: Uint16Array.from(ints(0, 0x7c00), (b) => sign(b, 0x8000)) };
    case 'BF16': // the top half of float32 normal numbers
      return { dtype, shape, data: Uint16Array.from(new Uint32Array(Float32Array.from(randn(n, seed)).buffer), (b) => b >>> 16) };
    case 'U32':
      return { dtype, shape, data: Uint32Array.from(ints(0, 2 ** 32)) };
    case 'I32':
      return { dtype, shape, data: Int32Array.from(ints(-(2 ** 31), 2 ** 31)) };
    case 'F32':
      return { dtype, shape, data: Float32Array.from(randn(n, seed)) };
    case 'U64': // beyond 2^53, where Number would lose digits
      return { dtype, shape, data: BigUint64Array.from(big(0n, 2n ** 64n - 1n)) };
    case 'I64':
      return { dtype, shape, data: BigInt64Array.from(big(-(2n ** 63n), 2n ** 64n - 1n)) };
    case 'F64':
      return { dtype, shape, data: Float64Array.from(randn(n, seed, 1e3)) };
    case 'F8_E4M3': // 0x7f and 0xff are NaN
      return { dtype, shape, data: Uint8Array.from(ints(0, 0x7f), (b) => sign(b, 0x80)) };
    case 'F8_E5M2': // exponent field below 31: finite
      return { dtype, shape, data: Uint8Array.from(ints(0, 0x7c), (b) => sign(b, 0x80)) };
  }
}

/** Every dtype under a torchvision-style name, plus a scalar and an empty tensor. */
function everyDtype(seed: number): Record<string, SafetensorsTensor> {
  const tensors: Record<string, SafetensorsTensor> = {};
  ALL_DTYPES.forEach((dtype, i) => {
    tensors[`layer${i % 4 + 1}.${i}.conv1.weight`] = randomTensor(dtype, [2, 3, 5], seed + i);
  });
  tensors['bn1.num_batches_tracked'] = { dtype: 'I64', shape: [], data: BigInt64Array.of(123456789012345n) };
  tensors['layer2.0.downsample.0.weight'] = randomTensor('F32', [0, 3], seed);
  return tensors;
}

function expectInvalid(f: () => unknown, message: RegExp): void {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ResnetError);
    expect((error as ResnetError).code).toBe('RN_INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(message);
    return;
  }
  expect.fail(`expected a ResnetError matching ${message}`);
}

/** A file with `header` verbatim (JSON text or a value to stringify) and `dataBytes` bytes of data. */
function craft(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function headerOf(bytes: Uint8Array): { length: number; text: string; json: Record<string, any> } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { length, text, json: JSON.parse(text) };
}

describe('safetensors round trips', () => {
  it('every dtype, a scalar and an empty tensor come back equal', () => {
    const tensors = everyDtype(1);
    const { tensors: back, metadata } = decodeSafetensors(encodeSafetensors(tensors, { format: 'pt' }));
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back[name].dtype, name).toBe(t.dtype);
      expect(back[name].shape, name).toEqual(t.shape);
      expect(back[name].data, name).toEqual(t.data); // same array type and elements
    }
    expect(metadata).toEqual({ format: 'pt' });
    expect((back['bn1.num_batches_tracked'].data as BigInt64Array)[0]).toBe(123456789012345n);
  });

  it('decoded data is an aligned copy that outlives the input bytes', () => {
    const bytes = encodeSafetensors({ 'fc.weight': randomTensor('F64', [3, 3], 2), 'fc.bias': randomTensor('BOOL', [3], 3) });
    const decoded = decodeSafetensors(bytes);
    const before = Float64Array.from(decoded.tensors['fc.weight'].data as Float64Array);
    bytes.fill(0);
    for (const t of Object.values(decoded.tensors)) {
      expect(t.data.byteOffset).toBe(0);
      expect(t.data.buffer.byteLength).toBe(t.data.byteLength);
    }
    expect(decoded.tensors['fc.weight'].data).toEqual(before);
  });

  it('reads from a Uint8Array that is a view at an odd offset', () => {
    const bytes = encodeSafetensors({ x: randomTensor('F32', [7], 4) });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const back = decodeSafetensors(shifted.subarray(3));
    expect(back.tensors.x.data).toEqual(decodeSafetensors(bytes).tensors.x.data);
  });

  it('writes only the viewed part of a typed-array view', () => {
    const whole = Float32Array.from(randn(10, 5));
    const back = decodeSafetensors(encodeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: whole.subarray(3, 7) } }));
    expect(back.tensors.w.data).toEqual(whole.slice(3, 7));
  });

  it('metadata: absent, empty and present', () => {
    const t = { w: randomTensor('U8', [2], 6) };
    const absent = encodeSafetensors(t);
    expect(headerOf(absent).json).not.toHaveProperty('__metadata__');
    expect(decodeSafetensors(absent).metadata).toEqual({});
    const empty = encodeSafetensors(t, {});
    expect(headerOf(empty).json.__metadata__).toEqual({});
    expect(decodeSafetensors(empty).metadata).toEqual({});
    const some = { format: 'pt', note: 'épocas: 90 ✓', json: '{"a":1}' };
    expect(decodeSafetensors(encodeSafetensors(t, some)).metadata).toEqual(some);
  });

  it('no tensors at all is a valid file', () => {
    const bytes = encodeSafetensors({});
    expect(bytes.length).toBe(16); // length, then "{}" padded to 8
    expect(decodeSafetensors(bytes)).toEqual({ tensors: {}, metadata: {} });
  });
});

describe('safetensors layout', () => {
  it('pads the header with spaces to a multiple of 8 and packs data by element size, then name', () => {
    const tensors = everyDtype(7);
    const bytes = encodeSafetensors(tensors, { a: 'b' });
    const { length, text, json } = headerOf(bytes);
    expect((8 + length) % 8).toBe(0);
    expect(text.trimEnd().length).toBeGreaterThan(length - 8); // fewer than 8 spaces of padding
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    const keys = Object.keys(json);
    expect(keys[0]).toBe('__metadata__');
    const size = (name: string) => decodeSafetensors(bytes).tensors[name].data.BYTES_PER_ELEMENT;
    const order = keys.slice(1);
    expect(order).toEqual([...order].sort((a, b) => size(b) - size(a) || (a < b ? -1 : 1)));
    let end = 0;
    for (const name of order) {
      const [begin, stop] = json[name].data_offsets;
      expect(begin, name).toBe(end); // packed, in header order
      expect(begin % size(name), `${name} aligned`).toBe(0);
      end = stop;
    }
    expect(bytes.length).toBe(8 + length + end);
  });

  it('stores data C-order and little-endian', () => {
    const bytes = encodeSafetensors({ x: { dtype: 'I32', shape: [2, 2], data: Int32Array.of(1, 2, 3, -2) } });
    const data = bytes.subarray(bytes.length - 16);
    expect(Array.from(data)).toEqual([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
  });
});

describe('safetensors write checks', () => {
  it('rejects data whose length does not match the shape', () => {
    expectInvalid(
      () => encodeSafetensors({ 'layer1.0.conv1.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } }),
      /Expected 6 elements \(shape \[2,3\]\) for the data of tensor 'layer1\.0\.conv1\.weight' but received 5/,
    );
  });

  it('rejects an array type that does not match the dtype, an unknown dtype and a bad shape', () => {
    expectInvalid(
      () => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } as never }),
      /Expected a Float32Array for the data of tensor 'w' \(F32\) but received Float64Array/,
    );
    expectInvalid(() => encodeSafetensors({ w: { dtype: 'I64', shape: [2], data: new Int32Array(2) } as never }), /Expected a BigInt64Array/);
    expectInvalid(
      () => encodeSafetensors({ w: { dtype: 'F128', shape: [2], data: new Float32Array(2) } as never }),
      /Expected one of BOOL, .* for the dtype of tensor 'w' but received string "F128"/,
    );
    expectInvalid(() => encodeSafetensors({ w: { dtype: 'U8', shape: [-1], data: new Uint8Array(1) } }), /for the shape of tensor 'w'/);
    expectInvalid(() => encodeSafetensors({ w: { dtype: 'U8', shape: [1.5], data: new Uint8Array(1) } }), /for the shape of tensor 'w'/);
  });

  it('rejects reserved or empty names and non-string metadata', () => {
    const t = { dtype: 'U8', shape: [1], data: new Uint8Array(1) } as const;
    expectInvalid(() => encodeSafetensors({ __metadata__: t }), /other than __metadata__/);
    expectInvalid(() => encodeSafetensors({ '': t }), /non-empty name/);
    expectInvalid(() => encodeSafetensors({ t }, { epoch: 3 as never }), /Expected a string for metadata 'epoch' but received number 3/);
    expectInvalid(() => encodeSafetensors(null as never), /Expected an object of name → \{dtype, shape, data\} for tensors but received null/);
  });
});

describe('safetensors read checks', () => {
  const one = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('a well-formed crafted file reads (the control for the cases below)', () => {
    expect(decodeSafetensors(craft(one, 8)).tensors.w.shape).toEqual([2]);
  });

  it('fewer than 8 bytes, and a header length larger than the file', () => {
    expectInvalid(
      () => decodeSafetensors(new Uint8Array(5), 'a.safetensors'),
      /Expected at least 8 bytes for the length of a\.safetensors but received 5 bytes \(truncated\)/,
    );
    const bytes = craft(one, 8);
    new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true);
    expectInvalid(
      () => decodeSafetensors(bytes, 'b.safetensors'),
      /Expected at most \d+ \(the bytes after the length\) for the header length of b\.safetensors but received 1099511627776/,
    );
  });

  it('a header that is not JSON, not an object, or not UTF-8', () => {
    expectInvalid(
      () => decodeSafetensors(craft('{"w": {', 0), 'c.st'),
      /Expected a JSON object for the header of c\.st but received text that does not parse/,
    );
    expectInvalid(
      () => decodeSafetensors(craft('[1, 2]', 0), 'c.st'),
      /for the header of c\.st but received text that does not parse: it starts with "\[1, 2\]"/,
    );
    expectInvalid(() => decodeSafetensors(craft('{} ', 0).fill(0xff, 8, 9), 'c.st'), /for the header of c\.st/);
    expectInvalid(
      () => decodeSafetensors(craft({ w: 3 }, 0), 'c.st'),
      /Expected an object \{dtype, shape, data_offsets\} for tensor 'w' in c\.st but received number 3/,
    );
  });

  it('an unknown dtype and a malformed shape or data_offsets', () => {
    expectInvalid(
      () => decodeSafetensors(craft({ w: { ...one.w, dtype: 'F128' } }, 8), 'd.st'),
      /for the dtype of tensor 'w' in d\.st but received string "F128"/,
    );
    expectInvalid(() => decodeSafetensors(craft({ w: { ...one.w, shape: [2, -1] } }, 8), 'd.st'), /for the shape of tensor 'w' in d\.st/);
    expectInvalid(
      () => decodeSafetensors(craft({ w: { ...one.w, data_offsets: [0, 4, 8] } }, 8), 'd.st'),
      /Expected \[begin, end\] with 0 ≤ begin ≤ end for the data_offsets of tensor 'w'/,
    );
    expectInvalid(() => decodeSafetensors(craft({ w: { ...one.w, data_offsets: [8, 0] } }, 8), 'd.st'), /\[begin, end\]/);
    expectInvalid(
      () => decodeSafetensors(craft({ w: { dtype: 'F32', shape: [2] } }, 8), 'd.st'),
      /data_offsets of tensor 'w' in d\.st but received undefined$/,
    );
  });

  it('data_offsets that do not match shape × dtype size', () => {
    expectInvalid(
      () => decodeSafetensors(craft({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), 'e.st'),
      /Expected 12 bytes \(F32\[3\]\) for the data_offsets of tensor 'w' in e\.st but received \[0, 8\], 8 bytes/,
    );
  });

  it('a hole and an overlap between tensors', () => {
    const hole = { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [6, 10] } };
    expectInvalid(
      () => decodeSafetensors(craft(hole, 10), 'f.st'),
      /for the data_offsets of tensor 'b' in f\.st but received 6: a hole at bytes \[4, 6\)/,
    );
    const overlap = { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } };
    expectInvalid(
      () => decodeSafetensors(craft(overlap, 6), 'f.st'),
      /Expected a begin of 4 \(where the tensor before it ends\) .* but received 2: an overlap at bytes \[2, 4\)/,
    );
    const late = { a: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } };
    expectInvalid(() => decodeSafetensors(craft(late, 6), 'f.st'), /received 2: a hole at bytes \[0, 2\)/);
  });

  it('a truncated file and trailing bytes', () => {
    const full = encodeSafetensors(everyDtype(8));
    expectInvalid(
      () => decodeSafetensors(full.subarray(0, full.length - 1), 'g.st'),
      /for the data section of g\.st but received \d+: the file is truncated/,
    );
    const longer = new Uint8Array(full.length + 4);
    longer.set(full);
    expectInvalid(() => decodeSafetensors(longer, 'g.st'), /bytes that no tensor claims/);
  });

  it('metadata that is not string → string', () => {
    expectInvalid(
      () => decodeSafetensors(craft({ __metadata__: { epoch: 3 } }, 0), 'h.st'),
      /Expected a string for __metadata__\.epoch in h\.st but received number 3/,
    );
    expectInvalid(() => decodeSafetensors(craft({ __metadata__: ['x'] }, 0), 'h.st'), /for __metadata__ in h\.st/);
  });
});

describe('safetensors files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-safetensors-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('save then load gives the same tensors, and the file is the encoded bytes', async () => {
    const path = join(dir, 'model_1.safetensors');
    const tensors = everyDtype(9);
    await saveSafetensors(path, tensors, { epoch: '1' });
    expect(new Uint8Array(await readFile(path))).toEqual(encodeSafetensors(tensors, { epoch: '1' }));
    const back = await loadSafetensors(path);
    expect(back.metadata).toEqual({ epoch: '1' });
    for (const [name, t] of Object.entries(tensors)) expect(back.tensors[name].data, name).toEqual(t.data);
    expect(await readdir(dir)).toEqual(['model_1.safetensors']);
  });

  it('a failed save leaves the old file, and load errors name the file', async () => {
    const path = join(dir, 'latest.safetensors');
    await saveSafetensors(path, { w: randomTensor('F32', [4], 10) });
    const before = await readFile(path);
    await expect(saveSafetensors(path, { w: { dtype: 'F32', shape: [5], data: new Float32Array(4) } })).rejects.toThrow(/5 elements/);
    expect((await readFile(path)).equals(before)).toBe(true);
    await writeFile(path, before.subarray(0, before.length - 2));
    await expect(loadSafetensors(path)).rejects.toThrow(new RegExp(`data section of ${path.replace(/[.\\]/g, '\\$&')} .*truncated`));
  });
});

// ---- Cross-check with the reference implementation (Python `safetensors` through torch) ----

const SCRIPT = 'scripts/check-safetensors.py';

/** null when python3 can run the check script, else why not. */
function pythonUnavailable(): string | null {
  const probe = spawnSync('python3', [SCRIPT, 'probe'], { encoding: 'utf8' });
  if (probe.error) return `python3 cannot run (${probe.error.message})`;
  if (probe.status !== 0) return probe.stderr.trim() || `the probe exited with ${probe.status}`;
  return null;
}

interface Summary {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; sha256: string; sum: string }>;
}

function runPython(command: 'read' | 'write', path: string): Summary {
  const result = spawnSync('python3', [SCRIPT, command, path], { encoding: 'utf8' });
  if (result.status !== 0) expect.fail(`${SCRIPT} ${command} failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function e4m3ToNumber(bits: number): number {
  const sign = bits & 0x80 ? -1 : 1;
  const exponent = (bits >> 3) & 0xf;
  const mantissa = bits & 0x7;
  if (exponent === 15 && mantissa === 7) return NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -9;
  return sign * (1 + mantissa / 8) * 2 ** (exponent - 7);
}

/** The numbers a tensor holds, for float dtypes (integer dtypes are summed exactly as BigInt). */
function floatValues(t: SafetensorsTensor): number[] | null {
  switch (t.dtype) {
    case 'F32':
    case 'F64':
      return Array.from(t.data);
    case 'F16':
      return Array.from(t.data, halfToNumber);
    case 'BF16':
      return Array.from(new Float32Array(Uint32Array.from(t.data, (b) => b << 16).buffer));
    case 'F8_E4M3':
      return Array.from(t.data, e4m3ToNumber);
    case 'F8_E5M2': // the top byte of a float16
      return Array.from(t.data, (b) => halfToNumber(b << 8));
    default:
      return null;
  }
}

function expectSameSummary(ours: Record<string, SafetensorsTensor>, theirs: Summary['tensors']): void {
  expect(Object.keys(theirs).sort()).toEqual(Object.keys(ours).sort());
  for (const [name, t] of Object.entries(ours)) {
    const other = theirs[name];
    expect(other.dtype, name).toBe(t.dtype);
    expect(other.shape, name).toEqual(t.shape);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    expect(other.sha256, `${name} bytes`).toBe(createHash('sha256').update(bytes).digest('hex'));
    const floats = floatValues(t);
    if (floats) {
      const sum = floats.reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - Number(other.sum)), `${name} sum ${sum} vs ${other.sum}`).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(sum)));
    } else {
      const sum = Array.from(t.data as ArrayLike<number | bigint>).reduce<bigint>((a, b) => a + BigInt(b), 0n);
      expect(other.sum, `${name} sum`).toBe(sum.toString());
    }
  }
}

const unavailable = pythonUnavailable();

describe.skipIf(unavailable !== null)(`cross-check with Python safetensors${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-safetensors-py-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('Python reads what we write: same dtypes, shapes, bytes, sums and metadata', async () => {
    const path = join(dir, 'ours.safetensors');
    const tensors = everyDtype(11);
    await saveSafetensors(path, tensors, { format: 'pt', note: 'written by resnet-node ✓' });
    const theirs = runPython('read', path);
    expect(theirs.metadata).toEqual({ format: 'pt', note: 'written by resnet-node ✓' });
    expectSameSummary(tensors, theirs.tensors);
  });

  it('we read what Python writes: same dtypes, shapes, bytes, sums and metadata', async () => {
    const path = join(dir, 'theirs.safetensors');
    const theirs = runPython('write', path);
    const ours = await loadSafetensors(path);
    expect(ours.metadata).toEqual(theirs.metadata);
    expectSameSummary(ours.tensors, theirs.tensors);
    expect(Object.keys(ours.tensors)).toHaveLength(17);
    expect(ours.tensors['bn1.num_batches_tracked']).toEqual({ dtype: 'I64', shape: [], data: BigInt64Array.of(123456789012345n) });
  });
});
