// The CUDA backend from a machine's point of view: built whenever its toolchain is there (always in CI), a clear
// RN_DEVICE_UNAVAILABLE without a driver or library (the CPU unaffected), doctor's cuda report, and — on a GPU —
// device memory, transfers and the caching allocator.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it, vi } from 'vitest';

import { type CudaReport, doctor } from '../../lib/cli/doctor.js';
import { relu } from '../../lib/ops/elementwise.js';
import { cudaBuildConfig, cudaDeviceCount, cudaInfo, cudaLibraryPath } from '../../lib/runtime/device.js';
import { addonPath, native } from '../../lib/runtime/native.js';
import { Tensor } from '../../lib/runtime/tensor.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const gpu = cudaDeviceCount() > 0;
const ci = process.env.CI === 'true' || process.env.CI === '1';

function hasNvcc(): boolean {
  if (existsSync('/usr/local/cuda/bin/nvcc')) return true;
  if (process.env.CUDA_HOME && existsSync(join(process.env.CUDA_HOME, 'bin', 'nvcc'))) return true;
  return spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Runs test/util/cuda-probe.ts in a fresh process with `env` added. */
function probe(env: Record<string, string>): { code?: string; message?: string; cpuAfter: number[] } {
  const viteNode = join(root, 'node_modules', '.bin', 'vite-node');
  const out = execFileSync(viteNode, [join(root, 'test', 'util', 'cuda-probe.ts')], {
    cwd: root,
    env: { ...process.env, RESNET_NODE_ADDON: addonPath(), ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('CUDA backend build', () => {
  const config = cudaBuildConfig();

  it('is built whenever CMake found its whole toolchain, and always in CI where nvcc exists', () => {
    if (ci && hasNvcc()) {
      expect(config, `cuda-config.json beside ${addonPath()} (CI builds with CMake)`).toBeDefined();
      expect(config!.built, `CI has nvcc, but the build skipped CUDA:\n${config!.missing}`).toBe(true);
    }
    if (!config) return; // a node-gyp build (CPU only) writes no config
    const everythingFound = Object.values(config.components).every((c) => c.found);
    if (config.mode !== 'OFF' && everythingFound) expect(config.built).toBe(true);
    if (config.built) {
      expect(existsSync(cudaLibraryPath()), `${cudaLibraryPath()} (cuda-config.json says it was built)`).toBe(true);
      for (const name of ['nvcc', 'cudart', 'cudnn', 'cublas', 'nccl']) expect(config.components[name]?.found, name).toBe(true);
    } else {
      expect(config.missing.length, 'a skipped CUDA build says what was missing').toBeGreaterThan(0);
    }
  });

  it.skipIf(!config?.built)('loads and reports the library versions, with or without a driver (needs the CUDA library built)', () => {
    const info = cudaInfo();
    expect(info.cudnn).toMatch(/^9\.\d+\.\d+$/);
    expect(info.nccl).toMatch(/^2\.\d+\.\d+$/);
    expect(info.cublas).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.runtime).toMatch(/^\d+\.\d+$/);
    expect(info.built.architectures.length).toBeGreaterThan(0);
    expect(native().kernelNames('cuda')).toContain('normalize_u8');
    if (!gpu) {
      expect(info.available).toBe(false);
      expect(info.reason).toMatch(/driver|GPU/);
    }
  });
});

describe('asking for a CUDA device that cannot run', () => {
  it.skipIf(gpu)("'cuda:0' without a driver or library is RN_DEVICE_UNAVAILABLE naming the fix; the CPU keeps working (skipped: this machine has a GPU)", async () => {
    let error: { code?: string; message: string } | undefined;
    try {
      Tensor.zeros([2], { device: 'cuda:0' });
    } catch (e) {
      error = e as { code?: string; message: string };
    }
    expect(error?.code).toBe('RN_DEVICE_UNAVAILABLE');
    if (cudaBuildConfig()?.built) {
      expect(error?.message).toMatch(/^device 'cuda:0' is unavailable: /);
      expect(error?.message).toMatch(/driver/);
      expect(error?.message).toContain("use device 'cpu'");
      // The native device factory says the same when asked directly (no TypeScript check in front).
      expect(() => native().createTensor('cuda:0', 'float32', [2])).toThrow(/device 'cuda:0' is unavailable: .*driver/);
    } else {
      expect(error?.message).toContain('this build has no CUDA backend');
    }
    // The outcome is cached and the same every time; the CPU is unaffected.
    expect(() => Tensor.zeros([2], { device: 'cuda' })).toThrow(error!.message);
    const y = await relu(Tensor.fromArray([-1, 3], [2]));
    expect(Array.from((await y.toArray()) as Float32Array)).toEqual([0, 3]);
  });

  it('a missing library is RN_DEVICE_UNAVAILABLE "this build has no CUDA backend" with the install steps', () => {
    const result = probe({ RESNET_NODE_CUDA_LIBRARY: join(tmpdir(), 'no-such-dir', 'libresnet_node_cuda.so') });
    expect(result.code).toBe('RN_DEVICE_UNAVAILABLE');
    expect(result.message).toContain('this build has no CUDA backend');
    expect(result.message).toContain('npm run build:native');
    expect(result.message).toContain('resnet-node doctor');
    expect(result.cpuAfter).toEqual([0, 2]);
  });

  it('a library the loader rejects is RN_DEVICE_UNAVAILABLE quoting the loader and the fix', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'rn-cuda-')), 'libresnet_node_cuda.so');
    writeFileSync(bad, 'not a shared library');
    const result = probe({ RESNET_NODE_CUDA_LIBRARY: bad });
    expect(result.code).toBe('RN_DEVICE_UNAVAILABLE');
    expect(result.message).toContain(`the CUDA backend library ${bad} could not be loaded: `);
    expect(result.message).toMatch(/invalid ELF header|file too short/);
    expect(result.message).toContain('Fix: ');
    expect(result.cpuAfter).toEqual([0, 2]);
  });

  it.skipIf(spawnSync('cc', ['--version'], { stdio: 'ignore' }).status !== 0)(
    'a library whose dependency is missing names it (libcudnn.so.9) and how to reinstall it (skipped: no C compiler)',
    () => {
      // A stand-in for the CUDA library, linked to a libcudnn.so.9 that is then deleted.
      const dir = mkdtempSync(join(tmpdir(), 'rn-cuda-'));
      writeFileSync(join(dir, 'dep.c'), 'int rn_dep(void) { return 1; }\n');
      writeFileSync(join(dir, 'lib.c'), 'int rn_dep(void);\nint rn_lib(void) { return rn_dep(); }\n');
      const cc = (args: string[]) => execFileSync('cc', args, { cwd: dir, stdio: 'pipe' });
      cc(['-shared', '-fPIC', '-o', 'libcudnn.so.9', '-Wl,-soname,libcudnn.so.9', 'dep.c']);
      cc(['-shared', '-fPIC', '-o', 'libresnet_node_cuda.so', 'lib.c', './libcudnn.so.9']);
      rmSync(join(dir, 'libcudnn.so.9'));
      const result = probe({ RESNET_NODE_CUDA_LIBRARY: join(dir, 'libresnet_node_cuda.so') });
      expect(result.code).toBe('RN_DEVICE_UNAVAILABLE');
      expect(result.message).toContain('libcudnn.so.9: cannot open shared object file');
      expect(result.message).toContain('pip install nvidia-cudnn-cu13');
      expect(result.message).toContain('LD_LIBRARY_PATH');
      expect(result.cpuAfter).toEqual([0, 2]);
    },
  );
});

