// `resnet-node doctor`: what this installation can run — the addon, oneDNN, CPU features, backends.
import { native } from '../runtime/native.js';
import { formatHelp, parseOptions } from './args.js';

const options = {
  json: { type: 'boolean', default: false, help: 'print one JSON object' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const;

export interface DoctorReport {
  node: string;
  addon: { loaded: boolean; error?: string };
  cpu?: { onednn: string; runtime: string; threads: number; hardwareConcurrency: number; features: string[]; kernels: string[] };
  cuda: { available: boolean; reason: string };
}

export function doctorReport(): DoctorReport {
  const report: DoctorReport = {
    node: process.version,
    addon: { loaded: false },
    cuda: { available: false, reason: 'this build has no CUDA backend yet (the CUDA library arrives with the CUDA backend issue)' },
  };
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
  } catch (error) {
    report.addon.error = error instanceof Error ? error.message : String(error);
  }
  return report;
}

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
  }
  console.log(`cuda        ${ok(report.cuda.available)} ${report.cuda.reason}`);
  return report.addon.loaded ? 0 : 1;
}
