"""decide() makes the baseline part of the decision: a validated run's document becomes a ConfigMap
named in latestValidated, an unreadable one a warning; nothing when baselines were not looked at."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from modelops.api.v1alpha1.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus, RetrainRun
from modelops.retrain.policy import BaselinePublication, BaselineRead, JobState, RetrainDecision, Signals, decide

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TEMPLATE = {"template": {"spec": {"containers": [{"name": "t", "image": "x"}], "restartPolicy": "Never"}}}
SPEC = RetrainPolicySpec.model_validate(
    {
        "modelDeploymentRef": {"name": "fraud"},
        "jobTemplate": TEMPLATE,
        "validation": [{"metric": "auc", "min": 0.8}],
    }
)


def running(*names: str) -> RetrainPolicyStatus:
    runs = [RetrainRun(name=n, trigger="manual", outcome="Running", job=n, version=n, started=T0) for n in names]
    return RetrainPolicyStatus(runs=runs, last_run=runs[0], run_count=len(runs))


def done(version: str, auc: float) -> JobState:
    uri = f"file:///models/{version}/model.npz"
    return JobState("succeeded", json.dumps({"version": version, "uri": uri, "metrics": {"auc": auc}}))


def pass_(status: RetrainPolicyStatus, jobs: dict[str, JobState], reads: dict[str, BaselineRead]) -> RetrainDecision:
    return decide("rp", "ml", SPEC, status, Signals(T0, "fraud", "v1", jobs, baselines=reads))


def test_a_validated_run_s_baseline_is_published_and_named() -> None:
    d = pass_(running("rp-1"), {"rp-1": done("rp-1", 0.9)}, {"rp-1": BaselineRead("{doc}")})
    assert d.publish == [BaselinePublication("rp-1", "rp-1", "rp-1-baseline", "{doc}")]
    assert d.status.latest_validated is not None and d.status.latest_validated.baseline_config_map == "rp-1-baseline"
    assert [e.reason for e in d.events] == ["RunValidated"]


def test_an_unreadable_baseline_is_a_warning_after_the_run_s_own_events() -> None:
    d = pass_(running("rp-1"), {"rp-1": done("rp-1", 0.9)}, {"rp-1": BaselineRead(error="HTTP 404")})
    assert d.publish == [] and d.status.latest_validated is not None
    assert d.status.latest_validated.baseline_config_map is None
    assert [(e.reason, e.message) for e in d.events][-1] == (
        "BaselineUnavailable",
        "rp-1: no baseline ConfigMap for version rp-1: HTTP 404",
    )


def test_rejected_runs_and_unread_baselines_publish_nothing() -> None:
    rejected = pass_(running("rp-1"), {"rp-1": done("rp-1", 0.5)}, {"rp-1": BaselineRead("{doc}")})
    assert rejected.publish == [] and rejected.status.latest_validated is None
    not_looked_at = pass_(running("rp-1"), {"rp-1": done("rp-1", 0.9)}, {})
    assert not_looked_at.publish == [] and [e.reason for e in not_looked_at.events] == ["RunValidated"]


def test_only_the_latest_validated_run_is_named_though_each_is_published() -> None:
    jobs = {"rp-2": done("rp-2", 0.9), "rp-1": done("rp-1", 0.95)}
    reads = {"rp-2": BaselineRead("two"), "rp-1": BaselineRead("one")}
    d = pass_(running("rp-2", "rp-1"), jobs, reads)
    assert [p.config_map for p in d.publish] == ["rp-2-baseline", "rp-1-baseline"]
    assert d.status.latest_validated is not None
    assert (d.status.latest_validated.run, d.status.latest_validated.baseline_config_map) == ("rp-1", "rp-1-baseline")
