"""The reference model server exports exactly the series and labels the telemetry contract names."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from modelops import telemetry_contract as contract
from modelops.api.v1alpha1.baseline import Baseline
from modelops.runtime.feedback import LabelItem
from modelops.runtime.telemetry import Telemetry
from modelops.train.dataset import generate
from tests.runtime.models_fixture import baseline


def _scrape() -> tuple[dict[str, set[str]], set[str]]:
    """Every metric the server exports -> the label names its series carry, and which are histograms
    (the test populates every family).

    A histogram is named as declared: its `_bucket` series carry `le` on top, and prometheus_client
    leaves out `_count` and `_sum` where a bucket edge is negative (the operator reads only buckets).
    """
    telemetry = Telemetry(
        model="fraud", version="v1", variant="canary", baseline=Baseline.model_validate(baseline(generate(200, seed=1)))
    )
    features: dict[str, list[object]] = {name: [1.0, 2.0] for name in telemetry.numeric_names}
    telemetry.observe(features={**features, "country": ["US", "XX"]}, predictions=[0.2, 0.9])
    telemetry.observe_classes(["fraud", "ok"])
    telemetry.observe_request(code=200, seconds=0.01)
    telemetry.invalid(contract.UNKNOWN_MODEL)
    prediction_id = telemetry.record_predictions(None, [0.2, 0.9])
    telemetry.feedback([LabelItem(f"{prediction_id}:1", 1), LabelItem("gone", 0)])  # accepted, unmatched
    telemetry.observe_feedback_request(200)
    exported: dict[str, set[str]] = {}
    histograms: set[str] = set()
    for family in text_string_to_metric_families(telemetry.exposition()[0].decode()):
        assert family.samples, f"{family.name} has no samples: the test does not exercise it"
        for sample in family.samples:
            labels = set(sample.labels)
            name = sample.name
            if family.type == "histogram":
                name = family.name
                histograms.add(name)
                if sample.name == contract.bucket(family.name):
                    assert contract.LE in labels
                    labels.discard(contract.LE)
            exported.setdefault(name, set()).update(labels)
    return exported, histograms


def test_the_server_exports_exactly_the_contract() -> None:
    expected = {metric: {*contract.SERVER_LABELS, *labels} for metric, labels in contract.METRICS.items()}
    exported, histograms = _scrape()
    assert exported == expected
    assert histograms == contract.HISTOGRAMS


def test_model_labels_select_a_model_or_one_version() -> None:
    assert contract.model_labels("ml", "fraud") == {"namespace": "ml", "model": "fraud"}
    assert contract.model_labels("ml", "fraud", "v2") == {"namespace": "ml", "model": "fraud", "version": "v2"}
