#!/usr/bin/env bash
# The main job on the vendored data: provisions libtorch on first use, builds, checks the
# vendored CIFAR-10 slice and audits the quick-start claims (3 seeds; about 3 minutes on
# 2 cores, seconds when its runs are already in audits/quickstart). Extra arguments go to
# `cifar-repro` instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci/provision-libtorch.sh >/dev/null
cargo build --quiet --release --bin cifar-repro
bin=target/release/cifar-repro
if [[ $# -gt 0 ]]; then
    exec "$bin" "$@"
fi
"$bin" data verify golden/data >/dev/null
exec "$bin" audit golden/claims/quickstart.toml
