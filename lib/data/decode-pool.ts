// A pool of worker threads that decode and transform images (fb.resnet.torch's -nThreads loader threads).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { ResnetError, expected } from '../runtime/errors.js';
import { addonPath } from '../runtime/native.js';
import type { DecodeJob, DecodeResult } from './decode-image.js';

interface Pending {
  id: number;
  job: DecodeJob;
  resolve: (result: DecodeResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Pending | null;
}

/** What this module uses of esbuild, a dev dependency (through vitest), for workers started from the TypeScript sources. */
interface Bundler {
  buildSync(options: Record<string, unknown>): { outputFiles: { text: string }[] };
}

let sourceWorker: URL | undefined;

/**
 * The worker for a run from the TypeScript sources (tests, a source checkout): decode-worker.ts and its
 * imports bundled by esbuild into a data: URL, sharp imported by absolute path. The compiled package has
 * decode-worker.js beside this file and never comes here.
 */
function bundledSourceWorker(compiled: URL): URL {
  if (sourceWorker) return sourceWorker;
  const require = createRequire(import.meta.url);
  const entry = fileURLToPath(new URL('./decode-worker.ts', import.meta.url));
  let esbuild: Bundler;
  try {
    esbuild = require('esbuild') as Bundler;
  } catch {
    throw new ResnetError('RN_INTERNAL', `${fileURLToPath(compiled)} is missing (build with \`npm run build:ts\`), and esbuild is not installed to run ${entry}`, 'DecodePool');
  }
  const { outputFiles } = esbuild.buildSync({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', target: 'node20', write: false, external: ['sharp'] });
  const sharpUrl = pathToFileURL(require.resolve('sharp')).href;
  const code = outputFiles[0].text.replaceAll('from "sharp"', `from ${JSON.stringify(sharpUrl)}`);
  sourceWorker = new URL(`data:text/javascript,${encodeURIComponent(code)}`);
  return sourceWorker;
}

function startWorker(): Worker {
  const compiled = new URL('./decode-worker.js', import.meta.url);
  // The addon's path travels in the environment: a bundled worker cannot find the package from its data: URL.
  const env = { ...process.env, RESNET_NODE_ADDON: addonPath() };
  return new Worker(existsSync(fileURLToPath(compiled)) ? compiled : bundledSourceWorker(compiled), { env });
}

/**
 * libuv's thread pool, which runs every sharp call of every worker thread, has 4 threads unless
 * UV_THREADPOOL_SIZE says otherwise when it first starts; more decode threads than that would wait on it.
 * This raises it when it is still unset, which helps if nothing has used the pool yet in this process.
 */
export function reserveLibuvThreads(threads: number): void {
  if (process.env.UV_THREADPOOL_SIZE === undefined && threads + 1 > 4) process.env.UV_THREADPOOL_SIZE = String(threads + 1);
}

export class DecodePool {
  readonly threads: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed = false;

  constructor(threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw expected('RN_INVALID_ARGUMENT', 'DecodePool', 'threads', 'a positive integer', String(threads));
    this.threads = threads;
    reserveLibuvThreads(threads);
  }

  /** Decodes a job on the next free thread; threads start on first use and do not keep the process alive while idle. */
  run(job: DecodeJob): Promise<DecodeResult> {
    if (this.#closed) return Promise.reject(new ResnetError('RN_INVALID_ARGUMENT', 'the decode pool is closed', 'DecodePool.run'));
    return new Promise<DecodeResult>((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, job, resolve, reject });
      this.#dispatch();
    });
  }

  /** Stops the threads; jobs still queued or running are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    const stopped = new ResnetError('RN_INVALID_ARGUMENT', 'the decode pool was closed', 'DecodePool');
    for (const pending of this.#queue.splice(0)) pending.reject(stopped);
    const slots = this.#slots.splice(0);
    for (const slot of slots) slot.job?.reject(stopped);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.job === null);
      if (!slot && this.#slots.length < this.threads) slot = this.#spawn();
      if (!slot) return;
      const pending = this.#queue.shift()!;
      slot.job = pending;
      slot.worker.ref();
      slot.worker.postMessage({ id: pending.id, job: pending.job });
    }
  }

  #spawn(): Slot {
    const slot: Slot = { worker: startWorker(), job: null };
    const fail = (error: Error) => {
      // A thread that died takes its job with it; the next job gets a fresh thread.
      const index = this.#slots.indexOf(slot);
      if (index < 0) return;
      this.#slots.splice(index, 1);
      slot.job?.reject(error);
      slot.job = null;
      void slot.worker.terminate();
      this.#dispatch();
    };
    slot.worker.on('message', (message: { id: number; result?: DecodeResult; error?: string }) => {
      const pending = slot.job;
      if (!pending || pending.id !== message.id) return;
      slot.job = null;
      slot.worker.unref();
      if (message.result) pending.resolve(message.result);
      else pending.reject(new ResnetError('RN_INTERNAL', `a decode thread failed: ${message.error}`, 'DecodePool'));
      this.#dispatch();
    });
    slot.worker.on('error', (error) => fail(new ResnetError('RN_INTERNAL', `a decode thread crashed: ${error.message}`, 'DecodePool')));
    slot.worker.on('exit', (code) => fail(new ResnetError('RN_INTERNAL', `a decode thread exited with code ${code}`, 'DecodePool')));
    slot.worker.unref();
    this.#slots.push(slot);
    return slot;
  }
}
