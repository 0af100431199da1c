"""What the fetch init container gets to reach an s3:// or oci:// store (and the model server does not)."""

from __future__ import annotations

from typing import Any

from modelops.api.names import Owner
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.render.serving import REGISTRY_AUTH_DIR, VersionPlan, deployment

OWNER = Owner("fraud", "ml", "uid-1")
IMAGE = "ghcr.io/modelops/modelops:0.1.0"


def _pod(uri: str, **model: Any) -> dict[str, Any]:
    spec = ModelDeploymentSpec.model_validate({"model": {"name": "fraud", "version": "v2", "uri": uri, **model}})
    plan = VersionPlan("v2", uri, None, 1, 1.0, "stable")
    pod: dict[str, Any] = deployment(OWNER, spec, plan, serving_image=IMAGE)["spec"]["template"]["spec"]
    return pod


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_s3_keys_from_the_secret_and_the_endpoint_for_the_init_container_only() -> None:
    pod = _pod(
        "s3://models/fraud/v2/",
        credentialsSecretRef={"name": "minio-creds"},
        s3={"endpoint": "http://minio.storage:9000", "region": "eu-west-1"},
    )
    fetch, server = _env(pod["initContainers"][0]), _env(pod["containers"][0])
    assert fetch["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "minio-creds", "key": "AWS_ACCESS_KEY_ID"}}
    assert fetch["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "minio-creds", "key": "AWS_SECRET_ACCESS_KEY"}}
    token = {"secretKeyRef": {"name": "minio-creds", "key": "AWS_SESSION_TOKEN", "optional": True}}
    assert fetch["AWS_SESSION_TOKEN"] == token
    assert fetch["AWS_ENDPOINT_URL_S3"] == "http://minio.storage:9000" and fetch["AWS_REGION"] == "eu-west-1"
    assert "MODELOPS_S3_ADDRESSING" not in fetch  # path style with a custom endpoint
    assert not any(name.startswith("AWS_") for name in server)


def test_s3_without_a_secret_uses_the_pods_identity() -> None:
    pod = _pod("s3://models/fraud/v2/model.npz", s3={"virtualHostedStyle": True})
    fetch = _env(pod["initContainers"][0])
    assert fetch["MODELOPS_S3_ADDRESSING"] == "virtual"
    assert not any(name.startswith("AWS_ACCESS") for name in fetch)


def test_oci_docker_config_is_mounted_for_the_init_container_only() -> None:
    pod = _pod("oci://ghcr.io/acme/fraud:v2", credentialsSecretRef={"name": "ghcr-pull"})
    volume = {
        "name": "registry-auth",
        "secret": {"secretName": "ghcr-pull", "items": [{"key": ".dockerconfigjson", "path": "config.json"}]},
    }
    assert volume in pod["volumes"]
    init = pod["initContainers"][0]
    assert {"name": "registry-auth", "mountPath": REGISTRY_AUTH_DIR, "readOnly": True} in init["volumeMounts"]
    assert _env(init)["DOCKER_CONFIG"] == REGISTRY_AUTH_DIR
    assert all(m["name"] != "registry-auth" for m in pod["containers"][0]["volumeMounts"])
    anonymous = _pod("oci://ghcr.io/acme/fraud:v2")
    assert all(v["name"] != "registry-auth" for v in anonymous["volumes"])
