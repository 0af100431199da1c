"""Alerts that reach someone: from a broken canary to a webhook, through the real Prometheus and a real Alertmanager.

The stack: the control plane with the Prometheus Operator's own PrometheusRule CRD, the operator,
Debian's Prometheus scraping the model servers and the operator, and an Alertmanager built from
github.com/prometheus/alertmanager (the Go module proxy, cached outside the repository) whose only
route is a webhook receiver in this test on 127.0.0.1. Prometheus loads two rule files, each checked
with `promtool check rules` first: the PrometheusRule the operator applied for the ModelDeployment,
as read back from the API server, and the chart's operator alerts as `helm template` renders them.

A healthy v1 serves; v2 answers half of its requests with a 500 (the demo's broken v3). The canary
is rolled back, and the webhook receives both ModelopsRolloutRolledBack (from the operator's
`modelops_rollouts_total`) and the model's ModelopsErrorBudgetBurn page (from the rule the operator
installed), each with its runbook_url. Rule evaluation every second, every wait bounded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops_devcluster import build, crds
from modelops_devcluster.alertmanager import AlertmanagerServer
from modelops_devcluster.objects import until
from modelops_devcluster.ports import LOOPBACK
from modelops_devcluster.stack import Artifact, Stack
from modelops_devcluster.traffic import Fault, Service

pytestmark = pytest.mark.integration
NS = "alerts"
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelops-operator"
RUNBOOKS = "https://runbooks.example/modelops"
FAST = {
    "interval": "5s",
    "minRequests": 20,
    "maxFailedChecks": 2,
    "maxUnknownChecks": 24,
    "bakeTime": "5s",
    "progressDeadline": "5m",
    "steps": [{"setWeight": 20}, {"analysis": {"intervals": 1}}, {"setWeight": 50}, {"analysis": {"intervals": 1}}],
}


class Webhook:
    """Alertmanager's webhook receiver: every notification POSTed to http://127.0.0.1:<port>/alerts, kept."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with received._lock:
                    received.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification received so far (firing ones; resolved are not sent)."""
        with self._lock:
            return [alert for n in self.notifications for alert in n["alerts"]]


def alertmanager_config(webhook: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "oncall",
            "group_by": ["alertname", "namespace", "name", "model"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "oncall", "webhook_configs": [{"url": webhook, "send_resolved": False}]}],
    }


def promtool_check(path: Path) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is needed"
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def chart_rules(workdir: Path) -> dict[str, Any]:
    """The chart's operator alerts, as `helm template` renders them (the pinned helm, built and cached)."""
    helm = build.build() / "helm"
    home = workdir / "helm-home"
    env = {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "PATH": "/usr/bin:/bin",
    }
    args = [str(helm), "template", "modelops", str(CHART), "--namespace", "modelops-system"]
    args += ["--set", "alerts.operatorRules.enabled=true", "--set", f"alerts.runbookBaseURL={RUNBOOKS}"]
    args += ["--show-only", "templates/prometheusrule.yaml"]
    rendered = subprocess.run(args, check=True, capture_output=True, text=True, timeout=120, env=env).stdout
    rule = yaml.safe_load(rendered)
    assert rule["kind"] == "PrometheusRule"
    return {"groups": rule["spec"]["groups"]}


def md(name: str, artifact: Artifact) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": {"name": name, "version": artifact.version, "uri": artifact.uri, "sha256": artifact.sha256},
            "replicas": 4,  # the replicas router: a canary share close to the steps
            "traffic": {"router": "replicas"},
            "rollout": FAST,
            # Four nines: the 1h window then holds the few seconds of a broken canary's errors well above
            # the 14.4x pair's 0.144% (at 99.9% its 1.44% would need minutes of a 50% error canary).
            "analysis": {
                "slo": {"availability": {"objective": 99.99}, "latency": None},
                "predictionDrift": {"enabled": False},
            },
            "alerts": {"labels": {"team": "fraud-oncall"}},
        },
    }


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook


@pytest.fixture(scope="module")
def alertmanager(webhook: Webhook) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer(alertmanager_config(webhook.url)) as am:
        yield am


@pytest.fixture(scope="module")
def stack(alertmanager: AlertmanagerServer) -> Iterator[Stack]:
    options = {"alertmanagers": [alertmanager.address], "evaluation_interval": "1s"}
    with Stack(NS, log=lambda line: None, extra_crds=[crds.prometheusrule_crd()], prometheus_options=options) as s:
        # the operator's own metrics, keeping their namespace/name labels (honor_labels, as the chart's ServiceMonitor)
        config = dict(s.prometheus.config)  # type: ignore[arg-type]
        operator = s.operator.metrics_url.removeprefix("http://").removesuffix("/metrics")
        job = {"job_name": "modelops-operator", "scrape_interval": "1s", "scrape_timeout": "1s", "honor_labels": True}
        config["scrape_configs"] = [*config["scrape_configs"], {**job, "static_configs": [{"targets": [operator]}]}]
        s.prometheus.reload(config)
        yield s


