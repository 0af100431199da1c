"""ModelDeployments whose models live in an S3-compatible store and in an OCI registry, on the real stack.

moto's S3 server (IAM enforced) and CNCF distribution's registry (htpasswd) run on loopback;
the artifacts are directories: a model with its baseline and a side file, uploaded under an S3
prefix and pushed with the real oras CLI. The operator renders the fetch init container with the
credentials from Secrets; the local data plane runs `modelops fetch-model` and `modelops serve`
for real, so a Ready pod answering inference requests proves the whole path.

A fetch that fails reaches what a user sees, as docs/runbooks/stalled-model-fetch-failed.md says:
a first version whose store refuses it (DigestMismatch, BadCredentials, NotFound, PathEscapes,
StoreUnreachable) is Stalled/Degraded with reason ModelFetchFailed, the fine reason and the
store's own words in the message, a Warning event, the reason in `kubectl get` (the message with -o wide), no pod
Ready; a canary whose directory digest does not match is rolled back at once while the stable
version keeps answering.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from modelops.api import names
from modelops.runtime.storage.directory import directory_digest
from modelops.train.dataset import generate
from modelops_devcluster.dataplane import LocalPod, require_loopback
from modelops_devcluster.oci import Oras, RegistryServer
from modelops_devcluster.stack import Stack
from modelops_devcluster.traffic import Service
from tests.runtime.models_fixture import write_model_dir
from tests.runtime.storage.moto_s3 import S3Server, free_port, moto_s3

pytestmark = pytest.mark.integration
NS = "stores"
USERS = {"puller": "pull-s3cret"}
ROLLOUT = {"interval": "5s", "progressDeadline": "5m", "scaleDownDelay": "2s", "steps": [{"setWeight": 50}]}
ESCAPING_KEY = "fraud/v9/../../evil"  # moto stores it as given; below the prefix it is ../../evil


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fraud-v2/{model.npz, baseline.json, README.md}: a directory artifact."""
    root = tmp_path_factory.mktemp("artifact") / "fraud-v2"
    write_model_dir(root)
    (root / "README.md").write_text("trained by the integration test\n")
    return root


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[S3Server]:
    """models/fraud/v2/ (the artifact), fraud/tampered/ (its README changed after its digest was taken),
    fraud/v9/ (the model and a key with '..' segments)."""
    files = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    objects = {f"fraud/v2/{name}": body for name, body in files.items()}
    objects |= {f"fraud/tampered/{name}": body for name, body in files.items()}
    objects["fraud/tampered/README.md"] = b"changed after the digest was taken\n"
    objects |= {"fraud/v9/model.npz": files["model.npz"], ESCAPING_KEY: b"not a model\n"}
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


def _model_deployment(name: str, model: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"name": name, **model}, "replicas": 1, **spec},
    }


def _s3_secret(name: str, key_id: str, secret_key: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret_key},
    }


def _s3_model(version: str, uri: str, sha256: str, endpoint: str, secret: str = "s3-reader") -> dict[str, Any]:
    return {
        "version": version,
        "uri": uri,
        "sha256": sha256,
        "credentialsSecretRef": {"name": secret},
        "s3": {"endpoint": endpoint},
    }


def _infer(server: LocalPod, name: str, rows: int = 50) -> httpx.Response:
    assert server.port is not None
    data = generate(rows, seed=5)
    url = f"http://{require_loopback(server.ip)}:{server.port}/v2/models/{name}/infer"
    return httpx.post(url, json={"inputs": data.inference_inputs(0, rows)}, timeout=10, trust_env=False)


def _serves(stack: Stack, name: str, version: str) -> LocalPod:
    """Available, and its pod answers inference requests with the fetched model."""
    stack.wait(name, lambda s: s.get("phase") == "Available", timeout=120)
    (server,) = stack.dataplane.wait_ready({names.MODEL_LABEL: name, names.VERSION_LABEL: version}, timeout=30)
    response = _infer(server, name)
    assert response.status_code == 200, response.text
    assert len(response.json()["outputs"][0]["data"]) == 50
    return server


