"""Checks the user-facing Markdown (README.md, CONTRIBUTING.md, docs/*.md): every relative
link points at a file or folder that exists (and, with #anchor, at a heading of that
file), every repository path it names in code (`src/...`, `tests/...`, `ci/...`; globs
and CAPITAL placeholders allowed) exists, and every `cifar-repro COMMAND [SUBCOMMAND]` it
mentions is a command of the built binary (from its --help). Exit 1 naming each broken
link, path or command.

    python3 ci/check-docs.py target/debug/cifar-repro
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands(binary, args=()):
    """The subcommand names `binary ARGS --help` lists, and whether one is required."""
    # A wide terminal: help is wrapped to the terminal's width, and a wrapped line is not a
    # command.
    wide = {**os.environ, "COLUMNS": "1000"}
    text = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, check=True, env=wide).stdout
    block = text.split("Commands:", 1)[1].split("\n\n", 1)[0] if "Commands:" in text else ""
    names = {line.split()[0] for line in block.splitlines() if line.strip() and line.split()[0] != "help"}
    required = bool(re.search(r"^Usage: \S+ \S+ <COMMAND>$", text, re.M))
    return names, required


def code(text):
    """The parts of Markdown text in code: fenced blocks and backtick spans."""
    blocks = re.findall(r"```.*?```", text, re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return blocks + re.findall(r"`[^`\n]+`", rest)


REPO_PATH = re.compile(r"(?<![\w./-])((?:src|tests|ci|benches|golden|docs|examples|\.ci|\.github)/[\w./*@-]*[\w/*])")


def missing_paths(snippet):
    """Repository paths named in a code snippet that match no file or folder (a word in
    capitals, such as CLASS, stands for any name)."""
    paths = REPO_PATH.findall(snippet)
    return [p for p in paths if not glob.glob(os.path.join(ROOT, re.sub(r"\b[A-Z]{2,}\b", "*", p)))]


def anchors(path):
    """GitHub's anchors for the headings of a Markdown file."""
    out = set()
    for line in open(path, encoding="utf-8"):
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            out.add(title)
    return out


def main():
    binary = os.path.abspath(sys.argv[1])
    top, _ = commands(binary)
    subs = {name: commands(binary, [name]) for name in top}
    files = ["README.md", "CONTRIBUTING.md"] + [
        os.path.join("docs", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")
    ]
    problems = []
    for name in files:
        path = os.path.join(ROOT, name)
        text = open(path, encoding="utf-8").read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            if not os.path.exists(resolved):
                problems.append(f"{name}: link to {target}: no such file")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                problems.append(f"{name}: link to {target}: no such heading")
        for snippet in code(text):
            for missing in missing_paths(snippet):
                problems.append(f"{name}: `{missing}`: no such file or folder")
            for command, sub in re.findall(r"cifar-repro ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", snippet):
                names, required = subs.get(command, (set(), False))
                if command not in top:
                    problems.append(f"{name}: `cifar-repro {command}` is not a command ({', '.join(sorted(top))})")
                elif sub and sub not in names and (required or sub == "merge"):
                    problems.append(f"{name}: `cifar-repro {command} {sub}` is not a command ({', '.join(sorted(names))})")
    for p in problems:
        print(f"check-docs: {p}")
    print(f"check-docs: {len(files)} files, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
