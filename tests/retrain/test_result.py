from __future__ import annotations

import json
from typing import Any

import pytest

from modelops.api.v1alpha1.retrainpolicy import ValidationGate
from modelops.retrain.result import ResultError, RunResult, check, parse


def line(**doc: Any) -> str:
    return json.dumps({"version": "fraud-rp-1", "uri": "file:///m/fraud-rp-1", **doc})


def gate(**fields: Any) -> ValidationGate:
    return ValidationGate.model_validate(fields)


# parse -----------------------------------------------------------------------------------------


def test_parse_a_full_result() -> None:
    sha = "a" * 64
    result = parse(line(sha256=sha, metrics={"auc": 0.91, "rows": 1200}, baseline="baseline.json"))
    assert result == RunResult(
        "fraud-rp-1", "file:///m/fraud-rp-1", sha, {"auc": 0.91, "rows": 1200.0}, "baseline.json"
    )
    assert isinstance(result.metrics["rows"], float)


def test_only_version_and_uri_are_required() -> None:
    result = parse(json.dumps({"version": "v", "uri": "u"}))
    assert result == RunResult("v", "u", None, {}, None)


def test_last_json_object_line_wins_after_log_lines() -> None:
    message = "\n".join(
        [
            "epoch 1 loss 0.4",
            line(version="early", metrics={"auc": 0.1}),
            "INFO writing the model",
            line(metrics={"auc": 0.9}),
            "",
        ]
    )
    result = parse(message)
    assert result.version == "fraud-rp-1" and result.metrics == {"auc": 0.9}


def test_trailing_json_that_is_not_an_object_is_skipped() -> None:
    message = line(metrics={"auc": 0.9}) + '\n[1, 2]\n"done"\n42\nnull'
    assert parse(message).metrics == {"auc": 0.9}


@pytest.mark.parametrize("message", [None, "", "   \n\t\n"])
def test_empty_message(message: str | None) -> None:
    with pytest.raises(ResultError, match="no termination message"):
        parse(message)


@pytest.mark.parametrize("message", ["training failed: out of memory", "[1, 2, 3]", '"a string"', "{not json"])
def test_no_json_object(message: str) -> None:
    with pytest.raises(ResultError, match="not a JSON object"):
        parse(message)


@pytest.mark.parametrize(
    ("doc", "missing"),
    [
        ({"uri": "u"}, "no version"),
        ({"version": "v"}, "no uri"),
        ({}, "no version or uri"),
        ({"version": "", "uri": "u"}, "no version"),
        ({"version": 7, "uri": "u"}, "no version"),
        ({"version": "v", "uri": None}, "no uri"),
    ],
)
def test_missing_version_or_uri(doc: dict[str, Any], missing: str) -> None:
    with pytest.raises(ResultError) as info:
        parse(json.dumps(doc))
    assert str(info.value) == f"the result has {missing}"


def test_metrics_must_be_an_object() -> None:
    with pytest.raises(ResultError, match="metrics are not an object"):
        parse(line(metrics=[0.9]))


def test_non_finite_bool_and_non_numeric_metrics_are_dropped() -> None:
    message = (
        '{"version": "v", "uri": "u", "metrics": {"auc": 0.9, "nan": NaN, "inf": Infinity, "ninf": -Infinity, '
        '"big": 1e999, "flag": true, "off": false, "text": "0.5", "none": null, "nested": {"a": 1}, "n": -3}}'
    )
    assert parse(message).metrics == {"auc": 0.9, "n": -3.0}


def test_null_metrics_are_no_metrics() -> None:
    assert parse(line(metrics=None)).metrics == {}


def test_sha_and_baseline_of_the_wrong_type_are_ignored() -> None:
    result = parse(line(sha256=123, baseline=["x"]))
    assert result.sha256 is None and result.baseline is None


