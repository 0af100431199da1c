"""The dev stack's alerting pieces: Prometheus with rule files and an Alertmanager target, and
Alertmanager built from the Go module proxy into the cache (never the repository), keyed by version."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelops_devcluster import alertmanager, versions
from modelops_devcluster.alertmanager import AlertmanagerServer
from modelops_devcluster.prometheus import PrometheusServer, PrometheusServerError

REPO = Path(__file__).resolve().parents[2]
ALWAYS = {"groups": [{"name": "t", "rules": [{"alert": "Always", "expr": "vector(1)", "labels": {"team": "t"}}]}]}


def test_alertmanager_is_cached_outside_the_repo_by_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELOPS_CACHE", str(tmp_path))
    path = alertmanager.binary_path()
    assert path.is_relative_to(tmp_path) and versions.ALERTMANAGER in str(path)
    monkeypatch.delenv("MODELOPS_CACHE")
    assert not alertmanager.binary_path().resolve().is_relative_to(REPO)


def test_alerting_needs_the_config_as_a_dict() -> None:
    with pytest.raises(PrometheusServerError, match="need the config as a dict"):
        PrometheusServer("global: {}\n", rules={"x": ALWAYS}).start()


@pytest.mark.integration
def test_a_rule_of_prometheus_reaches_alertmanager() -> None:
    route = {"receiver": "none", "group_wait": "1s", "group_interval": "1s"}
    with AlertmanagerServer({"route": route, "receivers": [{"name": "none"}]}) as am:
        assert am.alerts() == []
        options = {"alertmanagers": [am.address], "evaluation_interval": "1s"}
        with PrometheusServer({"global": {"scrape_interval": "1s"}}, **options) as prom:  # type: ignore[arg-type]
            prom.set_rules("always", ALWAYS)
            assert [g["name"] for g in prom.rules_loaded()] == ["t"]
            deadline = time.monotonic() + 30
            while not (held := am.alerts()):
                assert time.monotonic() < deadline, f"no alert at Alertmanager within 30s: {am.log_tail()}"
                time.sleep(0.5)
            assert held[0]["labels"] == {"alertname": "Always", "team": "t"}
            with pytest.raises(PrometheusServerError, match="reload rejected"):
                prom.set_rules("broken", {"groups": [{"name": "b", "rules": [{"alert": "B", "expr": "vector("}]}]})
