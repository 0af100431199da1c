"""The Python SLO evaluator and Prometheus agree, on the same series.

For each scenario (full outage, 2% errors, a slow-latency episode, zero traffic) the same
per-minute counters are (1) backfilled into a real Prometheus, which the Python evaluator
queries at a set of times, and (2) fed to `promtool test rules` with the rendered rules,
asserting exactly the alerts the Python evaluator says fire at those times. The burn rates
Python computes must equal Prometheus's evaluation of the recording-rule expressions to 1e-9.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from modelops.analysis.slo import PairStatus, SLOEvaluation, error_budget, evaluate, standard_pairs, windows
from modelops.prom.client import PrometheusClient
from modelops.prom.sli import counts
from modelops.promql import expr, sli
from modelops.render.prometheusrule import SLOTarget, rule_groups
from modelops.telemetry_contract import BURN_ALERT
from modelops_devcluster.prometheus import PrometheusServer

pytestmark = pytest.mark.integration
MINUTES = 240
LABELS = {"namespace": "ml", "model": "fraud", "variant": "stable", "version": "v1"}
SELECT = {"namespace": "ml", "model": "fraud", "variant": "stable"}
EVAL_MINUTES = (20, 60, 125, 135, 150, 165, 200, 239)
TARGETS = [
    SLOTarget(
        "availability",
        error_budget(99.9),
        standard_pairs(timedelta(days=30)),
        functools.partial(sli.availability, SELECT),
    ),
    SLOTarget(
        "latency",
        error_budget(99),
        standard_pairs(timedelta(days=30)),
        functools.partial(sli.latency, SELECT, le="0.25"),
    ),
]


def _cumulative(per_minute: np.ndarray) -> list[float]:
    return np.concatenate([[0.0], np.cumsum(per_minute)]).tolist()


def scenario(name: str) -> dict[str, list[float]]:
    """Cumulative counters per minute, 0..MINUTES, keyed by their label suffix."""
    m = np.arange(MINUTES)
    rate = np.full(MINUTES, 0.0 if name == "zero" else 600.0)  # 10 requests/s
    errors = np.zeros(MINUTES)
    if name == "outage":
        errors = np.where((m >= 120) & (m < 150), rate, 0.0)
    elif name == "two-percent":
        errors = rate * 0.02
    slow_share = np.where((m >= 100) & (m < 160), 0.3, 0.005) if name == "slow" else np.full(MINUTES, 0.005)
    fast = rate * (1 - slow_share)
    return {
        'code="200"': _cumulative(rate - errors),
        'code="500"': _cumulative(errors),
        'le="0.1"': _cumulative(fast * 0.6),
        'le="0.25"': _cumulative(fast),
        'le="+Inf"': _cumulative(rate),
    }


def _series_name(suffix: str) -> str:
    base = ",".join(f'{k}="{v}"' for k, v in LABELS.items())
    metric = "modelops_requests_total" if suffix.startswith("code") else "modelops_request_duration_seconds_bucket"
    return f"{metric}{{{base},{suffix}}}"


def backfill(data: dict[str, list[float]], start: int, workdir: Path) -> Path:
    lines = ["# TYPE modelops_requests counter", "# TYPE modelops_request_duration_seconds histogram"]
    for suffix, values in data.items():
        lines += [f"{_series_name(suffix)} {v} {start + i * 60}" for i, v in enumerate(values)]
    lines.append("# EOF")
    source = workdir / "series.om"
    source.write_text("\n".join(lines) + "\n")
    blocks = workdir / "blocks"
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(blocks)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return blocks


async def python_view(url: str, start: int) -> dict[int, dict[str, tuple[SLOEvaluation, dict[timedelta, float]]]]:
    """Per eval minute and SLO: the evaluation, and Prometheus's own ratio per window."""
    out: dict[int, dict[str, tuple[SLOEvaluation, dict[timedelta, float]]]] = {}
    async with PrometheusClient(url, retries=1) as client:
        for minute in EVAL_MINUTES:
            at = datetime.fromtimestamp(start + minute * 60, UTC)
            out[minute] = {}
            for target in TARGETS:
                window_counts = {w: await counts(client, target.queries(w), at=at) for w in windows(target.pairs)}
                ratios = {}
                for w in windows(target.pairs):
                    q = target.queries(w)
                    samples = await client.query(f"({q.bad} or vector(0)) / {q.total}", time=at)
                    if samples and samples[0].value == samples[0].value:  # not NaN
                        ratios[w] = samples[0].value
                out[minute][target.slo] = (evaluate(target.pairs, target.budget, window_counts), ratios)
    return out


