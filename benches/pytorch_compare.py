"""The PyTorch side of ci/bench-compare.sh: the same workloads as `cifar-repro bench`,
done the way a plain PyTorch script does them, one line each:

    WORKLOAD: N images/s

    python3 benches/pytorch_compare.py WORKLOAD [--data DIR] [--repeats 5] [--calls 2]

Workloads (the names ci/bench-compare.sh pairs with `cifar-repro bench ...`):
  augment-e2-32     torchvision v2 per image (crop 32 pad 4, flip, jitter 0.2/0.2/0.2,
                    normalise) in a DataLoader, batch 128, 2 workers (DESIGN.md's reference)
  augment-e3-224    the same plus a bilinear resize to 224 and ImageNet statistics
  step-r18-32       torchvision resnet18 (10 classes), 32x32, batch 128, Adam: one step
  step-r50-32       resnet50, 32x32, batch 128
  step-r50-224      resnet50, 224x224, batch 16
  step-r18-32-strict  step-r18-32 under torch.use_deterministic_algorithms(True)
  step-r18c-32      resnet18 with the CIFAR stem (3x3 stride-1 conv1, no max-pool), 32x32,
                    batch 64: the quick start's model at full width
  load              read the CIFAR-10 binary batch files of --data into uint8 tensors
Timing as in src/bench.rs: one warm-up call, then the median of --repeats rounds of
--calls calls. Needs the provisioned torch 2.11.0 and torchvision 0.26.0 on PYTHONPATH.
"""
import argparse
import glob
import os
import statistics
import time

import numpy as np
import torch
import torchvision
from torchvision.transforms import v2

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def median_rate(items, calls, repeats, f):
    f()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            f()
        rates.append(items * calls / (time.perf_counter() - start))
    return statistics.median(rates)


def batch_files(data):
    folder = data
    if os.path.isdir(os.path.join(data, "cifar-10-batches-bin")):
        folder = os.path.join(data, "cifar-10-batches-bin")
    files = sorted(glob.glob(os.path.join(folder, "data_batch_*.bin")))
    return files, os.path.join(folder, "test_batch.bin")


def read_batches(paths):
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in paths])
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    images = torch.from_numpy(raw[:, 1:].copy()).view(-1, 3, 32, 32)
    return images, labels


class Images(torch.utils.data.Dataset):
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def augment(args, resize):
    steps = [
        v2.RandomCrop(32, padding=4),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(0.2, 0.2, 0.2),
        v2.ToDtype(torch.float32, scale=True),
    ]
    if resize:
        steps.append(v2.Resize(224, antialias=True))
    steps.append(v2.Normalize(*((IMAGENET_MEAN, IMAGENET_STD) if resize else (CIFAR_MEAN, CIFAR_STD))))
    images, labels = read_batches(batch_files(args.data)[0])
    loader = torch.utils.data.DataLoader(
        Images(images, labels, v2.Compose(steps)),
        batch_size=128, shuffle=True, num_workers=2, persistent_workers=True, drop_last=True,
        generator=torch.Generator().manual_seed(0),
    )

    def one_pass():
        for _ in loader:
            pass

    return median_rate(len(loader) * 128, 1, args.repeats, one_pass)


def step(args, name, side, batch, strict=False, cifar_stem=False):
    torch.use_deterministic_algorithms(strict)
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=10).train()
    if cifar_stem:
        model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
    x = (torch.arange(batch * 3 * side * side, dtype=torch.float32) * 0.01).sin().view(batch, 3, side, side)
    y = torch.arange(batch) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def one_step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return median_rate(batch, args.calls, args.repeats, one_step)


def load(args):
    train, test = batch_files(args.data)
    count = sum(os.path.getsize(p) // 3073 for p in train + [test])
    return median_rate(count, args.calls, args.repeats, lambda: (read_batches(train), read_batches([test])))


WORKLOADS = {
    "augment-e2-32": lambda a: augment(a, resize=False),
    "augment-e3-224": lambda a: augment(a, resize=True),
    "step-r18-32": lambda a: step(a, "resnet18", 32, 128),
    "step-r50-32": lambda a: step(a, "resnet50", 32, 128),
    "step-r50-224": lambda a: step(a, "resnet50", 224, 16),
    "step-r18-32-strict": lambda a: step(a, "resnet18", 32, 128, strict=True),
    "step-r18c-32": lambda a: step(a, "resnet18", 32, 64, cifar_stem=True),
    "load": load,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--data", default="golden/data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.workload}: {WORKLOADS[args.workload](args):.1f} images/s")


if __name__ == "__main__":
    main()
