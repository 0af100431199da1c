"""Serving objects of a ModelDeployment: one Deployment per live version, role Services, HPAs, a PDB.

Pure functions of the spec and the plan the rollout state machine chose; the controller
applies the result with server-side apply and deletes owned objects no longer rendered.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelops.api import names
from modelops.api.names import Owner
from modelops.api.v1alpha1.modeldeployment import ModelDeploymentSpec, pvc_claim
from modelops.routers import router_for

MODEL_DIR = "/models"
BASELINE_DIR = "/etc/modelops/baseline"
SIGNING_KEY_DIR = "/etc/modelops/signing-key"
SIGNING_KEY_FILE = "cosign.pub"
PVC_ROOT = "/mnt/pvc"
# Draining a pod before it stops listening. When a pod is deleted, the kubelet runs the preStop
# hook and only then sends SIGTERM, while the endpoints controller, kube-proxy, the Gateway or
# the mesh take the (now NotReady, terminating) pod out of their endpoints. Those updates
# propagate in about a second or two, so the server sleeps DRAIN_SECONDS first and keeps
# answering whatever still reaches it (the native `sleep` action, Kubernetes >= 1.30: no shell
# needed in the image). On SIGTERM the reference server stops accepting, answers with
# `Connection: close`, gives idle keep-alive connections 1 s to bring a request, and finishes
# its in-flight requests (up to 10 s): SHUTDOWN_SECONDS, modelops.runtime.server's
# IDLE_DRAIN_SECONDS + GRACEFUL_SHUTDOWN_SECONDS (a test keeps them equal). The grace period
# covers both with a margin of GRACE_MARGIN_SECONDS. A user's podTemplate can set either
# (`lifecycle` of the container named `model`, `terminationGracePeriodSeconds`); a longer preStop
# sleep without a grace period gets a grace period grown to match.
DRAIN_SECONDS = 5
SHUTDOWN_SECONDS = 1 + 10
GRACE_MARGIN_SECONDS = 4
TERMINATION_GRACE_SECONDS = DRAIN_SECONDS + SHUTDOWN_SECONDS + GRACE_MARGIN_SECONDS  # 20


@dataclass(frozen=True)
class VersionPlan:
    """One version that should be running: which, how many replicas, and its role."""

    version: str
    uri: str
    sha256: str | None
    replicas: int
    share: float  # traffic share in [0, 1], for HPA bounds
    variant: str  # stable | canary: how this version entered production (its pods' metrics label)
    baseline: str | None = None  # ConfigMap (key baseline.json) of this version's own baseline
    autoscaled: bool = True  # with spec.autoscaling: an HPA sizes it; False fixes `replicas` (a retiring version)
    retrain_run: str | None = None  # the RetrainPolicy run behind it: its servers export it (modelops_model_info)


def _metadata(owner: Owner, name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": owner.namespace, "labels": dict(labels), "ownerReferences": [owner.reference()]}


def _env(spec: ModelDeploymentSpec, plan: VersionPlan) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "MODELOPS_MODEL_NAME", "value": spec.model.name},
        {"name": "MODELOPS_MODEL_VERSION", "value": plan.version},
        {"name": "MODELOPS_VARIANT", "value": plan.variant},
        {"name": "MODELOPS_MODEL_URI", "value": plan.uri},
        {"name": "MODELOPS_MODEL_DIR", "value": MODEL_DIR},
    ]
    if plan.sha256:
        env.append({"name": "MODELOPS_MODEL_SHA256", "value": plan.sha256})
    if plan.retrain_run:
        env.append({"name": "MODELOPS_RETRAIN_RUN", "value": plan.retrain_run})
    return env + [e.wire() for e in spec.runtime.env]


REGISTRY_AUTH_DIR = "/var/run/modelops/registry"
S3_SECRET_KEYS = (("AWS_ACCESS_KEY_ID", False), ("AWS_SECRET_ACCESS_KEY", False), ("AWS_SESSION_TOKEN", True))


def _store_access(spec: ModelDeploymentSpec, uri: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(env, volumes) the fetch init container needs to reach an s3:// or oci:// store: the Secret's keys as
    AWS_* variables or its Docker config mounted (DOCKER_CONFIG), the S3 endpoint and region. Only the
    init container gets them: the model server never sees the store's credentials."""
    model = spec.model
    secret = model.credentials_secret_ref.name if model.credentials_secret_ref else None
    env: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if uri.startswith("s3://"):
        for key, optional in S3_SECRET_KEYS if secret else ():
            ref = {"name": secret, "key": key, **({"optional": True} if optional else {})}
            env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
        if model.s3 is not None and model.s3.endpoint:
            env.append({"name": "AWS_ENDPOINT_URL_S3", "value": model.s3.endpoint})
        if model.s3 is not None and model.s3.region:
            env.append({"name": "AWS_REGION", "value": model.s3.region})
        if model.s3 is not None and model.s3.virtual_hosted_style:
            env.append({"name": "MODELOPS_S3_ADDRESSING", "value": "virtual"})
    elif uri.startswith("oci://") and secret:
        items = [{"key": ".dockerconfigjson", "path": "config.json"}]
        volumes.append({"name": "registry-auth", "secret": {"secretName": secret, "items": items}})
        env.append({"name": "DOCKER_CONFIG", "value": REGISTRY_AUTH_DIR})
    return env, volumes


