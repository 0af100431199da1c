"""The generated CRDs on a real API server: established, examples apply, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops_devcluster import objects
from tests.api.invalid_cases import CASES, Case

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "crd-tests"


@pytest.fixture(scope="module")
def crds(cluster: Any) -> Any:
    objects.install_crds(cluster)
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    return cluster


def test_crds_are_established_with_names_and_columns(crds: Any) -> None:
    out = json.loads(crds.kubectl("get", "crd", "-l", "app.kubernetes.io/part-of=modelops", "-o", "json").stdout)
    names = {item["metadata"]["name"] for item in out["items"]}
    assert names == {"modeldeployments.modelops.dev", "driftmonitors.modelops.dev", "retrainpolicies.modelops.dev"}
    for item in out["items"]:
        established = {c["type"]: c["status"] for c in item["status"]["conditions"]}
        assert established["Established"] == "True" and established["NamesAccepted"] == "True"
    resources = crds.kubectl("api-resources", "--api-group=modelops.dev", "-o", "wide").stdout
    assert "md" in resources and "modelops" in resources


@pytest.mark.parametrize(
    "example", sorted(str(p.relative_to(ROOT / "examples")) for p in (ROOT / "examples").rglob("*.yaml"))
)
def test_every_example_applies(crds: Any, example: str) -> None:
    path = ROOT / "examples" / example
    out = crds.kubectl("apply", "-n", NAMESPACE, "--server-side", "--field-manager=tests", "-f", str(path))
    assert "serverside-applied" in out.stdout
    for doc in yaml.safe_load_all(path.read_text()):
        kind, name = doc["kind"], doc["metadata"]["name"]
        live = json.loads(crds.kubectl("get", "-n", NAMESPACE, kind, name, "-o", "json").stdout)
        assert live["metadata"]["name"] == name


def test_api_server_fills_defaults(crds: Any) -> None:
    crds.kubectl(
        "apply",
        "-n",
        NAMESPACE,
        "--server-side",
        "--force-conflicts",  # test_every_example_applies left examples/quickstart/v2/ (the same object at v2)
        "-f",
        str(ROOT / "examples" / "quickstart" / "modeldeployment.yaml"),
    )
    spec = json.loads(crds.kubectl("get", "-n", NAMESPACE, "md", "fraud", "-o", "json").stdout)["spec"]
    assert spec["replicas"] == 2
    assert spec["rollout"]["interval"] == "1m" and spec["rollout"]["steps"][0] == {"setWeight": 10}
    assert spec["analysis"]["slo"]["availability"] == {"objective": 99.9, "window": "30d"}
    assert spec["traffic"]["router"] == "replicas"


def _manifest(case: Case) -> str:
    body = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": case.kind,
        "metadata": {"name": f"bad-{case.id}", "namespace": NAMESPACE},
        "spec": case.spec(),
    }
    return yaml.safe_dump(body)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_resource_is_refused_naming_the_field(crds: Any, case: Case) -> None:
    result = crds.kubectl("apply", "--server-side", "-f", "-", input=_manifest(case), check=False)
    assert result.returncode != 0, f"{case.id} was accepted"
    assert case.field in result.stderr, result.stderr
    if case.message:
        assert case.message in result.stderr, result.stderr


def test_unknown_fields_are_refused(crds: Any) -> None:
    body = yaml.safe_load(_manifest(CASES[0]))
    body["metadata"]["name"] = "typo"
    body["spec"] = {"model": {"name": "m", "version": "v1", "uri": "file:///m.npz"}, "replica": 3}
    result = crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0 and 'unknown field "spec.replica"' in result.stderr


def test_kubectl_explain_shows_the_descriptions(crds: Any) -> None:
    out = crds.kubectl("explain", "modeldeployment.spec.rollout").stdout
    assert "How a new version is rolled out" in out or "Progressive rollout of new versions" in out
    for field in ("maxUnknownChecks", "progressDeadline", "bakeTime", "promote"):
        assert field in out
    steps = crds.kubectl("explain", "modeldeployment.spec.rollout.steps.setWeight").stdout
    assert "Percent of traffic to the canary" in steps


def test_printer_columns_tell_the_story(crds: Any) -> None:
    crds.kubectl(
        "apply",
        "-n",
        NAMESPACE,
        "--server-side",
        "--force-conflicts",  # test_every_example_applies left examples/quickstart/v2/ (the same object at v2)
        "-f",
        str(ROOT / "examples" / "quickstart" / "modeldeployment.yaml"),
    )
    header = crds.kubectl("get", "-n", NAMESPACE, "md").stdout.splitlines()[0].split()
    assert header[:5] == ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT"]
    everything = crds.kubectl("get", "-n", NAMESPACE, "modelops").stdout  # the category spans the kinds
    for prefix in ("modeldeployment.modelops.dev/", "driftmonitor.modelops.dev/", "retrainpolicy.modelops.dev/"):
        assert prefix in everything
