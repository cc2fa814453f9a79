// A decode-pool thread: runs decode jobs one at a time on a single-threaded libvips and hands the buffers back.
import { parentPort } from 'node:worker_threads';

import sharp from 'sharp';

import { type DecodeJob, runDecodeJob } from './decode-image.js';

// The pool's threads are the parallelism (fb.resnet.torch: one OpenMP thread per loader thread); nothing is ever decoded twice.
sharp.concurrency(1);
sharp.cache(false);

const port = parentPort;
if (!port) throw new Error('decode-worker.ts runs as a worker thread of DecodePool');

port.on('message', async ({ id, job }: { id: number; job: DecodeJob }) => {
  try {
    const result = await runDecodeJob(job);
    port.postMessage({ id, result }, result.affine ? [result.data, result.affine] : [result.data]);
  } catch (error) {
    port.postMessage({ id, error: (error as Error)?.stack ?? String(error) });
  }
});