def _columns(table: str) -> dict[str, str]:
    """The first row of `kubectl get`'s table by its header's columns (empty cells stay empty)."""
    header, row = next(line for line in table.splitlines() if line.startswith("NAME")), table.splitlines()[-1]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    bounds = zip(starts, [*starts[1:], None], strict=True)
    return {header[a:b].strip(): row[a:b].strip() for a, b in bounds}


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


def test_a_directory_from_an_s3_prefix_with_keys_from_a_secret(stack: Stack, s3: S3Server, model_dir: Path) -> None:
    model = _s3_model("v2", "s3://models/fraud/v2/", directory_digest(model_dir), s3.endpoint)
    _apply(stack, [_s3_secret("s3-reader", *s3.reader), _model_deployment("fraud-s3", model)])
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


@dataclass(frozen=True)
class Failing:
    """A first version whose fetch fails: the fine reason and words of the store its message must carry."""

    name: str
    reason: str
    said: tuple[str, ...]
    model: dict[str, Any] = field(hash=False)
    applied_at: float = 0.0  # time.monotonic() when it was applied


@pytest.fixture(scope="module")
def failing(stack: Stack, s3: S3Server, model_dir: Path) -> dict[str, Failing]:
    """Every failing first version applied at once (their fetches fail side by side; each test waits for one)."""
    digest = directory_digest(model_dir)
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    cases = [
        Failing(
            "fraud-digest",
            "DigestMismatch",
            ("directory digest mismatch: expected " + "0" * 64, f"got {digest}"),
            _s3_model("v2", "s3://models/fraud/v2/", "0" * 64, s3.endpoint),
        ),
        Failing(
            "fraud-badkey",
            "BadCredentials",
            ("the store rejected the credentials", "SignatureDoesNotMatch"),
            _s3_model("v2", "s3://models/fraud/v2/", digest, s3.endpoint, secret="s3-wrong-key"),
        ),
        Failing(
            "fraud-missing",
            "NotFound",
            ("no object below the prefix 'fraud/v404/' in bucket 'models'",),
            _s3_model("v404", "s3://models/fraud/v404/", digest, s3.endpoint),
        ),
        Failing(
            "fraud-escape",
            "PathEscapes",
            (f"key {ESCAPING_KEY!r}", "'../../evil' is not a plain relative path inside the artifact"),
            _s3_model("v9", "s3://models/fraud/v9/", digest, s3.endpoint),
        ),
        Failing(
            "fraud-unreachable",
            "StoreUnreachable",
            ("cannot connect to the store", nobody_listens),
            _s3_model("v2", "s3://models/fraud/v2/", digest, nobody_listens),
        ),
    ]
    secrets = [_s3_secret("s3-reader", *s3.reader), _s3_secret("s3-wrong-key", s3.reader[0], "not-" + s3.reader[1])]
    applied_at = time.monotonic()
    _apply(stack, [*secrets, *(_model_deployment(c.name, c.model) for c in cases)])
    return {c.reason: replace(c, applied_at=applied_at) for c in cases}


