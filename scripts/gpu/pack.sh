#!/usr/bin/env bash
# Packs what scripts/gpu/check.sh needs on a lent GPU machine that has no Node.js and no oneDNN, into
# build-gpu-kit/ (ignored by git; name it in the device run's `carry`, ~40 MiB):
#   node.xz                          this machine's node (as ../shared/tools/pack-node.sh packs it)
#   addon/                           the CPU addon and the core (the GPU machine builds only the CUDA library)
#   lib/*.xz                         the addon's runtime libraries: oneDNN, libgomp, libOpenCL, Gloo's, libjpeg's
#   js/                              lib/ and scripts/gpu/ compiled to JavaScript (no node_modules needed there)
#   prebuilt/                        this machine's CUDA library (build/Release), check.sh's fallback if its build fails
# Usage: bash scripts/gpu/pack.sh   (RN_ADDON_DIR=DIR/Release packs an addon built elsewhere instead)
set -euo pipefail
cd "$(dirname "$0")/../.."

kit=build-gpu-kit
addon_dir=${RN_ADDON_DIR:-}
if [[ -z $addon_dir ]]; then
  # Without -march=native: the GPU machine's CPU may lack this one's instructions. No CUDA: built there.
  RN_CUDA=OFF node scripts/build.mjs --out build-gpu-addon --CDRN_NATIVE_ARCH=OFF
  addon_dir=build-gpu-addon/Release
fi
if [[ ! -f $addon_dir/resnet_node.node || ! -f $addon_dir/libresnet_node_core.so ]]; then
  echo "pack.sh: no addon in $addon_dir" >&2
  exit 1
fi

rm -rf "$kit"
mkdir -p "$kit/addon" "$kit/lib"
cp "$addon_dir/resnet_node.node" "$addon_dir/libresnet_node_core.so" "$kit/addon/"

# The addon's libraries outside the C/C++ runtime (oneDNN, libgomp, Gloo and its own needs, libjpeg, …), found the
# way the loader finds them here: whatever the build linked, so that a build with more optional libraries packs them.
system='^(linux-vdso|ld-linux|libc|libm|libstdc\+\+|libgcc_s|libdl|libpthread|librt|libresnet_node_core)\.'
mapfile -t needed < <(ldd "$addon_dir/resnet_node.node" "$addon_dir/libresnet_node_core.so" |
  awk '$2 == "=>" { print $1 " " $3 }' | grep -Ev "$system" | sort -u)
for entry in "${needed[@]}"; do
  read -r name path <<< "$entry"
  if [[ -z $path || $path == "not" || ! -f $path ]]; then
    echo "pack.sh: $name not found (the addon links it)" >&2
    exit 1
  fi
  xz -T0 -6 -c "$path" > "$kit/lib/$name.xz"
done
echo "pack.sh: libraries packed: $(ls "$kit/lib" | sed 's/\.xz$//' | tr '\n' ' ')"

# A fallback for check.sh, used only when the build there fails: the CUDA library CI builds here (sm_90).
if [[ -f build/Release/libresnet_node_cuda.so ]]; then
  mkdir -p "$kit/prebuilt"
  cp build/Release/libresnet_node_cuda.so build/Release/cuda-config.json "$kit/prebuilt/"
fi

npx tsc -p scripts/gpu/tsconfig.json
cp package.json "$kit/js/"  # "type": "module" for the compiled files

node_bin=$(command -v node)
xz -T0 -6 -c "$node_bin" > "$kit/node.xz"

du -sh "$kit"
echo "pack.sh: $kit ready (node $(node --version)); on the GPU machine: bash scripts/gpu/check.sh, carrying $kit"
