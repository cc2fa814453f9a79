// The functional op API: `ops.conv2d(x, w, …)` and friends, each a cached one-op program.
export { relu, reluBackward, add, accumulate } from './elementwise.js';
export { runOp, clearEagerCache, eagerCacheSize } from './eager.js';
