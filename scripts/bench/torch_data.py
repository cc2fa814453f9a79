#!/usr/bin/env python3
"""PyTorch baseline for `resnet-node bench data`: training-transform throughput of a DataLoader over JPEGs.

The transforms are fb.resnet.torch's training pipeline as a PyTorch user writes it with torchvision on PIL
images: RandomResizedCrop(224) (bicubic), ColorJitter(0.4, 0.4, 0.4), RandomHorizontalFlip, ToTensor,
AlexNet PCA lighting (0.1) and Normalize. torchvision is used when it imports; where it does not (a torch /
torchvision version mismatch, say), the same transforms are written here on PIL with torchvision's algorithms
(RandomResizedCrop's 10 tries and centre-crop fallback, ColorJitter through ImageEnhance in random order).

One warm-up epoch starts the workers (persistent); the timed epochs follow. Besides images per second it reports
images per CPU-second of the main process and its workers together (from /proc, so Linux only), which a busy
machine disturbs less than wall-clock rates.

Usage: python3 scripts/bench/torch_data.py --dir DIR [--workers 2] [--batch 32] [--epochs 3] [--size 224] [--json]
"""
import argparse
import json
import math
import os
import random
import sys
import time

try:
    import numpy as np
    import torch
    from PIL import Image, ImageEnhance
except ImportError as error:
    sys.exit(f"torch_data.py: cannot import torch, numpy or PIL ({error}); install them with `bash scripts/setup.sh --bench`")

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".webp")
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


class Lighting:
    """AlexNet PCA noise on a [3,H,W] tensor, as in fb.resnet.torch and the PyTorch ImageNet examples."""

    def __init__(self, alphastd):
        self.alphastd = alphastd

    def __call__(self, img):
        alpha = torch.empty(3).normal_(0, self.alphastd)
        rgb = (EIGVEC * alpha.view(1, 3) * EIGVAL.view(1, 3)).sum(1)
        return img.add_(rgb.view(3, 1, 1))


def random_resized_crop_box(width, height, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop.get_params: (top, left, h, w)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * random.uniform(*scale)
        aspect = math.exp(random.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return random.randint(0, height - h), random.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def hand_written_transform(size):
    """The torchvision pipeline below, on PIL, for when torchvision does not import."""
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    lighting = Lighting(0.1)
    enhancers = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)

    def transform(img):
        top, left, h, w = random_resized_crop_box(*img.size)
        img = img.crop((left, top, left + w, top + h)).resize((size, size), Image.BICUBIC)
        for i in torch.randperm(3).tolist():
            img = enhancers[i](img).enhance(random.uniform(0.6, 1.4))
        if random.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.array(img, np.uint8, copy=True)).permute(2, 0, 1).contiguous().float().div_(255)
        return lighting(x).sub_(mean).div_(std)

    return transform


def torchvision_transform(size):
    import torchvision.transforms as T  # noqa: N812 (torchvision's own alias)

    return T.Compose([
        T.RandomResizedCrop(size, interpolation=T.InterpolationMode.BICUBIC),
        T.ColorJitter(0.4, 0.4, 0.4),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        Lighting(0.1),
        T.Normalize(MEAN, STD),
    ])


class Folder(torch.utils.data.Dataset):
    def __init__(self, files, transform):
        self.files, self.transform = files, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with open(self.files[i], "rb") as f:
            img = Image.open(f).convert("RGB")
        return self.transform(img), 0


def cpu_seconds(pids):
    """utime + stime of the processes, from /proc/<pid>/stat; None where /proc is not there."""
    total = 0.0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None
    return total


def list_images(root):
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.lower().endswith(EXTENSIONS) and not f.startswith(".")]
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    try:
        transform, kind = torchvision_transform(args.size), "torchvision"
    except Exception as error:  # torchvision missing or broken against this torch: same transforms by hand
        transform, kind = hand_written_transform(args.size), f"PIL, hand-written (torchvision: {type(error).__name__})"
    files = list_images(args.dir)
    if not files:
        sys.exit(f"torch_data.py: no images under {args.dir}")
    loader = torch.utils.data.DataLoader(
        Folder(files, transform), batch_size=args.batch, shuffle=True, num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )
    for _ in loader:  # warm-up: starts the workers
        pass
    pids = [os.getpid()] + [w.pid for w in getattr(loader._iterator, "_workers", [])]
    images = 0
    cpu_start = cpu_seconds(pids)
    start = time.perf_counter()
    for _ in range(args.epochs):
        for x, _ in loader:
            images += x.shape[0]
    seconds = time.perf_counter() - start
    cpu_end = cpu_seconds(pids)
    cpu = None if cpu_start is None or cpu_end is None else cpu_end - cpu_start
    row = {
        "imagesPerSec": images / seconds, "imagesPerCpuSecond": images / cpu if cpu else None,
        "images": images, "seconds": seconds, "cpuSeconds": cpu, "workers": args.workers, "transforms": kind,
    }
    print(json.dumps(row) if args.json else f"{row['imagesPerSec']:.1f} img/s, {row['imagesPerCpuSecond'] or 0:.1f} img per CPU-second over {images} images, {args.workers} workers ({kind})")


if __name__ == "__main__":
    main()
