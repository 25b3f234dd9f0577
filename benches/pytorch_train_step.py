"""The PyTorch side of benches/train_step.rs: the same training steps (forward, backward,
Adam) on the same models, from Python, for a side-by-side ratio.

    CACHE=${XDG_CACHE_HOME:-~/.cache}/cifar-repro
    PYTHONPATH=$CACHE/torch-2.11.0:$CACHE/torchvision-0.26.0 python3 benches/pytorch_train_step.py [--full]

torchvision's resnet18/resnet50 (ImageNet stem, 10 classes), random inputs in memory,
images/s over timed steps after warm-up (median of 5 repeats). Run it right before or after
`cargo bench --bench train_step -- train_step/cpu` on the same idle machine.
"""
import statistics
import sys
import time

import torch
import torchvision


def images_per_second(model, batch, side, steps):
    x = torch.randn(batch, 3, side, side)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    step()
    rates = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    torch.manual_seed(0)
    cases = [("resnet18", 32, 32, 3), ("resnet18", 32, 128, 2), ("resnet50", 32, 128, 1)]
    if "--full" in sys.argv:
        cases.append(("resnet50", 224, 16, 1))
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()}")
    for name, side, batch, steps in cases:
        model = getattr(torchvision.models, name)(num_classes=10).train()
        print(f"train_step/pytorch/{name}/{side}/batch{batch}: {images_per_second(model, batch, side, steps):.1f} images/s")


if __name__ == "__main__":
    main()
