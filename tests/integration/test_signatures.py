"""Signed models on the real stack: what cosign signs is served, what it did not sign never is.

Artifacts are trained by the reference trainer and signed with the real cosign CLI (built from
the Go module proxy); the public key is a Secret the init container mounts. The data plane runs
the real `modelops fetch-model` and reports its end in the pod's status as a kubelet does; the
operator reads it from there:

- a signed first version serves, and its signer's fingerprint is recorded (status, history);
- a canary signed with another key is rolled back at once, never promoted, the ModelDeployment
  Stalled with reason SignatureInvalid, an event, and the reason in `kubectl get`;
- a first version whose signature is missing is Stalled with the reason, nothing serving;
- an OCI directory artifact signed in its registry with `cosign sign` serves with its signer, and
  a canary pushed after it that nobody signed is rolled back with SignatureMissing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelops.runtime.storage.directory import directory_digest
from modelops_devcluster.cosign import Cosign
from modelops_devcluster.dataplane import require_loopback
from modelops_devcluster.oci import Oras, RegistryServer
from modelops_devcluster.stack import Artifact, Stack
from tests.runtime.models_fixture import write_model_dir

pytestmark = pytest.mark.integration
NS = "sig"
ROLLOUT = {"interval": "5s", "progressDeadline": "5m", "scaleDownDelay": "2s", "steps": [{"setWeight": 50}]}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cosign, Cosign]:
    root = tmp_path_factory.mktemp("keys")
    return Cosign(root / "trusted"), Cosign(root / "other")


def _path(artifact: Artifact) -> Path:
    return Path(artifact.uri.removeprefix("file://"))


def _key_secret(signer: Cosign) -> dict[str, Any]:
    pem = base64.b64encode(signer.public_key.read_bytes()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "model-signer"}, "data": {"cosign.pub": pem}}


def _md(name: str, artifact: Artifact) -> dict[str, Any]:
    model = {
        "name": name,
        "version": artifact.version,
        "uri": artifact.uri,
        "sha256": artifact.sha256,
        "signature": {"publicKey": {"name": "model-signer"}},
    }
    spec = {"model": model, "replicas": 1, "rollout": ROLLOUT, "analysis": {"predictionDrift": {"enabled": False}}}
    return {"apiVersion": "modelops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name}, "spec": spec}


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


def test_a_canary_signed_with_another_key_is_rolled_back_with_the_reason(
    stack: Stack, keys: tuple[Cosign, Cosign]
) -> None:
    trusted, other = keys
    v1, v2 = (stack.train("signed", v, rows=2000, seed=i) for i, v in enumerate(("v1", "v2"), start=1))
    trusted.sign(_path(v1), Path(str(_path(v1)) + ".sig"))
    other.sign(_path(v2), Path(str(_path(v2)) + ".sig"))  # a valid cosign signature, by a key nobody trusts
    stack.apply(_key_secret(trusted), _md("signed", v1))
    status = stack.wait("signed", lambda s: s.get("phase") == "Available", timeout=120)
    signer = status["stable"].get("signer") or ""
    assert signer.startswith("SHA256:") and status["stable"]["digest"] == v1.sha256
    (server,) = stack.dataplane.wait_ready({"modelops.dev/deployment": "signed"}, timeout=30, count=1)
    metrics = httpx.get(f"http://{require_loopback(server.ip)}:{server.port}/metrics", timeout=10, trust_env=False)
    info = re.search(r"modelops_model_info\{([^}]*)\}", metrics.text)
    assert info is not None and f'signer="{signer}"' in info.group(1) and f'sha256="{v1.sha256}"' in info.group(1)

    stack.apply(_md("signed", v2))
    status = stack.wait("signed", lambda s: s.get("phase") == "RolledBack", timeout=120)
    assert status["stable"]["version"] == "v1" and status["blockedVersion"] == "v2"
    ended = status["history"][0]
    assert ended["version"] == "v2" and ended["outcome"] == "RolledBack"
    assert ended["failureReason"] == "SignatureInvalid" and "does not verify with key" in ended["reason"]
    assert all(h["outcome"] != "Promoted" or h["version"] != "v2" for h in status["history"])
    stalled = _condition(status, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "SignatureInvalid"
    shown = stack.kubectl("get", "-n", NS, "md", "signed", "-o", "wide")
    assert "RolledBack" in shown and "SignatureInvalid" in shown, shown
    events = stack.kubectl("get", "events", "-n", NS, "--field-selector", "reason=SignatureInvalid")
    assert "cannot load its model" in events, events


def test_a_first_version_without_its_signature_is_stalled_with_the_reason(
    stack: Stack, keys: tuple[Cosign, Cosign]
) -> None:
    trusted, _ = keys
    v1 = stack.train("unsigned", "v1", rows=2000, seed=3)
    stack.apply(_key_secret(trusted), _md("unsigned", v1))
    status = stack.wait("unsigned", lambda s: _condition(s, "Stalled").get("status") == "True", timeout=120)
    stalled = _condition(status, "Stalled")
    assert stalled["reason"] == "SignatureInvalid" and "SignatureMissing: no signature for" in stalled["message"]
    assert status["stable"]["readyReplicas"] == 0 and status["stable"]["fetchFailure"]["reason"] == "SignatureMissing"
    assert _condition(status, "Degraded")["reason"] == "SignatureInvalid"
    shown = stack.kubectl("get", "-n", NS, "md", "unsigned", "-o", "wide")
    assert "SignatureMissing" in shown, shown
    # signing it afterwards is enough: the pod is replaced (the data plane does not restart init containers)
    trusted.sign(_path(v1), Path(str(_path(v1)) + ".sig"))
    stack.kubectl("delete", "pods", "-n", NS, "-l", "modelops.dev/deployment=unsigned", "--wait=false")
    status = stack.wait("unsigned", lambda s: s.get("phase") == "Available", timeout=120)
    assert _condition(status, "Ready")["status"] == "True" and "fetchFailure" not in status["stable"]


def test_an_oci_directory_signed_with_cosign_sign_serves_and_an_unsigned_canary_is_rolled_back(
    stack: Stack, keys: tuple[Cosign, Cosign], tmp_path: Path
) -> None:
    trusted, _ = keys
    with RegistryServer() as registry:
        oras = Oras(registry)
        pushed: dict[str, tuple[str, str]] = {}  # version -> (manifest digest, directory digest)
        for seed, version in enumerate(("v1", "v2"), start=1):
            directory = tmp_path / version
            write_model_dir(directory, seed=seed)
            (directory / "README.md").write_text(f"fraud {version}\n")
            files = sorted(p.name for p in directory.iterdir())
            pushed[version] = (
                oras.push(f"models/fraud-oci:{version}", files, cwd=directory),
                directory_digest(directory),
            )
        trusted.sign_artifact(f"{registry.address}/models/fraud-oci@{pushed['v1'][0]}")  # v2 is never signed

        def md(version: str) -> dict[str, Any]:
            model = {
                "name": "fraud-oci",
                "version": version,
                "uri": f"oci://{registry.address}/models/fraud-oci:{version}",
                "sha256": pushed[version][1],
                "signature": {"publicKey": {"name": "model-signer"}},  # no uri: what cosign sign stored
            }
            spec = {
                "model": model,
                "replicas": 1,
                "rollout": ROLLOUT,
                "analysis": {"predictionDrift": {"enabled": False}},
            }
            return {
                "apiVersion": "modelops.dev/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": "fraud-oci"},
                "spec": spec,
            }

        stack.apply(_key_secret(trusted), md("v1"))
        status = stack.wait("fraud-oci", lambda s: s.get("phase") == "Available", timeout=120)
        signer = status["stable"].get("signer") or ""
        assert signer.startswith("SHA256:") and status["stable"]["digest"] == pushed["v1"][1]
        (server,) = stack.dataplane.wait_ready({"modelops.dev/deployment": "fraud-oci"}, timeout=30, count=1)
        metrics = httpx.get(f"http://{require_loopback(server.ip)}:{server.port}/metrics", timeout=10, trust_env=False)
        info = re.search(r"modelops_model_info\{([^}]*)\}", metrics.text)
        assert info is not None and f'signer="{signer}"' in info.group(1), metrics.text[:2000]

        stack.apply(md("v2"))
        status = stack.wait("fraud-oci", lambda s: s.get("phase") == "RolledBack", timeout=120)
        assert status["stable"]["version"] == "v1" and status["blockedVersion"] == "v2"
        ended = status["history"][0]
        assert ended["version"] == "v2" and ended["failureReason"] == "SignatureInvalid"
        assert "SignatureMissing: oci://" in ended["reason"] and "which has no cosign signature" in ended["reason"]
        assert "cosign sign --key" in ended["reason"]
        shown = stack.kubectl("get", "-n", NS, "md", "fraud-oci", "-o", "wide")
        assert "RolledBack" in shown and "SignatureMissing" in shown, shown
