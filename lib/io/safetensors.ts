// safetensors read and write: 8-byte header length, JSON header, packed little-endian tensor data.
import { readFile } from 'node:fs/promises';

import { ResnetError, expected, formatShape } from '../runtime/errors.js';
import { writeFileAtomic } from './atomic.js';

/**
 * The element type of each dtype's data. Half and 8-bit floats have no JavaScript array type: their
 * data holds the raw bit patterns (Uint16Array for F16/BF16, Uint8Array for F8_*), as lib/runtime does.
 */
export interface SafetensorsArrays {
  BOOL: Uint8Array;
  U8: Uint8Array;
  I8: Int8Array;
  U16: Uint16Array;
  I16: Int16Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  U32: Uint32Array;
  I32: Int32Array;
  F32: Float32Array;
  U64: BigUint64Array;
  I64: BigInt64Array;
  F64: Float64Array;
  F8_E4M3: Uint8Array;
  F8_E5M2: Uint8Array;
}

export type SafetensorsDtype = keyof SafetensorsArrays;

/** One tensor; `dtype` decides the type of `data`, so checking it narrows `data`. */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: { dtype: D; shape: readonly number[]; data: SafetensorsArrays[D] };
}[SafetensorsDtype];

export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  /** The header's `__metadata__`; empty when the file has none. */
  metadata: Record<string, string>;
}

type ArrayConstructor = { new (buffer: ArrayBuffer): SafetensorsArrays[SafetensorsDtype]; BYTES_PER_ELEMENT: number };

const ARRAYS: Record<SafetensorsDtype, ArrayConstructor> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  U16: Uint16Array,
  I16: Int16Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  U32: Uint32Array,
  I32: Int32Array,
  F32: Float32Array,
  U64: BigUint64Array,
  I64: BigInt64Array,
  F64: Float64Array,
  F8_E4M3: Uint8Array,
  F8_E5M2: Uint8Array,
};

const OP = 'safetensors';
const METADATA_KEY = '__metadata__';
/** The reference implementation refuses larger headers; so do we, before decoding a huge string. */
const MAX_HEADER_BYTES = 100_000_000;

// Typed arrays use the host's byte order, and the format is little-endian. Every platform Node ships
// for is little-endian; refuse to write or read garbage anywhere else.
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkHost(): void {
  if (!hostIsLittleEndian) {
    throw new ResnetError('RN_INVALID_ARGUMENT', 'safetensors data is little-endian, and this host is big-endian', OP);
  }
}

