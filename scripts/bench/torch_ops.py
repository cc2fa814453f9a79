#!/usr/bin/env python3
"""PyTorch CPU baseline for `resnet-node bench ops`: times the same ops at the same shapes.

Each row is timed in both channels_last and contiguous (NCHW) memory formats and reports the faster.
Flop conventions match lib/cli/bench/ops.ts: conv = 2*N*K*OH*OW*C*kh*kw per direction;
batch norm forward+backward = BN_FLOPS_PER_ELEMENT per input element.

Usage: python3 scripts/bench/torch_ops.py [--json] [--threads N] [--iterations N] [--only SUBSTR]
       [--cases JSON]   (a list of rows as lib/cli/bench/ops.ts builds them; defaults to its table)
"""
import argparse
import json
import statistics
import sys
import time

import torch

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


def median_seconds(fn, iterations):
    for _ in range(2):
        fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def time_case(case, iterations):
    best = None
    for name, memory_format in (("channels_last", torch.channels_last), ("contiguous", torch.contiguous_format)):
        fn = batchnorm_fn(case, memory_format) if case["op"] == "batchnorm" else conv_fn(case, memory_format)
        with torch.no_grad():
            seconds = median_seconds(fn, iterations)
        gflops = flops(case) / seconds / 1e9
        if best is None or gflops > best[0]:
            best = (gflops, name)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--only", default="", help="only rows whose name contains this")
    parser.add_argument("--cases", default=None, help="JSON list of cases (default: the built-in table)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cases = json.loads(args.cases) if args.cases else default_cases()
    for case in cases:
        name = case.get("name") or case_name(case)
        if args.only and args.only not in name:
            continue
        gflops, memory_format = time_case(case, args.iterations)
        if args.json:
            print(json.dumps({"name": name, "gflops": gflops, "memoryFormat": memory_format}), flush=True)
        else:
            print(f"{name:60s} {gflops:9.1f} GFLOP/s ({memory_format})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
