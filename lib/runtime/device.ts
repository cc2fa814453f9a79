// Devices by name ('cpu', 'cuda:N'), and the CUDA backend's loader: the library beside the addon is dlopen'ed on
// the first use of a 'cuda' device; when it cannot run, the error says what is missing. Never a CPU fallback.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { ResnetError } from './errors.js';
import { addonPath, native } from './native.js';

export type DeviceKind = 'cpu' | 'cuda';

export class Device {
  private constructor(
    readonly kind: DeviceKind,
    /** The CPU replica, or the GPU. */
    readonly index: number,
    /** 0, or a further replica on the same GPU ('cuda:0/1': its own worker, stream and handles). */
    readonly slot: number = 0,
  ) {}

  /**
   * The name native code uses: 'cpu' (cpu:0), 'cpu:N' (a further CPU replica with its own worker), 'cuda:N', or
   * 'cuda:N/S' (replica slot S on GPU N, so that several replicas can train on one GPU).
   */
  get name(): string {
    if (this.kind === 'cpu' && this.index === 0) return 'cpu';
    return `${this.kind}:${this.index}${this.slot > 0 ? `/${this.slot}` : ''}`;
  }

  toString(): string {
    return this.name;
  }

  private static readonly cache = new Map<string, Device>();

  /**
   * Parses 'cpu', 'cpu:N', 'cuda', 'cuda:N' or 'cuda:N/S' (or returns a Device as is); 'cpu' and 'cpu:0' are one
   * Device, and so are 'cuda:N' and 'cuda:N/0'.
   */
  static from(spec: string | Device): Device {
    if (spec instanceof Device) return spec;
    if (typeof spec !== 'string') {
      throw new ResnetError('RN_INVALID_ARGUMENT', `Expected a device like 'cpu', 'cuda:0' or 'cuda:0/1' but received ${typeof spec}`);
    }
    const match = /^(cpu|cuda)(?::(\d+)(?:\/(\d+))?)?$/.exec(spec.trim());
    if (!match) {
      throw new ResnetError('RN_INVALID_ARGUMENT', `Expected a device like 'cpu', 'cuda:0' or 'cuda:0/1' but received '${spec}'`);
    }
    const kind = match[1] as DeviceKind;
    const index = match[2] === undefined ? 0 : Number(match[2]);
    const slot = match[3] === undefined ? 0 : Number(match[3]);
    if (kind === 'cpu' && slot > 0) {
      throw new ResnetError('RN_INVALID_ARGUMENT', `cpu devices have no replica slots ('${spec}'): each 'cpu:N' already is a replica with its own worker`);
    }
    const key = `${kind}:${index}/${slot}`;
    let device = Device.cache.get(key);
    if (!device) {
      device = new Device(kind, index, slot);
      Device.cache.set(key, device);
    }
    return device;
  }
}

export const cpu = Device.from('cpu');

/** One GPU as the CUDA backend reports it. */
export interface CudaDeviceInfo {
  index: number;
  name: string;
  /** '9.0' */
  computeCapability: string;
  memoryBytes: number;
  multiprocessors: number;
  /** Why this library cannot run on this GPU (no code for its architecture). */
  problem?: string;
  /** The caching allocator's byte counts, once this process has opened the device. */
  memory?: { allocatedBytes: number; peakAllocatedBytes: number; reservedBytes: number; peakReservedBytes: number };
}

/** The CUDA backend's self-description (native/cuda/info.cc), versions as 'major.minor[.patch]'. */
export interface CudaInfo {
  available: boolean;
  /** Why no CUDA device can be used ('' when available). */
  reason: string;
  driver: string | null;
  runtime: string;
  cudnn: string;
  cublas: string | null;
  nccl: string | null;
  devices: CudaDeviceInfo[];
  /** The versions and GPU architectures the library was compiled for. */
  built: { runtime: string; cudnn: string; nccl: string; architectures: string };
  warnings: string[];
}

/** What CMake found when it configured the CUDA backend (cuda-config.json beside the addon). */
export interface CudaBuildConfig {
  mode: 'OFF' | 'AUTO' | 'ON';
  built: boolean;
  library: string;
  architectures: string;
  /** One line per missing piece, with its fix ('' when nothing is missing). */
  missing: string;
  components: Record<string, { found: boolean; path: string; version: string; reason: string }>;
}

/** The CUDA backend library: RESNET_NODE_CUDA_LIBRARY, else libresnet_node_cuda.so beside the addon. */
export function cudaLibraryPath(): string {
  const named = process.env.RESNET_NODE_CUDA_LIBRARY;
  return named ? resolve(named) : join(dirname(addonPath()), 'libresnet_node_cuda.so');
}

