#!/usr/bin/env python3
"""Writes test/fixtures/torchvision-resnet{18,50}.json: torchvision's state-dict keys, shapes and dtypes,
per-module output shapes at a non-square input, conv+linear multiply-adds, and the BN weights that
zero_init_residual zeroes. The tests compare lib/models/resnet.ts against these files.

Usage: python3 scripts/gen-torchvision-keys.py   (needs torch and torchvision; no weights are downloaded)
"""
import json
import os
import sys

import torch

# A torchvision wheel built for CUDA cannot load its C++ ops next to a CPU-only torch, and its import
# then fails while registering fake kernels for them. The ResNet code needs none of those ops.
try:
    import torchvision
except RuntimeError:
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    import torchvision
from torchvision.models import resnet

INPUT = (1, 3, 160, 192)
LEAVES = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.MaxPool2d, torch.nn.Linear)


def describe(name):
    model = getattr(resnet, name)()
    state = [[k, list(v.shape), str(v.dtype).replace('torch.', '')] for k, v in model.state_dict().items()]
    params = sum(p.numel() for p in model.parameters())

    outputs, macs = {}, [0]

    def hook(path):
        def record(module, inputs, output):
            outputs[path] = list(output.shape)
            if isinstance(module, torch.nn.Conv2d):
                k = module.kernel_size
                macs[0] += output.numel() * module.in_channels // module.groups * k[0] * k[1]
            elif isinstance(module, torch.nn.Linear):
                macs[0] += output.numel() * module.in_features
        return record

    for path, module in model.named_modules():
        if isinstance(module, LEAVES):
            module.register_forward_hook(hook(path))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(INPUT))

    zeroed = resnet.__dict__[name](zero_init_residual=True)
    zero_keys = [k for k, v in zeroed.state_dict().items() if k.endswith('.weight') and v.ndim == 1 and bool((v == 0).all())]

    return {
        'generator': 'scripts/gen-torchvision-keys.py',
        'torch': torch.__version__,
        'torchvision': torchvision.__version__,
        'model': name,
        'params': params,
        'stateDict': state,
        'input': list(INPUT),
        'moduleOutputs': outputs,
        'macs': macs[0],
        'zeroInitResidualKeys': zero_keys,
    }


def dumps(record):
    """JSON with one state-dict entry or module output per line, so diffs stay readable."""
    def block(value):
        if isinstance(value, list) and value and isinstance(value[0], list):
            return '[\n' + ',\n'.join('  ' + json.dumps(v) for v in value) + '\n ]'
        if isinstance(value, dict):
            return '{\n' + ',\n'.join(f'  {json.dumps(k)}: {json.dumps(v)}' for k, v in value.items()) + '\n }'
        return json.dumps(value)
    return '{\n' + ',\n'.join(f' {json.dumps(k)}: {block(v)}' for k, v in record.items()) + '\n}\n'


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
    os.makedirs(root, exist_ok=True)
    for name in ('resnet18', 'resnet50'):
        path = os.path.join(root, f'torchvision-{name}.json')
        with open(path, 'w') as f:
            f.write(dumps(describe(name)))
        print(f'wrote {os.path.relpath(path)}', file=sys.stderr)


if __name__ == '__main__':
    main()