@pytest.mark.parametrize("reason", ["DigestMismatch", "BadCredentials", "NotFound", "PathEscapes", "StoreUnreachable"])
def test_a_first_version_that_cannot_be_fetched_is_stalled_with_the_reason(
    stack: Stack, failing: dict[str, Failing], reason: str
) -> None:
    case = failing[reason]
    version = case.model["version"]
    # StoreUnreachable: boto3 tries 5 times (standard mode: 50 ms doubling, under a second in all) before it fails
    status = stack.wait(case.name, lambda s: _condition(s, "Stalled").get("status") == "True", timeout=120)
    print(f"{case.name}: Stalled {time.monotonic() - case.applied_at:.1f}s after it was applied")
    stalled, ready, degraded = (_condition(status, t) for t in ("Stalled", "Ready", "Degraded"))
    assert stalled["reason"] == "ModelFetchFailed", stalled
    assert ready["status"] == "False" and ready["reason"] == "ModelFetchFailed", ready
    assert degraded["status"] == "True" and degraded["reason"] == "ModelFetchFailed", degraded
    message = stalled["message"]
    assert f"{version} cannot load its model (pod {case.name}-" in message and f": {reason}: " in message, message
    assert all(words in message for words in case.said), message
    assert status["phase"] == "Pending" and status["stable"]["readyReplicas"] == 0
    assert status["stable"]["fetchFailure"]["reason"] == reason
    assert status["message"] == message

    plain = stack.kubectl("get", "-n", NS, "modeldeployment", case.name)
    row = _columns(plain)
    assert (row.get("READY"), row.get("REASON")) == ("False", "ModelFetchFailed"), plain  # no -o wide needed
    shown = stack.kubectl("get", "-n", NS, "modeldeployment", case.name, "-o", "wide")
    assert f": {reason}: " in shown and "False" in shown, shown  # READY False, MESSAGE with the reason
    print(shown)
    selector = f"reason=ModelFetchFailed,involvedObject.name={case.name},type=Warning"
    events = stack.kubectl("get", "events", "-n", NS, "--field-selector", selector)
    assert f"cannot load its model (pod {case.name}-" in events and f": {reason}: " in events, events
    pods = [p for p in stack.dataplane.pods() if p.labels.get(names.MODEL_LABEL) == case.name]
    assert pods and not [p for p in pods if p.ready], pods
    print(f"{case.name}: {message}")


def test_a_canary_whose_digest_does_not_match_is_rolled_back_while_the_stable_version_answers(
    stack: Stack, s3: S3Server, model_dir: Path
) -> None:
    name, digest = "fraud-canary", directory_digest(model_dir)
    spec = {"rollout": ROLLOUT, "analysis": {"predictionDrift": {"enabled": False}}}
    v1 = _s3_model("v1", "s3://models/fraud/v2/", digest, s3.endpoint)
    _apply(stack, [_s3_secret("s3-reader", *s3.reader), _model_deployment(name, v1, **spec)])
    server = _serves(stack, name, "v1")

    traffic = stack.traffic(Service(name), rate=20, seed=3)  # to the Service's ready pods, as kube-proxy would
    try:
        began = time.monotonic()
        v2 = _s3_model("v2", "s3://models/fraud/tampered/", digest, s3.endpoint)  # its README changed since
        _apply(stack, [_model_deployment(name, v2, **spec)])
        seen: list[dict[str, Any]] = []
        status = stack.wait(name, lambda s: s.get("phase") == "RolledBack", timeout=120, on_change=seen.append)
        rolled_back_after = time.monotonic() - began
        time.sleep(3)  # and v1 still answers once v2's pods are gone
    finally:
        traffic.stop()
    answered = traffic.answered(since=began)
    print(f"{name}: v2 rolled back {rolled_back_after:.1f}s after it was applied; answered {answered}")
    assert not traffic.unexpected_failures(since=began), traffic.summary(since=began)
    assert set(answered) == {"v1"} and answered["v1"] >= 20, answered  # v2 never answered anything
    assert all((s.get("stable") or {}).get("version") == "v1" for s in seen), seen
    assert not [s for s in seen if s.get("phase") == "Promoting"], seen

    assert status["stable"]["version"] == "v1" and status["blockedVersion"] == "v2"
    ended = status["history"][0]
    assert ended["version"] == "v2" and ended["outcome"] == "RolledBack", ended
    assert ended["failureReason"] == "ModelFetchFailed", ended
    assert "DigestMismatch: s3://models/fraud/tampered/: directory digest mismatch" in ended["reason"], ended
    assert not [h for h in status["history"] if h["version"] == "v2" and h["outcome"] == "Promoted"]
    stalled, degraded = _condition(status, "Stalled"), _condition(status, "Degraded")
    assert stalled["status"] == "True" and stalled["reason"] == "ModelFetchFailed", stalled
    assert "v2 was rolled back (v2 cannot load its model" in stalled["message"], stalled
    assert degraded["status"] == "True" and degraded["reason"] == "ModelFetchFailed", degraded
    shown = stack.kubectl("get", "-n", NS, "modeldeployment", name, "-o", "wide")
    assert "RolledBack" in shown and "DigestMismatch" in shown, shown
    print(shown)
    selector = f"reason=ModelFetchFailed,involvedObject.name={name},type=Warning"
    events = stack.kubectl("get", "events", "-n", NS, "--field-selector", selector)
    assert "v2 cannot load its model" in events and "DigestMismatch" in events, events
    assert _infer(server, name).status_code == 200
    print(f"{name}: {stalled['message']}")


