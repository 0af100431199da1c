"""Local storage for the dev cluster: a default StorageClass and a provisioner of local directories.

kwok runs no kubelet and the dev cluster has no storage, so a PersistentVolumeClaim would stay
Pending forever and no pod using it would ever be scheduled. `LocalStorage` does what a cluster
with a dynamic provisioner does (kind's and k3d's local-path provisioner, say):

- `ensure_class()` creates the StorageClass `modelops-local` (provisioner
  `modelops.dev/local-path`, binding Immediate, reclaim Delete), marked default, so a claim that
  names no class gets it from the API server's DefaultStorageClass admission plugin, as on a
  real cluster with a default class;
- `sync()` provisions, for each Pending claim of that class in its namespaces, a
  PersistentVolume pre-bound to it (`claimRef`) whose `hostPath` is a fresh local directory under
  `root`; kube-controller-manager's PV controller then binds the pair, exactly as with any
  provisioner. A Released volume it provisioned (its claim deleted) is deleted with its directory.

The data plane then mounts a bound claim by its volume's directory, so a Job that writes into
a claim and a model server that reads from it share the same files (see `dataplane.py`).
Nothing here enforces access modes or read-only mounts: processes run without isolation.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelops_devcluster.cluster import DevCluster

log = logging.getLogger(__name__)

STORAGE_CLASS = "modelops-local"
PROVISIONER = "modelops.dev/local-path"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class StorageError(RuntimeError):
    """The dev cluster's local storage could not be set up."""


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def volume_for(claim: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The PersistentVolume a provisioner creates for `claim`: pre-bound, a local directory."""
    meta, spec = claim["metadata"], claim["spec"]
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": request},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": STORAGE_CLASS,
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "hostPath": {"path": str(directory), "type": "DirectoryOrCreate"},
        },
    }


class LocalStorage:
    """`storage.ensure_class()` once, then `storage.sync()` on every poll; see the module docstring."""

    def __init__(self, cluster: DevCluster, namespaces: Sequence[str], root: Path) -> None:
        self.cluster = cluster
        self.namespaces = list(namespaces)
        self.root = root

    def ensure_class(self) -> None:
        status, body = self.cluster.api("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class())
        if status not in (201, 409):
            raise StorageError(f"creating StorageClass {STORAGE_CLASS} failed ({status}): {body}")

    def directory(self, volume: str) -> Path:
        return self.root / volume

    def owns(self, path: Path) -> bool:
        """Whether `path` (a hostPath volume's) is one of this provisioner's directories."""
        return path.resolve().parent == self.root.resolve()

    def sync(self) -> None:
        for claim in self._claims():
            phase = (claim.get("status") or {}).get("phase")
            if phase == "Pending" and claim["spec"].get("storageClassName") == STORAGE_CLASS:
                self._provision(claim)
        self._reclaim()

    def _claims(self) -> list[dict[str, Any]]:
        paths = [f"/api/v1/namespaces/{ns}/persistentvolumeclaims" for ns in self.namespaces]
        claims: list[dict[str, Any]] = []
        for path in paths or ["/api/v1/persistentvolumeclaims"]:
            status, body = self.cluster.api("GET", path)
            if status != 200:
                raise StorageError(f"GET {path} failed ({status}): {body}")
            claims.extend(body.get("items", []))
        return claims

    def _provision(self, claim: dict[str, Any]) -> None:
        name = f"pvc-{claim['metadata']['uid']}"
        directory = self.directory(name)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # as local-path does: any pod's user may write into a fresh volume
        status, body = self.cluster.api("POST", "/api/v1/persistentvolumes", volume_for(claim, directory))
        if status == 201:
            meta = claim["metadata"]
            log.info("provisioned %s for claim %s/%s in %s", name, meta["namespace"], meta["name"], directory)
        elif status != 409:  # 409: provisioned on an earlier poll, the PV controller has not bound it yet
            raise StorageError(f"creating PersistentVolume {name} failed ({status}): {body}")

    def _reclaim(self) -> None:
        status, body = self.cluster.api("GET", "/api/v1/persistentvolumes")
        if status != 200:
            raise StorageError(f"listing PersistentVolumes failed ({status}): {body}")
        for pv in body.get("items", []):
            meta = pv["metadata"]
            ours = (meta.get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER
            if ours and (pv.get("status") or {}).get("phase") == "Released":
                status, answer = self.cluster.api("DELETE", f"/api/v1/persistentvolumes/{meta['name']}")
                if status in (200, 202, 404):
                    shutil.rmtree(self.directory(meta["name"]), ignore_errors=True)
                    log.info("deleted %s: its claim is gone", meta["name"])
                else:
                    log.warning("deleting %s failed (%s): %s", meta["name"], status, answer)
