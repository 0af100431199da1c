"""The chart's operator alerts: off by default; on, every alert has a summary, a description and a
runbook_url whose page exists in docs/runbooks/, `promtool check rules` accepts them, and the values
(labels, disabled, severity, runbook base) do what they say. The operator's per-model SLO alert has
its runbook page too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.chart.test_chart import REPO, Helm, helm, of_kind, only, render

from modelops.telemetry_contract import BURN_ALERT

__all__ = ["helm"]  # the module-scoped fixture, shared with test_chart.py

RUNBOOKS = REPO / "docs" / "runbooks"
SHOW = ("--show-only", "templates/prometheusrule.yaml")
ON = ("--set", "alerts.operatorRules.enabled=true")


def alerts(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


def test_every_alert_has_a_runbook_page() -> None:
    assert (RUNBOOKS / f"{BURN_ALERT}.md").is_file()
    index = (RUNBOOKS / "README.md").read_text()
    for page in RUNBOOKS.glob("Modelops*.md"):
        assert f"({page.name})" in index, f"{page.name} is not listed in docs/runbooks/README.md"


@pytest.mark.integration
def test_operator_alerts_are_off_by_default(helm: Helm) -> None:
    assert not of_kind(render(helm), "PrometheusRule")


@pytest.mark.integration
def test_operator_alerts_link_their_runbooks_and_promtool_accepts_them(helm: Helm, tmp_path: Path) -> None:
    rule = only(render(helm, *ON, "--set", "alerts.operatorRules.labels.release=kps"), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    found = alerts(rule)
    assert len(found) == 10
    for alert in found:
        name = alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"].endswith(f"/docs/runbooks/{name}.md"), annotations["runbook_url"]
        assert (RUNBOOKS / f"{name}.md").is_file(), f"no runbook page for {name}"
        assert alert["labels"]["severity"] in {"page", "ticket"}, alert
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is needed"
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "SUCCESS: 10 rules found" in result.stdout, result.stdout + result.stderr


@pytest.mark.integration
def test_operator_alert_values(helm: Helm) -> None:
    values = [
        "alerts.operatorRules.disabled={ModelopsDriftDetected}",
        "alerts.operatorRules.alertLabels.team=mlp",
        "alerts.operatorRules.severity.ModelopsRolloutRolledBack=page",
        "alerts.runbookBaseURL=https://wiki.example/rb/",
    ]
    docs = render(helm, *ON, *(arg for value in values for arg in ("--set", value)))
    found = {a["alert"]: a for a in alerts(only(docs, "PrometheusRule"))}
    assert "ModelopsDriftDetected" not in found and len(found) == 9
    assert all(a["labels"]["team"] == "mlp" for a in found.values())
    assert found["ModelopsRolloutRolledBack"]["labels"]["severity"] == "page"
    assert (
        found["ModelopsBakeReverted"]["annotations"]["runbook_url"] == "https://wiki.example/rb/ModelopsBakeReverted.md"
    )
    args = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--runbook-url") + 1] == "https://wiki.example/rb/"