def test_a_canary_whose_model_is_not_written_yet_is_held_then_promoted_once_it_is(
    stack: Stack, s3: S3Server, model_dir: Path
) -> None:
    """NotFound is what a training Job that has not finished looks like: the canary is held, never rolled
    back at once, the stable version answers everything meanwhile, and once the objects are there the
    canary serves and is promoted. (A kubelet restarts the failed init container with back-off; the
    dev data plane does not, so the test replaces the pod as that restart would.)"""
    import boto3

    name, digest = "fraud-held", directory_digest(model_dir)
    # the held canary's analyses have no data: Unknown, not Fail; 10 requests/s reach it once it serves
    rollout = {**ROLLOUT, "maxUnknownChecks": 30, "minRequests": 20, "bakeTime": "5s"}
    spec = {"rollout": rollout, "analysis": {"predictionDrift": {"enabled": False}}}
    v1 = _s3_model("v1", "s3://models/fraud/v2/", digest, s3.endpoint)
    _apply(stack, [_s3_secret("s3-reader", *s3.reader), _model_deployment(name, v1, **spec)])
    _serves(stack, name, "v1")

    traffic = stack.traffic(Service(name), rate=20, seed=5)
    try:
        began = time.monotonic()
        v2 = _s3_model("v2", "s3://models/fraud/late/", digest, s3.endpoint)
        _apply(stack, [_model_deployment(name, v2, **spec)])
        held = stack.wait(
            name,
            lambda s: ((s.get("canary") or {}).get("fetchFailure") or {}).get("reason") == "NotFound",
            timeout=90,
        )
        held_after = time.monotonic() - began
        assert held["phase"] == "Progressing" and held["stable"]["version"] == "v1", held
        print(stack.kubectl("get", "-n", NS, "modeldeployment", name, "-o", "wide"))
        print(f"{name}: held: {held.get('message')}")
        assert held["message"].startswith("v2 held at 0%") and "NotFound: s3://models/fraud/late/" in held["message"]
        time.sleep(6)  # an analysis interval later it is still held, not rolled back
        status = stack.status(name)
        assert status["phase"] == "Progressing" and status["canary"]["version"] == "v2", status

        client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint,
            aws_access_key_id=s3.reader[0],
            aws_secret_access_key=s3.reader[1],
            region_name="us-east-1",
        )
        for path in sorted(model_dir.iterdir()):  # the "training Job" writes v2
            client.put_object(Bucket="models", Key=f"fraud/late/{path.name}", Body=path.read_bytes())
        written = time.monotonic()
        selector = f"{names.DEPLOYMENT_LABEL}={name},{names.VERSION_LABEL}=v2"
        stack.kubectl("delete", "pods", "-n", NS, "-l", selector, "--wait=false")
        status = stack.wait(name, lambda s: _serving(s, "v2") or s.get("phase") == "RolledBack", timeout=240)
        promoted_after = time.monotonic() - written
        assert _serving(status, "v2"), (status["history"][0], status.get("lastAnalysis"))
    finally:
        traffic.stop()
    print(f"{name}: held {held_after:.1f}s after apply; promoted {promoted_after:.1f}s after the objects were written")
    assert status["history"][0]["version"] == "v2" and status["history"][0]["outcome"] == "Promoted", status["history"]
    assert "fetchFailure" not in (status.get("stable") or {}), status["stable"]
    assert not traffic.unexpected_failures(since=began), traffic.summary(since=began)
    answered_while_held = traffic.answered(since=began, until=written)
    assert set(answered_while_held) == {"v1"}, answered_while_held  # nothing reached the canary that had no model
    print(f"{name}: answered {traffic.answered(since=began)}")


def _serving(status: dict[str, Any], version: str) -> bool:
    return bool((status.get("stable") or {}).get("version") == version and status.get("phase") == "Available")
