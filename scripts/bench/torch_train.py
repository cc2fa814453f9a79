#!/usr/bin/env python3
"""PyTorch CPU baseline for `resnet-node bench train`: training steps per second of the same models.

CIFAR ResNets are built as fb.resnet.torch's (option-A shortcuts); ImageNet bottleneck ResNets as
torchvision's (written out here, so torchvision is not needed). The step is forward, cross-entropy, backward
and Nesterov SGD (momentum 0.9, weight decay 1e-4), on random data. Both memory formats are timed and
the faster is reported, with its name.

Usage: python3 scripts/bench/torch_train.py --model resnet20 --batch 128 [--steps 10] [--threads N] [--json]
"""
import argparse
import json
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as error:
    sys.exit(f"torch_train.py: cannot import torch ({error}); install it with `bash scripts/setup.sh --bench`")


class ShortcutA(nn.Module):
    def __init__(self, out_channels, stride):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - x.shape[1]))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = shortcut

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(self, depth, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for stage, planes in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                shortcut = ShortcutA(planes, stride) if (stride != 1 or cin != planes) else None
                layers.append(BasicBlock(cin, planes, stride, shortcut))
                cin = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3x3, as fb.resnet.torch), written out so torchvision is optional."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ImageNetResNet(nn.Module):
    def __init__(self, stages, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, cin = [], 64
        for stage, (blocks, planes) in enumerate(zip(stages, (64, 128, 256, 512))):
            for i in range(blocks):
                layers.append(Bottleneck(cin, planes, 2 if stage > 0 and i == 0 else 1))
                cin = planes * 4
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.layers(x), 1), 1))


BOTTLENECK_STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def build(name):
    depth = int(name.replace("resnet", ""))
    if depth in BOTTLENECK_STAGES:
        return ImageNetResNet(BOTTLENECK_STAGES[depth]), (3, 224, 224), 1000
    if (depth - 2) % 6 == 0:
        return CifarResNet(depth), (3, 32, 32), 10
    sys.exit(f"torch_train.py: no model '{name}' (CIFAR 6n+2 depths, or 50/101/152)")


def time_steps(model, shape, classes, batch, steps, channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    x = torch.randn(batch, *shape).to(memory_format=fmt)
    y = torch.randint(0, classes, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    return batch / times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {}
    for channels_last in (True, False):
        model, shape, classes = build(args.model)
        results["channels_last" if channels_last else "nchw"] = time_steps(model, shape, classes, args.batch, args.steps, channels_last)
    best = max(results, key=results.get)
    row = {"model": args.model, "batch": args.batch, "imagesPerSec": results[best], "format": best, "all": results,
           "threads": torch.get_num_threads(), "torch": torch.__version__}
    print(json.dumps(row) if args.json else f"{args.model} b{args.batch}: {results[best]:.1f} img/s ({best}); {results}")


if __name__ == "__main__":
    main()
