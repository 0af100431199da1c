"""Build the small Go programs under tools/ (third-party judges: Argo CD's Lua VM, ...), cached.

Each tool is a Go module in this repo with its go.mod and go.sum committed; its dependencies
come from the Go module proxy like the control plane's. The binary is cached outside the repo
under a key made of the tool's source files, so an edited tool is rebuilt and an unchanged one
never is.

Run as ``python -m modelops_devcluster.gotools NAME`` to build one and print its path.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from modelops_devcluster.build import cache_root
from modelops_devcluster.repo import find_root


def source_dir(name: str) -> Path:
    return find_root() / "tools" / name


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".go", ".mod", ".sum")):
        h.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def binary(name: str) -> Path:
    """Where tools/<name> is cached for its current sources (built or not)."""
    return cache_root() / "tools" / f"{name}-{_digest(source_dir(name))}" / name


def build(name: str) -> Path:
    """tools/<name> built with the machine's Go (cached); returns the binary's path."""
    out = binary(name)
    if out.is_file():
        return out
    if shutil.which("go") is None:
        raise SystemExit(f"go is not on PATH: tools/{name} is a Go program")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    cmd = ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."]
    print("+", " ".join(cmd), f"(in tools/{name})", flush=True)
    subprocess.run(cmd, cwd=source_dir(name), check=True)
    partial.replace(out)  # a build cut short never looks cached
    return out


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    for name in names:
        print(build(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
