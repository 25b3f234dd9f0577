"""Init parity, live: `cifar-repro weights init` against torchvision, byte for byte.

    PYTHONPATH=$(ci/provision-torchvision.sh) python3 ci/conformance/init.py target/debug/cifar-repro

For each recipe of tests/fixtures/init/generate.py (ImageNet and CIFAR stems of ResNet-18
and ResNet-50, and ResNet-50 with pretrained weights and a new 10-class head), it writes a
config, asks cifar-repro for the initial weights at a seed, builds the same model with
torchvision under torch.manual_seed(seed), and compares every tensor's bytes. The
pretrained recipe loads random weights W, saved as torchvision publishes its weights
(`torch.save(model.state_dict())`: a zip archive of an OrderedDict with `_metadata`), on
both sides. A last check loads that file into a 1000-class ResNet-50, so nothing is
replaced, and compares every tensor with the saved state dict itself. Exit 1 on any
difference, naming the tensor.
"""
import os
import subprocess
import sys
import tempfile

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "init"))
from generate import RECIPES, reference  # noqa: E402
from tensors import read_safetensors, same_bytes  # noqa: E402

SEED = 7


def config_for(binary, recipe, weights, folder, classes=10):
    printed = subprocess.run([binary, "train", "--config", "quickstart", "--print-config"],
                             check=True, capture_output=True, text=True).stdout
    arch, variant = recipe.split("-")
    stem = "cifar" if variant == "cifar" else "imagenet"
    model = f'[model]\narch = "{arch}"\nstem = "{stem}"\nwidth = 64\nclasses = {classes}\nfreeze = "none"\n'
    if variant == "pretrained":
        model += f'pretrained = "{weights}"\n'
    start = printed.index("[model]")
    end = printed.index("\n[", start) + 1
    path = os.path.join(folder, f"{recipe}.toml")
    with open(path, "w") as f:
        f.write(printed[:start] + model + printed[end:])
    return path


def main():
    binary = os.path.abspath(sys.argv[1])
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(1234)
        w = torchvision.models.resnet50().state_dict()
        assert type(w).__name__ == "OrderedDict" and hasattr(w, "_metadata")
        weights = os.path.join(folder, "resnet50-random.pth")
        torch.save(w, weights)
        for recipe in RECIPES:
            config = config_for(binary, recipe, weights, folder)
            out = os.path.join(folder, f"{recipe}.safetensors")
            subprocess.run([binary, "weights", "init", "--config", config, "--torch-seed", str(SEED),
                            "--out", out], check=True, capture_output=True)
            ours = read_safetensors(out)
            theirs = reference(recipe, SEED, w if recipe.endswith("pretrained") else None)
            missing = sorted(set(theirs) ^ set(ours))
            differing = [k for k in sorted(theirs) if k in ours and not same_bytes(ours[k], theirs[k])]
            ok = not missing and not differing
            failures += not ok
            print(f"init parity {recipe} @ seed {SEED}: {len(theirs)} tensors, "
                  f"{'bytes equal' if ok else f'DIFFER: {(missing + differing)[:5]}'}")
        failures += not loads_whole(binary, w, weights, folder)
    sys.exit(1 if failures else 0)


def loads_whole(binary, state, weights, folder):
    """The state dict file read by cifar-repro into a 1000-class ResNet-50: every tensor
    (but num_batches_tracked, which cifar-repro does not keep) byte-equal to the saved one."""
    config = config_for(binary, "resnet50-pretrained", weights, folder, classes=1000)
    out = os.path.join(folder, "whole.safetensors")
    subprocess.run([binary, "weights", "init", "--config", config, "--torch-seed", str(SEED),
                    "--out", out], check=True, capture_output=True)
    ours = read_safetensors(out)
    theirs = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(theirs) ^ set(ours))
    differing = [k for k in sorted(theirs) if k in ours and not same_bytes(ours[k], theirs[k])]
    ok = not missing and not differing
    print(f"torch.save(resnet50().state_dict()) read by cifar-repro: {len(theirs)} tensors, "
          f"{'bytes equal' if ok else f'DIFFER: {(missing + differing)[:5]}'}")
    return ok


if __name__ == "__main__":
    main()