def _pvc_volume(uri: str) -> dict[str, Any] | None:
    claim = pvc_claim(uri)
    if claim is None:
        return None
    return {"name": "source", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}


def deployment(owner: Owner, spec: ModelDeploymentSpec, plan: VersionPlan, *, serving_image: str) -> dict[str, Any]:
    """The Deployment of one version: fetch-and-verify init container, then the model server."""
    md, model = owner.name, spec.model.name
    labels = {**names.common_labels(md, model), names.VERSION_LABEL: plan.version, names.VARIANT_LABEL: plan.variant}
    port = spec.runtime.port
    image = spec.runtime.image or serving_image
    fetch_args = ["fetch-model", "--uri", plan.uri, "--dest", MODEL_DIR]
    if plan.sha256:
        fetch_args += ["--sha256", plan.sha256]
    volumes: list[dict[str, Any]] = [{"name": "models", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "models", "mountPath": MODEL_DIR}]
    init_mounts = list(mounts)
    pvc = _pvc_volume(plan.uri)
    if pvc is not None:  # mounted read-only; the init container waits until the file is there (a Job writes it)
        volumes.append(pvc)
        claim_dir = f"{PVC_ROOT}/{pvc['persistentVolumeClaim']['claimName']}"
        init_mounts.append({"name": "source", "mountPath": claim_dir, "readOnly": True})
        fetch_args += ["--claim-dir", claim_dir, "--wait"]
    store_env, store_volumes = _store_access(spec, plan.uri)
    for volume in store_volumes:
        volumes.append(volume)
        init_mounts.append({"name": volume["name"], "mountPath": REGISTRY_AUTH_DIR, "readOnly": True})
    signature = spec.model.signature
    if signature is not None:  # the key mounted read-only into the init container only; the server never needs it
        ref = signature.public_key
        items = [{"key": ref.key, "path": SIGNING_KEY_FILE}]
        key_source = (
            {"secret": {"secretName": ref.name, "items": items}}
            if ref.kind == "Secret"
            else {"configMap": {"name": ref.name, "items": items}}
        )
        volumes.append({"name": "signing-key", **key_source})
        init_mounts.append({"name": "signing-key", "mountPath": SIGNING_KEY_DIR, "readOnly": True})
        signature_uri = signature.uri_for(plan.uri)
        if signature_uri is not None:  # else the oci:// artifact's signature in its registry (cosign sign)
            fetch_args += ["--signature-uri", signature_uri]
        fetch_args += ["--public-key", f"{SIGNING_KEY_DIR}/{SIGNING_KEY_FILE}"]
    serve_args = ["serve", "--model-dir", MODEL_DIR, "--port", str(port)]
    source = (plan.baseline, "baseline.json") if plan.baseline else None
    if source is None and spec.model.baseline is not None:
        source = (spec.model.baseline.name, spec.model.baseline.key)
    if source is not None:  # the version's own baseline (from its retraining run), else the spec's
        items = [{"key": source[1], "path": "baseline.json"}]
        volumes.append({"name": "baseline", "configMap": {"name": source[0], "items": items}})
        mounts.append({"name": "baseline", "mountPath": BASELINE_DIR, "readOnly": True})
        serve_args += ["--baseline", f"{BASELINE_DIR}/baseline.json"]
    if spec.model.format != "auto":
        serve_args += ["--format", spec.model.format]
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    container: dict[str, Any] = {
        "name": "model",
        "image": image,
        "ports": [{"name": "http", "containerPort": port}],
        "env": _env(spec, plan),
        "resources": spec.runtime.resources.wire(),
        "volumeMounts": mounts,
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "securityContext": security,
    }
    if spec.runtime.image is None:  # the reference server; a custom image brings its own entrypoint
        container["command"] = ["modelops"]
        container["args"] = serve_args
    pod_spec: dict[str, Any] = {
        "initContainers": [
            {
                "name": "fetch",
                "image": serving_image,
                "command": ["modelops"],
                "args": fetch_args,
                "env": [{"name": "MODELOPS_PVC_ROOT", "value": PVC_ROOT}, *store_env],
                "volumeMounts": init_mounts,
                "securityContext": security,
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                # fetch-model writes `REASON: message` there; a crash leaves the log's tail (the operator shows it)
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }
        ],
        "containers": [container],
        "volumes": volumes,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    if spec.runtime.service_account_name:
        pod_spec["serviceAccountName"] = spec.runtime.service_account_name
    template = {
        "metadata": {
            "labels": labels,
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(port),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": pod_spec,
    }
    if spec.runtime.pod_template:
        template = merge_pod_template(template, spec.runtime.pod_template)
    # defaults under the user's template (merge_pod_template lets ours win, these are theirs to change)
    model_container = template["spec"]["containers"][0]
    model_container.setdefault("lifecycle", {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}})
    template["spec"].setdefault("terminationGracePeriodSeconds", _grace_seconds(model_container["lifecycle"]))
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, names.deployment_name(md, plan.version), labels),
        "spec": {
            "selector": {"matchLabels": names.version_selector(md, plan.version)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "revisionHistoryLimit": 2,
            "template": template,
        },
    }
    if spec.autoscaling is None:  # with an HPA the replica count is the HPA's to set
        body["spec"]["replicas"] = plan.replicas
    return body


