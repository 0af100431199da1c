"""Build the control-plane binaries from the Go module proxy, cached by version.

Kubernetes is not `go install`-able (its go.mod replaces the staging modules with
local paths), so we write a tiny module that requires k8s.io/kubernetes and replaces
every staging module with its published v0.x release. etcd's `main` lives in a module
with local replaces too, so a three-line main calls `etcdmain.Main`. kwok and helm
install cleanly with `go install`. The machine's Go settings are used as they are.

Run as ``python -m modelops_devcluster.build``; a second run finds the cache and
builds nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from modelops_devcluster import versions

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
BINARIES = ("etcd", *KUBE_COMMANDS, "kwok", "helm")

_ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def cache_root() -> Path:
    """Where binaries live: $MODELOPS_CACHE, else ~/.cache/modelops (never the repo)."""
    env = os.environ.get("MODELOPS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "modelops"


def bin_dir() -> Path:
    """One directory per combination of pinned versions."""
    key = f"k8s-{versions.KUBERNETES}_etcd-{versions.ETCD}_kwok-{versions.KWOK}_helm-{versions.HELM}"
    return cache_root() / "bin" / key


def missing(directory: Path | None = None) -> list[str]:
    d = directory or bin_dir()
    return [b for b in BINARIES if not os.access(d / b, os.X_OK)]


def _go_proxy_file(path: str) -> bytes:
    """Fetch a file from the first HTTP(S) entry of GOPROXY (the module proxy)."""
    proxy = subprocess.run(["go", "env", "GOPROXY"], check=True, capture_output=True, text=True).stdout.strip()
    base = next(p for p in re.split(r"[,|]", proxy) if p.startswith("http"))
    with urllib.request.urlopen(f"{base.rstrip('/')}/{path}", timeout=60) as resp:
        data: bytes = resp.read()
        return data


def staging_modules(kubernetes: str = versions.KUBERNETES) -> list[str]:
    """The staging modules k8s.io/kubernetes replaces with ./staging/src paths."""
    gomod = _go_proxy_file(f"k8s.io/kubernetes/@v/{kubernetes}.mod").decode()
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", gomod, re.M)))


def _gomod(go_version: str, staging: list[str]) -> str:
    sv = versions.staging_version()
    lines = [
        "module modelops.dev/devcluster-build",
        "",
        f"go {go_version}",
        "",
        "require (",
        f"\tk8s.io/kubernetes {versions.KUBERNETES}",
        f"\tgo.etcd.io/etcd/server/v3 {versions.ETCD}",
        ")",
        "",
        "replace (",
        *(f"\t{m} => {m} {sv}" for m in staging),
        ")",
        "",
        # `tool` keeps the commands (and so k8s.io/kubernetes) through `go mod tidy`
        *(f"tool k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS),
        "",
    ]
    return "\n".join(lines)


def _kube_ldflags() -> str:
    v = versions.KUBERNETES
    major, minor, _ = v.lstrip("v").split(".")
    pkg = "k8s.io/component-base/version"
    flags = [
        "-s",
        "-w",
        f"-X {pkg}.gitVersion={v}",
        f"-X {pkg}.gitMajor={major}",
        f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
        f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
    ]
    # client-go reports the same version to the server (User-Agent, version skew checks)
    flags += [f.replace(pkg, "k8s.io/client-go/pkg/version") for f in flags[2:]]
    return " ".join(flags)


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def build(force: bool = False) -> Path:
    """Build every missing binary into bin_dir(); return that directory."""
    out = bin_dir()
    todo = BINARIES if force else tuple(missing(out))
    if not todo:
        print(f"control-plane binaries cached in {out}", flush=True)
        return out
    if shutil.which("go") is None:
        raise SystemExit("go is not on PATH: the control plane is built from Go modules")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = dict(os.environ)
    go_version = json.loads(
        subprocess.run(["go", "env", "-json", "GOVERSION"], check=True, capture_output=True, text=True).stdout
    )["GOVERSION"].removeprefix("go")
    go_version = ".".join(go_version.split(".")[:2]) + ".0"
    with tempfile.TemporaryDirectory(prefix="modelops-k8s-build-") as tmp:
        work = Path(tmp)
        need_kube = [c for c in KUBE_COMMANDS if c in todo]
        if need_kube or "etcd" in todo:
            (work / "go.mod").write_text(_gomod(go_version, staging_modules()))
            (work / "etcd").mkdir()
            (work / "etcd" / "main.go").write_text(_ETCD_MAIN)
            _run(["go", "mod", "tidy"], work, env)
            targets = [f"k8s.io/kubernetes/cmd/{c}" for c in need_kube]
            if "etcd" in todo:
                targets.append("./etcd")
            ldflags = f"-ldflags={_kube_ldflags()}"
            _run(["go", "build", "-trimpath", ldflags, "-o", str(work / "out") + "/", *targets], work, env)
            for name in [*need_kube, *(["etcd"] if "etcd" in todo else [])]:
                shutil.move(str(work / "out" / name), out / name)
        gobin_env = {**env, "GOBIN": str(work / "gobin")}
        if "kwok" in todo:
            kwok_pkg = f"sigs.k8s.io/kwok/cmd/kwok@{versions.KWOK}"
            _run(["go", "install", "-trimpath", "-ldflags=-s -w", kwok_pkg], work, gobin_env)
            shutil.move(str(work / "gobin" / "kwok"), out / "kwok")
        if "helm" in todo:
            # helm's release builds stamp its version and the Kubernetes version it assumes offline
            # (`helm template`, client dry-runs); without them it would assume v1.20
            _, kube_minor, _ = versions.KUBERNETES.lstrip("v").split(".")
            chartutil = "helm.sh/helm/v3/pkg/chartutil"
            ver = (
                f"-X helm.sh/helm/v3/internal/version.version={versions.HELM}"
                f" -X {chartutil}.k8sVersionMajor=1 -X {chartutil}.k8sVersionMinor={kube_minor}"
            )
            helm_pkg = f"helm.sh/helm/v3/cmd/helm@{versions.HELM}"
            _run(["go", "install", "-trimpath", f"-ldflags=-s -w {ver}", helm_pkg], work, gobin_env)
            shutil.move(str(work / "gobin" / "helm"), out / "helm")
    print(f"built {', '.join(todo)} into {out} in {time.monotonic() - started:.0f}s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = build(force="--force" in args)
    from modelops_devcluster import alertmanager, cosign, gotools  # all import this module

    gotools.build("kstatus-check")  # the kstatus verdicts the conditions tests check against
    gotools.build("argocd-lua")  # Argo CD's Lua VM, for the health checks and actions the chart ships
    from modelops_devcluster import oci

    oci.build_registry()  # CNCF distribution and the oras CLI: the oci:// fetch tests push and pull with them
    oci.build_oras()
    alertmanager.build()  # its own cache entry, keyed by its version
    cosign.build()  # signs the test artifacts as users' tooling does
    if "--print-dir" in args:
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
