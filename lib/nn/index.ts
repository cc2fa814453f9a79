// Torch-style modules that emit forward ops into a Graph.
export {
  Module,
  trace,
  type BufferSpec,
  type InitialValue,
  type NamedBuffer,
  type NamedParameter,
  type ParamSpec,
  type Trace,
  type TraceOptions,
} from './module.js';
export { type Rng, normal, uniform, constant } from './init.js';
export { Conv2d, type Conv2dOptions } from './conv.js';
export { BatchNorm2d, type BatchNorm2dOptions } from './batchnorm.js';
export { Linear, Flatten, type LinearOptions } from './linear.js';
export { MaxPool2d, AvgPool2d, GlobalAvgPool, type Pool2dOptions, type AvgPool2dOptions } from './pooling.js';
export { ReLU, Dropout } from './activation.js';
export { Sequential, Concat, Identity, type NamedModules } from './containers.js';
export { Residual, ShortcutA, type ResidualParts } from './residual.js';
