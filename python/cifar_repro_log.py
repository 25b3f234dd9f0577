"""Log, per epoch, what a cifar-repro manifest logs, so that `cifar-repro verify` can name
the first divergent epoch of two runs of a PyTorch (or any Python) training program.

Standard library only. A program run by a claim file's `[runners.NAME]` with
`epoch_log = "{out}/epochs.jsonl"` writes the log like this:

    from cifar_repro_log import EpochLog
    log = EpochLog(os.path.join(out, "epochs.jsonl"))
    for epoch in range(1, epochs + 1):
        order = []                        # the dataset indices in the order they were read
        ...train, appending each batch's indices to order...
        log.epoch(epoch, order=order, weights=model.state_dict(), train_loss=loss)

Each line is JSON: {"epoch": E, "order_sha256": ..., "weights_sha256": ..., "metrics": {...}}.
The order digest is the SHA-256 of the indices as little-endian u64, as in cifar-repro's
manifest. The weights digest is the SHA-256 of each tensor's name and raw bytes in the
state dict's order; a tensor is anything with .detach() (its bytes are read through
.cpu().contiguous().numpy()), or bytes. Metrics must be numbers.
"""
import hashlib
import json
import math
import os
import struct

__all__ = ["EpochLog", "order_sha256", "weights_sha256"]


def order_sha256(indices):
    """SHA-256 of dataset indices as little-endian u64."""
    h = hashlib.sha256()
    for i in indices:
        h.update(struct.pack("<Q", int(i)))
    return h.hexdigest()


def _tensor_bytes(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "detach"):
        return value.detach().cpu().contiguous().numpy().tobytes()
    raise TypeError(f"cannot digest a {type(value).__name__}: give tensors or bytes")


def weights_sha256(state):
    """SHA-256 of each tensor's name and bytes, in the mapping's order."""
    h = hashlib.sha256()
    for name, value in state.items():
        h.update(name.encode("utf-8"))
        h.update(b"\0")
        h.update(_tensor_bytes(value))
    return h.hexdigest()


class EpochLog:
    """Appends one JSON line per epoch to `path` (made anew when the log starts)."""

    def __init__(self, path):
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        open(path, "w").close()

    def epoch(self, epoch, order=None, weights=None, **metrics):
        for name, value in metrics.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"metric {name} must be a number, not {type(value).__name__}")
        line = {
            "epoch": int(epoch),
            "order_sha256": None if order is None else order_sha256(order),
            "weights_sha256": None if weights is None else weights_sha256(weights),
            "metrics": {k: (float(v) if math.isfinite(v) else str(float(v))) for k, v in metrics.items()},
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
