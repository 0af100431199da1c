"""A real Prometheus scrapes itself, reloads new configs, and says how to install it if missing."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from modelops_devcluster.prometheus import PrometheusServer, PrometheusServerError

Factory = Callable[[dict[str, Any] | str], PrometheusServer]


def _query(prom: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    url = f"{prom.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _self_scrape(prom: PrometheusServer) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "self", "static_configs": [{"targets": [f"127.0.0.1:{prom.port}"]}]}],
    }


@pytest.mark.integration
def test_prometheus_scrapes_itself_after_reload(prometheus_factory: Factory) -> None:
    prom = prometheus_factory({"global": {"scrape_interval": "1s"}})
    assert prom.url == f"http://127.0.0.1:{prom.port}"
    prom.reload(_self_scrape(prom))  # the port is only known once it is running

    deadline = time.monotonic() + 30
    while not (up := _query(prom, 'up{job="self"}')):
        assert time.monotonic() < deadline, "no scrape of job 'self' within 30s"
        time.sleep(0.5)
    assert up[0]["value"][1] == "1"


@pytest.mark.integration
def test_reload_rejects_a_bad_config(prometheus_factory: Factory) -> None:
    prom = prometheus_factory({"global": {"scrape_interval": "1s"}})
    with pytest.raises(PrometheusServerError, match="reload rejected"):
        prom.reload({"scrape_configs": [{"job_name": "x", "no_such_field": 1}]})


def test_missing_binary_says_how_to_install() -> None:
    with pytest.raises(PrometheusServerError, match="apt-get install prometheus"):
        PrometheusServer({}, binary="no-such-prometheus-binary").start()
