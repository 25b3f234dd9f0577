"""Writes ci/torch-wheels.json: the address of every wheel ci/torch-requirements.txt pins,
found on PyPI's simple index by its SHA-256, for flake.nix (Nix fetches by URL and hash).

    python3 ci/torch-wheels.py > ci/torch-wheels.json
"""
import json
import pathlib
import re
import urllib.request

REQUIREMENTS = pathlib.Path(__file__).with_name("torch-requirements.txt")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) --hash=sha256:([0-9a-f]{64})$")


def files(name):
    request = urllib.request.Request(
        f"https://pypi.org/simple/{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["files"]


def main():
    wheels = []
    for line in REQUIREMENTS.read_text().splitlines():
        match = PIN.match(line.strip())
        if not match:
            continue
        name, version, sha256 = match.groups()
        found = [f for f in files(name) if f["hashes"].get("sha256") == sha256]
        if len(found) != 1:
            raise SystemExit(f"{name}=={version}: no single file on PyPI with sha256 {sha256}")
        wheels.append({"name": found[0]["filename"], "url": found[0]["url"], "sha256": sha256})
    print(json.dumps(wheels, indent=2))


if __name__ == "__main__":
    main()