describe('resnet-node doctor --json', () => {
  it('has the cuda object: available, reason, driver, runtime, cudnn, cublas, nccl, devices', async () => {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    let status: number;
    try {
      status = await doctor(['--json']);
    } finally {
      log.mockRestore();
    }
    expect(status).toBe(0);
    const cuda = (JSON.parse(lines.join('\n')) as { cuda: CudaReport }).cuda;
    for (const key of ['available', 'reason', 'driver', 'runtime', 'cudnn', 'cublas', 'nccl', 'devices'] as const) {
      expect(cuda, key).toHaveProperty(key);
    }
    expect(typeof cuda.available).toBe('boolean');
    expect(Array.isArray(cuda.devices)).toBe(true);
    expect(cuda.available === (cuda.reason === '')).toBe(true);
    if (cuda.library.loaded) {
      expect(cuda.cudnn).toMatch(/^9\./);
      expect(cuda.nccl).toMatch(/^2\./);
    }
    if (gpu) {
      expect(cuda.devices[0]).toMatchObject({ index: 0, name: expect.any(String), computeCapability: expect.stringMatching(/^\d+\.\d+$/) });
      expect(cuda.devices[0].memoryBytes).toBeGreaterThan(0);
    }
  });
});

describe('on a GPU', () => {
  it.skipIf(!gpu)('tensors on cuda:0 round-trip through host memory, large and small (skipped: needs a GPU)', async () => {
    for (const n of [1, 3, 1000, 20_000_001]) {
      const data = Float32Array.from({ length: n }, (_, i) => (i % 1013) - 500.5);
      const t = Tensor.fromArray(data, [n], { device: 'cuda:0' });
      const back = (await t.toArray()) as Float32Array;
      expect(back.length).toBe(n);
      expect(back[0]).toBe(data[0]);
      expect(back[n - 1]).toBe(data[n - 1]);
      expect(back.every((v, i) => v === data[i])).toBe(true);
      t.dispose();
    }
    const zeros = Tensor.zeros([5, 7], { device: 'cuda:0' });
    expect(Array.from((await zeros.toArray()) as Float32Array)).toEqual(new Array(35).fill(0));
  });

  it.skipIf(!gpu)('the caching allocator reuses freed blocks: reserved memory stays flat (skipped: needs a GPU)', async () => {
    const reserved = () => cudaInfo().devices[0].memory!.reservedBytes;
    for (let i = 0; i < 3; i++) Tensor.zeros([1 << 20], { device: 'cuda:0' }).dispose();
    const before = reserved();
    for (let i = 0; i < 20; i++) {
      const t = Tensor.zeros([1 << 20], { device: 'cuda:0' });
      await t.toArray();
      t.dispose();
    }
    expect(reserved()).toBe(before);
  });

  it.skipIf(!gpu)('out of memory is RN_OUT_OF_MEMORY naming the bytes; the device keeps working (skipped: needs a GPU)', async () => {
    const huge = 2 ** 45; // 32 TiB of floats' worth of bytes: more than any GPU holds
    let error: { code?: string; message: string } | undefined;
    try {
      Tensor.empty([huge / 4], { device: 'cuda:0' });
    } catch (e) {
      error = e as { code?: string; message: string };
    }
    expect(error).toMatchObject({ code: 'RN_OUT_OF_MEMORY', message: expect.stringContaining(`${huge} bytes`) });
    const t = Tensor.fromArray([1, 2, 3], [3], { device: 'cuda:0' });
    expect(Array.from((await t.toArray()) as Float32Array)).toEqual([1, 2, 3]);
  });

  it.skipIf(!gpu)('a device index past the last one is RN_DEVICE_UNAVAILABLE naming the count (skipped: needs a GPU)', () => {
    const count = cudaInfo().devices.length;
    expect(() => Tensor.zeros([1], { device: `cuda:${count}` })).toThrow(/does not exist: this machine shows/);
  });
});
