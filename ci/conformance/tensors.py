"""Reading safetensors files with numpy and torch only (no safetensors package), for the
conformance scripts beside this file."""
import json
import struct

import numpy as np
import torch

DTYPES = {"F32": "<f4", "I64": "<i8", "F64": "<f8"}


def read_safetensors(path):
    """Every tensor of a .safetensors file, by name."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=DTYPES[meta["dtype"]]).reshape(meta["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


def same_bytes(a, b):
    """Whether two tensors hold the same dtype, shape and bytes (-0.0 is not 0.0 here)."""
    a, b = a.detach().contiguous(), b.detach().contiguous()
    return a.dtype == b.dtype and a.shape == b.shape and a.numpy().tobytes() == b.numpy().tobytes()
