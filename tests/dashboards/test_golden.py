"""The chart's dashboards are exactly what the generator writes, and are well-formed Grafana JSON.

One source of truth, as for the CRDs (tests/crdgen/test_golden.py): edit
devcluster/modelops_devcluster/dashboards.py, then `make dashboards`. No Grafana runs here: the JSON is
checked against the SDK's typed model of Grafana 11.6's dashboard (a round trip through it changes
nothing), and every query is checked for the names and variables it uses; tests/integration/
test_dashboards.py runs every query against a real Prometheus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from modelops import telemetry_contract as tc
from modelops_devcluster import dashboards as gen

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "charts/modelops-operator/files/dashboards"
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}


def boards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in gen.render_all().items()}


def test_committed_dashboards_match_the_generator() -> None:
    assert gen.stale(DIRECTORY) == [], "charts/modelops-operator/files/dashboards is out of date: run `make dashboards`"
    assert sorted(p.name for p in DIRECTORY.glob("*.json")) == sorted(gen.DASHBOARDS), "unexpected extra files"


def test_generation_is_deterministic() -> None:
    assert gen.render_all() == gen.render_all()


# what Grafana's Prometheus data source reads in an annotation and the SDK's neutral model has no field for
PROMETHEUS_ANNOTATION_KEYS = {"titleFormat", "textFormat", "tagKeys", "step"}


@pytest.mark.parametrize("name", sorted(gen.DASHBOARDS))
def test_the_json_round_trips_through_the_sdk_model(name: str) -> None:
    """Parsed into the SDK's typed Dashboard and encoded again, nothing changes but the annotations'
    Prometheus fields (gen.PrometheusAnnotation), which the neutral model drops."""
    board = boards()[name]
    again = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    for annotation in board.get("annotations", {}).get("list", []):
        assert set(annotation) & PROMETHEUS_ANNOTATION_KEYS == PROMETHEUS_ANNOTATION_KEYS
        for key in PROMETHEUS_ANNOTATION_KEYS:
            del annotation[key]
    assert again == board


def _metric_names() -> set[str]:
    known = set(tc.METRICS)
    for histogram in tc.HISTOGRAMS:
        known |= {tc.bucket(histogram), tc.histogram_sum(histogram), tc.histogram_count(histogram)}
    operator = [v for k, v in vars(gen).items() if k.isupper() and isinstance(v, str) and v.startswith("modelops_")]
    return known | set(operator)


@pytest.mark.parametrize("name", sorted(gen.DASHBOARDS))
def test_queries_use_known_metrics_defined_variables_and_the_datasource_variable(name: str) -> None:
    board = boards()[name]
    variables = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "namespace", "model"} <= variables
    found = list(gen.queries(board))
    assert found
    known = _metric_names()
    for where, expr, _ in found:
        used = set(re.findall(r"\bmodelops_[a-z_]+\b", expr))
        assert used and used <= known, (where, used - known)
        assert set(re.findall(r"\$(\w+)", expr)) - {"1"} <= variables | BUILTIN_VARIABLES, (where, expr)
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"] and panel.get("description"), panel["title"]
            for query in panel["targets"]:
                assert query["datasource"]["uid"] == "${datasource}", panel["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = [p["title"] for p in board["panels"] if p["type"] != "row"]
    assert len(titles) == len(set(titles))


def test_operator_metric_names_come_from_the_metric_objects() -> None:
    assert gen.PHASE == "modelops_rollout_phase"
    assert gen.RECONCILES == "modelops_reconcile_total"  # a counter's samples carry _total
    assert gen.DEPLOYMENT_INFO == "modelops_deployment_info"


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "modelops-fleet.json").write_text("{}\n")
    assert gen.main(["--check", str(tmp_path)]) == 1
