"""Every query of the chart's Grafana dashboards, against a real Prometheus after real traffic and a rollout.

The stack: the real control plane, the operator, Debian's Prometheus scraping the reference model
servers (on their pods' 127.x IPs) and, here, the operator's own /metrics too (honor_labels, so its
`namespace` and `name` labels stay theirs). A ModelDeployment whose name is not its model's name (so
every join from operator series to server series is exercised) serves v1 under traffic, some of it
refused as invalid; a DriftMonitor watches it, a RetrainPolicy run is validated (kwok ends its Job
with a trainer result), and v2 rolls out and is promoted.

Then, for each dashboard as committed in the chart: each template variable is resolved the way
Grafana does (label_values -> Prometheus' label values API) and must list the values this stack
created; each query, with the variables substituted, must pass promtool's parser and return data
over the last minutes (range queries) or now (instant ones). The panels whose data needs something
this test does not create are listed in NO_DATA_HERE with the reason. No Grafana runs here: a real
Grafana UI is not checked (see docs/dashboards.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops_devcluster import dashboards
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Fault, Labels, Service

pytestmark = pytest.mark.integration
NS = "dash"
MODEL = "fraud"
DEPLOYMENT = "fraud-scoring"  # not the model's name: the dashboards must join through modelops_deployment_info
FILES = Path(__file__).resolve().parents[2] / "charts/modelops-operator/files/dashboards"
RANGE_S = 600
STEP_S = 5
FAST = {
    "interval": "5s",
    "minRequests": 20,
    "maxFailedChecks": 2,
    "maxUnknownChecks": 24,
    "bakeTime": "5s",
    "progressDeadline": "5m",
    "steps": [{"setWeight": 20}, {"analysis": {"intervals": 1}}, {"setWeight": 50}, {"analysis": {"intervals": 1}}],
}
SUBSTITUTE = {"__rate_interval": "30s", "__interval": "5s", "__range": f"{RANGE_S}s", "slo_window": "30d"}
# (dashboard file, panel or annotation title) -> why this test cannot give it data
NO_DATA_HERE = {
    ("modelops-debug.json", "Predicted classes A"): "the reference server's numpy-linear model emits scores, "
    "not class labels, so modelops_prediction_class_total has no series",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(NS, log=lambda line: None) as s:
        yield s


def _md(artifact: Artifact) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NS},
        "spec": {
            "model": {
                "name": MODEL,
                "version": artifact.version,
                "uri": artifact.uri,
                "sha256": artifact.sha256,
                "baseline": {"name": f"{MODEL}-baseline"},
            },
            "replicas": 2,
            "traffic": {"router": "replicas"},
            "rollout": FAST,
            # v1 and v2 are trained on different seeds; prediction drift has its own tests. The quality SLO
            # (labels from the traffic) feeds the operator's quality series the rollout dashboard shows.
            "analysis": {
                "predictionDrift": {"enabled": False},
                "slo": {"quality": {"metric": "accuracy", "objective": 0.5, "minLabels": 20}},
            },
        },
    }


def _monitor() -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "DriftMonitor",
        "metadata": {"name": "fraud-drift", "namespace": NS},
        "spec": {
            "modelDeploymentRef": {"name": DEPLOYMENT},
            "reference": {"configMapRef": {"name": f"{MODEL}-baseline", "key": "baseline.json"}},
            "interval": "10s",
            "window": "30s",
            "minSamples": 50,
        },
    }


def _policy() -> dict[str, Any]:
    """A RetrainPolicy run now by hand; kwok ends its Job at once with this trainer result (as in
    tests/integration/test_retrain_policy.py), which passes the gate: a Validated run."""
    result = {
        "model": MODEL,
        "version": "fraud-retrain-1",
        "uri": f"file:///models/{MODEL}/fraud-retrain-1/model.npz",
        "sha256": "0" * 64,
        "metrics": {"auc": 0.9},
    }
    container = {"name": "trainer", "image": "registry.example/trainer:1"}
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": "fraud-retrain", "namespace": NS},
        "spec": {
            "modelDeploymentRef": {"name": DEPLOYMENT},
            "triggers": {"manual": "go"},
            "jobTemplate": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": {"kwok.modelops.dev/termination-message": json.dumps(result)}},
                    "spec": {"restartPolicy": "Never", "containers": [container]},
                },
            },
            "validation": [{"metric": "auc", "min": 0.8}],
        },
    }


def _get(prometheus: str, path: str, **params: str | list[str]) -> Any:
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(f"{prometheus}{path}?{query}", timeout=30) as response:  # 127.0.0.1 only
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def _substitute(expr: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def _variables(prometheus: str, board: dict[str, Any], start: float, end: float) -> dict[str, list[str]]:
    """Each query variable's values, resolved in order as Grafana does (label_values -> the label values API)."""
    chosen = {"namespace": NS, "model": MODEL, "latency_le": "0.25"}
    resolved: dict[str, str] = dict(SUBSTITUTE)
    found: dict[str, list[str]] = {}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
        assert match, variable["query"]
        series, label = _substitute(match.group(1), resolved), match.group(2)
        values = _get(
            prometheus, f"/api/v1/label/{label}/values", **{"match[]": series, "start": f"{start}", "end": f"{end}"}
        )
        found[variable["name"]] = values
        assert values, f"variable {variable['name']}: no values for {series}"
        if variable["name"] in chosen:
            assert chosen[variable["name"]] in values, (variable["name"], values)
            resolved[variable["name"]] = chosen[variable["name"]]
        else:  # a multi-value variable with every value selected, as Grafana writes it into a regex
            resolved[variable["name"]] = "(" + "|".join(re.escape(v) for v in values) + ")"
    return found


