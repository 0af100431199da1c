"""Numeric features that could not be compared point at a missing baseline, when there is none."""

from __future__ import annotations

from modelops.analysis.drift import Histogram, Observations, evaluate
from modelops.analysis.drift_report import no_histograms_hint
from tests.analysis.test_drift_report import CLEAN, REFERENCE, SETTINGS

MISMATCHED = evaluate(
    REFERENCE,
    Observations(
        {name: Histogram.of([9.0], [1, 1]) for name in REFERENCE.numeric}, REFERENCE.categorical, REFERENCE.predictions
    ),
    SETTINGS,
)


def test_the_hint_names_the_deployment_only_without_a_baseline_and_with_numeric_errors() -> None:
    assert any(f.type == "numeric" for f in MISMATCHED.errors)
    hint = no_histograms_hint(MISMATCHED, has_baseline=False, deployment="fraud")
    assert hint == "ModelDeployment 'fraud' sets no spec.model.baseline, so its servers export no feature histograms"
    assert no_histograms_hint(MISMATCHED, has_baseline=True, deployment="fraud") is None
    assert no_histograms_hint(CLEAN, has_baseline=False, deployment="fraud") is None
