#!/usr/bin/env bash
# The GPU check, one command on a GPU machine (docs/cuda.md): builds the CUDA library there against that machine's
# own CUDA toolkit and cuDNN/NCCL/cuBLAS wheels, then
#   (a) every op on cuda:0 against the CPU backend on the same random inputs, forward and backward;
#   (b) 3 training steps of CIFAR ResNet-20 and ResNet-50 from the same weights on cuda:0 and in PyTorch there;
#   (c) training throughput and peak memory of ResNet-50 (batch 32, 128), CIFAR ResNet-20 and -110 (batch 128),
#       ours and PyTorch's (cudnn.benchmark=True) in the same run;
# and prints one table. Needs build-gpu-kit/ from `bash scripts/gpu/pack.sh` (Node.js, the CPU addon, compiled JS).
# Logs and JSON go to $OUT (the device tool's output folder) or /tmp/rn-gpu-check. Exit status 1 if a part failed.
# Usage: bash scripts/gpu/check.sh [--skip-build] [--dry-run] [--nccl-only] [--bench-only=MODEL:BATCH,…]
#   --nccl-only: the build, (a'), (a'') and (a''') alone.
#   --dry-run: no GPU needed — the same steps on the CPU with small sizes (skips the build), to check this harness.
set -uo pipefail
cd "$(dirname "$0")/../.."

repo=$PWD
kit=$repo/build-gpu-kit
out=${OUT:-/tmp/rn-gpu-check}
mkdir -p "$out"
exec > >(tee "$out/check.log") 2>&1
start=$(date +%s)
step() { printf '\n== %s (%d s)\n' "$*" "$(($(date +%s) - start))"; }
failed=()
skip_build=0 dry_run=0 bench_only= nccl_only=0
for arg in "$@"; do
  case $arg in
    --skip-build) skip_build=1 ;;
    --dry-run) dry_run=1 skip_build=1 ;;
    --bench-only=*) bench_only=${arg#--bench-only=} ;;
    --nccl-only) nccl_only=1 ;;
    *) echo "check.sh: unknown option '$arg' (known: --skip-build, --dry-run, --bench-only=MODEL:BATCH,…, --nccl-only)"; exit 2 ;;
  esac
done
if ((dry_run)); then
  # Batch 8: at batch 4 (and 16) one ReLU input of step 1 lies within a float32 rounding of 0 (1.9e-8 in float64),
  # so which side it lands on depends on summation order, and one flipped element moves every gradient upstream
  # by ~5e-3 — in PyTorch float32 against float64 as much as in ours, for either layout.
  device=cpu parity_specs=(resnet20:8:0.05) bench_specs=(resnet20:8) bench_steps=2
else
  device=cuda:0 parity_specs=(resnet20:32:0.05 resnet50:32:0.001:zeroGamma) bench_specs=(resnet50:32 resnet50:128 resnet20:128 resnet110:128)
  bench_steps=20
fi
# --bench-only=resnet110:128,resnet50:128: the build, (a) and (c) for these rows alone (a quick re-measure).
if [[ -n ${bench_only:-} ]]; then
  IFS=, read -r -a bench_specs <<< "$bench_only"
  parity_specs=()
fi

if [[ ! -f $kit/js/scripts/gpu/ops.js || ! -f $kit/addon/resnet_node.node ]]; then
  echo "check.sh: $kit is missing or incomplete: run bash scripts/gpu/pack.sh where the addon is built, and carry $kit"
  exit 1
fi

step "machine"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi failed"
python=$(command -v python3)
"$python" - <<'EOF' || echo "python3 without torch: the PyTorch parts will fail"
import importlib.metadata as m, torch
versions = {p: m.version(p) for p in ("nvidia-cudnn-cu13", "nvidia-nccl-cu13", "nvidia-cublas", "nvidia-cuda-runtime")
            if any(d.metadata["Name"] == p for d in m.distributions())}
print(f"torch {torch.__version__} (cuDNN {torch.backends.cudnn.version()}), wheels: {versions}")
EOF

