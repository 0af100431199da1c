"""Names, labels and the owner of everything the operator creates for a ModelDeployment.

Deployments are named after the version they run (`fraud-v2`), so `kubectl get deploy`
shows which versions are live, and the previous version can stay warm during a bake
without touching any pod template. Role Services (`fraud-stable`, `fraud-canary`) are
re-pointed by the version label when roles change.

They live at the bottom of the layers because render (Deployments, Services) and the
routers (routes naming those Services) must agree on them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

MANAGED_BY = {"app.kubernetes.io/managed-by": "modelops"}
DEPLOYMENT_LABEL = "modelops.dev/deployment"
MODEL_LABEL = "modelops.dev/model"
VERSION_LABEL = "modelops.dev/version"
VARIANT_LABEL = "modelops.dev/variant"
MAX_NAME = 63


def _dns(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def version_slug(version: str) -> str:
    """A DNS-label form of a version; a short hash keeps distinct versions distinct (v1.0 vs v1-0)."""
    slug = _dns(version) or "v"
    if slug != version:
        slug = f"{slug[:40]}-{hashlib.sha256(version.encode()).hexdigest()[:6]}"
    return slug


def deployment_name(md: str, version: str) -> str:
    slug = version_slug(version)
    name = f"{md}-{slug}"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(f"{md}/{version}".encode()).hexdigest()[:8]
        name = f"{md[: MAX_NAME - 9 - 1]}-{digest}"[:MAX_NAME]
    return name


def role_service(md: str, role: str) -> str:
    return f"{md}-{role}"[:MAX_NAME]


def selector(md: str) -> dict[str, str]:
    """What every serving pod of this ModelDeployment carries."""
    return {DEPLOYMENT_LABEL: md}


def version_selector(md: str, version: str) -> dict[str, str]:
    return {DEPLOYMENT_LABEL: md, VERSION_LABEL: version}


def common_labels(md: str, model: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "modelops-model",
        "app.kubernetes.io/instance": md,
        **MANAGED_BY,
        DEPLOYMENT_LABEL: md,
        MODEL_LABEL: model,
    }


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment every child points back to (garbage collection, never adoption)."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
