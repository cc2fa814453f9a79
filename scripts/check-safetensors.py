#!/usr/bin/env python3
"""Cross-check for lib/io/safetensors.ts against the reference `safetensors` package (through torch).

  check-safetensors.py probe        exit 0 when safetensors and torch import, else 3 with the reason
  check-safetensors.py read FILE    print a JSON summary of FILE as safetensors reads it
  check-safetensors.py write FILE   write a fixture holding every dtype to FILE and print its summary

A summary is {"metadata": {...}, "tensors": {name: {"dtype", "shape", "sha256", "sum"}}}: the SHA-256
of the raw little-endian data, and the sum of the values as a string (exact for integer dtypes).
test/io/safetensors.test.ts runs it and computes the same summary on its side.
"""
import hashlib
import json
import math
import sys

MISSING = 3

try:
    import numpy as np
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
except ImportError as error:
    print(f"cannot import {error.name}: pip install safetensors torch numpy", file=sys.stderr)
    sys.exit(MISSING)

DTYPES = {
    "BOOL": (torch.bool, "?"),
    "U8": (torch.uint8, "u1"),
    "I8": (torch.int8, "i1"),
    "U16": (torch.uint16, "<u2"),
    "I16": (torch.int16, "<i2"),
    "F16": (torch.float16, None),
    "BF16": (torch.bfloat16, None),
    "U32": (torch.uint32, "<u4"),
    "I32": (torch.int32, "<i4"),
    "F32": (torch.float32, None),
    "U64": (torch.uint64, "<u8"),
    "I64": (torch.int64, "<i8"),
    "F64": (torch.float64, None),
    "F8_E4M3": (torch.float8_e4m3fn, None),
    "F8_E5M2": (torch.float8_e5m2, None),
}
NAME_OF = {torch_dtype: name for name, (torch_dtype, _) in DTYPES.items()}


def summary(tensor):
    name = NAME_OF[tensor.dtype]
    raw = bytes(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())
    integer_format = DTYPES[name][1]
    if integer_format is None:
        total = repr(math.fsum(tensor.to(torch.float64).reshape(-1).tolist()))
    else:
        total = str(sum(int(v) for v in np.frombuffer(raw, dtype=integer_format)))
    return {"dtype": name, "shape": list(tensor.shape), "sha256": hashlib.sha256(raw).hexdigest(), "sum": total}


def read(path):
    with safe_open(path, framework="pt") as f:
        return {
            "metadata": f.metadata() or {},
            "tensors": {key: summary(f.get_tensor(key)) for key in f.keys()},
        }


def fixture():
    """One tensor per dtype with torchvision-style names, plus a scalar and an empty tensor."""
    n = 3 * 5 * 7
    i = torch.arange(n, dtype=torch.int64)
    tensors = {}
    for index, (name, (torch_dtype, _)) in enumerate(DTYPES.items()):
        if torch_dtype == torch.bool:
            values = i % 3 == 0
        elif name.startswith("F8"):
            values = ((i * 7 + 3) % 9 - 4).to(torch.float32).to(torch_dtype)  # small integers, exact in 8 bits
        elif name.startswith("U"):
            top = {"U8": 2**8, "U16": 2**16, "U32": 2**32, "U64": 2**62}[name]
            values = ((i * 2654435761) % top).to(torch_dtype)
        elif name.startswith("I"):
            top = {"I8": 2**7, "I16": 2**15, "I32": 2**31, "I64": 2**62}[name]
            values = ((i * 2654435761) % (2 * top) - top).to(torch_dtype)
        else:
            values = ((i * 37 % 101) / 8 - 6).to(torch_dtype)
        tensors[f"layer{index}.0.conv1.weight"] = values.reshape(3, 5, 7)
    tensors["bn1.num_batches_tracked"] = torch.tensor(123456789012345, dtype=torch.int64)
    tensors["fc.empty"] = torch.zeros(0, 4, dtype=torch.float32)
    return tensors


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "probe":
        return
    if command == "read" and len(sys.argv) == 3:
        print(json.dumps(read(sys.argv[2])))
    elif command == "write" and len(sys.argv) == 3:
        save_file(fixture(), sys.argv[2], metadata={"format": "pt", "written_by": "check-safetensors.py"})
        print(json.dumps(read(sys.argv[2])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
