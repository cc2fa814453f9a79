#!/usr/bin/env python3
"""Converts scikit-learn's copy of the UCI hand-written digits into CIFAR-10 binary files (data/digits/).

Each 8x8 image (values 0..16) is upscaled bilinearly to 32x32 (half-pixel centres, edges clamped, as
OpenCV/PIL resize), scaled to 0..255 and written as a CIFAR-10 record: 1 label byte, then the R, G and
B planes (32x32 bytes each, all three the same gray). A seeded, stratified split keeps 30 images of each
class for the test set. Usage: python3 scripts/make-digits.py (needs numpy and scikit-learn).
"""
import gzip
import os
import sys

import numpy as np

SPLIT_SEED = 20160101
TEST_PER_CLASS = 30
SCALE = 4
SIDE = 8 * SCALE
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "digits")


def digits_csv_path():
    import sklearn

    return os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")


def read_digits(path):
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    # (N, 65): 64 pixels row-major, then the label.
    return table[:, :64].reshape(-1, 8, 8), table[:, 64]


def bilinear_weights(n_in, scale):
    """(n_in*scale, n_in) interpolation matrix with half-pixel centres and clamped edges."""
    n_out = n_in * scale
    weights = np.zeros((n_out, n_in))
    for out in range(n_out):
        src = (out + 0.5) / scale - 0.5
        lo = int(np.floor(src))
        frac = src - lo
        weights[out, min(max(lo, 0), n_in - 1)] += 1 - frac
        weights[out, min(max(lo + 1, 0), n_in - 1)] += frac
    return weights


def upscale(images):
    """(N, 8, 8) in 0..16 → (N, 32, 32) uint8 in 0..255."""
    w = bilinear_weights(8, SCALE)
    big = np.einsum("yi,nij,xj->nyx", w, images.astype(np.float64), w)
    return np.clip(np.rint(big * 255.0 / 16.0), 0, 255).astype(np.uint8)


def stratified_split(labels, rng):
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test.extend(rng.permutation(members)[:TEST_PER_CLASS])
    test = np.array(sorted(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    # Shuffle the record order as CIFAR's files are, so the first records are not all one class.
    return rng.permutation(train), rng.permutation(test)


def write_records(path, images, labels):
    n = len(labels)
    records = np.empty((n, 1 + 3 * SIDE * SIDE), dtype=np.uint8)
    records[:, 0] = labels
    planes = images.reshape(n, SIDE * SIDE)
    for channel in range(3):
        records[:, 1 + channel * SIDE * SIDE : 1 + (channel + 1) * SIDE * SIDE] = planes
    records.tofile(path)


def main():
    images, labels = read_digits(digits_csv_path())
    assert images.shape == (1797, 8, 8) and images.min() >= 0 and images.max() <= 16
    rng = np.random.RandomState(SPLIT_SEED)
    train, test = stratified_split(labels, rng)
    big = upscale(images)
    os.makedirs(OUT_DIR, exist_ok=True)
    write_records(os.path.join(OUT_DIR, "train.bin"), big[train], labels[train])
    write_records(os.path.join(OUT_DIR, "test.bin"), big[test], labels[test])

    pixels = big[train].astype(np.float64)
    print(f"train {len(train)} test {len(test)}")
    print("train per class", np.bincount(labels[train], minlength=10).tolist())
    print("test per class", np.bincount(labels[test], minlength=10).tolist())
    # Population statistics over every training pixel; the three channels are identical.
    print(f"mean {pixels.mean():.4f} std {pixels.std():.4f} (0-255 scale, each channel)")


if __name__ == "__main__":
    sys.exit(main())
