"""ModelDeployments whose models live in an S3-compatible store and in an OCI registry, on the real stack.

moto's S3 server (IAM enforced) and CNCF distribution's registry (htpasswd) run on loopback;
the artifacts are directories: a model with its baseline and a side file, uploaded under an S3
prefix and pushed with the real oras CLI. The operator renders the fetch init container with the
credentials from Secrets; the local data plane runs `modelops fetch-model` and `modelops serve`
for real, so a Ready pod answering inference requests proves the whole path. A wrong directory
digest keeps the pod in its init container with the DigestMismatch reason in its log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from modelops.api import names
from modelops.runtime.storage.directory import directory_digest
from modelops.train.dataset import generate
from modelops_devcluster.dataplane import require_loopback
from modelops_devcluster.objects import until
from modelops_devcluster.oci import Oras, RegistryServer
from modelops_devcluster.stack import Stack
from tests.runtime.models_fixture import write_model_dir
from tests.runtime.storage.moto_s3 import S3Server, moto_s3

pytestmark = pytest.mark.integration
NS = "stores"
USERS = {"puller": "pull-s3cret"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fraud-v2/{model.npz, baseline.json, README.md}: a directory artifact."""
    root = tmp_path_factory.mktemp("artifact") / "fraud-v2"
    write_model_dir(root)
    (root / "README.md").write_text("trained by the integration test\n")
    return root


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[S3Server]:
    objects = {f"fraud/v2/{p.name}": p.read_bytes() for p in model_dir.iterdir()}
    with moto_s3(tmp_path_factory.mktemp("moto"), {"models": objects}) as server:
        yield server


@pytest.fixture(scope="module")
def registry(model_dir: Path) -> Iterator[tuple[RegistryServer, str]]:
    with RegistryServer(users=USERS) as server:
        oras = Oras(server, login=("puller", USERS["puller"]))
        digest = oras.push("models/fraud:v3", sorted(p.name for p in model_dir.iterdir()), cwd=model_dir)
        yield server, digest


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


def _apply(stack: Stack, documents: list[dict[str, Any]]) -> None:
    stack.kubectl("apply", "-n", NS, "-f", "-", input=yaml.safe_dump_all(documents))


def _model_deployment(name: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"name": name, **model}, "replicas": 1},
    }


def _serves(stack: Stack, name: str, version: str) -> None:
    """Available, and its pod answers inference requests with the fetched model."""
    stack.wait(name, lambda s: s.get("phase") == "Available", timeout=120)
    (server,) = stack.dataplane.wait_ready({names.MODEL_LABEL: name, names.VERSION_LABEL: version}, timeout=30)
    assert server.port is not None
    data = generate(50, seed=5)
    url = f"http://{require_loopback(server.ip)}:{server.port}/v2/models/{name}/infer"
    response = httpx.post(url, json={"inputs": data.inference_inputs(0, 50)}, timeout=10, trust_env=False)
    assert response.status_code == 200, response.text
    assert len(response.json()["outputs"][0]["data"]) == 50


def test_a_directory_from_an_s3_prefix_with_keys_from_a_secret(stack: Stack, s3: S3Server, model_dir: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3-reader"},
        "stringData": {"AWS_ACCESS_KEY_ID": s3.reader[0], "AWS_SECRET_ACCESS_KEY": s3.reader[1]},
    }
    model = {
        "version": "v2",
        "uri": "s3://models/fraud/v2/",
        "sha256": directory_digest(model_dir),
        "credentialsSecretRef": {"name": "s3-reader"},
        "s3": {"endpoint": s3.endpoint},
    }
    _apply(stack, [secret, _model_deployment("fraud-s3", model)])
    _serves(stack, "fraud-s3", "v2")


def test_a_directory_from_an_oci_registry_pinned_by_digest(
    stack: Stack, registry: tuple[RegistryServer, str], model_dir: Path
) -> None:
    server, digest = registry
    auth = base64.b64encode(f"puller:{USERS['puller']}".encode()).decode()
    config = {"auths": {server.address: {"auth": auth}}}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "registry-pull"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": json.dumps(config)},
    }
    model = {
        "version": "v3",
        "uri": f"oci://{server.address}/models/fraud@{digest}",
        "sha256": directory_digest(model_dir),
        "credentialsSecretRef": {"name": "registry-pull"},
    }
    _apply(stack, [secret, _model_deployment("fraud-oci", model)])
    _serves(stack, "fraud-oci", "v3")


def test_a_wrong_directory_digest_never_starts_the_server(stack: Stack, s3: S3Server) -> None:
    model = {
        "version": "v2",
        "uri": "s3://models/fraud/v2/",
        "sha256": "0" * 64,
        "credentialsSecretRef": {"name": "s3-reader"},
        "s3": {"endpoint": s3.endpoint},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3-reader"},
        "stringData": {"AWS_ACCESS_KEY_ID": s3.reader[0], "AWS_SECRET_ACCESS_KEY": s3.reader[1]},
    }
    _apply(stack, [secret, _model_deployment("fraud-bad", model)])

    def failed_fetch() -> list[str]:
        pods = [p for p in stack.dataplane.pods() if p.labels.get(names.MODEL_LABEL) == "fraud-bad"]
        return [stack.dataplane.logs(p.name, container="fetch") for p in pods]

    logs = until(
        "the fetch init container failing",
        failed_fetch,
        lambda found: any("error: DigestMismatch:" in log for log in found),
        timeout=90,
    )
    assert any("directory digest mismatch" in log for log in logs), logs
    assert not [p for p in stack.dataplane.pods() if p.labels.get(names.MODEL_LABEL) == "fraud-bad" and p.ready]
