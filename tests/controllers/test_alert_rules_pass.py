"""The per-ModelDeployment PrometheusRule: applied with the other children, opted out, and a cluster
without the Prometheus Operator's CRD reported in the AlertRules condition (once as an event), never
as a Degraded model and never as a failed pass."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from modelops.api.v1alpha1.modeldeployment import HistoryEntry
from modelops.controllers import metrics, rollout
from modelops.render.prometheusrule import RULE_KIND
from modelops.telemetry_contract import BURN_ALERT
from tests.controllers.fakes import FakeKube, memo
from tests.controllers.reconcile import run_pass
from tests.controllers.test_modeldeployment_pass import NS, condition, model_deployment, ready_all


@pytest.fixture(autouse=True)
def _fresh_operator() -> None:
    """Each test is a new operator process: no AlertRules reason seen yet."""
    rollout.ALERT_RULES_SEEN.clear()


def _passes(kube: FakeKube, count: int, **spec: Any) -> None:
    m = memo(kube)
    for _ in range(count):
        run_pass(rollout.reconcile, kube, m, "ModelDeployment", "fraud")
        ready_all(kube)


def test_the_rule_is_a_child_owned_by_the_deployment_with_alerts_for_each_slo() -> None:
    kube = FakeKube()
    kube.put(model_deployment(alerts={"labels": {"team": "fraud"}, "ruleLabels": {"release": "kps"}}))
    _passes(kube, 2)
    [rule] = kube.of_kind(RULE_KIND)
    meta = rule["metadata"]
    assert (meta["name"], meta["namespace"]) == ("fraud", NS)
    assert meta["ownerReferences"][0]["name"] == "fraud" and meta["labels"]["release"] == "kps"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert {a["labels"]["slo"] for a in alerts} == {"availability", "latency"}  # both SLOs the defaults declare
    assert len(alerts) == 8 and all(a["alert"] == BURN_ALERT for a in alerts)
    assert all(
        a["labels"]["team"] == "fraud" and a["annotations"]["runbook_url"].endswith(f"/{BURN_ALERT}.md") for a in alerts
    )
    assert condition(kube, "AlertRules")["status"] == "True"
    applied = len(kube.applied)
    _passes(kube, 1)
    assert len(kube.applied) == applied  # as rendered: not applied again


def test_opting_out_removes_the_rule() -> None:
    kube = FakeKube()
    kube.put(model_deployment())
    _passes(kube, 2)
    assert kube.of_kind(RULE_KIND)
    kube.find("ModelDeployment", "fraud")["spec"]["alerts"] = {"enabled": False}  # type: ignore[index]
    _passes(kube, 1)
    assert not kube.of_kind(RULE_KIND)
    alerts = condition(kube, "AlertRules")
    assert (alerts["status"], alerts["reason"]) == ("False", "Disabled")
    assert "PrometheusRuleCRDMissing" not in kube.reasons()


def test_a_missing_prometheusrule_crd_is_a_condition_and_one_event_not_a_degraded_model() -> None:
    kube = FakeKube(missing_kinds={RULE_KIND})
    kube.put(model_deployment())
    _passes(kube, 3)
    alerts = condition(kube, "AlertRules")
    assert (alerts["status"], alerts["reason"]) == ("False", "PrometheusRuleCRDMissing")
    assert "spec.alerts.enabled: false" in alerts["message"]
    assert kube.reasons().count("PrometheusRuleCRDMissing") == 1
    assert condition(kube, "Degraded")["status"] == "False" and condition(kube, "Ready")["status"] == "True"
    patches = len(kube.status_patches)
    _passes(kube, 1)
    assert len(kube.status_patches) == patches  # a lasting problem is not rewritten every pass

    kube.missing_kinds.clear()  # the Prometheus Operator is installed later: no restart needed
    _passes(kube, 1)
    assert kube.of_kind(RULE_KIND) and condition(kube, "AlertRules")["status"] == "True"


def test_a_rule_name_taken_by_someone_else_is_left_alone() -> None:
    kube = FakeKube()
    theirs = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": RULE_KIND,
        "metadata": {"name": "fraud", "namespace": NS},
    }
    kube.put({**theirs, "spec": {"groups": []}})
    kube.put(model_deployment())
    _passes(kube, 2)
    assert kube.find(RULE_KIND, "fraud")["spec"] == {"groups": []}  # type: ignore[index]
    alerts = condition(kube, "AlertRules")
    assert (alerts["status"], alerts["reason"]) == ("False", "PrometheusRuleNotApplied")
    assert condition(kube, "Degraded")["status"] == "False"


def test_rollout_outcomes_are_counted_once_each() -> None:
    def value(outcome: str) -> float | None:
        return REGISTRY.get_sample_value(
            "modelops_rollouts_total", {"namespace": NS, "name": "fraud", "outcome": outcome}
        )

    kube = FakeKube()
    kube.put(model_deployment())
    _passes(kube, 2)
    before = value("Promoted")
    assert before is not None and value("RolledBack") is not None  # exported from the first pass
    status = kube.find("ModelDeployment", "fraud")["status"]  # type: ignore[index]
    status["history"] = [{"version": "v0", "outcome": "RolledBack", "reason": "x", "at": "2026-01-01T00:00:00Z"}]
    _passes(kube, 2)  # history written by someone else is not an outcome of this pass
    assert value("Promoted") == before


def test_count_outcomes_counts_the_entries_a_pass_added() -> None:
    def value(outcome: str) -> float:
        found = REGISTRY.get_sample_value(
            "modelops_rollouts_total", {"namespace": "c", "name": "m", "outcome": outcome}
        )
        assert found is not None
        return found

    old = HistoryEntry(version="v1", outcome="Promoted", at=datetime(2026, 1, 1, tzinfo=UTC))
    metrics.count_outcomes("c", "m", [], [])
    assert value("RolledBack") == 0 and value("Reverted") == 0
    new = HistoryEntry(version="v2", outcome="RolledBack", reason="bad", at=datetime(2026, 1, 2, tzinfo=UTC))
    metrics.count_outcomes("c", "m", [old], [new, old])
    metrics.count_outcomes("c", "m", [new, old], [new, old])  # the next pass: nothing new
    assert value("RolledBack") == 1 and value("Promoted") == 0
    metrics.forget_deployment("c", "m")
    assert (
        REGISTRY.get_sample_value("modelops_rollouts_total", {"namespace": "c", "name": "m", "outcome": "RolledBack"})
        is None
    )


def test_a_shadow_candidate_is_left_out_of_the_slo_rules() -> None:
    """Its pods are labelled canary from the start; its answers to mirrored requests reach no one."""
    kube = FakeKube()
    mesh = {"traffic": {"router": "gatewayAPI", "parentRefs": [{"name": "gw"}]}, "rollout": {"strategy": "shadow"}}
    kube.put(model_deployment(**mesh))
    _passes(kube, 2)
    kube.find("ModelDeployment", "fraud")["spec"]["model"].update(version="v2", uri="file:///m/v2.npz")  # type: ignore[index]
    _passes(kube, 2)
    status = kube.find("ModelDeployment", "fraud")["status"]  # type: ignore[index]
    assert status["shadowing"] and status["canary"]["version"] == "v2"
    [rule] = kube.of_kind(RULE_KIND)
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r]
    assert all('version!="v2"' in e for e in exprs), exprs[0]


def test_the_missing_crd_event_is_posted_once_even_from_a_stale_body() -> None:
    """The next pass may start from a body the watch has not updated with the last status write yet."""
    kube = FakeKube(missing_kinds={RULE_KIND})
    kube.put(model_deployment())
    stale = copy.deepcopy(kube.find("ModelDeployment", "fraud"))
    _passes(kube, 1)
    kube.put(stale)  # type: ignore[arg-type]  # as if the status write had not been seen
    _passes(kube, 1)
    assert kube.reasons().count("PrometheusRuleCRDMissing") == 1
