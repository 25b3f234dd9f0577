"""Checks that the Nix and pip paths install the same libtorch: flake.nix's wheel list
(ci/torch-wheels.json, which flake.nix reads) and ci/torch-requirements.txt must name the
same wheels, file for file (distribution and version) and hash for hash.

    python3 ci/check-flake-pins.py    # exit 1, naming each difference, when they drift
"""
import json
import pathlib
import re
import sys

CI = pathlib.Path(__file__).parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) --hash=sha256:([0-9a-f]{64})$")


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements():
    pins = set()
    for line in (CI / "torch-requirements.txt").read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            name, version, sha256 = match.groups()
            pins.add((normalise(name), version, sha256))
    return pins


def flake_wheels():
    wheels = set()
    for wheel in json.loads((CI / "torch-wheels.json").read_text()):
        # A wheel's file name is NAME-VERSION-...whl (PEP 427).
        name, version = wheel["name"].split("-")[:2]
        if not wheel["url"].endswith("/" + wheel["name"]):
            sys.exit(f"check-flake-pins: {wheel['name']}: its url names another file")
        wheels.add((normalise(name), version, wheel["sha256"]))
    return wheels


def main():
    flake = (CI.parent / "flake.nix").read_text()
    if "./ci/torch-wheels.json" not in flake:
        sys.exit("check-flake-pins: flake.nix no longer reads ./ci/torch-wheels.json")
    pip, nix = requirements(), flake_wheels()
    if not pip:
        sys.exit("check-flake-pins: no pins found in ci/torch-requirements.txt")
    differences = [f"only in ci/torch-requirements.txt: {p[0]}=={p[1]} sha256 {p[2]}" for p in sorted(pip - nix)]
    differences += [f"only in flake.nix's ci/torch-wheels.json: {w[0]}=={w[1]} sha256 {w[2]}" for w in sorted(nix - pip)]
    if differences:
        print("check-flake-pins: the Nix and pip wheel pins differ:", *differences, sep="\n  ")
        sys.exit(1)
    print(f"check-flake-pins: flake.nix and ci/torch-requirements.txt pin the same {len(pip)} wheels")


if __name__ == "__main__":
    main()
