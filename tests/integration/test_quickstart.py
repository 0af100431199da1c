"""examples/quickstart/ on the real stack, as written: a claim, a Job that trains v1 into it, and
a ModelDeployment that serves it from `pvc://`; then real inference requests to the serving pods.

The files are applied unchanged, into the test's namespace, with one addition the dev stack
needs: the Job's pod is annotated `kwok.modelops.dev/run-locally`, so kwok leaves it to the
local data plane (which runs `modelops train` for real) instead of completing it at once. The
claim is bound by the data plane's local provisioner (the default StorageClass of the dev
cluster, as local-path is on kind and k3d). Every request goes to a pod's 127.x IP.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from modelops.train.dataset import generate
from modelops.train.metrics import auc
from modelops_devcluster.dataplane import RUN_LOCALLY_ANNOTATION, require_loopback
from modelops_devcluster.objects import until
from modelops_devcluster.stack import Stack
from modelops_devcluster.storage import STORAGE_CLASS

pytestmark = pytest.mark.integration
NS = "quickstart"
QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
URI = "pvc://fraud-models/fraud/v1/model.npz"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


def _documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((QUICKSTART / name).read_text()) if doc]


def _apply(stack: Stack, documents: list[dict[str, Any]]) -> None:
    stack.kubectl("apply", "-n", NS, "-f", "-", input=yaml.safe_dump_all(documents))


def _run_locally(job: dict[str, Any]) -> dict[str, Any]:
    """The one change the dev stack needs: kwok leaves this Job's pod to the local data plane."""
    assert job["kind"] == "Job"
    template = job["spec"]["template"]
    template.setdefault("metadata", {}).setdefault("annotations", {})[RUN_LOCALLY_ANNOTATION] = "true"
    return job


def _infer(pod_ip: str, port: int, rows: list[dict[str, Any]]) -> list[float]:
    url = f"http://{require_loopback(pod_ip)}:{port}/v2/models/fraud/infer"
    response = httpx.post(url, json={"inputs": rows}, timeout=10, trust_env=False)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["name"] == "predict" and output["datatype"] == "FP64"
    return [float(x) for x in output["data"]]


def _served_sha256(pod_ip: str, port: int) -> str:
    text = httpx.get(f"http://{require_loopback(pod_ip)}:{port}/metrics", timeout=10, trust_env=False).text
    match = re.search(r'modelops_model_info\{[^}]*sha256="([0-9a-f]{64})"', text)
    assert match, text[:2000]
    return match.group(1)


