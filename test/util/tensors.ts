// Moving test data in and out of tensors, and the devices the op suites run on.
import { cudaDeviceCount } from '../../lib/runtime/device.js';
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

/**
 * The devices the op suites run on: the CPU, plus 'cuda:0' where the CUDA backend loads and sees a GPU (probed
 * once, never throwing). RESNET_NODE_TEST_DEVICES=cuda:0 (comma-separated) picks them instead, e.g. on a GPU machine.
 */
export const testDevices: readonly string[] = process.env.RESNET_NODE_TEST_DEVICES
  ? process.env.RESNET_NODE_TEST_DEVICES.split(',').map((d) => d.trim()).filter(Boolean)
  : ['cpu', ...(cudaDeviceCount() > 0 ? ['cuda:0'] : [])];
