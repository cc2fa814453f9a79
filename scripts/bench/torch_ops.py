#!/usr/bin/env python3
"""PyTorch CPU baseline for `resnet-node bench ops`: times the same ops at the same shapes.

Each row is timed in both channels_last and contiguous (NCHW) memory formats and reports the faster.
Flop conventions match lib/cli/bench/ops.ts: conv = 2*N*K*OH*OW*C*kh*kw per direction;
batch norm forward+backward = BN_FLOPS_PER_ELEMENT per input element.

Usage: python3 scripts/bench/torch_ops.py [--json] [--threads N] [--iterations N] [--only SUBSTR]
       python3 scripts/bench/torch_ops.py --serve [--threads N]
With --serve (what ops.ts runs) it reads {"case": {...}, "runs": k} lines and answers each with the seconds of k
timed runs per memory format, so that the caller can interleave them with its own runs.
"""
import argparse
import json
import statistics
import sys
import time

try:
    import torch
except ImportError as error:
    sys.exit(f"torch_ops.py: cannot import torch ({error}); install it with `pip install torch`")

BN_FLOPS_PER_ELEMENT = 10

# (N, C, H, W, K, kernel, stride, padding): ResNet-50 at batch 16 and CIFAR ResNet at batch 128.
DEFAULT_SHAPES = [
    (16, 64, 56, 56, 64, 3, 1, 1),
    (16, 128, 28, 28, 128, 3, 1, 1),
    (16, 256, 14, 14, 256, 3, 1, 1),
    (16, 512, 7, 7, 512, 3, 1, 1),
    (128, 16, 32, 32, 16, 3, 1, 1),
    (128, 32, 16, 16, 32, 3, 1, 1),
    (128, 64, 8, 8, 64, 3, 1, 1),
]


def default_cases():
    cases = []
    for n, c, h, w, k, ks, s, p in DEFAULT_SHAPES:
        for op in ("conv2d_forward", "conv2d_backward_data", "conv2d_backward_weights"):
            cases.append({"op": op, "n": n, "c": c, "h": h, "w": w, "k": k, "kernel": ks, "stride": s, "padding": p})
    for n, c, h, w, *_ in DEFAULT_SHAPES:
        cases.append({"op": "batchnorm", "n": n, "c": c, "h": h, "w": w})
    return cases


def case_name(case):
    shape = f"{case['n']}x{case['c']}x{case['h']}x{case['w']}"
    if case["op"] == "batchnorm":
        return f"batchnorm fwd+bwd {shape}"
    direction = case["op"].replace("conv2d_", "")
    return f"conv2d {direction} {shape} k{case['k']} {case['kernel']}x{case['kernel']}/s{case['stride']}p{case['padding']}"


def out_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def flops(case):
    n, c, h, w = case["n"], case["c"], case["h"], case["w"]
    if case["op"] == "batchnorm":
        return BN_FLOPS_PER_ELEMENT * n * c * h * w
    ks, s, p = case["kernel"], case["stride"], case["padding"]
    return 2 * n * case["k"] * out_size(h, ks, s, p) * out_size(w, ks, s, p) * c * ks * ks


MEMORY_FORMATS = (("channels_last", torch.channels_last), ("contiguous", torch.contiguous_format))
WARMUP = 2


def seconds_of_runs(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def conv_fn(case, memory_format):
    n, c, h, w, k = case["n"], case["c"], case["h"], case["w"], case["k"]
    ks, s, p = case["kernel"], case["stride"], case["padding"]
    x = torch.randn(n, c, h, w).to(memory_format=memory_format)
    weight = torch.randn(k, c, ks, ks).to(memory_format=memory_format)
    dy = torch.randn(n, k, out_size(h, ks, s, p), out_size(w, ks, s, p)).to(memory_format=memory_format)
    conv_args = ([s, s], [p, p], [1, 1], False, [0, 0], 1)
    if case["op"] == "conv2d_forward":
        return lambda: torch.nn.functional.conv2d(x, weight, None, s, p)
    mask = [True, False, False] if case["op"] == "conv2d_backward_data" else [False, True, False]
    return lambda: torch.ops.aten.convolution_backward(dy, x, weight, None, *conv_args, mask)


def batchnorm_fn(case, memory_format):
    n, c, h, w = case["n"], case["c"], case["h"], case["w"]
    x = torch.randn(n, c, h, w).to(memory_format=memory_format)
    dy = torch.randn(n, c, h, w).to(memory_format=memory_format)
    gamma, beta = torch.ones(c), torch.zeros(c)
    running_mean, running_var = torch.zeros(c), torch.ones(c)

    def step():
        _, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
            x, gamma, beta, running_mean, running_var, True, 0.1, 1e-5
        )
        torch.ops.aten.native_batch_norm_backward(
            dy, x, gamma, running_mean, running_var, save_mean, save_invstd, True, 1e-5, [True, True, True]
        )

    return step


def prepared(case):
    """One warmed-up step per memory format."""
    fns = {}
    for name, memory_format in MEMORY_FORMATS:
        fn = batchnorm_fn(case, memory_format) if case["op"] == "batchnorm" else conv_fn(case, memory_format)
        for _ in range(WARMUP):
            fn()
        fns[name] = fn
    return fns


def time_case(case, iterations):
    """(GFLOP/s, memory format) of the faster format, from the median of `iterations` runs."""
    results = []
    for name, fn in prepared(case).items():
        seconds = statistics.median(seconds_of_runs(fn, iterations))
        results.append((flops(case) / seconds / 1e9, name))
    return max(results)


def serve():
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    current_name, fns = None, None
    for line in sys.stdin:
        request = json.loads(line)
        case = request["case"]
        if case["name"] != current_name:
            current_name, fns = case["name"], prepared(case)
        seconds = {name: seconds_of_runs(fn, request["runs"]) for name, fn in fns.items()}
        print(json.dumps({"seconds": seconds}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--only", default="", help="only rows whose name contains this")
    parser.add_argument("--serve", action="store_true", help="time JSON cases read line by line from stdin")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.serve:
        with torch.no_grad():
            serve()
        return 0
    for case in default_cases():
        name = case_name(case)
        if args.only and args.only not in name:
            continue
        with torch.no_grad():
            gflops, memory_format = time_case(case, args.iterations)
        if args.json:
            print(json.dumps({"name": name, "gflops": gflops, "memoryFormat": memory_format}), flush=True)
        else:
            print(f"{name:60s} {gflops:9.1f} GFLOP/s ({memory_format})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