def _promtool_check(exprs: list[str], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus"
    rules = {
        "groups": [{"name": "dashboards", "rules": [{"record": f"dash:q{i}", "expr": e} for i, e in enumerate(exprs)]}]
    }
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    proc = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_dashboard_query_returns_data_from_real_prometheus(stack: Stack, tmp_path: Path) -> None:
    # the operator's own metrics: the dashboards read its phase, weights, drift and objectives
    config = dict(stack.prometheus.config) if isinstance(stack.prometheus.config, dict) else {}
    assert config, "the stack's Prometheus config is a dict"
    operator_job = {
        "job_name": "modelops-operator",
        "honor_labels": True,
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": [f"127.0.0.1:{stack.operator.metrics_port}"]}],
    }
    stack.prometheus.reload({**config, "scrape_configs": [*config["scrape_configs"], operator_job]})

    v1 = stack.train(MODEL, "v1", rows=4000, seed=1)
    v2 = stack.train(MODEL, "v2", rows=4000, seed=2)
    stack.apply(stack.baseline_configmap(f"{MODEL}-baseline", v1), _md(v1))
    stack.wait(DEPLOYMENT, lambda s: s.get("phase") == "Available", timeout=90)
    traffic = stack.traffic(Service(DEPLOYMENT), rate=40, seed=5, labels=Labels(delay_s=1.0))
    old_client = Fault(renamed_input_rate=0.05)  # some requests refused as unknown_input: invalid-request panels
    traffic.faults.update({"v1": old_client, "v2": old_client})
    try:
        time.sleep(15)
        stack.apply(_monitor())
        stack.apply(_policy())
        validated = stack.wait_status(
            "retrainpolicy",
            "fraud-retrain",
            lambda s: any(r.get("outcome") == "Validated" for r in s.get("runs") or []),
            timeout=90,
        )
        assert validated["latestValidated"]["version"] == "fraud-retrain-1", validated
        stack.wait_status("driftmonitor", "fraud-drift", lambda s: s.get("drifted") is not None, timeout=120)
        stack.apply(_md(v2))
        status = stack.wait(DEPLOYMENT, lambda s: (s.get("stable") or {}).get("version") == "v2", timeout=240)
        assert status["history"][0]["outcome"] == "Promoted", status["history"][0]
        time.sleep(10)  # a few more scrapes of the promoted version
        _check_every_query(stack.prometheus.url, tmp_path)
        _check_the_fleet_row(stack.prometheus.url)
    finally:
        traffic.stop()


def _check_every_query(prometheus: str, tmp_path: Path) -> None:
    end = time.time()
    start = end - RANGE_S
    exprs: list[str] = []
    empty: list[str] = []
    checked = 0
    for file in sorted(dashboards.DASHBOARDS):
        board = json.loads((FILES / file).read_text())
        found = _variables(prometheus, board, start, end)
        print(file, "variables:", {k: v[:6] for k, v in found.items()})
        # a panel repeated per feature runs once per value of $feature
        features = found.get("feature", [])
        for where, expr, instant in dashboards.queries(board):
            key = re.sub(r"^(panel|annotation) '(.*)' ?(\w*)$", r"\2 \3", where).strip()
            resolved = {**SUBSTITUTE, "namespace": NS, "model": MODEL, "latency_le": "0.25"}
            resolved["version"] = "(" + "|".join(found.get("version", [])) + ")"
            values = [{**resolved, "feature": f} for f in features] if "$feature" in expr else [resolved]
            for variables in values:
                query = _substitute(expr, variables)
                assert "$" not in query.replace('"$1"', ""), (file, where, query)
                exprs.append(query)
                if instant:
                    result = _get(prometheus, "/api/v1/query", query=query, time=f"{end}")["result"]
                else:
                    params = {"query": query, "start": f"{start}", "end": f"{end}", "step": f"{STEP_S}"}
                    result = _get(prometheus, "/api/v1/query_range", **params)["result"]
                checked += 1
                has_data = bool(result) and all(r.get("values") or r.get("value") for r in result)
                if (file, key) in NO_DATA_HERE:
                    print(
                        f"{file} {key}: {'has data' if has_data else 'no data'} "
                        f"(expected none: {NO_DATA_HERE[(file, key)]})"
                    )
                    continue
                if not has_data:
                    empty.append(f"{file} {where} [{variables.get('feature', '')}]: {query}")
                else:
                    print(f"{file} {key}: {len(result)} series")
    _promtool_check(exprs, tmp_path)
    print(
        f"{checked} queries checked, {len(exprs)} parsed by promtool, "
        f"{len(NO_DATA_HERE)} named as needing what this test does not create"
    )
    assert not empty, "queries that returned no data:\n" + "\n".join(empty)
    named = set(NO_DATA_HERE)
    listed = {
        (file, re.sub(r"^(panel|annotation) '(.*)' ?(\w*)$", r"\2 \3", where).strip())
        for file in dashboards.DASHBOARDS
        for where, _, _ in dashboards.queries(json.loads((FILES / file).read_text()))
    }
    assert named <= listed, f"NO_DATA_HERE names queries the dashboards no longer have: {named - listed}"


def _check_the_fleet_row(prometheus: str) -> None:
    """The fleet table's joins give the right row: the deployment, its model, its phase and a sane budget."""
    board = json.loads((FILES / "modelops-fleet.json").read_text())
    [models] = [p for p in board["panels"] if p["title"] == "Models" and p["type"] == "table"]
    values = {**SUBSTITUTE, "namespace": NS, "model": MODEL}
    rows = {
        t["refId"]: _get(prometheus, "/api/v1/query", query=_substitute(t["expr"], values))["result"]
        for t in models["targets"]
    }
    [info] = rows["A"]
    assert info["metric"] == {
        "namespace": NS,
        "name": DEPLOYMENT,
        "model": MODEL,
        "stable_version": "v2",  # no canary_version: Prometheus drops a label whose value is empty
    }, info
    [phase] = rows["B"]
    assert phase["metric"]["modelops_rollout_phase"] in ("Available", "Baking"), phase
    [budget] = rows["D"]
    assert budget["metric"]["name"] == DEPLOYMENT and 0.0 < float(budget["value"][1]) <= 1.0, budget
    [weight] = rows["C"]
    assert float(weight["value"][1]) == 0.0, weight  # promoted: no canary
    [drift] = rows["E"]
    assert drift["metric"]["name"] == DEPLOYMENT and 0.0 <= float(drift["value"][1]) <= 1.0, drift
    [retrained] = rows["G"]  # milliseconds, for Grafana's dateTimeFromNow unit
    assert retrained["metric"]["name"] == DEPLOYMENT and abs(float(retrained["value"][1]) / 1000 - time.time()) < 600
