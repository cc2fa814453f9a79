// Run by test/runtime/cuda.test.ts in a child process (the CUDA loader caches its outcome per process): asks for
// 'cuda:0', then checks that the CPU still works, and prints both as one JSON line.
import { relu } from '../../lib/ops/elementwise.js';
import { Tensor } from '../../lib/runtime/tensor.js';

const result: { code?: string; message?: string; cpuAfter?: number[] } = {};
try {
  Tensor.zeros([2], { device: 'cuda:0' }).dispose();
} catch (error) {
  result.code = (error as { code?: string }).code;
  result.message = (error as Error).message;
}
const y = await relu(Tensor.fromArray([-1, 2], [2]));
result.cpuAfter = Array.from((await y.toArray()) as Float32Array);
console.log(JSON.stringify(result));