def test_a_rolled_back_canary_reaches_the_webhook(
    stack: Stack, alertmanager: AlertmanagerServer, webhook: Webhook
) -> None:
    started = time.monotonic()
    v1, v2 = (stack.train("fraud", v, rows=4000, seed=i) for i, v in enumerate(("v1", "v2"), start=1))

    chart = chart_rules(stack.workdir)
    (stack.workdir / "chart-rules.yml").write_text(yaml.safe_dump(chart))
    assert "SUCCESS: 10 rules found" in promtool_check(stack.workdir / "chart-rules.yml")  # the operator alerts
    stack.prometheus.set_rules("operator", chart)

    stack.apply(md("fraud", v1))
    stack.wait("fraud", lambda s: s.get("phase") == "Available", timeout=90)
    rule = until(
        "the operator's PrometheusRule",
        lambda: json.loads(
            stack.kubectl(
                "get", "-n", NS, "prometheusrules.monitoring.coreos.com", "-o", "json", "--show-managed-fields"
            )
        )["items"],
        lambda items: len(items) == 1,
        timeout=30,
    )[0]
    assert rule["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    assert {f["manager"] for f in rule["metadata"]["managedFields"]} == {"modelops-operator"}
    assert {f["operation"] for f in rule["metadata"]["managedFields"]} == {"Apply"}  # server-side apply
    stack.wait_status(
        "md",
        "fraud",
        lambda s: any(c["type"] == "AlertRules" and c["status"] == "True" for c in s.get("conditions", [])),
        timeout=30,
    )
    installed = {"groups": rule["spec"]["groups"]}  # as the API server stored it
    (stack.workdir / "md-rules.yml").write_text(yaml.safe_dump(installed))
    assert "SUCCESS: 18 rules found" in promtool_check(stack.workdir / "md-rules.yml")  # 7 windows x 2 + 4 alerts
    stack.prometheus.set_rules("fraud", installed)
    loaded = stack.prometheus.rules_loaded()
    health = {r["name"]: r["health"] for g in loaded for r in g["rules"]}
    assert len(loaded) == 3 and set(health.values()) <= {"ok", "unknown"}, health

    traffic = stack.traffic(Service("fraud"), rate=40, seed=11)
    traffic.faults["v2"] = Fault(error_rate=0.5)
    try:
        time.sleep(20)  # clean v1 traffic first: the burn windows hold both
        stack.apply(md("fraud", v2))
        status = stack.wait("fraud", lambda s: s.get("phase") == "RolledBack", timeout=180)
        assert (status["history"][0]["version"], status["history"][0]["outcome"]) == ("v2", "RolledBack")
        rolled_back = time.monotonic()

        def received() -> dict[str, dict[str, Any]]:
            return {a["labels"]["alertname"]: a for a in webhook.alerts()}

        wanted = {"ModelopsRolloutRolledBack", "ModelopsErrorBudgetBurn"}
        got = until(
            "both alerts at the webhook",
            received,
            lambda alerts: wanted <= set(alerts),
            timeout=120,
        )
    finally:
        traffic.stop()
    took = time.monotonic() - rolled_back
    rollback, burn = got["ModelopsRolloutRolledBack"], got["ModelopsErrorBudgetBurn"]
    assert (
        rollback["status"] == "firing"
        and rollback["labels"]["namespace"] == NS
        and rollback["labels"]["name"] == "fraud"
    )
    assert rollback["annotations"]["runbook_url"] == f"{RUNBOOKS}/ModelopsRolloutRolledBack.md"
    assert "fraud" in rollback["annotations"]["summary"]
    assert burn["labels"]["model"] == "fraud" and burn["labels"]["slo"] == "availability"
    assert burn["labels"]["team"] == "fraud-oncall" and burn["labels"]["severity"] == "page"
    assert burn["annotations"]["runbook_url"].endswith("/ModelopsErrorBudgetBurn.md")
    held = {a["labels"]["alertname"] for a in alertmanager.alerts()}
    assert wanted <= held, held
    print(
        f"alerts at the webhook {took:.1f}s after the rollback ({time.monotonic() - started:.0f}s in all): "
        f"{sorted(received())}; burn pair {burn['labels']['long_window']}/{burn['labels']['short_window']}"
    )
