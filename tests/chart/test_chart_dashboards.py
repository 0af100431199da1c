"""The chart's dashboards: off by default; on, one ConfigMap per view, labelled for the Grafana sidecar.

Rendered with the pinned helm (integration tier, like tests/chart/test_chart.py); no cluster, no Grafana.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.chart.test_chart import CHART, RELEASE_NAMESPACE, Helm, helm, render

__all__ = ["helm"]  # the module-scoped fixture, shared with test_chart.py
pytestmark = pytest.mark.integration
FILES = CHART / "files" / "dashboards"


def configmaps(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "ConfigMap"]


def test_no_dashboards_by_default(helm: Helm) -> None:
    assert configmaps(render(helm)) == []


def test_one_configmap_per_view_for_the_grafana_sidecar(helm: Helm) -> None:
    maps = configmaps(render(helm, "--set", "dashboards.enabled=true"))
    assert sorted(m["metadata"]["name"] for m in maps) == [
        "modelops-operator-dashboard-debug",
        "modelops-operator-dashboard-fleet",
        "modelops-operator-dashboard-rollout",
    ]
    for m in maps:
        meta = m["metadata"]
        assert meta["namespace"] == RELEASE_NAMESPACE
        assert meta["labels"]["grafana_dashboard"] == "1"
        assert meta["annotations"] == {"grafana_folder": "modelops"}
        [(key, text)] = m["data"].items()
        assert json.loads(text) == json.loads((FILES / key).read_text())  # the generated JSON, unchanged


def test_label_namespace_and_folder_are_configurable(helm: Helm) -> None:
    values = [
        "dashboards.enabled=true",
        "dashboards.label=team_dashboard",
        "dashboards.labelValue=yes",
        "dashboards.namespace=monitoring",
        "dashboards.folderAnnotation=k8s-sidecar-target-directory",
        "dashboards.folder=/tmp/dashboards/ml",
        "dashboards.labels.extra=x",
    ]
    maps = configmaps(render(helm, *(a for v in values for a in ("--set", v))))
    assert len(maps) == 3
    for m in maps:
        meta = m["metadata"]
        assert meta["namespace"] == "monitoring"
        assert meta["labels"]["team_dashboard"] == "yes" and "grafana_dashboard" not in meta["labels"]
        assert meta["labels"]["extra"] == "x"
        assert meta["annotations"] == {"k8s-sidecar-target-directory": "/tmp/dashboards/ml"}
    no_folder = configmaps(render(helm, "--set", "dashboards.enabled=true", "--set", "dashboards.folder="))
    assert all("annotations" not in m["metadata"] for m in no_folder)
