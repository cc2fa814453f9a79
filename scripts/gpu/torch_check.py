#!/usr/bin/env python3
"""GPU check, PyTorch's side of (b) and (c), with the models of scripts/bench/torch_train.py.

parity --dir DIR: replays scripts/gpu/train.js's steps (DIR/init.safetensors: initial state in our state-dict
    order, the batches, lr; SGD momentum 0.9, Nesterov, weight decay 1e-4) in float32 and in float64, and compares
    the losses, the weights and BN statistics after them and the last step's gradients of DIR/ours.safetensors
    with them. Prints one JSON line: per kind, the worst normwise relative error (max|x - ref| / max|ref| per
    tensor) of ours and of PyTorch float32 against float64, and the tensors that fail. TF32 off.
bench --model M --batch B --steps S: img/s (median step; each step copies its batch from host memory, as ours
    does) and peak memory (torch.cuda.max_memory_allocated / _reserved), cudnn.benchmark=True, default float32
    math. Prints one JSON line.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_train import build  # noqa: E402  (the same models as the CPU benchmark)


def relative_error(ours, reference, floor=0.0):
    """Normwise: max|ours - reference| / max(max|reference|, floor) (the plain difference where both are zero)."""
    ours, reference = ours.double().cpu(), reference.double().cpu()
    scale = max(reference.abs().max().item(), floor)
    diff = (ours - reference).abs().max().item()
    return diff / scale if scale > 0 else diff


def trajectory(meta, init, order, device, dtype):
    """PyTorch's run of the same steps from the same state: losses, then state and gradients by our names."""
    model, _, _ = build(meta["model"])
    model = model.to(device=device, dtype=dtype).train()
    torch_keys = list(model.state_dict().keys())
    if len(torch_keys) != len(order):
        sys.exit(f"torch_check.py: {meta['model']} has {len(torch_keys)} state entries in PyTorch but {len(order)} in ours")
    # Same architecture, same state-dict order: map by position and check every shape.
    name_of = dict(zip(order, torch_keys))
    current = model.state_dict()
    state = {}
    for ours_name, torch_name in name_of.items():
        value = init[f"state.{ours_name}"]
        if tuple(value.shape) != tuple(current[torch_name].shape):
            sys.exit(f"torch_check.py: {ours_name} {tuple(value.shape)} does not match PyTorch's {torch_name} {tuple(current[torch_name].shape)}")
        state[torch_name] = value.to(current[torch_name].dtype)
    model.load_state_dict(state)
    opt = torch.optim.SGD(model.parameters(), lr=float(meta["lr"]), momentum=float(meta["momentum"]),
                          nesterov=meta["nesterov"] == "true", weight_decay=float(meta["weight_decay"]))
    losses = []
    for k in range(int(meta["steps"])):
        x = init[f"batch{k}.x"].to(device=device, dtype=dtype)
        y = init[f"batch{k}.y"].long().to(device)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final, params = model.state_dict(), dict(model.named_parameters())
    states = {o: final[t] for o, t in name_of.items() if not t.endswith("num_batches_tracked")}
    grads = {o: params[t].grad for o, t in name_of.items() if t in params}
    return losses, states, grads, {o: t in params for o, t in name_of.items()}