def _grace_seconds(lifecycle: Mapping[str, Any]) -> int:
    """A grace period covering the preStop sleep and the server's shutdown; the default where the
    hook's length is unknown (an exec hook, or none)."""
    sleep = ((lifecycle.get("preStop") or {}).get("sleep") or {}).get("seconds")
    if isinstance(sleep, int) and sleep > DRAIN_SECONDS:
        return sleep + SHUTDOWN_SECONDS + GRACE_MARGIN_SECONDS
    return TERMINATION_GRACE_SECONDS


def merge_pod_template(ours: dict[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """The user's PodTemplateSpec under ours: their labels/annotations/fields where we set none,
    their containers appended, and a container named `model` merged into ours (ours wins)."""
    out = copy.deepcopy(ours)
    meta = theirs.get("metadata") or {}
    for key in ("labels", "annotations"):
        out["metadata"][key] = {**(meta.get(key) or {}), **out["metadata"].get(key, {})}
    spec = copy.deepcopy(dict(theirs.get("spec") or {}))
    their_containers = spec.pop("containers", []) or []
    their_volumes = spec.pop("volumes", []) or []
    for key, value in spec.items():
        out["spec"].setdefault(key, value)
    model = out["spec"]["containers"][0]
    for container in their_containers:
        if container.get("name") == "model":
            for key, value in container.items():
                if key in ("env", "volumeMounts"):
                    model[key] = model.get(key, []) + list(value)
                else:
                    model.setdefault(key, value)
        else:
            out["spec"]["containers"].append(container)
    known = {v["name"] for v in out["spec"]["volumes"]}
    out["spec"]["volumes"] += [v for v in their_volumes if v.get("name") not in known]
    return out


def service(owner: Owner, spec: ModelDeploymentSpec, name: str, pod_selector: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, name, names.common_labels(owner.name, spec.model.name)),
        "spec": {
            "selector": dict(pod_selector),
            "ports": [{"name": "http", "port": spec.traffic.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def services(
    owner: Owner, spec: ModelDeploymentSpec, stable: str, canary: str | None, *, split: bool = False
) -> list[dict[str, Any]]:
    """The model's Service, and one per role for the routers (stable and, during a rollout, canary).

    When the router says so (replicas) and a canary takes live traffic (`split`), the model's
    Service selects every version, so traffic splits by ready replicas (a version leaving it
    terminates its pods, which drop out of the endpoints first); otherwise it selects the stable
    version only, so a version kept warm for the bake (or a shadow) answers no live request.
    With a mesh router the route does the split.
    """
    md = owner.name
    everything = names.selector(md)
    by_ratio = router_for(spec).model_service_selects_every_version(split) and canary is not None
    model_selector = everything if by_ratio else names.version_selector(md, stable)
    out = [
        service(owner, spec, md, model_selector),
        service(owner, spec, names.role_service(md, "stable"), names.version_selector(md, stable)),
    ]
    if canary is not None:
        out.append(service(owner, spec, names.role_service(md, "canary"), names.version_selector(md, canary)))
    return out


def hpa(owner: Owner, spec: ModelDeploymentSpec, plan: VersionPlan) -> dict[str, Any] | None:
    """An HPA per version whose bounds follow its traffic share (at least one replica)."""
    scaling = spec.autoscaling
    if scaling is None:
        return None
    low = max(1, math.ceil(scaling.min_replicas * plan.share))
    high = max(low, math.ceil(scaling.max_replicas * plan.share))
    name = names.deployment_name(owner.name, plan.version)
    cpu = {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization_percentage}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(owner, name, names.common_labels(owner.name, spec.model.name)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": cpu}}],
        },
    }


def pdb(owner: Owner, spec: ModelDeploymentSpec) -> dict[str, Any]:
    """At most one serving pod of the model voluntarily disrupted at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(owner, owner.name, names.common_labels(owner.name, spec.model.name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.selector(owner.name)}},
    }
