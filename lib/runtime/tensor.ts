// Tensor: a handle to device memory with shape, dtype and device; data moves in and out asynchronously.
import { Device, cpu, requireAvailable } from './device.js';
import { ResnetError, expected, formatShape } from './errors.js';
import { type Layout, checkLayout, fromBlocked16, toBlocked16 } from './layout.js';
import { type NativeDType, type NativeTensorHandle, native } from './native.js';

export type DType = NativeDType;

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'uint8'
    ? Uint8Array
    : D extends 'int32'
      ? Int32Array
      : D extends 'int64'
        ? BigInt64Array
        : Uint16Array;

export type AnyTypedArray = Float32Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;

const BYTES: Record<DType, number> = { float32: 4, float16: 2, bfloat16: 2, uint8: 1, int32: 4, int64: 8 };

export function dtypeBytes(dtype: DType): number {
  return BYTES[dtype];
}

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && value in BYTES;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function typedArrayOf(dtype: DType, buffer: ArrayBuffer): AnyTypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'uint8':
      return new Uint8Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    default:
      return new Uint16Array(buffer);
  }
}

function toTypedArray(dtype: DType, data: ArrayLike<number> | ArrayLike<bigint> | ArrayBufferView): AnyTypedArray {
  if (ArrayBuffer.isView(data)) {
    const wanted = typedArrayOf(dtype, new ArrayBuffer(0)).constructor;
    if (data.constructor !== wanted) {
      throw expected('RN_DTYPE_MISMATCH', 'Tensor.fromArray', 'data', `a ${wanted.name} for dtype ${dtype}`, data.constructor.name);
    }
    return data as AnyTypedArray;
  }
  const n = (data as ArrayLike<unknown>).length;
  const out = typedArrayOf(dtype, new ArrayBuffer(n * BYTES[dtype]));
  if (out instanceof BigInt64Array) {
    for (let i = 0; i < n; i++) out[i] = BigInt((data as ArrayLike<number | bigint>)[i]);
  } else {
    for (let i = 0; i < n; i++) out[i] = Number((data as ArrayLike<number | bigint>)[i]);
  }
  return out;
}

export function checkShape(shape: readonly number[], what: string, op?: string): number[] {
  if (!Array.isArray(shape)) throw expected('RN_INVALID_ARGUMENT', op, what, 'an array of sizes', typeof shape);
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0) {
      throw expected('RN_INVALID_ARGUMENT', op, what, 'positive integer sizes', formatShape(shape));
    }
  }
  return [...shape];
}

export interface TensorOptions {
  dtype?: DType;
  device?: string | Device;
  /**
   * How the data lies in device memory (default 'nchw'). 'nChw16c' (float32 [N, C, H, W], C a multiple of 16) is
   * the CPU backend's fast layout; host data in and out (fromArray, toArray, write) stays row-major NCHW either way.
   */
  layout?: Layout;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  readonly layout: Layout;
  #handle: NativeTensorHandle | undefined;

  private constructor(handle: NativeTensorHandle, shape: readonly number[], dtype: DType, device: Device, layout: Layout) {
    this.#handle = handle;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.device = device;
    this.layout = layout;
  }

  private static create(
    shape: readonly number[],
    options: TensorOptions,
    init: ArrayBufferView | 'zeros' | undefined,
  ): Tensor {
    const dtype = options.dtype ?? 'float32';
    if (!isDType(dtype)) throw expected('RN_INVALID_ARGUMENT', 'Tensor', 'dtype', Object.keys(BYTES).join('|'), String(dtype));
    const device = Device.from(options.device ?? cpu);
    requireAvailable(device);
    const checked = checkShape(shape, 'shape', 'Tensor');
    const layout = checkLayout(options.layout ?? 'nchw', checked, dtype, 'Tensor');
    if (layout === 'nChw16c' && init instanceof Float32Array) init = toBlocked16(init, checked);
    const handle = native().createTensor(device.name, dtype, checked, init, layout === 'nchw' ? undefined : layout);
    return new Tensor(handle, checked, dtype, device, layout);
  }

  /** Copies `data` (row-major) into a new tensor of `shape`. */
  static fromArray(
    data: ArrayLike<number> | ArrayLike<bigint> | ArrayBufferView,
    shape: readonly number[],
    options: TensorOptions = {},
  ): Tensor {
    const dtype = options.dtype ?? 'float32';
    const checked = checkShape(shape, 'shape', 'Tensor.fromArray');
    const typed = toTypedArray(dtype, data as ArrayLike<number>);
    if (typed.length !== numel(checked)) {
      throw expected('RN_SHAPE_MISMATCH', 'Tensor.fromArray', 'data', `${numel(checked)} elements for shape ${formatShape(checked)}`, `${typed.length}`);
    }
    return Tensor.create(checked, { ...options, dtype }, typed);
  }

  static zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return Tensor.create(shape, options, 'zeros');
  }

  /** Uninitialised memory: for outputs that an op writes in full. */
  static empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return Tensor.create(shape, options, undefined);
  }

  get size(): number {
    return numel(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }

  get disposed(): boolean {
    return this.#handle === undefined || this.#handle.disposed;
  }

  /** The native handle; throws RN_DISPOSED once disposed. For the runtime only. */
  get handle(): NativeTensorHandle {
    if (this.disposed) {
      throw new ResnetError('RN_DISPOSED', `tensor ${this.dtype}${formatShape(this.shape)} has been disposed`);
    }
    return this.#handle!;
  }

  /** The contents (row-major NCHW whatever the layout), read after every op queued before this call. */
  async toArray(): Promise<AnyTypedArray> {
    const data = typedArrayOf(this.dtype, await this.handle.read());
    return this.layout === 'nChw16c' ? fromBlocked16(data as Float32Array, this.shape) : data;
  }

  /** Overwrites the contents, in order with queued ops. */
  async write(data: ArrayLike<number> | ArrayLike<bigint> | ArrayBufferView): Promise<void> {
    const typed = toTypedArray(this.dtype, data as ArrayLike<number>);
    if (typed.length !== this.size) {
      throw expected('RN_SHAPE_MISMATCH', 'Tensor.write', 'data', `${this.size} elements`, `${typed.length}`);
    }
    await this.handle.write(this.layout === 'nChw16c' ? toBlocked16(typed as Float32Array, this.shape) : typed);
  }

  dispose(): void {
    this.#handle?.dispose();
    this.#handle = undefined;
  }

  toString(): string {
    const layout = this.layout === 'nchw' ? '' : `, ${this.layout}`;
    return `Tensor(${this.dtype}${formatShape(this.shape)}, ${this.device.name}${layout})`;
  }
}
