#!/usr/bin/env node
// Builds the native addon: cmake-js when CMake is present (the full build), else node-gyp (CPU addon).
// Skips when the addon already exists unless --force; RESNET_NODE_SKIP_BUILD=1 skips always.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --out DIR builds into DIR instead of build/ (load it with RESNET_NODE_ADDON=DIR/Release/resnet_node.node);
// other --CD… arguments go to cmake-js as CMake definitions.
const argv = process.argv.slice(2);
const outIndex = argv.indexOf('--out');
const outDir = outIndex >= 0 ? argv[outIndex + 1] : undefined;
const cmakeDefs = argv.filter((a) => a.startsWith('--CD'));
const addon = join(outDir ?? join(root, 'build'), 'Release', 'resnet_node.node');
const force = argv.includes('--force') || outDir !== undefined;

if (process.env.RESNET_NODE_SKIP_BUILD === '1') {
  console.log('resnet-node: RESNET_NODE_SKIP_BUILD=1, not building the native addon');
  process.exit(0);
}
// With RN_CUDA=ON (CI where nvcc exists) an addon without its CUDA library beside it is not a finished build.
const cudaMissing = process.env.RN_CUDA?.toUpperCase() === 'ON' && !existsSync(join(dirname(addon), 'libresnet_node_cuda.so'));
if (existsSync(addon) && !force && !cudaMissing) {
  console.log(`resnet-node: native addon present (${addon}); npm run build:native rebuilds it`);
  process.exit(0);
}

const has = (cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const run = (cmd, args) => {
  console.log(`resnet-node: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    console.error(
      `resnet-node: the native build failed (${cmd} exited ${r.status}).\n` +
        '  Likely fixes: install the build prerequisites with `bash scripts/setup.sh` (Debian/Ubuntu),\n' +
        '  or by hand: cmake, g++, libdnnl-dev (oneDNN 2.x); then run `npm run build:native`.\n' +
        '  A CUDA backend failure: see docs/cuda.md, or build without it: RN_CUDA=OFF npm run build:native.',
    );
    process.exit(r.status ?? 1);
  }
};

if (has('cmake')) {
  const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  const options = [];
  if (has('ninja')) options.push('-G', 'Ninja');
  if (outDir) options.push('-O', outDir);
  const defs = [...cmakeDefs];
  // The CUDA backend (native/cuda/build.cmake): RN_CUDA=OFF|AUTO|ON, RN_CUDA_ARCHITECTURES=90 (default: all major).
  if (process.env.RN_CUDA) defs.push(`--CDRN_CUDA=${process.env.RN_CUDA}`);
  if (process.env.RN_CUDA_ARCHITECTURES) defs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.RN_CUDA_ARCHITECTURES}`);
  if (process.env.RN_CMAKE_ARGS) for (const a of process.env.RN_CMAKE_ARGS.split(/\s+/).filter(Boolean)) defs.push(a);
  // `compile` applies definitions only to a fresh build folder; an existing one is reconfigured with them first
  // (else an earlier RN_CUDA=OFF would silently stick).
  const cache = join(outDir ? resolve(root, outDir) : join(root, 'build'), 'CMakeCache.txt');
  if (defs.length && existsSync(cache)) run(process.execPath, [cmakeJs, 'configure', ...options, ...defs]);
  run(process.execPath, [cmakeJs, 'compile', ...options, ...defs]);
} else {
  // npm runs install scripts with npm_config_node_gyp pointing at its bundled node-gyp.
  const nodedir = process.env.npm_config_nodedir;
  const gypArgs = ['rebuild'];
  if (nodedir) gypArgs.push(`--nodedir=${nodedir}`);
  const gyp = process.env.npm_config_node_gyp;
  if (gyp) run(process.execPath, [gyp, ...gypArgs]);
  else run('node-gyp', gypArgs);
}
