"""Build the third-party judges written in Go, from the Go module proxy, cached outside the repo.

Two kinds, one cache (`build.cache_root()`), one way to build:

- **Our small programs** under tools/ (Argo CD's Lua VM, kstatus-check, ...): each is a Go module
  in this repo with its go.mod and go.sum committed, so the versions it judges with are pinned
  and reviewed like any dependency. The binary is cached under a key made of the tool's source
  files: an edited tool (or a bumped dependency in its go.mod) is rebuilt, an unchanged one never is.
- **Upstream programs** (Alertmanager, ...): a `Module` pins a module at a version and names the
  package of its command; the module is downloaded from the proxy, copied out of the read-only
  module cache (so a `prepare` hook can add what the proxy's copy lacks, like generated assets)
  and built there, cached under `<name>-<version>`.

The control plane (Kubernetes, etcd, kwok, helm) is built by `build.py`: Kubernetes needs a
generated go.mod that replaces its staging modules, which neither kind covers.

Run as ``python -m modelops_devcluster.gotools NAME...`` to build tools/NAME and print its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modelops_devcluster.build import cache_root
from modelops_devcluster.repo import find_root


class GoToolError(RuntimeError):
    """A Go program could not be built (no Go, a failing download or compile)."""


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


def _go_build(package: str, out: Path, cwd: Path, *, ldflags: str = "-s -w", timeout: float = 1800.0) -> None:
    """`go build` into a temporary name beside `out`, renamed when done: a build cut short never looks cached."""
    if shutil.which("go") is None:
        raise GoToolError(f"go is not on PATH: {out.name} is built from the Go module proxy")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")  # two processes never share one
    cmd = ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(partial), package]
    print("+", " ".join(cmd), f"(in {cwd})", flush=True)
    try:
        subprocess.run(cmd, cwd=cwd, check=True, timeout=timeout)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def _building(out: Path) -> Iterator[None]:
    """Hold `out`'s build lock: a second process (another worktree's tests, a parallel test run) waits
    for the first build and then finds it cached, instead of building the same binary beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(f".{out.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(name: str) -> Path:
    """tools/<name> built with the machine's Go (cached); returns the binary's path."""
    out = binary(name)
    if os.access(out, os.X_OK):
        return out
    with _building(out):
        if not os.access(out, os.X_OK):
            _go_build(".", out, source_dir(name))
    return out


@dataclass(frozen=True)
class Module:
    """One command of an upstream Go module, pinned: `name` is the binary, `package` its path in the module."""

    name: str
    module: str
    version: str
    package: str
    ldflags: str = "-s -w"
    prepare: Callable[[Path], None] | None = None  # edits the module's copy before the build

    def binary(self) -> Path:
        return cache_root() / "bin" / f"{self.name}-{self.version}" / self.name


def build_module(spec: Module, *, timeout: float = 1800.0) -> Path:
    """The cached binary of `spec`, built first if missing; returns its path."""
    out = spec.binary()
    if os.access(out, os.X_OK):
        return out
    if shutil.which("go") is None:
        raise GoToolError(f"go is not on PATH: {spec.name} is built from the Go module proxy")
    with _building(out):
        if os.access(out, os.X_OK):  # another process built it while this one waited
            return out
        _build_module(spec, out, timeout)
    return out


def _build_module(spec: Module, out: Path, timeout: float) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"modelops-{spec.name}-build-") as tmp:
        work = Path(tmp)
        print(f"+ go mod download -json {spec.module}@{spec.version}", flush=True)
        downloaded = subprocess.run(
            ["go", "mod", "download", "-json", f"{spec.module}@{spec.version}"],
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        source = work / "src"
        shutil.copytree(json.loads(downloaded.stdout)["Dir"], source)
        for path in source.rglob("*"):  # the module cache is read-only
            path.chmod(path.stat().st_mode | 0o200)
        if spec.prepare is not None:
            spec.prepare(source)
        _go_build(spec.package, out, source, ldflags=spec.ldflags, timeout=timeout)
    print(f"built {spec.name} {spec.version} into {out.parent} in {time.monotonic() - started:.0f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    for name in names:
        print(build(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
