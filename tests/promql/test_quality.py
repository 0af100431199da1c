"""The label queries: their text, and what Prometheus' own engine makes of them (promtool test rules)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from modelops.promql.quality import label_delay_quantile, queries

LABELS = {"namespace": "ml", "model": "fraud", "version": "v2"}
V2_PER_MINUTE = (("fn", 1), ("fp", 2), ("tn", 1), ("tp", 6))  # outcomes per replica and minute, sorted


def test_queries_sum_across_replicas_by_what_the_analysis_reads() -> None:
    q = queries(LABELS, timedelta(minutes=10))
    sel = 'namespace="ml",model="fraud",version="v2"'
    assert q.outcomes == f"sum by (outcome) (increase(modelops_feedback_total{{{sel}}}[10m]))"
    assert q.accuracy == (
        f'sum(increase(modelops_feedback_total{{{sel},outcome=~"tp|tn"}}[10m])) / '
        f"sum(increase(modelops_feedback_total{{{sel}}}[10m]))"
    )
    assert q.labelled_scores == f"sum by (label, le) (increase(modelops_labelled_score_bucket{{{sel}}}[10m]))"
    assert q.predictions == f"sum(increase(modelops_prediction_count{{{sel}}}[10m]))"
    assert q.unlabelled == f"sum(increase(modelops_predictions_unlabelled_total{{{sel}}}[10m]))"
    assert q.ignored == f"sum by (reason) (increase(modelops_feedback_ignored_total{{{sel}}}[10m]))"
    delay = label_delay_quantile(LABELS, timedelta(hours=6), 0.9)
    assert delay == f"histogram_quantile(0.9, sum by (le) (increase(modelops_label_delay_seconds_bucket{{{sel}}}[6h])))"


def test_label_values_are_escaped_and_quantiles_checked() -> None:
    q = queries({"model": 'x"} or vector(1)'}, timedelta(minutes=1))
    assert 'model="x\\"} or vector(1)"' in q.outcomes
    with pytest.raises(ValueError, match="quantile"):
        label_delay_quantile(LABELS, timedelta(hours=1), 1.5)


def _series(name: str, labels: dict[str, str], per_minute: int, minutes: int = 10) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": f"0+{per_minute}x{minutes}"}


@pytest.mark.integration
def test_prometheus_evaluates_them_to_what_the_analysis_expects(tmp_path: Path) -> None:
    """Two replicas of v2 and one of v1: per replica and minute 6 tp, 2 fp, 1 tn, 1 fn (v1 only tp)."""
    if shutil.which("promtool") is None:
        pytest.fail("promtool missing: apt-get install prometheus")
    series = []
    for pod, version in (("a", "v2"), ("b", "v2"), ("c", "v1")):
        base = {"namespace": "ml", "model": "fraud", "version": version, "pod": pod}
        for outcome, n in V2_PER_MINUTE:
            per_minute = n if version == "v2" or outcome == "tp" else 0
            series.append(_series("modelops_feedback_total", {**base, "outcome": outcome}, per_minute))
        for le, n in (("60.0", 4), ("3600.0", 9), ("+Inf", 10)):
            series.append(_series("modelops_label_delay_seconds_bucket", {**base, "le": le}, n))
    q = queries(LABELS, timedelta(minutes=5))
    tests = {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {"expr": q.accuracy, "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 0.7}]},
            {
                "expr": q.outcomes,
                "eval_time": "10m",
                "exp_samples": [
                    {"labels": f'{{outcome="{o}"}}', "value": n * 2 * 5}
                    for o, n in (("fn", 1), ("fp", 2), ("tn", 1), ("tp", 6))
                ],
            },
            {
                # 40% within a minute, 90% within an hour: the median is interpolated in (60, 3600]
                "expr": label_delay_quantile(LABELS, timedelta(minutes=5), 0.5),
                "eval_time": "10m",
                "exp_samples": [{"labels": "{}", "value": 768}],  # 60 + 3540 * 0.1 / 0.5,
            },
        ],
    }
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": [tests]}))
    result = subprocess.run(
        ["promtool", "test", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
