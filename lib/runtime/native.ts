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
  /** Memory layout (default 'nchw'); 'nChw16c' only for float32 [N, C, H, W] with C % 16 == 0, on ops that take it. */
  layout?: 'nchw' | 'nChw16c';
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

/** A JPEG crop for the data loader (native/image/jpeg_crop.h): what to cut, and where the crops go. */
export interface JpegCropRequest {
  /** x then y as [start, length, size, first, count]: Torch's scale of [start, start + length) to size samples, those first.. kept. */
  plan: Int32Array;
  /** x, y, flip (0/1) per crop of the window. */
  boxes: Int32Array;
  cropSize: number;
  /** M (3×3, for [0, 1] pixels), c (3), dc/dmean (3×3): the colour map of a window with channel means `mean` is M, c + (dc/dmean)·mean. */
  colour: Float64Array;
  /** Decode at the smallest scale n/8 (n = 1, 2, 4 or 8) that keeps the window at least its scaled size. */
  dctScaling: boolean;
  /** (crops, 3, size, size): floats with the colour map applied, or bytes plus `affine`. */
  out: Float32Array | Uint8Array;
  /** Byte output: (crops, 12) floats M, c per crop. */
  affine?: Float32Array;
  /** The crop slot of the first box. */
  firstCrop: number;
}

/** Written (at DCT scale `scale`/8), left to the general decoder (`unsupported`: why), or a corrupt file (`error`: libjpeg's reason). */
export type JpegCropOutcome = { scale: number } | { unsupported: string } | { error: string };

export interface NativeAddon {
  createTensor(
    device: string,
    dtype: NativeDType,
    shape: readonly number[],
    init?: ArrayBufferView | 'zeros',
    layout?: 'nChw16c',
  ): NativeTensorHandle;
  createProgram(device: string, spec: ProgramSpec): NativeProgramHandle;
  /** Ops with a kernel on `backend`; with anyLayout, only those whose kernels take nChw16c operands. */
  kernelNames(backend: string, anyLayout?: boolean): string[];
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
  /** The group's ranks in this process stop waiting at collectives: RN_RANK_FAILED with `reason`. */
  abortGroup(group: number, reason: string): void;
  /** One CPU device's own OpenMP thread count (0: the process-wide one) from its next job on; returns the count in force. */
  setDeviceThreads(device: string, threads: number): number;
  /** The JPEG library cropJpeg decodes with ('libjpeg-turbo 2.1.5'); '' when the addon was built without one. */
  jpegLibrary(): string;
  /** Decodes the region of a JPEG that the crop reads and writes the crops, synchronously on the calling thread (a decode worker). */
  cropJpeg(jpeg: Uint8Array, request: JpegCropRequest): JpegCropOutcome;
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
    // Required from its own path, which also works in a decode worker bundled into a data: URL.
    loaded = createRequire(resolve(path))(resolve(path)) as NativeAddon;
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
