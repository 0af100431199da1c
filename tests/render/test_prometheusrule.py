"""The PrometheusRule the operator applies per ModelDeployment: what it selects, what users may add,
and (with Debian's promtool) that Prometheus accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.api.names import Owner
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.render.prometheusrule import deployment_rule, le_label
from modelops.telemetry_contract import BURN_ALERT

OWNER = Owner("fraud", "ml", "uid-1")


def spec(**extra: Any) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {"model": {"name": "fraud-model", "version": "v1", "uri": "file:///m"}, **extra}
    )


def rules(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [r for g in body["spec"]["groups"] for r in g["rules"] if key in r]


def test_live_traffic_of_every_version_is_selected_never_a_shadow() -> None:
    body = deployment_rule(OWNER, spec())
    for rule in rules(body, "record"):
        selectors = rule["expr"].count("{")
        assert rule["expr"].count('namespace="ml",model="fraud-model"') == selectors, rule["expr"]
        assert rule["expr"].count('variant=~"stable|canary"') == selectors, rule["expr"]
        assert "version=" not in rule["expr"]  # the model's SLO, whichever version serves
    assert any('le="0.25"' in r["expr"] for r in rules(body, "record"))


def test_users_add_labels_but_never_replace_the_alerts_own() -> None:
    body = deployment_rule(
        OWNER,
        spec(
            alerts={"labels": {"team": "risk", "severity": "critical"}, "annotations": {"runbook_url": "https://x/y"}}
        ),
        runbooks="https://docs.example/runbooks/",
    )
    for alert in rules(body, "alert"):
        assert alert["labels"]["team"] == "risk" and alert["labels"]["severity"] in {"page", "ticket"}
        assert alert["annotations"]["runbook_url"] == "https://x/y"  # theirs wins
    default = deployment_rule(OWNER, spec(), runbooks="https://docs.example/runbooks/")
    assert {a["annotations"]["runbook_url"] for a in rules(default, "alert")} == {
        f"https://docs.example/runbooks/{BURN_ALERT}.md"
    }


def test_windows_follow_the_slo_period_and_latency_can_be_off() -> None:
    body = deployment_rule(OWNER, spec(analysis={"slo": {"availability": {"window": "28d"}, "latency": None}}))
    alerts = rules(body, "alert")
    assert {a["labels"]["slo"] for a in alerts} == {"availability"}
    assert [(a["labels"]["long_window"], a["labels"]["short_window"], a["labels"]["severity"]) for a in alerts] == [
        ("1h", "5m", "page"),
        ("6h", "30m", "page"),
        ("1d", "2h", "ticket"),
        ("3d", "6h", "ticket"),
    ]
    assert "> 0.01344" in alerts[0]["expr"]  # 0.02 x 28 d / 1 h = 13.44, x budget 0.001


def test_bucket_edges_are_written_as_client_libraries_expose_them() -> None:
    assert [le_label(v) for v in (0.25, 1, 2.5, 0.001)] == ["0.25", "1.0", "2.5", "0.001"]


def test_label_names_are_checked() -> None:
    with pytest.raises(ValueError, match="not a Prometheus label name"):
        spec(alerts={"labels": {"team-name": "x"}})


@pytest.mark.integration
def test_promtool_accepts_the_rule(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is needed"
    body = deployment_rule(OWNER, spec(alerts={"labels": {"team": "risk"}}))
    path = tmp_path / "rule.yml"
    path.write_text(yaml.safe_dump({"groups": body["spec"]["groups"]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 36 rules found" in result.stdout, result.stdout  # 2 SLOs x (7 windows x 2 records + 4 alerts)


def test_a_candidate_in_its_shadow_phase_is_left_out() -> None:
    body = deployment_rule(OWNER, spec(), shadow='v2"')
    for rule in rules(body, "record"):
        assert rule["expr"].count('version!="v2\\""') == rule["expr"].count("{"), rule["expr"]
    assert "version!=" not in str(deployment_rule(OWNER, spec()))