def expected_alerts(evaluation: SLOEvaluation, slo: str, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rendered = [r for g in groups for r in g["rules"] if r.get("alert") == BURN_ALERT and r["labels"]["slo"] == slo]
    alerts = []
    for result in evaluation.pairs:
        if result.status is PairStatus.FIRING:
            rule = next(
                r
                for r in rendered
                if (r["labels"]["long_window"], r["labels"]["short_window"])
                == (expr.duration(result.pair.long), expr.duration(result.pair.short))
            )
            alerts.append({"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]})
    return alerts


@pytest.mark.parametrize("name", ["outage", "two-percent", "slow", "zero"])
def test_python_and_prometheus_agree(name: str, tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.fail("promtool missing: apt-get install prometheus")
    data = scenario(name)
    start = (int(time.time()) // 3600 - 6) * 3600  # whole hours, safely in the past
    blocks = backfill(data, start, tmp_path)
    with PrometheusServer(
        {"global": {"scrape_interval": "1m"}}, blocks=blocks, extra_args=["--storage.tsdb.retention.time=30d"]
    ) as prom:
        view = asyncio.run(python_view(prom.url, start))

    # 1. burn rates: Python (Decimal, from two increase() queries) == Prometheus's ratio / budget
    compared = 0
    for minute, per_slo in view.items():
        for target in TARGETS:
            evaluation, ratios = per_slo[target.slo]
            burns = {r.pair.long: r.long_burn for r in evaluation.pairs} | {
                r.pair.short: r.short_burn for r in evaluation.pairs
            }
            for window, ratio in ratios.items():
                burn = burns[window]
                assert burn is not None, (minute, target.slo, window)
                assert float(burn) == pytest.approx(ratio / float(target.budget), rel=1e-9, abs=1e-12)
                compared += 1
    if name == "zero":
        assert compared == 0
        assert all(per_slo[t.slo][0].status is PairStatus.NO_DATA for per_slo in view.values() for t in TARGETS)
    else:
        assert compared > 50

    # 2. firing pairs: promtool's rule engine raises exactly the alerts Python says fire
    groups = rule_groups("ml", "fraud", TARGETS)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    tests = [
        {
            "interval": "1m",
            "input_series": [{"series": _series_name(s), "values": " ".join(map(repr, vs))} for s, vs in data.items()],
            "alert_rule_test": [
                {
                    "eval_time": f"{minute}m",
                    "alertname": BURN_ALERT,
                    "exp_alerts": [a for t in TARGETS for a in expected_alerts(view[minute][t.slo][0], t.slo, groups)],
                }
                for minute in EVAL_MINUTES
            ],
        }
    ]
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)
    )
    result = subprocess.run(
        ["promtool", "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    firing = {
        m: sorted(
            {(t.slo, r.pair.name) for t in TARGETS for r in view[m][t.slo][0].pairs if r.status is PairStatus.FIRING}
        )
        for m in EVAL_MINUTES
    }
    _check_story(name, firing)


def _check_story(name: str, firing: dict[int, list[tuple[str, str]]]) -> None:
    """Each scenario tells the story it should, so the agreement is about something."""
    if name == "outage":
        assert ("availability", "1h/5m") in firing[125] and ("availability", "1h/5m") in firing[135]
        assert ("availability", "1h/5m") not in firing[165]  # 5m window recovered
        assert firing[20] == []
    elif name == "two-percent":
        assert ("availability", "1h/5m") in firing[200]
    elif name == "slow":
        # 25 of the last 60 minutes at 30% slow is a burn of 12.8: the 6h/30m page fires first, 1h/5m by minute 135
        assert ("latency", "6h/30m") in firing[125] and ("latency", "1h/5m") not in firing[125]
        assert ("latency", "1h/5m") in firing[135] and not any(slo == "availability" for slo, _ in firing[135])
    else:
        assert all(v == [] for v in firing.values())


def test_scenarios_are_counters() -> None:
    for name in ("outage", "two-percent", "slow", "zero"):
        for values in scenario(name).values():
            assert all(b >= a for a, b in itertools.pairwise(values))
