"""A plain PyTorch trainer, written the way a report author would write one: an independent
implementation of a cifar-repro run config, whose measurements can be claims that
cifar-repro's audit then checks (so the audit does not grade its own homework).

    cifar-repro train --config quickstart --print-config > qs.toml
    PYTHONPATH=$(ci/provision-torchvision.sh) python3 ci/reference/train.py qs.toml --seeds 10

Nothing here comes from cifar-repro but the config's numbers: torchvision's ResNet (its
blocks and forward; every channel count scaled when the width is not 64; the CIFAR-stem
recipe where the config says so), torchvision.transforms.v2 on uint8 images (RandomCrop
with padding, RandomHorizontalFlip, ColorJitter, Resize, Normalize), a shuffling
DataLoader (2 workers unless --workers) that drops the last short batch, torch.optim (Adam, AdamW, SGD)
with a constant or warm-up-then-cosine learning rate per step, and test metrics as
scikit-learn defines them (accuracy; macro precision, recall and F1 with zero_division=0).
Train accuracy is the running accuracy over the last epoch's augmented batches, as a
Keras-style log reports it. Each seed seeds torch (initial weights, data order, augmentation)
with `torch.manual_seed(seed)`.

Prints one JSON line per seed (test accuracy, loss, macro F1, precision, recall, the
final-epoch train accuracy and the train-test gap), then the mean and sd of each over seeds.
With --out DIR (one seed), also writes DIR/metrics.json (that line), DIR/model.pt (the final
state dict, torch.save) and DIR/epochs.jsonl (per epoch the data order's and the weights'
digests and the train metrics, with python/cifar_repro_log.py): what a claim file's runner
reads (golden/claims/quickstart-pytorch.toml).
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys
import time
import tomllib

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "conformance"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from replay import build  # noqa: E402  (torchvision's ResNet at the config's width and stem)
from cifar_repro_log import EpochLog  # noqa: E402

NORMALIZE = {
    "cifar": ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
    "imagenet": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
}


def read_split(folder, train):
    if os.path.isdir(os.path.join(folder, "cifar-10-batches-bin")):
        folder = os.path.join(folder, "cifar-10-batches-bin")
    paths = sorted(glob.glob(os.path.join(folder, "data_batch_*.bin"))) if train else [
        os.path.join(folder, "test_batch.bin")]
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in paths])
    return torch.from_numpy(raw[:, 1:].copy()).view(-1, 3, 32, 32), torch.from_numpy(raw[:, 0].astype(np.int64))


class Images(torch.utils.data.Dataset):
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform
        self.read = []  # the indices read, in order (seen only without worker processes)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        self.read.append(int(i))
        return self.transform(self.images[i]), self.labels[i]


def transforms(augment, train):
    steps = []
    if train and augment.get("crop"):
        crop = augment["crop"]
        steps.append(v2.RandomCrop(crop["size"], padding=crop["padding"], fill=round(crop["fill"] * 255),
                                   padding_mode=crop["padding_mode"]))
    if train and augment.get("hflip"):
        steps.append(v2.RandomHorizontalFlip(augment["hflip"]))
    if train and augment.get("jitter"):
        j = augment["jitter"]
        steps.append(v2.ColorJitter(j["brightness"], j["contrast"], j["saturation"], j["hue"]))
    if train and (augment.get("erasing") or augment.get("mixup") or augment.get("cutmix")):
        raise SystemExit("the reference trainer does not do erasing, Mixup or CutMix")
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if augment.get("resize"):
        steps.append(v2.Resize(augment["resize"], antialias=True))
    normalize = augment["normalize"]
    mean, std = NORMALIZE[normalize] if isinstance(normalize, str) else (normalize["mean"], normalize["std"])
    steps.append(v2.Normalize(mean, std))
    return v2.Compose(steps)


def optimizer(params, optim):
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(optim["name"])
    if kind:
        return kind(params, lr=optim["lr"], betas=tuple(optim["betas"]), eps=optim["eps"],
                    weight_decay=optim["weight_decay"])
    return torch.optim.SGD(params, lr=optim["lr"], momentum=optim["momentum"], nesterov=optim["nesterov"],
                           weight_decay=optim["weight_decay"])


def learning_rate(schedule, base, step, steps_per_epoch, total):
    if schedule["kind"] == "constant":
        return base
    if schedule["kind"] == "cosine":
        warmup = schedule["warmup_epochs"] * steps_per_epoch
        if step < warmup:
            return base * (step + 1) / warmup
        t = (step - warmup) / max(1.0, total - warmup)
        return schedule["min_lr"] + (base - schedule["min_lr"]) * 0.5 * (1 + math.cos(math.pi * t))
    raise SystemExit(f"the reference trainer does not do the {schedule['kind']} schedule")


def macro_scores(confusion):
    """Macro precision, recall and F1 as sklearn.metrics computes them (zero_division=0)."""
    precision, recall, f1 = [], [], []
    for c in range(confusion.shape[0]):
        tp = confusion[c, c]
        predicted, actual = confusion[:, c].sum(), confusion[c, :].sum()
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return [float(np.mean(x)) for x in (precision, recall, f1)]


def run(config, data, seed, epochs, train_limit, workers, log=None):
    torch.manual_seed(seed)
    model = build(config["model"])
    images, labels = read_split(data, train=True)
    limit = train_limit or config["loop"].get("train_limit") or len(images)
    images, labels = images[:limit], labels[:limit]
    batch = config["loop"]["batch_size"]
    dataset = Images(images, labels, transforms(config["augment"], train=True))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True,
        num_workers=workers, drop_last=True, generator=torch.Generator().manual_seed(seed))
    opt = optimizer(model.parameters(), config["optim"])
    total = epochs * len(loader)
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        correct = seen = 0
        losses_sum = 0.0
        dataset.read = []
        for x, y in loader:
            for group in opt.param_groups:
                group["lr"] = learning_rate(config["schedule"], config["optim"]["lr"], step, len(loader), total)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            losses_sum += loss.item() * len(y)
        train_accuracy = correct / seen
        if log is not None:
            log.epoch(epoch, order=dataset.read if workers == 0 else None, weights=model.state_dict(),
                      train_loss=losses_sum / seen, train_accuracy=train_accuracy)
    model.eval()
    test_images, test_labels = read_split(data, train=False)
    test = transforms(config["augment"], train=False)
    confusion = np.zeros((10, 10), dtype=np.int64)
    losses = []
    with torch.no_grad():
        for start in range(0, len(test_images), 256):
            x = torch.stack([test(i) for i in test_images[start:start + 256]])
            y = test_labels[start:start + 256]
            logits = model(x)
            losses.append(F.cross_entropy(logits, y, reduction="sum").item())
            for t, p in zip(y.tolist(), logits.argmax(1).tolist()):
                confusion[t, p] += 1
    accuracy = float(np.trace(confusion) / confusion.sum())
    precision, recall, f1 = macro_scores(confusion)
    return {"seed": seed, "test_accuracy": accuracy, "test_loss": sum(losses) / confusion.sum(),
            "test_macro_f1": f1, "test_macro_precision": precision, "test_macro_recall": recall,
            "train_accuracy": train_accuracy, "train_test_gap": train_accuracy - accuracy}, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="a cifar-repro run config (cifar-repro train --config NAME --print-config)")
    parser.add_argument("--data", default=None, help="CIFAR-10 folder (default: the config's data)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    parser.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--out", default=None, help="with one seed: write metrics.json, model.pt, epochs.jsonl here")
    args = parser.parse_args()
    if not 1 <= args.seeds <= 1000:
        raise SystemExit("--seeds must be in 1..=1000")
    if args.out and args.seeds != 1:
        raise SystemExit("--out takes one seed: give --seeds 1 --first-seed S")
    torch.set_num_threads(args.threads)
    config = tomllib.load(open(args.config, "rb"))
    data = args.data or config["data"]
    epochs = args.epochs or config["loop"]["epochs"]
    results = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        started = time.time()
        log = EpochLog(os.path.join(args.out, "epochs.jsonl")) if args.out else None
        result, model = run(config, data, seed, epochs, args.train_limit, args.workers, log)
        seconds = round(time.time() - started, 1)
        if args.out:
            with open(os.path.join(args.out, "metrics.json"), "w") as f:
                json.dump(result, f, indent=1)
            torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))
        results.append(dict(result, seconds=seconds))
        print(json.dumps(results[-1]), flush=True)
    for key in ["test_accuracy", "test_macro_f1", "test_loss", "train_test_gap"]:
        values = [r[key] for r in results]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{key}: mean {statistics.mean(values):.4f}, sd {sd:.4f}, n {len(values)}", file=sys.stderr)


if __name__ == "__main__":
    main()