def parity(args):
    """Ours and PyTorch float32 against PyTorch float64. Deep networks' float32 gradients are ill-conditioned
    (PyTorch's own float32 ones can be 10 % off its float64 ones per tensor), so a tensor fails only when ours is
    further from float64 than max(tolerance, 4 x PyTorch float32's distance)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device(args.device)
    init_path, ours_path = os.path.join(args.dir, "init.safetensors"), os.path.join(args.dir, "ours.safetensors")
    with safe_open(init_path, "pt") as f:
        meta = f.metadata()
    with safe_open(ours_path, "pt") as f:
        ours_meta = f.metadata()
    init, ours = load_file(init_path), load_file(ours_path)
    order = json.loads(meta["order"])
    losses32, states32, grads32, is_param = trajectory(meta, init, order, device, torch.float32)
    losses64, states64, grads64, _ = trajectory(meta, init, order, device, torch.float64)
    ours_losses = json.loads(ours_meta["losses"])

    def judge(kind, pairs):
        """pairs: (name, ours, torch32, reference64) → the worst tensor by ours' error and how many fail."""
        # A tensor whose values are all below a millionth of the largest of its kind (a BN bias whose gradient
        # the next BN cancels: 1e-10 after 3 steps) is compared on that millionth, not on its own size, which
        # would make float rounding noise of 1e-12 look like a 1 % error.
        floor = 1e-6 * max(reference.double().abs().max().item() for _, _, _, reference in pairs)
        rows = []
        for name, mine, theirs, reference in pairs:
            e_ours, e_torch = relative_error(mine, reference, floor), relative_error(theirs, reference, floor)
            rows.append((e_ours, e_torch, name, e_ours > max(args.tolerance, 4 * e_torch)))
        worst = max(rows)
        # And ours against PyTorch float32 directly (the "within 1e-3 of PyTorch"), worst tensor.
        # Per tensor, a tensor that starts at zero (a BN bias) makes this ill-conditioned; over the whole model
        # (max |ours - torch| over every tensor / max |torch| over every tensor) it is the usual normwise error.
        direct = max(relative_error(mine, theirs, floor) for _, mine, theirs, _ in pairs)
        scale = max(theirs.double().abs().max().item() for _, _, theirs, _ in pairs)
        spread = max((mine.double().cpu() - theirs.double().cpu()).abs().max().item() for _, mine, theirs, _ in pairs)
        return {f"{kind}Error": worst[0], f"{kind}TorchError": worst[1], f"{kind}Worst": worst[2],
                f"{kind}VsTorch32": direct, f"{kind}VsTorch32Model": spread / scale if scale > 0 else spread,
                f"{kind}Failing": [r[2] for r in rows if r[3]]}

    row = {"model": meta["model"], "batch": int(meta["batch"]), "steps": int(meta["steps"]),
           "lossesOurs": ours_losses, "lossesTorch32": losses32, "lossesTorch64": losses64}
    row.update(judge("loss", [(f"step{k}", torch.tensor(a), torch.tensor(b), torch.tensor(c))
                              for k, (a, b, c) in enumerate(zip(ours_losses, losses32, losses64))]))
    row.update(judge("weights", [(o, ours[f"state.{o}"], states32[o], states64[o]) for o in states64 if is_param[o]]))
    row.update(judge("buffers", [(o, ours[f"state.{o}"], states32[o], states64[o]) for o in states64 if not is_param[o]]))
    row.update(judge("grads", [(o, ours[f"grad.{o}"], grads32[o], grads64[o]) for o in grads64]))
    row.update({"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "tolerance": args.tolerance})
    row["ok"] = not any(row[f"{k}Failing"] for k in ("loss", "weights", "buffers", "grads"))
    print(json.dumps(row))


def bench(args):
    torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)
    model, shape, classes = build(args.model)
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    x_host = torch.randn(args.batch, *shape)
    y_host = torch.randint(0, classes, (args.batch,))

    def step():
        x, y = x_host.to(device), y_host.to(device)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    cuda = device.type == "cuda"  # a CPU run only checks this script (check.sh --dry-run)

    def synchronize():
        if cuda:
            torch.cuda.synchronize(device)

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    step()
    synchronize()
    first = time.perf_counter() - start
    for _ in range(2):
        step()
    times = []
    for _ in range(args.steps):
        synchronize()
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    if args.profile and cuda:
        try:
            profile_steps(args, step, synchronize)
        except Exception as error:  # the timing row matters more than the profile
            print(f"torch_check.py: no kernel profile: {error}", file=sys.stderr)
    row = {"impl": "pytorch", "model": args.model, "batch": args.batch, "imagesPerSec": args.batch / statistics.median(times),
           "firstStepSeconds": first, "peakAllocatedBytes": torch.cuda.max_memory_allocated(device) if cuda else None,
           "peakReservedBytes": torch.cuda.max_memory_reserved(device) if cuda else None, "torch": torch.__version__}
    print(json.dumps(row))


def kernel_kind(name):
    """A GPU kernel's op kind, from its name (cuDNN / cuBLAS / ATen kernel naming)."""
    n = name.lower()
    if "bn_" in n or "batch_norm" in n or "batchnorm" in n:
        return "batch norm"
    if any(k in n for k in ("conv", "xmma", "implicit", "wgrad", "dgrad", "fprop", "winograd", "fft", "cutlass", "cudnn", "sm90", "sm80", "gemm")):
        return "convolution / matmul"
    if "elementwise" in n or "vectorized" in n or "threshold" in n or "add" in n:
        return "element-wise"
    if "multi_tensor" in n or "foreach" in n:
        return "optimizer"
    return "other"


def profile_steps(args, step, synchronize):
    """GPU time per kernel over 3 steps (torch.profiler), appended to args.profile as one JSON line."""
    from torch.profiler import ProfilerActivity, profile
    synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            step()
        synchronize()
    kernels = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name] = kernels.get(event.name, 0.0) + event.device_time_total / 1000 / 3  # ms per step
    kinds = {}
    for name, ms in kernels.items():
        kinds[kernel_kind(name)] = kinds.get(kernel_kind(name), 0.0) + ms
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[:25]
    line = {"impl": "pytorch", "model": args.model, "batch": args.batch, "gpuMsPerStep": sum(kernels.values()),
            "kinds": kinds, "top": [{"kernel": k[:120], "msPerStep": v} for k, v in top]}
    with open(args.profile, "a") as f:
        f.write(json.dumps(line) + "\n")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("parity")
    p.add_argument("--dir", required=True)
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--device", default="cuda:0")
    b = sub.add_parser("bench")
    b.add_argument("--model", required=True)
    b.add_argument("--batch", type=int, required=True)
    b.add_argument("--steps", type=int, default=20)
    b.add_argument("--device", default="cuda:0")
    b.add_argument("--profile", help="append the GPU time per kernel of 3 more steps to this JSON-lines file")
    args = parser.parse_args()
    parity(args) if args.mode == "parity" else bench(args)


if __name__ == "__main__":
    main()
