// Moving test data in and out of tensors.
import { Tensor, type TensorOptions } from '../../lib/runtime/tensor.js';

export function tensor(values: ArrayLike<number>, shape: readonly number[], options: TensorOptions = {}): Tensor {
  const dtype = options.dtype ?? 'float32';
  const data = dtype === 'float32' ? Float32Array.from(values) : Array.from(values);
  return Tensor.fromArray(data, shape, options);
}

export async function values(t: Tensor): Promise<Float64Array> {
  const data = await t.toArray();
  return Float64Array.from(data as ArrayLike<number>, Number);
}

/** The list of devices the op suites run on: the CPU always; CUDA devices join with the CUDA backend. */
export const testDevices: readonly string[] = ['cpu'];