# Node.js and the addon's runtime libraries from the kit.
if ! command -v node >/dev/null 2>&1; then
  mkdir -p /tmp/rn-node/bin
  xz -dc "$kit/node.xz" > /tmp/rn-node/bin/node && chmod +x /tmp/rn-node/bin/node
  export PATH=/tmp/rn-node/bin:$PATH
fi
libs=/tmp/rn-node/lib  # unpacked outside the kit, which stays small enough to carry
mkdir -p "$libs"
for packed in "$kit"/lib/*.xz; do
  name=$(basename "$packed" .xz)
  [[ -f $libs/$name ]] || xz -dc "$packed" > "$libs/$name"
done
export RESNET_NODE_ADDON=$kit/addon/resnet_node.node
# Node with the kit's libraries (PyTorch keeps its own): a script, so that `timeout` can run it.
rn_node=/tmp/rn-node/rn-node
printf '#!/usr/bin/env bash\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec node "$@"\n' "$libs" > "$rn_node"
chmod +x "$rn_node"
echo "node $(node --version)"

if ((!skip_build)); then
  step "build the CUDA library against this machine's toolkit and wheels"
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  build=/tmp/rn-cuda-build
  # cuDNN, cuBLAS and NCCL from the wheels PyTorch loads there, so that both sides of (c) run the same libraries
  # (the machine may also have older system copies, which the build's search order would otherwise pick first).
  mapfile -t roots < <("$python" -c '
import importlib.util
for module, variable in (("nvidia.cudnn", "CUDNN_ROOT"), ("nvidia.cu13", "CUBLAS_ROOT"), ("nvidia.nccl", "NCCL_ROOT")):
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec and spec.submodule_search_locations:
        print(f"-D{variable}={list(spec.submodule_search_locations)[0]}")
')
  echo "library roots: ${roots[*]:-none, so the build searches itself}"
  if cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DRN_CUDA_ONLY=ON -DRN_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" -DRN_PYTHON="$python" "${roots[@]}" &&
    timeout 300 cmake --build "$build" --target resnet_node_cuda -j "$(nproc)"; then
    cp "$build/Release/libresnet_node_cuda.so" "$build/Release/cuda-config.json" "$kit/addon/"
  elif [[ -f $kit/prebuilt/libresnet_node_cuda.so ]]; then
    # Still worth running the checks: the library CI built (cuDNN 9.24 headers, sm_90) against this machine's
    # libraries, found through the wheels' folders. The summary's failed list names the build.
    echo "check.sh: the CUDA library did not build here; FALLING BACK to the one packed from the CPU machine"
    failed+=("build (ran the packed library)")
    cp "$kit/prebuilt/libresnet_node_cuda.so" "$kit/prebuilt/cuda-config.json" "$kit/addon/"
    for root in "${roots[@]}"; do libs=$libs:${root#-D*=}/lib; done; libs=$libs:/usr/local/cuda/lib64
    printf '#!/usr/bin/env bash\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec node "$@"\n' "$libs" > "$rn_node"
  else
    echo "check.sh: the CUDA library did not build"
    exit 1
  fi
fi

step "doctor"
"$rn_node" --input-type=module -e "
  const { doctor } = await import('$kit/js/lib/cli/doctor.js');
  process.exitCode = await doctor([]);
" || failed+=(doctor)

if ((!nccl_only)); then
step "(a) every op on $device against the CPU"
NVIDIA_TF32_OVERRIDE=0 timeout 150 "$rn_node" "$kit/js/scripts/gpu/ops.js" --device "$device" --json "$out/ops.json" ||
  failed+=(ops)
fi

if [[ -z $bench_only ]]; then
step "(a') NCCL all-reduce on one rank: correctness, and its time against a device-side accumulate"
timeout 90 "$rn_node" "$kit/js/scripts/gpu/nccl.js" --device "$device" | tee "$out/nccl.jsonl" || failed+=(nccl)

# One process per rank, the NCCL unique id through rank 0's store. With one GPU, 2 processes share it: NCCL 2.30+
# allows that (NCCL_MULTI_RANK_GPU_ENABLE=1, which the script sets); older NCCL refuses, and then every rank
# must stop with NCCL's reason within the timeout rather than hang.
step "(a'') NCCL across processes: 1 process, then 2 (on $(nvidia-smi -L 2>/dev/null | wc -l) GPU(s))"
kind=(); ((dry_run)) && kind=(--device cpu --floats 2560000)
for n in 1 2; do
  timeout 150 "$rn_node" "$kit/js/scripts/gpu/nccl-procs.js" --processes "$n" --timeout 30 "${kind[@]}" | tee -a "$out/nccl.jsonl" ||
    failed+=("nccl across $n processes")
done

# The in-process path for replicas sharing a GPU: cuda:0 and its replica slot cuda:0/1, reduced by copies.
step "(a''') 2 replicas on one GPU in one process (cuda:0, cuda:0/1): parity with 1 replica, all-reduce time, throughput"
replicas=(); ((dry_run)) && replicas=(--devices cpu:1,cpu:2 --batch 8 --bench resnet20:16 --floats 2560000 --steps 2)
timeout 180 "$rn_node" "$kit/js/scripts/gpu/replicas.js" "${replicas[@]}" | tee -a "$out/nccl.jsonl" || failed+=("replicas on one GPU")
fi

if [[ -z $bench_only ]] && ((!nccl_only)); then
step "(b) 3 training steps against PyTorch (TF32 off)"
: > "$out/parity.jsonl"
for spec in "${parity_specs[@]}"; do
  IFS=: read -r model batch lr init <<< "$spec"  # init zeroGamma: blocks start as identities (train.ts parity)
  dir=/tmp/rn-parity-$model
  if NVIDIA_TF32_OVERRIDE=0 timeout 120 "$rn_node" "$kit/js/scripts/gpu/train.js" parity --model "$model" --batch "$batch" --lr "$lr" --steps 3 --dir "$dir" --device "$device" ${init:+--$init}; then
    NVIDIA_TF32_OVERRIDE=0 timeout 120 "$python" scripts/gpu/torch_check.py parity --dir "$dir" --device "$device" | tee -a "$out/parity.jsonl" || failed+=("parity $model (PyTorch)")
  else
    failed+=("parity $model (ours)")
  fi
done
fi

((nccl_only)) && bench_specs=()
step "(c) training throughput and peak memory, ours and PyTorch"
: > "$out/bench.jsonl"
: > "$out/profile.jsonl"
for spec in "${bench_specs[@]}"; do
  IFS=: read -r model batch <<< "$spec"
  timeout 90 "$rn_node" "$kit/js/scripts/gpu/train.js" bench --model "$model" --batch "$batch" --steps "$bench_steps" --device "$device" --profile "$out/profile.jsonl" |
    tee -a "$out/bench.jsonl" || failed+=("bench $model b$batch (ours)")
  timeout 90 "$python" scripts/gpu/torch_check.py bench --model "$model" --batch "$batch" --steps "$bench_steps" --device "$device" --profile "$out/profile.jsonl" |
    tee -a "$out/bench.jsonl" || failed+=("bench $model b$batch (PyTorch)")
done

if ((!dry_run && !nccl_only)) && [[ -z $bench_only ]]; then
  step "(c') ResNet-50 b128 again with a 4 GiB convolution workspace (1 GiB above); the algorithms chosen: cudnn.log"
  RN_CUDNN_LOG=1 timeout 90 "$rn_node" "$kit/js/scripts/gpu/train.js" bench --model resnet50 --batch 128 --steps "$bench_steps" \
    --device "$device" --workspace 4GiB 2> "$out/cudnn.log" || failed+=("bench resnet50 b128 4GiB workspace")
fi

step "summary"
"$rn_node" "$kit/js/scripts/gpu/report.js" "$out" "${#parity_specs[@]}" "${#bench_specs[@]}" ${bench_only:+--bench-only} $( ((nccl_only)) && echo --nccl-only) | tee "$out/summary.txt" || failed+=(report)
echo "check.sh: $(($(date +%s) - start)) s${failed[*]:+; failed: ${failed[*]}}"
((${#failed[@]} == 0))
