// Public API of resnet-node.
export * as ops from './ops/index.js';
export { Tensor, type DType, type TensorOptions } from './runtime/tensor.js';
export { Device, cpu } from './runtime/device.js';
export { Program } from './runtime/program.js';
export { ResnetError, type ErrorCode } from './runtime/errors.js';
export { native } from './runtime/native.js';