export function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(ARRAYS, value);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function invalid(what: string, wanted: string, received: string): ResnetError {
  return expected('RN_INVALID_ARGUMENT', OP, what, wanted, received);
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array (${JSON.stringify(value)})`;
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

interface Layout {
  header: Uint8Array;
  /** Tensor data views in file order. */
  chunks: Uint8Array[];
}

/**
 * Checks the tensors and lays them out. Any order is valid; ours is by element size, largest first, then
 * by name. (The reference Rust writer sorts by dtype, which groups the same way, then by name.) The data
 * section starts 8-aligned and every tensor's size is a multiple of its element size, so each tensor
 * starts at a multiple of its own element size and a reader may view it without copying. Header entries
 * follow the data order, after `__metadata__`.
 */
function layout(tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string> | undefined): Layout {
  checkHost();
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors)) {
    throw invalid('tensors', 'an object of name → {dtype, shape, data}', describeValue(tensors));
  }
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const what = `tensor '${name}'`;
    if (name === '' || name === METADATA_KEY) throw invalid('a tensor name', `a non-empty name other than ${METADATA_KEY}`, JSON.stringify(name));
    if (typeof t !== 'object' || t === null) throw invalid(what, 'an object {dtype, shape, data}', describeValue(t));
    if (!isSafetensorsDtype(t.dtype)) {
      throw invalid(`the dtype of ${what}`, `one of ${Object.keys(ARRAYS).join(', ')}`, describeValue(t.dtype));
    }
    if (!isShape(t.shape)) throw invalid(`the shape of ${what}`, 'an array of integers ≥ 0', describeValue(t.shape));
    const ArrayType = ARRAYS[t.dtype];
    if (!(t.data instanceof ArrayType)) {
      throw invalid(`the data of ${what} (${t.dtype})`, `a ${ArrayType.name}`, describeValue(t.data));
    }
    if (t.data.length !== numel(t.shape)) {
      throw invalid(`the data of ${what}`, `${numel(t.shape)} elements (shape ${formatShape(t.shape)})`, `${t.data.length}`);
    }
  }
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw invalid('metadata', 'an object of string → string', describeValue(metadata));
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw invalid(`metadata '${key}'`, 'a string', describeValue(value));
    }
  }

  const elementBytes = (name: string) => ARRAYS[tensors[name].dtype].BYTES_PER_ELEMENT;
  names.sort((a, b) => elementBytes(b) - elementBytes(a) || (a < b ? -1 : a > b ? 1 : 0));
  const entries: Record<string, unknown> = {};
  if (metadata !== undefined) entries[METADATA_KEY] = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = tensors[name];
    entries[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + data.byteLength] };
    chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    offset += data.byteLength;
  }

  // Pad the JSON with spaces so that the data section starts at a multiple of 8.
  const json = new TextEncoder().encode(JSON.stringify(entries));
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, chunks };
}

/** One safetensors file in memory; tensors in the order `layout` describes. */
export function encodeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array {
  const { header, chunks } = layout(tensors, metadata);
  const out = new Uint8Array(header.length + chunks.reduce((sum, c) => sum + c.length, 0));
  out.set(header, 0);
  let at = header.length;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Parses and checks a whole file. Each tensor's data is a copy in its own ArrayBuffer, so it is aligned
 * and outlives `bytes`. `source` names the file in error messages.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'the safetensors data'): SafetensorsFile {
  checkHost();
  if (!(bytes instanceof Uint8Array)) throw invalid('bytes', 'a Uint8Array', describeValue(bytes));
  if (bytes.length < 8) throw invalid(`the length of ${source}`, 'at least 8 bytes', `${bytes.length} bytes (truncated)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw invalid(
      `the header length of ${source}`,
      `at most ${bytes.length - 8} (the bytes after the length)`,
      `${headerLength} (truncated or not safetensors)`,
    );
  }
  if (headerLength > MAX_HEADER_BYTES) throw invalid(`the header length of ${source}`, `at most ${MAX_HEADER_BYTES}`, `${headerLength}`);
  const dataStart = 8 + Number(headerLength);

  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
    if (!text.startsWith('{')) throw new Error(`it starts with ${JSON.stringify(text.slice(0, 16))}`);
    header = JSON.parse(text);
  } catch (error) {
    throw invalid(`the header of ${source}`, 'a JSON object', `text that does not parse: ${(error as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw invalid(`the header of ${source}`, 'a JSON object', describeValue(header));
  }

  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number; dtype: SafetensorsDtype; shape: number[] }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw invalid(`${METADATA_KEY} in ${source}`, 'an object of string → string', describeValue(entry));
      }
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') throw invalid(`${METADATA_KEY}.${key} in ${source}`, 'a string', describeValue(value));
        metadata[key] = value;
      }
      continue;
    }
    const what = `tensor '${name}' in ${source}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw invalid(what, 'an object {dtype, shape, data_offsets}', describeValue(entry));
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isSafetensorsDtype(dtype)) throw invalid(`the dtype of ${what}`, `one of ${Object.keys(ARRAYS).join(', ')}`, describeValue(dtype));
    if (!isShape(shape)) throw invalid(`the shape of ${what}`, 'an array of integers ≥ 0', describeValue(shape));
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isShape(offsets) || offsets[0] > offsets[1]) {
      throw invalid(`the data_offsets of ${what}`, '[begin, end] with 0 ≤ begin ≤ end', describeValue(offsets));
    }
    const [begin, end] = offsets;
    const wantedBytes = numel(shape) * ARRAYS[dtype].BYTES_PER_ELEMENT;
    if (end - begin !== wantedBytes) {
      throw invalid(
        `the data_offsets of ${what}`,
        `${wantedBytes} bytes (${dtype}${formatShape(shape)})`,
        `[${begin}, ${end}], ${end - begin} bytes`,
      );
    }
    spans.push({ name, begin, end, dtype, shape });
  }

  // The tensors must tile the data section exactly: no hole, no overlap, nothing missing at the end.
  const dataBytes = bytes.length - dataStart;
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const span of spans) {
    if (span.begin !== covered) {
      const problem = span.begin > covered ? `a hole at bytes [${covered}, ${span.begin})` : `an overlap at bytes [${span.begin}, ${covered})`;
      throw invalid(
        `the data_offsets of tensor '${span.name}' in ${source}`,
        `a begin of ${covered} (where the tensor before it ends)`,
        `${span.begin}: ${problem}`,
      );
    }
    covered = span.end;
  }
  if (covered !== dataBytes) {
    const problem = covered > dataBytes ? 'the file is truncated' : 'bytes that no tensor claims';
    throw invalid(`the data section of ${source}`, `${covered} bytes (the end of the last tensor)`, `${dataBytes}: ${problem}`);
  }

  const tensors: Record<string, SafetensorsTensor> = {};
  for (const { name, begin, end, dtype, shape } of spans) {
    const copy = bytes.slice(dataStart + begin, dataStart + end).buffer;
    tensors[name] = { dtype, shape, data: new ARRAYS[dtype](copy) } as SafetensorsTensor;
  }
  return { tensors, metadata };
}

/**
 * Writes a safetensors file atomically (temp file, fsync, rename). Tensor data is written straight from
 * the caller's arrays, without a joined copy, so leave them unchanged until the promise settles.
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const { header, chunks } = layout(tensors, metadata);
  await writeFileAtomic(path, [header, ...chunks]);
}

export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  const bytes = await readFile(path);
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
