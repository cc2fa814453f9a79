// `resnet-node doctor`: what this installation can run — the addon, oneDNN, CPU features, the CUDA backend.
import { type CudaBuildConfig, type CudaDeviceInfo, cudaBuildConfig, cudaInfo, cudaLibraryPath } from '../runtime/device.js';
import { native } from '../runtime/native.js';
import { formatHelp, parseOptions } from './args.js';

const options = {
  json: { type: 'boolean', default: false, help: 'print one JSON object' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const;

export interface CudaReport {
  available: boolean;
  /** Why CUDA cannot be used here, with the fix ('' when it can). */
  reason: string;
  /** The CUDA backend library and whether it loaded. */
  library: { path: string; loaded: boolean };
  /** Versions found at run time; null where unknown (the library did not load, or no driver). */
  driver: string | null;
  runtime: string | null;
  cudnn: string | null;
  cublas: string | null;
  nccl: string | null;
  devices: CudaDeviceInfo[];
  /** The kernels the CUDA backend registers (once loaded). */
  kernels: string[];
  /** What the build found (cuda-config.json), when the build wrote it. */
  build?: CudaBuildConfig;
  warnings: string[];
}

export interface DoctorReport {
  node: string;
  addon: { loaded: boolean; error?: string };
  cpu?: { onednn: string; runtime: string; threads: number; hardwareConcurrency: number; features: string[]; kernels: string[] };
  /** Collectives across processes (launch, Slurm): whether the addon was built with Gloo. */
  gloo?: boolean;
  /** The data loader's native JPEG decoder ('libjpeg-turbo 2.1.5'); '' when JPEGs are decoded by sharp alone. */
  jpeg?: string;
  cuda: CudaReport;
}

function cudaReport(addonLoaded: boolean): CudaReport {
  const report: CudaReport = {
    available: false,
    reason: '',
    library: { path: cudaLibraryPath(), loaded: false },
    driver: null,
    runtime: null,
    cudnn: null,
    cublas: null,
    nccl: null,
    devices: [],
    kernels: [],
    build: cudaBuildConfig(),
    warnings: [],
  };
  if (!addonLoaded) {
    report.reason = 'the native addon did not load';
    return report;
  }
  try {
    const info = cudaInfo();
    Object.assign(report, {
      available: info.available,
      reason: info.reason,
      driver: info.driver,
      runtime: info.runtime,
      cudnn: info.cudnn,
      cublas: info.cublas,
      nccl: info.nccl,
      devices: info.devices,
      warnings: info.warnings,
    });
    report.library.loaded = true;
    report.kernels = native().kernelNames('cuda');
  } catch (error) {
    report.reason = error instanceof Error ? error.message : String(error);
  }
  return report;
}

export function doctorReport(): DoctorReport {
  const report: Omit<DoctorReport, 'cuda'> = { node: process.version, addon: { loaded: false } };
  try {
    const addon = native();
    const info = addon.cpuInfo();
    report.addon.loaded = true;
    report.cpu = {
      onednn: info.onednn,
      runtime: info.onednnCpuRuntime,
      threads: info.threads,
      hardwareConcurrency: info.hardwareConcurrency,
      features: info.features,
      kernels: addon.kernelNames('cpu'),
    };
    report.gloo = addon.hasGloo;
    report.jpeg = addon.jpegLibrary?.() ?? '';
  } catch (error) {
    report.addon.error = error instanceof Error ? error.message : String(error);
  }
  return { ...report, cuda: cudaReport(report.addon.loaded) };
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

export async function doctor(argv: readonly string[]): Promise<number> {
  const { options: opts } = parseOptions(argv, options, 'doctor');
  if (opts.help) {
    console.log(formatHelp('doctor', 'Reports the native addon, the CPU backend (oneDNN) and the CUDA backend.', options));
    return 0;
  }
  const report = doctorReport();
  if (opts.json) {
    console.log(JSON.stringify(report));
    return report.addon.loaded ? 0 : 1;
  }
  const ok = (b: boolean) => (b ? '✓' : '✗');
  console.log(`node        ${report.node}`);
  console.log(`addon       ${ok(report.addon.loaded)} ${report.addon.loaded ? 'loaded' : report.addon.error}`);
  if (report.cpu) {
    console.log(`cpu         ✓ oneDNN ${report.cpu.onednn} (${report.cpu.runtime}), ${report.cpu.threads} threads of ${report.cpu.hardwareConcurrency}`);
    console.log(`cpu flags   ${report.cpu.features.join(' ')}`);
    console.log(`cpu ops     ${report.cpu.kernels.length}: ${report.cpu.kernels.join(' ')}`);
    console.log(`gloo        ${ok(report.gloo === true)} ${report.gloo ? 'collectives across processes (resnet-node launch)' : 'not built: install libgloo-dev and rebuild for resnet-node launch'}`);
    const jpeg = report.jpeg ? `${report.jpeg}: native JPEG crops in the data loader` : 'none: the data loader decodes JPEGs with sharp (install libjpeg-dev and rebuild)';
    console.log(`jpeg        ${ok(!!report.jpeg)} ${jpeg}`);
  }
  const cuda = report.cuda;
  const build = cuda.build;
  if (build) {
    for (const [name, c] of Object.entries(build.components)) {
      console.log(`cuda build  ${ok(c.found)} ${name} ${c.found ? `${c.version} (${c.path})` : c.reason}`);
    }
  }
  console.log(`cuda lib    ${ok(cuda.library.loaded)} ${cuda.library.path}${build ? ` (architectures ${build.architectures})` : ''}`);
  if (cuda.library.loaded) {
    const v = (x: string | null) => x ?? 'none';
    console.log(`cuda        driver ${v(cuda.driver)}, runtime ${v(cuda.runtime)}, cuDNN ${v(cuda.cudnn)}, cuBLAS ${v(cuda.cublas)}, NCCL ${v(cuda.nccl)}`);
    for (const d of cuda.devices) {
      console.log(`cuda:${d.index}      ${ok(!d.problem)} ${d.name}, compute capability ${d.computeCapability}, ${gib(d.memoryBytes)}${d.problem ? ` — ${d.problem}` : ''}`);
    }
    console.log(`cuda ops    ${cuda.kernels.length}: ${cuda.kernels.join(' ')}`);
    for (const w of cuda.warnings) console.log(`cuda        ! ${w}`);
  }
  console.log(`cuda        ${ok(cuda.available)} ${cuda.available ? `${cuda.devices.length} device(s) usable` : cuda.reason}`);
  return report.addon.loaded ? 0 : 1;
}