/** cuda-config.json written by the build beside the addon, or undefined (node-gyp builds, old builds). */
export function cudaBuildConfig(): CudaBuildConfig | undefined {
  const path = join(dirname(addonPath()), 'cuda-config.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CudaBuildConfig;
  } catch {
    return undefined;
  }
}

const INSTALL_HINT =
  'install the CUDA toolkit (nvcc 13), cuDNN 9, cuBLAS and NCCL — e.g. the pip wheels: ' +
  '`pip install nvidia-cuda-nvcc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cublas nvidia-nccl-cu13` — ' +
  'then rebuild with `npm run build:native`; `resnet-node doctor` shows what the build found (docs/cuda.md)';

function missingLibraryError(path: string): ResnetError {
  const config = cudaBuildConfig();
  const found = config?.missing ? ` The build reported: ${config.missing.trim().replace(/\n/g, '; ')}.` : '';
  return new ResnetError(
    'RN_DEVICE_UNAVAILABLE',
    `this build has no CUDA backend: ${path} does not exist.${found} To build it, ${INSTALL_HINT}`,
  );
}

function loadFailedError(path: string, reason: string): ResnetError {
  const missing = /(lib[\w+-]+\.so[.\d]*): cannot open shared object file/.exec(reason)?.[1];
  const fix = missing
    ? `${missing} is no longer where the build found it: install it again (for the pip wheels: ` +
      '`pip install nvidia-cudnn-cu13 nvidia-cublas nvidia-nccl-cu13 nvidia-cuda-runtime`) and rebuild with ' +
      '`npm run build:native` so the library points at its place, or add its folder to LD_LIBRARY_PATH'
    : 'rebuild it with `npm run build:native`; `resnet-node doctor` shows what the build found';
  return new ResnetError('RN_DEVICE_UNAVAILABLE', `the CUDA backend library ${path} could not be loaded: ${reason}. Fix: ${fix}`);
}

type CudaLoad = { loaded: true } | { loaded: false; code: 'RN_DEVICE_UNAVAILABLE'; message: string };
let cudaLoad: CudaLoad | undefined;

/** dlopen()s the CUDA backend once; later calls return the first outcome. */
function loadCuda(): CudaLoad {
  if (cudaLoad) return cudaLoad;
  const path = cudaLibraryPath();
  const addon = native();  // an addon that does not load is its own error, not cached here
  let error: ResnetError | undefined;
  if (!existsSync(path)) {
    error = missingLibraryError(path);
  } else {
    const why = addon.loadBackend('cuda', path);
    if (why) error = loadFailedError(path, why);
  }
  cudaLoad = error ? { loaded: false, code: 'RN_DEVICE_UNAVAILABLE', message: error.message } : { loaded: true };
  return cudaLoad;
}

/** The CUDA backend's report (loading it if needed); throws RN_DEVICE_UNAVAILABLE when it cannot load. */
export function cudaInfo(): CudaInfo {
  const load = loadCuda();
  if (!load.loaded) throw new ResnetError(load.code, load.message);
  return JSON.parse(native().backendInfo('cuda')) as CudaInfo;
}

let cudaChecked: CudaInfo | undefined;

/** Throws RN_DEVICE_UNAVAILABLE for a device that cannot run here, naming what is missing and the fix. */
export function requireAvailable(device: Device): void {
  if (device.kind !== 'cuda') return;
  // The device count and driver do not change while the process runs: ask once.
  const load = loadCuda();
  if (!load.loaded) throw new ResnetError(load.code, `device '${device.name}' is unavailable: ${load.message}`);
  cudaChecked ??= cudaInfo();
  const info = cudaChecked;
  if (!info.available) {
    throw new ResnetError('RN_DEVICE_UNAVAILABLE', `device '${device.name}' is unavailable: ${info.reason}`);
  }
  if (device.index >= info.devices.length) {
    const count = info.devices.length;
    throw new ResnetError(
      'RN_DEVICE_UNAVAILABLE',
      `device '${device.name}' does not exist: this machine shows ${count} CUDA device${count === 1 ? ' (cuda:0)' : `s (cuda:0 … cuda:${count - 1})`}`,
    );
  }
  const problem = info.devices[device.index].problem;
  if (problem) throw new ResnetError('RN_DEVICE_UNAVAILABLE', `device '${device.name}' is unavailable: ${problem}`);
}

/** How many CUDA devices this process can use: 0 when the backend is missing, cannot load or sees no GPU. Never throws. */
export function cudaDeviceCount(): number {
  try {
    const info = cudaInfo();
    return info.available ? info.devices.filter((d) => !d.problem).length : 0;
  } catch {
    return 0;
  }
}