def test_the_quickstart_trains_waits_serves_and_answers(stack: Stack) -> None:
    assert sorted(p.name for p in QUICKSTART.glob("*.yaml")) == [
        "modeldeployment.yaml",
        "storage.yaml",
        "train-v1.yaml",
    ]
    # the claim and the ModelDeployment first: the pods must wait for a model nobody has trained yet
    _apply(stack, _documents("storage.yaml") + _documents("modeldeployment.yaml"))
    claim = until(
        "the claim bound",
        lambda: stack.get("pvc", "fraud-models"),
        lambda c: c.get("status", {}).get("phase") == "Bound",
        timeout=30,
    )
    assert claim["spec"]["storageClassName"] == STORAGE_CLASS  # the default class, filled in by the API server
    waiting = stack.wait("fraud", lambda s: "wait until" in (s.get("message") or ""), timeout=60)
    assert waiting["phase"] == "Pending" and waiting["message"].startswith(f"v1: 0/2 ready; its pods wait until {URI}")
    conditions = {c["type"]: c for c in waiting["conditions"]}  # what `kubectl wait` and kstatus users see
    for kind, status in (("Ready", "False"), ("Reconciling", "True"), ("Stalled", "False")):
        assert conditions[kind]["status"] == status, conditions
    assert conditions["Ready"]["reason"] == "Deploying" and URI in conditions["Ready"]["message"], conditions
    fetching = until(
        "both pods in their fetch init container, saying why",
        lambda: [p for p in stack.dataplane.pods() if p.version == "v1"],
        lambda pods: (
            len(pods) == 2
            and all(p.phase == "initializing" and "does not exist yet" in stack.dataplane.logs(p.name) for p in pods)
        ),
        timeout=60,
    )
    for pod in fetching:  # not Ready in the API either: nothing routes to them
        conditions = {c["type"]: c["status"] for c in stack.get("pod", pod.name)["status"].get("conditions", [])}
        assert conditions.get("Ready") == "False", conditions

    # then the training Job, as written (plus the annotation above)
    _apply(stack, [_run_locally(job) for job in _documents("train-v1.yaml")])
    job = until(
        "the training Job complete",
        lambda: stack.get("job", "fraud-train-v1"),
        lambda j: j.get("status", {}).get("succeeded") == 1 or j.get("status", {}).get("failed", 0) > 0,
        timeout=120,
    )
    assert job["status"].get("succeeded") == 1, json.dumps(job["status"])
    trainer = stack.kubectl("get", "pods", "-n", NS, "-l", "job-name=fraud-train-v1", "-o", "json")
    (pod,) = json.loads(trainer)["items"]
    result = json.loads(pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"])
    assert (result["model"], result["version"], result["format"]) == ("fraud", "v1", "numpy-linear")
    assert result["metrics"]["auc"] > 0.85, result

    ready = stack.wait(
        "fraud",
        lambda s: s.get("phase") == "Available" and (s.get("stable") or {}).get("readyReplicas") == 2,
        timeout=90,
    )
    assert ready["stable"]["version"] == "v1" and ready["message"] == "v1: 2/2 ready", ready
    assert {c["type"]: c["status"] for c in ready["conditions"]}["Ready"] == "True", ready["conditions"]
    servers = stack.dataplane.wait_ready({"modelops.dev/version": "v1"}, timeout=30, count=2)

    # the claim's file, as the Job wrote it, is what every pod loaded
    volume = stack.get("pv", claim["spec"]["volumeName"])
    on_claim = Path(volume["spec"]["hostPath"]["path"]) / "fraud" / "v1" / "model.npz"
    sha256 = hashlib.sha256(on_claim.read_bytes()).hexdigest()
    assert sha256 == result["sha256"]
    for server in servers:
        assert server.port is not None
        assert _served_sha256(server.ip, server.port) == sha256
        assert "fetched unverified" in stack.dataplane.logs(server.name, container="fetch")

    # real inference requests on each pod's 127.x IP: the same answers, and a model worth its AUC
    data = generate(2000, seed=99)
    answers = []
    for server in servers:
        assert server.ip.startswith("127.") and server.port is not None
        scores: list[float] = []
        for start in range(0, data.rows, 500):
            scores += _infer(server.ip, server.port, data.inference_inputs(start, start + 500))
        answers.append(np.array(scores))
    assert len(answers) == 2 and np.array_equal(answers[0], answers[1])
    assert answers[0].shape == (2000,) and ((answers[0] >= 0) & (answers[0] <= 1)).all()
    assert auc(data.labels, answers[0]) > 0.85


def test_v2_as_written_canaries_once_its_job_has_written_the_file(stack: Stack) -> None:
    """examples/quickstart/v2/: the canary's pods wait for v2's file like v1's did, then take traffic.

    The rollout's judgement to the end (analyses, promotion, bake) is what test_judged_rollouts.py
    proves; with the quickstart's default 1-minute intervals it would take about seven minutes here.
    """
    v2 = QUICKSTART / "v2"
    assert sorted(p.name for p in v2.glob("*.yaml")) == ["modeldeployment.yaml", "train-v2.yaml"]
    stack.wait("fraud", lambda s: (s.get("stable") or {}).get("readyReplicas") == 2, timeout=60)
    _apply(stack, [yaml.safe_load((v2 / "modeldeployment.yaml").read_text())])
    until(
        "the canary's pod waiting for v2's file",
        lambda: [p for p in stack.dataplane.pods() if p.version == "v2"],
        lambda pods: (
            bool(pods)
            and all(p.phase == "initializing" and "does not exist yet" in stack.dataplane.logs(p.name) for p in pods)
        ),
        timeout=60,
    )
    status = stack.status("fraud")
    assert status["canary"]["version"] == "v2" and status["canary"].get("readyReplicas", 0) == 0, status
    assert status["stable"]["version"] == "v1" and status["stable"]["readyReplicas"] == 2  # v1 serves meanwhile

    _apply(stack, [_run_locally(job) for job in yaml.safe_load_all((v2 / "train-v2.yaml").read_text()) if job])
    until(
        "the v2 Job complete",
        lambda: stack.get("job", "fraud-train-v2"),
        lambda j: j.get("status", {}).get("succeeded") == 1,
        timeout=120,
    )
    canary = stack.wait(
        "fraud",
        lambda s: (s.get("canary") or {}).get("readyReplicas", 0) >= 1 and s.get("canaryWeight", 0) > 0,
        timeout=90,
    )
    assert canary["phase"] == "Progressing" and canary["canary"]["version"] == "v2", canary
    (server,) = stack.dataplane.wait_ready({"modelops.dev/version": "v2"}, timeout=30, count=1)
    assert server.port is not None
    data = generate(500, seed=7)
    scores = np.array(_infer(server.ip, server.port, data.inference_inputs(0, 500)), dtype=np.float64)
    assert auc(data.labels, scores) > 0.85
