// Public API of resnet-node.
export * as ops from './ops/index.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export { Trainer, type TrainerOptions, type TrainerEvents } from './train/trainer.js';
export { ModelRuntime, type ModelRuntimeOptions, type StepResult } from './train/model.js';
export { attachProgress, type ProgressMode } from './train/progress.js';
export { loadWeights } from './train/checkpoint.js';
export { ProcessGroup, type ProcessGroupOptions, type LaunchEnv, launchEnv, collectiveTimeout } from './parallel/process-group.js';
export { Tensor, type DType, type TensorOptions } from './runtime/tensor.js';
export { type Layout } from './runtime/layout.js';
export { Device, cpu } from './runtime/device.js';
export { Program } from './runtime/program.js';
export { ResnetError, type ErrorCode } from './runtime/errors.js';
export { native } from './runtime/native.js';
export { saveSafetensors, loadSafetensors } from './io/safetensors.js';
