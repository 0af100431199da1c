"""Every child object of a ModelDeployment for one decision, stamped with a content hash.

The hash annotation is how the controller knows, from its watch caches alone, that an
object is already as rendered: then it sends nothing, so a settled fleet costs no API
writes at all. A missing or different hash (including someone editing or deleting the
object) means apply again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from modelops.api.names import Owner
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from modelops.render.serving import VersionPlan, deployment, hpa, pdb, services

HASH_ANNOTATION = "modelops.dev/applied-hash"


def content_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def stamp(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its content hash in an annotation (computed before the annotation is added)."""
    digest = content_hash(body)
    meta = body["metadata"]
    meta["annotations"] = {**meta.get("annotations", {}), HASH_ANNOTATION: digest}
    return body


def serving_objects(
    owner: Owner,
    spec: ModelDeploymentSpec,
    plans: Sequence[VersionPlan],
    *,
    stable_version: str,
    canary_version: str | None,
    serving_image: str,
    split: bool = False,
) -> list[dict[str, Any]]:
    """`split`: the canary takes live traffic (not a shadow), so the replicas router's Service selects it too."""
    out: list[dict[str, Any]] = []
    for plan in plans:
        body = deployment(owner, spec, plan, serving_image=serving_image)
        if not plan.autoscaled:  # a retiring version: fixed replicas, no HPA to scale it back up
            body["spec"]["replicas"] = plan.replicas
        out.append(body)
        scaler = hpa(owner, spec, plan) if plan.autoscaled else None
        if scaler is not None:
            out.append(scaler)
    out += services(owner, spec, stable_version, canary_version, split=split)
    out.append(pdb(owner, spec))
    return out


def key(body: dict[str, Any]) -> tuple[str, str, str]:
    return body["apiVersion"], body["kind"], body["metadata"]["name"]
