#!/usr/bin/env bash
# Measures the golden fixed run (tests/fixtures/snapshot/run.toml) in every numerics class
# this machine can reach, and prints one TOML [[class]] entry per distinct class: its name,
# the CPU, how it was reached, and the run's final test accuracy, loss and macro F1.
#
# The classes come from the thread count (1, 2) and from libtorch's kernel switches, each
# of which changes how the kernels round on one CPU as another CPU would:
#   ATEN_CPU_CAPABILITY (ATen's own vector kernels), ONEDNN_MAX_CPU_ISA (convolutions),
#   MKL_ENABLE_INSTRUCTIONS and MKL_CBWR (matrix products).
# The golden metric test (tests/it/snapshots.rs) derives its tolerance from the spread of
# these entries, so run this on a new kind of CPU and append its entries to
#   golden/metrics/fixed-run-classes.toml
# (duplicates of a class already there add nothing; the test keeps one per class name).
#
# Usage: ci/measure-numerics-classes.sh [--native-only] > entries.toml
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci/provision-libtorch.sh >/dev/null
cargo build --quiet --bin cifar-repro
bin=target/debug/cifar-repro
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

variants=(
  "native"
  "ATEN_CPU_CAPABILITY=avx2"
  "ATEN_CPU_CAPABILITY=default"
  "ONEDNN_MAX_CPU_ISA=AVX2"
  "MKL_ENABLE_INSTRUCTIONS=AVX2"
  "MKL_CBWR=COMPATIBLE"
)
[[ "${1:-}" == "--native-only" ]] && variants=("native")

seen=" "
for threads in 1 2; do
  [[ $threads -le $(nproc) ]] || continue
  for variant in "${variants[@]}"; do
    config="$work/run-t$threads.toml"
    sed "s/^threads = 1$/threads = $threads/" tests/fixtures/snapshot/run.toml >"$config"
    settings=()
    [[ $variant != native ]] && settings=("$variant")
    out="$work/run"
    env "${settings[@]}" "$bin" train --config "$config" --data golden/data --out "$out" \
      --overwrite >/dev/null 2>&1
    python3 - "$out/manifest.json" "$variant" "$seen" <<'PY'
import json, sys
manifest, variant, seen = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
c, f = manifest["numerics"], manifest["final_test"]
if f" {c['name']} " in seen:
    sys.exit(0)
print("[[class]]")
print(f'name = "{c["name"]}"')
print(f'cpu = "{c["cpu_model"]} ({c["cpu_vendor"]})"')
print(f'reached_with = "{variant}, {c["threads"]} thread(s)"')
print(f"accuracy = {f['accuracy']!r}")
print(f"loss = {f['loss']!r}")
print(f"macro_f1 = {f['macro_f1']!r}")
print()
PY
    seen+="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["numerics"]["name"])' "$out/manifest.json") "
  done
done
