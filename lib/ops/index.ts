// The functional op API: `ops.conv2d(x, w, …)` and friends, each a cached one-op program.
export { relu, reluBackward, add, accumulate } from './elementwise.js';
export * from './conv2d.js';
export * from './batchnorm.js';
export * from './pool.js';
export * from './linear.js';
export * from './loss.js';
export * from './topk.js';
export * from './concat.js';
export * from './shortcut.js';
export * from './dropout.js';
export * from './optim.js';
export * from './normalize.js';
export { toLayout } from './layout.js';
export { runOp, clearEagerCache, eagerCacheSize } from './eager.js';