def test_a_huge_integer_metric_is_dropped_not_a_crash() -> None:
    # json.loads turns a 400-digit literal into an int; math.isfinite(int) converts it to float
    message = '{"version": "v", "uri": "u", "metrics": {"auc": 0.9, "rows": ' + "9" * 400 + "}}"
    assert parse(message).metrics == {"auc": 0.9}


# check -----------------------------------------------------------------------------------------


def test_no_gates_pass() -> None:
    assert check([], {}, None, "") == []


def test_min_and_max() -> None:
    gates = [gate(metric="auc", min=0.8), gate(metric="logLoss", max=0.5)]
    assert check(gates, {"auc": 0.8, "logLoss": 0.5}, None, "") == []  # bounds are inclusive
    assert check(gates, {"auc": 0.79, "logLoss": 0.2}, None, "") == ["auc 0.79 < min 0.8"]
    assert check(gates, {"auc": 0.9, "logLoss": 0.51}, None, "") == ["logLoss 0.51 > max 0.5"]
    assert len(check(gates, {"auc": 0.1, "logLoss": 0.9}, None, "")) == 2


def test_min_and_max_on_one_gate() -> None:
    band = [gate(metric="rate", min=0.1, max=0.2)]
    assert check(band, {"rate": 0.15}, None, "") == []
    assert check(band, {"rate": 0.05}, None, "") == ["rate 0.05 < min 0.1"]
    assert check(band, {"rate": 0.25}, None, "") == ["rate 0.25 > max 0.2"]


def test_missing_metric_fails() -> None:
    assert check([gate(metric="auc", min=0.5)], {"accuracy": 0.99}, None, "") == ["auc missing from the result"]


def test_must_beat_stable_higher_is_better() -> None:
    gates = [gate(metric="auc", mustBeatStable=True)]
    stable = {"auc": 0.85}
    assert check(gates, {"auc": 0.86}, stable, "v1") == []
    assert check(gates, {"auc": 0.85}, stable, "v1") == []  # "at least as good"
    (failure,) = check(gates, {"auc": 0.84}, stable, "v1")
    assert "below the stable version's 0.85" in failure and failure.startswith("auc 0.84")


def test_must_beat_stable_lower_is_better() -> None:
    gates = [gate(metric="logLoss", mustBeatStable=True, higherIsBetter=False)]
    stable = {"logLoss": 0.3}
    assert check(gates, {"logLoss": 0.2}, stable, "v1") == []
    assert check(gates, {"logLoss": 0.3}, stable, "v1") == []
    (failure,) = check(gates, {"logLoss": 0.31}, stable, "v1")
    assert "above the stable version's 0.3" in failure


def test_missing_stable_value_fails_naming_the_stable_version() -> None:
    gates = [gate(metric="auc", mustBeatStable=True)]
    assert check(gates, {"auc": 0.99}, {"accuracy": 0.9}, "fraud-rp-3") == [
        "auc: no recorded value for the stable version fraud-rp-3"
    ]
    assert check(gates, {"auc": 0.99}, None, "v1") == ["auc: no recorded value for the stable version v1"]
    assert check(gates, {"auc": 0.99}, None, "") == ["auc: no recorded value for the stable version -"]


def test_missing_metric_skips_the_other_checks_of_its_gate() -> None:
    gates = [gate(metric="auc", min=0.5, mustBeatStable=True)]
    assert check(gates, {}, None, "v1") == ["auc missing from the result"]


def test_all_failures_of_a_gate_are_reported() -> None:
    gates = [gate(metric="auc", min=0.9, mustBeatStable=True)]
    assert check(gates, {"auc": 0.7}, {"auc": 0.8}, "v1") == [
        "auc 0.7 < min 0.9",
        "auc 0.7 is below the stable version's 0.8",
    ]


def test_a_gate_needs_something_to_check() -> None:
    with pytest.raises(ValueError, match="needs min, max or mustBeatStable"):
        gate(metric="auc")
