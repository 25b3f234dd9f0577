"""Replays a run's recorded steps in PyTorch and says how far it lands from cifar-repro.

    cifar-repro train --config quickstart --record-steps 10 --threads 1 --determinism strict --out RUN
    PYTHONPATH=$(ci/provision-torchvision.sh) python3 ci/conformance/replay.py RUN [--max-diff 1e-6]

RUN/replay/ holds what `train --record-steps N` wrote: init.safetensors (every variable
before step 1), step-KKKKK.safetensors (images as fed to the model, labels, soft targets
after Mixup/CutMix), after.safetensors (every variable after step N), replay.json (each
step's learning rate, the optimiser, the model config).

The model is torchvision's own ResNet (its blocks, its forward with AdaptiveAvgPool2d),
with every channel count scaled when the width is not 64 and the CIFAR-stem recipe
(3x3 stride-1 conv1, no max-pool) where the config says so; it loads init.safetensors and
runs N steps as a plain PyTorch script does: train mode, F.cross_entropy (soft targets
where given), zero_grad(set_to_none=True), backward, then the config's torch.optim
optimiser (single-tensor path) at the recorded learning rate. It prints the largest
absolute difference from after.safetensors and how many tensors are bit-identical, and
exits 1 when the difference exceeds --max-diff.
"""
import argparse
import json
import os

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from tensors import read_safetensors, same_bytes

def build(model):
    block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet50": (Bottleneck, [3, 4, 6, 3])}[model["arch"]]
    m = ResNet(block, layers, num_classes=model["classes"])
    w = model["width"]
    if w != 64:
        # torchvision's own blocks and _make_layer, every channel count scaled.
        m.inplanes = w
        m.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        m.bn1 = nn.BatchNorm2d(w)
        m.layer1 = m._make_layer(block, w, layers[0])
        m.layer2 = m._make_layer(block, 2 * w, layers[1], stride=2)
        m.layer3 = m._make_layer(block, 4 * w, layers[2], stride=2)
        m.layer4 = m._make_layer(block, 8 * w, layers[3], stride=2)
        m.fc = nn.Linear(8 * w * block.expansion, model["classes"])
        # What ResNet.__init__ does after building, so the rebuilt layers start as
        # torchvision's would at this width (the rule cifar-repro's init follows).
        for module in m.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)
    if model["stem"] == "cifar":
        m.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    return m


def optimizer(params, optim):
    name = optim["name"]
    if name == "adam":
        return torch.optim.Adam(params, lr=optim["lr"], betas=tuple(optim["betas"]), eps=optim["eps"],
                                weight_decay=optim["weight_decay"], foreach=False)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=optim["lr"], betas=tuple(optim["betas"]), eps=optim["eps"],
                                 weight_decay=optim["weight_decay"], foreach=False)
    return torch.optim.SGD(params, lr=optim["lr"], momentum=optim["momentum"], nesterov=optim["nesterov"],
                           weight_decay=optim["weight_decay"], foreach=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--max-diff", type=float, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    folder = os.path.join(args.run, "replay")
    record = json.load(open(os.path.join(folder, "replay.json")))
    if record["model"].get("freeze", "none") != "none" or record["model"].get("pretrained"):
        raise SystemExit("replay.py replays unfrozen models (freeze = none) only")
    m = build(record["model"])
    missing, unexpected = m.load_state_dict(read_safetensors(os.path.join(folder, "init.safetensors")), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"init.safetensors does not fit torchvision's model: missing {missing}, unexpected {unexpected}")
    channels_last = record.get("memory_format", "contiguous") == "channels_last"
    bf16 = record.get("precision", "fp32") == "bf16"
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
    opt = optimizer(m.parameters(), record["optim"])
    m.train()
    for k, lr in enumerate(record["lrs"], start=1):
        batch = read_safetensors(os.path.join(folder, f"step-{k:05d}.safetensors"))
        images = batch["images"]
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = m(images)
            loss = F.cross_entropy(logits, batch["targets"] if "targets" in batch else batch["labels"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
    after = read_safetensors(os.path.join(folder, "after.safetensors"))
    state = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    worst, worst_name, identical = 0.0, "", 0
    for name, ours in after.items():
        theirs = state[name].detach()
        if same_bytes(ours, theirs):
            identical += 1
        diff = (ours.double() - theirs.double()).abs().max().item()
        if diff > worst:
            worst, worst_name = diff, name
    # torchvision's model always pools with AdaptiveAvgPool2d: cifar-repro's run pooled
    # with a mean unless its model config says "adaptive".
    pool = record["model"].get("pool", "mean")
    how = f"{record.get('memory_format', 'contiguous')}, {record.get('precision', 'fp32')}, cifar-repro pooled by {pool}"
    print(f"replay {args.run}: {record['optim']['name']} ({how}), {record['steps']} steps: max abs difference "
          f"{worst:.3g}{f' ({worst_name})' if worst_name else ''}, {identical} of {len(after)} tensors bit-identical")
    if args.max_diff is not None and worst > args.max_diff:
        raise SystemExit(f"the replay differs by {worst:.3g}, more than --max-diff {args.max_diff}")


if __name__ == "__main__":
    main()
