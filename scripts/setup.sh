#!/usr/bin/env bash
# Sets resnet-node up on a fresh Debian/Ubuntu machine: system packages, npm packages, native + TS build.
# Usage: bash scripts/setup.sh [--bench]   (--bench also installs PyTorch CPU and safetensors: the benchmark
#        baselines and the cross-checks against Python that otherwise skip)
set -euo pipefail
cd "$(dirname "$0")/.."

with_bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) with_bench=1 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --bench)" >&2; exit 2 ;;
  esac
done

say() { printf '\n==> %s\n' "$*"; }

# System packages: compilers, CMake, oneDNN 2.x (CPU backend), Gloo (collectives across CPU processes), libjpeg-turbo
# (the data loader's native JPEG crops; libjpeg-dev is libjpeg62-turbo-dev on Debian, libjpeg-turbo8-dev on Ubuntu).
apt_packages=(cmake g++ make ninja-build pkg-config libdnnl-dev libgloo-dev libjpeg-dev python3 python3-pip)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing system packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "system packages present"
fi

# Python wheels, offline where the machine has local wheel indexes.
pip_install() {
  local args=()
  for index in /opt/pypi-more/simple /opt/pypi/simple; do
    if [ -d "$index" ]; then
      if ((${#args[@]} == 0)); then args+=(--index-url "file://$index"); else args+=(--extra-index-url "file://$index"); fi
    fi
  done
  python3 -m pip install -q --disable-pip-version-check "${args[@]}" "$@"
}
if ((with_bench)); then
  if python3 -c 'import torch, safetensors, numpy' 2>/dev/null; then
    say "PyTorch and safetensors present (benchmark baselines, cross-checks)"
  else
    say "installing PyTorch CPU and safetensors (benchmark baselines, cross-checks)"
    pip_install torch safetensors numpy
  fi
fi

# The CUDA backend's libraries, where a CUDA toolkit (nvcc) is installed: cuDNN 9, NCCL and cuBLAS as pip wheels,
# used in place from site-packages (the build finds them there; see docs/cuda.md).
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] || [ -x "${CUDA_HOME:-/nonexistent}/bin/nvcc" ]; then
  cuda_wheels=(nvidia-cudnn-cu13 nvidia-nccl-cu13 nvidia-cublas)
  if python3 -c 'import sys, importlib.metadata as m; [m.version(p) for p in sys.argv[1:]]' "${cuda_wheels[@]}" 2>/dev/null; then
    say "cuDNN, NCCL and cuBLAS wheels present (CUDA backend)"
  else
    say "installing ${cuda_wheels[*]} (CUDA backend; nvcc found)"
    pip_install "${cuda_wheels[@]}"
  fi
else
  say "no nvcc: the CUDA backend is not built (CPU only; docs/cuda.md says how to add it)"
fi

say "npm ci (builds the native addon and the TypeScript)"
npm ci --no-audit --no-fund

say "checking the installation"
node bin/resnet-node.js doctor
