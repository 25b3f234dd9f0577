#!/usr/bin/env bash
# Conformance against PyTorch itself, live: the provisioned torch 2.11.0 and torchvision
# 0.26.0 (ci/provision-torchvision.sh) build the report's models, and cifar-repro must give
# the same bytes. Today: initial weights (ci/conformance/init.py). .ci/run calls this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pythonpath=$(ci/provision-torchvision.sh)
cargo build --quiet --bin cifar-repro
PYTHONPATH="$pythonpath" "${PYTHON:-python3}" ci/conformance/init.py target/debug/cifar-repro
