"""Drift and burn signals from what the RetrainPolicy controller observed."""

from __future__ import annotations

from datetime import UTC, datetime

from modelops.analysis.slo import Counts
from modelops.api.v1alpha1.views import MonitorView
from modelops.retrain.signals import burn_signal, drift_signal


def test_the_burn_rate_is_analysis_slo_s_exact_one() -> None:
    signal = burn_signal(Counts(bad=1, total=1000), objective=99.9, window="6h", stable_version="v1")
    assert signal.rate == 1.0  # 0.001 / 0.001 exactly: the trigger's `above: 1` fires
    assert (
        signal.summary == "stable v1 burns its 99.9% availability budget at 1.00x over 6h (1 of 1000 requests failed)"
    )


def test_no_traffic_is_no_data() -> None:
    for found in (None, Counts(bad=0, total=0)):
        signal = burn_signal(found, objective=99.0, window="1h", stable_version="v1")
        assert signal.rate is None and signal.summary == "no traffic"


def test_a_drift_episode_starts_at_the_drifted_transition_only_while_drifted() -> None:
    since = "2026-01-01T00:00:00Z"
    condition = {"type": "Drifted", "status": "True", "message": "x drifts", "lastTransitionTime": since}
    drifted = drift_signal("dm", MonitorView.model_validate({"status": {"drifted": True, "conditions": [condition]}}))
    assert drifted.drifted is True and drifted.since == datetime(2026, 1, 1, tzinfo=UTC)
    assert drifted.summary == "DriftMonitor dm: x drifts"
    clean = drift_signal("dm", MonitorView.model_validate({"status": {"drifted": False, "conditions": [condition]}}))
    assert clean.since is None
    unknown = drift_signal("dm", MonitorView.model_validate({"status": None}))
    assert unknown.drifted is None and unknown.summary == "DriftMonitor dm: drifted"
    long = drift_signal(
        "dm", MonitorView.model_validate({"status": {"conditions": [{**condition, "message": "x" * 2000}]}})
    )
    assert len(long.summary) == 1000
