"""Apply, read and wait on API objects through kubectl: one copy for the stack, the tests, the benchmarks.

Every helper takes the DevCluster and a namespace, so module-level fixtures that hold only a
cluster and Stack-based tests use the same calls; `until` is the one polling loop, and its
timeout message carries what it saw last, which is what a failing test needs to show.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from modelops_devcluster import repo
from modelops_devcluster.cluster import DevCluster

T = TypeVar("T")
Object = dict[str, Any]


def install_crds(cluster: DevCluster, crds_dir: Path | None = None) -> None:
    """The checkout's generated CRDs (crds/), applied and Established."""
    path = str(crds_dir or repo.crds_dir())
    cluster.kubectl("apply", "--server-side", "-f", path)
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", path)


def apply(cluster: DevCluster, namespace: str, *documents: Object, field_manager: str | None = None) -> None:
    """Server-side apply of `documents` into `namespace` (kubectl's own field manager unless named)."""
    manager = [f"--field-manager={field_manager}"] if field_manager else []
    manifest = yaml.safe_dump_all(list(documents), sort_keys=False)
    cluster.kubectl("apply", "-n", namespace, "--server-side", *manager, "-f", "-", input=manifest, timeout=120)


def get(cluster: DevCluster, namespace: str, kind: str, name: str) -> Object | None:
    """The object, or None when it does not exist."""
    out = cluster.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False, timeout=120)
    if out.returncode != 0:
        if "NotFound" in out.stderr:
            return None
        raise RuntimeError(f"kubectl get {kind} {name}: {out.stderr.strip()}")
    return dict(json.loads(out.stdout))


def items(cluster: DevCluster, namespace: str, kind: str, *selectors: str) -> list[Object]:
    """Objects of `kind` in `namespace`; `selectors` are kubectl's own (`-l`, `--field-selector` with values)."""
    out = cluster.kubectl("get", "-n", namespace, kind, *selectors, "-o", "json", timeout=120)
    return list(json.loads(out.stdout)["items"])


def status(cluster: DevCluster, namespace: str, kind: str, name: str) -> Object:
    """The object's status; {} before the operator wrote one (or when the object is gone)."""
    return dict((get(cluster, namespace, kind, name) or {}).get("status") or {})


def condition(status: Object, type_: str) -> Object:
    """The condition of `type_` in a status, {} when there is none."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def until(what: str, probe: Callable[[], T], check: Callable[[T], bool], *, timeout: float, every: float = 0.5) -> T:
    """Poll `probe` until `check` holds on what it returns; TimeoutError shows the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if check(seen):
            return seen
        if time.monotonic() >= deadline:
            shown = json.dumps(seen, default=str)[:3000]
            raise TimeoutError(f"{what}: not reached in {timeout:.0f}s; last seen {shown}")
        time.sleep(every)


def events(cluster: DevCluster, namespace: str, name: str, kind: str | None = None) -> list[Object]:
    """Events about the object `name` (of `kind`, when given), oldest first."""
    selector = f"involvedObject.name={name}" + (f",involvedObject.kind={kind}" if kind else "")
    found = items(cluster, namespace, "events", "--field-selector", selector)
    return sorted(found, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def deployment_replicas(cluster: DevCluster, namespace: str, model_deployment: str) -> dict[str, int]:
    """{Deployment name: spec.replicas} of the Deployments a ModelDeployment owns."""
    owned = items(cluster, namespace, "deploy", "-l", f"modelops.dev/deployment={model_deployment}")
    return {d["metadata"]["name"]: d["spec"].get("replicas", 0) for d in owned}
