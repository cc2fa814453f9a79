// The one typed door to the native addon: its whole surface as an interface, loaded lazily.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ResnetError } from './errors.js';

export type NativeDType = 'float32' | 'float16' | 'bfloat16' | 'uint8' | 'int32' | 'int64';
export type AttrValue = boolean | number | string | readonly number[];

export interface NativeTensorHandle {
  /** Frees the storage once queued work that uses it has finished. */
  dispose(): void;
  /** Copies the tensor to host memory after all work queued before it. */
  read(): Promise<ArrayBuffer>;
  /** Copies host data into the tensor after all work queued before it. */
  write(data: ArrayBufferView): Promise<void>;
  readonly disposed: boolean;
}

export interface NativeProgramHandle {
  /** Binds `externals` (in spec order) and runs the op list on the device's worker thread. */
  run(bound: NativeTensorHandle[]): Promise<void>;
  dispose(): void;
  /** Per-op-kind wall time of runs made while profiling was on. */
  profile(): { op: string; calls: number; seconds: number }[];
}

export interface ValueSpec {
  shape: readonly number[];
  dtype: NativeDType;
  /**
   * Where the value lives: bound at run time (no `offset`), at byte `offset` of the program's arena,
   * or — with `viewOf` — at byte `offset` (default 0) inside an earlier value.
   */
  offset?: number;
  viewOf?: number;
}

export interface OpSpec {
  op: string;
  inputs: readonly number[];
  outputs: readonly number[];
  attrs?: Record<string, AttrValue | undefined>;
}

export interface ProgramSpec {
  values: ValueSpec[];
  ops: OpSpec[];
  externals: number[];
  arenaBytes: number;
}

export interface CpuInfo {
  onednn: string;
  onednnCpuRuntime: string;
  threads: number;
  hardwareConcurrency: number;
  features: string[];
}

export interface NativeAddon {
  createTensor(
    device: string,
    dtype: NativeDType,
    shape: readonly number[],
    init?: ArrayBufferView | 'zeros',
  ): NativeTensorHandle;
  createProgram(device: string, spec: ProgramSpec): NativeProgramHandle;
  kernelNames(backend: string): string[];
  cpuInfo(): CpuInfo;
  setNumThreads(n: number): number;
  /** Times every kernel of every program run from now on (synchronising around each: slower). */
  setProfiling(on: boolean): void;
  /** dlopen()s a backend library (e.g. the CUDA one); '' on success, else the loader's reason. */
  loadBackend(name: string, path: string): string;
  /** A loaded backend's JSON self-description ('' when not loaded). */
  backendInfo(name: string): string;
  /** Process-wide backend settings read when kernels are built: 'cudnn' = fastest|default|deterministic, … */
  setSetting(key: string, value: string): void;
  /**
   * A collective group of replicas in this process, rank k on devices[k] (distinct devices); the id goes in
   * the `group` attribute of allreduce_mean. A rank waiting longer than timeoutSeconds fails with RN_COLLECTIVE_TIMEOUT.
   */
  createInProcessGroup(devices: string[], timeoutSeconds: number): number;
  /**
   * A collective group across processes (Gloo over TCP): this process is rank `rank` on `device`; rank 0 serves the
   * rendezvous store at masterAddr:masterPort. Settles once every rank has joined (RN_RENDEZVOUS_FAILED naming the
   * missing ranks after timeoutSeconds). Collectives that fail throw RN_RANK_FAILED / RN_COLLECTIVE_TIMEOUT naming
   * the rank that stopped. `iface` ('' : the one reaching masterAddr) carries Gloo's connections.
   */
  createProcessGroup(options: { rank: number; worldSize: number; masterAddr: string; masterPort: number; device: string; timeoutSeconds: number; iface: string }): Promise<number>;
  /** Whether this build has Gloo (createProcessGroup). */
  readonly hasGloo: boolean;
  /** Forgets a group: programs already built keep working, new ones cannot name it. */
  destroyGroup(group: number): void;
  /** One CPU device's own OpenMP thread count (0: the process-wide one) from its next job on; returns the count in force. */
  setDeviceThreads(device: string, threads: number): number;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('resnet-node: cannot find the package root');
    dir = parent;
  }
  return dir;
}

/** RESNET_NODE_ADDON (a relative path is taken from the working directory), else the package's own build. */
export const addonPath = (): string =>
  process.env.RESNET_NODE_ADDON ? resolve(process.env.RESNET_NODE_ADDON) : join(packageRoot(), 'build', 'Release', 'resnet_node.node');

let loaded: NativeAddon | undefined;

export function native(): NativeAddon {
  if (loaded) return loaded;
  const path = addonPath();
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ResnetError(
      'RN_ADDON_LOAD_FAILED',
      `the native addon could not be loaded from ${path}: ${reason}\n` +
        'Possible fixes:\n' +
        '  - build it: `npm run build:native` (needs cmake or node-gyp, g++, and oneDNN: `apt-get install libdnnl-dev`)\n' +
        '  - set everything up on Debian/Ubuntu: `bash scripts/setup.sh`\n' +
        '  - if libdnnl.so.2 is missing at run time, install libdnnl2 or add its folder to LD_LIBRARY_PATH\n' +
        '  - point RESNET_NODE_ADDON at a prebuilt resnet_node.node',
    );
  }
  return loaded;
}
