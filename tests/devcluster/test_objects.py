"""The shared stack helpers without a cluster: kubectl arguments, polling, metric lookup, traffic marks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import cast

import pytest
import yaml

from modelops_devcluster import objects
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.operator import OperatorProcess
from modelops_devcluster.stack import Traffic
from modelops_devcluster.traffic import RequestRecord, TrafficGenerator


class FakeCluster:
    """Records kubectl calls and answers from a table of (first args) -> (code, stdout, stderr)."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str, str]] | None = None) -> None:
        self.calls: list[tuple[tuple[str, ...], str | None]] = []
        self.answers = answers or {}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append((args, input))
        code, out, err = next((v for k, v in self.answers.items() if args[: len(k)] == k), (0, "{}", ""))
        if check and code != 0:
            raise subprocess.CalledProcessError(code, args, out, err)
        return subprocess.CompletedProcess(args, code, out, err)


def _cluster(fake: FakeCluster) -> DevCluster:
    return cast(DevCluster, fake)


def test_install_crds_applies_and_waits_for_the_checkout_crds(tmp_path: Path) -> None:
    fake = FakeCluster()
    objects.install_crds(_cluster(fake), tmp_path)
    assert [c[0] for c in fake.calls] == [
        ("apply", "--server-side", "-f", str(tmp_path)),
        ("wait", "--for=condition=Established", "--timeout=60s", "-f", str(tmp_path)),
    ]


def test_apply_is_server_side_into_the_namespace_with_an_optional_manager() -> None:
    fake = FakeCluster()
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    objects.apply(_cluster(fake), "ns", doc, doc, field_manager="tests")
    objects.apply(_cluster(fake), "ns", doc)
    (first, manifest), (second, _) = fake.calls
    assert first == ("apply", "-n", "ns", "--server-side", "--field-manager=tests", "-f", "-")
    assert second == ("apply", "-n", "ns", "--server-side", "-f", "-")
    assert list(yaml.safe_load_all(manifest or "")) == [doc, doc]


def test_get_is_none_only_when_not_found() -> None:
    body = {"metadata": {"name": "x"}, "status": {"phase": "Available"}}
    fake = FakeCluster({("get", "-n", "ns", "md", "x"): (0, json.dumps(body), "")})
    assert objects.get(_cluster(fake), "ns", "md", "x") == body
    assert objects.status(_cluster(fake), "ns", "md", "x") == {"phase": "Available"}
    missing = FakeCluster({("get",): (1, "", 'Error from server (NotFound): "y" not found')})
    assert objects.get(_cluster(missing), "ns", "md", "y") is None
    assert objects.status(_cluster(missing), "ns", "md", "y") == {}
    broken = FakeCluster({("get",): (1, "", "Unable to connect to the server")})
    with pytest.raises(RuntimeError, match="Unable to connect"):
        objects.get(_cluster(broken), "ns", "md", "z")


def test_events_are_oldest_first_and_deployments_by_owner() -> None:
    events = {
        "items": [
            {"reason": "B", "lastTimestamp": "2024-01-02T00:00:00Z"},
            {"reason": "A", "eventTime": "2024-01-01T00:00:00Z"},
        ]
    }
    deploys = {
        "items": [{"metadata": {"name": "m-v1"}, "spec": {"replicas": 2}}, {"metadata": {"name": "m-v2"}, "spec": {}}]
    }
    fake = FakeCluster(
        {
            ("get", "-n", "ns", "events"): (0, json.dumps(events), ""),
            ("get", "-n", "ns", "deploy"): (0, json.dumps(deploys), ""),
        }
    )
    assert [e["reason"] for e in objects.events(_cluster(fake), "ns", "m", kind="ModelDeployment")] == ["A", "B"]
    assert fake.calls[-1][0][4:6] == ("--field-selector", "involvedObject.name=m,involvedObject.kind=ModelDeployment")
    assert objects.deployment_replicas(_cluster(fake), "ns", "m") == {"m-v1": 2, "m-v2": 0}
    assert fake.calls[-1][0][4:6] == ("-l", "modelops.dev/deployment=m")


def test_condition_by_type() -> None:
    status = {"conditions": [{"type": "Ready", "status": "True"}]}
    assert objects.condition(status, "Ready") == {"type": "Ready", "status": "True"}
    assert objects.condition(status, "Degraded") == {}
    assert objects.condition({}, "Ready") == {}


def test_until_returns_the_first_value_that_holds_and_times_out_with_the_last_one() -> None:
    seen = iter(range(100))
    assert objects.until("three", lambda: next(seen), lambda n: n >= 3, timeout=5, every=0) == 3
    with pytest.raises(TimeoutError, match=r"never: not reached in 0s; last seen \{\"phase\": \"Pending\"\}"):
        objects.until("never", lambda: {"phase": "Pending"}, lambda s: False, timeout=0, every=0)


def test_operator_metric_matches_name_and_labels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = (
        "# HELP modelops_rollout_phase Phase of each ModelDeployment.\n"
        'modelops_rollout_phase{modelops_rollout_phase="Pending",name="steady",namespace="t"} 0.0\n'
        'modelops_rollout_phase{modelops_rollout_phase="Available",name="steady",namespace="t"} 1.0\n'
        'modelops_invalid_resources{kind="ModelDeployment",name="steady-bad",namespace="t"} 1.0\n'
    )

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def read(self) -> bytes:
            return text.encode()

    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: Response())
    operator = OperatorProcess({}, ["t"], log_dir=tmp_path)  # never started
    assert operator.metric("modelops_rollout_phase", name="steady", modelops_rollout_phase="Available") == 1.0
    assert operator.metric("modelops_invalid_resources", name="steady-bad") == 1.0
    assert operator.metric("modelops_invalid_resources", name="steady") is None  # a name is matched whole
    assert operator.metric("modelops_rollout_phase", name="other") is None


def _record(sent_at: float) -> RequestRecord:
    return RequestRecord("p", "v1", "stable", code=200, latency_s=0.01, rows=(0,), generation=0, sent_at=sent_at)


def test_traffic_returned_waits_for_a_request_sent_after_the_mark() -> None:
    traffic = Traffic(cast(TrafficGenerator, object()))
    traffic.records.append(_record(1.0))
    with pytest.raises(TimeoutError):
        traffic.returned(2.0, timeout=0)
    traffic.records.append(_record(2.5))
    traffic.returned(2.0, timeout=0)
