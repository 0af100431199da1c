"""Third-party CRDs: Gateway API HTTPRoute and Istio VirtualService (routes), the Prometheus Operator's PrometheusRule.

The YAML is the projects' own, taken from their Go modules through the Go module proxy
(the same source and cache the control-plane build uses), so tests validate our routes
against the real schemas rather than a hand-written stand-in:

- Gateway API: ``sigs.k8s.io/gateway-api`` ships the standard channel under
  ``config/crd/standard/``;
- Istio: ``istio.io/api`` ships every Istio CRD in ``kubernetes/customresourcedefinitions.gen.yaml``,
  from which we take ``virtualservices.networking.istio.io``;
- Prometheus Operator: ``github.com/prometheus-operator/prometheus-operator`` ships its CRDs under
  ``example/prometheus-operator-crd/``, from which we take ``prometheusrules.monitoring.coreos.com``.

`go mod download` answers from the module cache once a version is there, and the parsed
documents are cached per process, so repeated calls are cheap.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from modelops_devcluster.cluster import DevCluster

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_VERSION = "v1.4.0"
ISTIO_API_MODULE = "istio.io/api"
ISTIO_API_VERSION = "v1.28.0"
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
_PROMETHEUSRULE_CRD_FILE = "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
_GATEWAY_STANDARD_DIR = "config/crd/standard"
_ISTIO_CRDS_FILE = "kubernetes/customresourcedefinitions.gen.yaml"
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

Manifest = dict[str, Any]


class CRDError(RuntimeError):
    """A CRD could not be downloaded, found in its module, or installed."""


def _loader() -> type[yaml.SafeLoader]:
    """libyaml's loader when present: the Istio file is 150 kB of YAML per CRD."""
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


@functools.cache
def module_dir(module: str, version: str) -> Path:
    """Download `module@version` into Go's module cache (a no-op when cached) and return its directory."""
    go = shutil.which("go")
    if go is None:
        raise CRDError(f"`go` is not on PATH; it is needed to fetch {module}@{version} from the module proxy")
    with tempfile.TemporaryDirectory(prefix="modelops-crds-") as cwd:  # outside any go.mod
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    try:
        info = json.loads(result.stdout)
    except ValueError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        detail = info.get("Error") or result.stderr.strip() or result.stdout.strip()
        raise CRDError(f"go mod download {module}@{version} failed: {detail}")
    return Path(info["Dir"])


@functools.cache
def _documents(module: str, version: str, relative: str) -> tuple[Manifest, ...]:
    path = module_dir(module, version) / relative
    if not path.is_file():
        raise CRDError(f"{module}@{version} has no {relative}")
    with path.open("rb") as f:
        return tuple(d for d in yaml.load_all(f, Loader=_loader()) if isinstance(d, dict))


def gateway_api_crds(kinds: tuple[str, ...] = ("HTTPRoute",), version: str = GATEWAY_API_VERSION) -> list[Manifest]:
    """The standard-channel Gateway API CRDs of `kinds` (all six with ``kinds=()``)."""
    found: list[Manifest] = []
    directory = module_dir(GATEWAY_API_MODULE, version) / _GATEWAY_STANDARD_DIR
    for path in sorted(directory.glob("gateway.networking.k8s.io_*.yaml")):
        relative = str(path.relative_to(module_dir(GATEWAY_API_MODULE, version)))
        for doc in _documents(GATEWAY_API_MODULE, version, relative):
            if doc.get("kind") == "CustomResourceDefinition" and (not kinds or doc["spec"]["names"]["kind"] in kinds):
                found.append(copy.deepcopy(doc))
    missing = set(kinds) - {d["spec"]["names"]["kind"] for d in found}
    if missing:
        raise CRDError(f"{GATEWAY_API_MODULE}@{version} standard channel has no CRD for {sorted(missing)}")
    return found


def istio_virtualservice_crd(version: str = ISTIO_API_VERSION) -> Manifest:
    """Istio's own VirtualService CRD (networking.istio.io v1, v1beta1, v1alpha3)."""
    for doc in _documents(ISTIO_API_MODULE, version, _ISTIO_CRDS_FILE):
        if doc.get("metadata", {}).get("name") == "virtualservices.networking.istio.io":
            return copy.deepcopy(doc)
    raise CRDError(f"{ISTIO_API_MODULE}@{version} {_ISTIO_CRDS_FILE} has no VirtualService CRD")


def prometheusrule_crd(version: str = PROMETHEUS_OPERATOR_VERSION) -> Manifest:
    """The Prometheus Operator's own PrometheusRule CRD (monitoring.coreos.com/v1), for the alerting tests."""
    for doc in _documents(PROMETHEUS_OPERATOR_MODULE, version, _PROMETHEUSRULE_CRD_FILE):
        if doc.get("kind") == "CustomResourceDefinition":
            return copy.deepcopy(doc)
    raise CRDError(f"{PROMETHEUS_OPERATOR_MODULE}@{version} {_PROMETHEUSRULE_CRD_FILE} has no CRD")


def install(cluster: DevCluster, crds: list[Manifest], timeout: float = 30.0) -> None:
    """Create the CRDs (existing ones are left as they are) and wait until each is Established.

    A raw POST rather than `kubectl apply`: these CRDs are larger than the 256 kB
    last-applied annotation client-side apply would add.
    """
    for crd in crds:
        status, body = cluster.api("POST", _CRD_PATH, crd)
        if status not in (201, 409):
            raise CRDError(f"creating CRD {crd['metadata']['name']} failed ({status}): {body}")
    deadline = time.monotonic() + timeout
    for crd in crds:
        name = crd["metadata"]["name"]
        while not _established(cluster, name):
            if time.monotonic() > deadline:
                raise CRDError(f"CRD {name} not Established after {timeout:.0f}s")
            time.sleep(0.2)


def _established(cluster: DevCluster, name: str) -> bool:
    status, body = cluster.api("GET", f"{_CRD_PATH}/{name}")
    if status != 200:
        return False
    conditions = (body.get("status") or {}).get("conditions") or []  # null until the API server has looked
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
