#!/usr/bin/env bash
# The report's whole audit, rehearsed: `cifar-repro audit golden/claims/report.toml
# --rehearse` runs every claim's path (8 presets, chains, pretrained loading with stand-in
# weights made by the provisioned torch, 224 px ResNet-50s, GPU-preprocessing code paths,
# interpretations, Holm, audit.json/md/html) at smoke scale on the vendored data, then
# checks that every claim came out REHEARSED, prints the full-scale plan's estimate, and
# opens audit.html in headless Chromium at 1280 px (ci/html-check.sh).
# .ci/run calls it; extra arguments go to the audit (e.g. --seeds 5 for the estimate).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ci/provision-torchvision.sh >/dev/null
cargo build --quiet --bin cifar-repro
bin=${CIFAR_REPRO_BIN:-target/debug/cifar-repro}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
started=$(date +%s)
status=0
"$bin" audit golden/claims/report.toml --rehearse --out "$out/report" "$@" || status=$?
echo "rehearse: $(($(date +%s) - started)) s"
python3 - "$out/report/audit.json" "$status" <<'PY'
import json, sys
claims = json.load(open(sys.argv[1]))["claims"]
failed = [c for c in claims if c["verdict"] != "REHEARSED"]
for c in failed:
    print(f"rehearse: {c['id']}: {c['verdict']}: {c['why']}")
print(f"rehearse: {len(claims) - len(failed)} of {len(claims)} claims REHEARSED")
sys.exit(1 if failed or sys.argv[2] != "0" else 0)
PY
# The report as a reader sees it: headless Chromium at 1280 px, nothing scrolling
# sideways (Debian's chromium, installed as root when missing; skipped otherwise).
if ! command -v chromium >/dev/null && [[ $(id -u) -eq 0 ]]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 || true
fi
if command -v chromium >/dev/null; then
    ci/html-check.sh "$out/report/audit.html" "$out/audit.png" 4000
else
    echo "rehearse: chromium is not installed: audit.html was not opened"
fi
