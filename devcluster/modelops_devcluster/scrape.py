"""A Prometheus config that finds model-server pods the way a production Prometheus does.

Pods are discovered from the dev cluster's API server (role ``pod``) and kept by the
conventional annotations, so tests exercise the same discovery and relabelling a cluster's
Prometheus would, not a static target list:

- ``prometheus.io/scrape: "true"`` keeps the pod,
- ``prometheus.io/port`` and ``prometheus.io/path`` choose the address and path,
- target labels ``namespace`` and ``pod`` are added.

Two ways to discover, one set of relabelling rules:

- ``kubernetes_sd_configs`` against the API server (admin client certificate, the cluster's
  CA), for a Prometheus built with Kubernetes discovery (upstream releases);
- ``http_sd_configs`` against `PodDiscovery`, for Debian's Prometheus: Debian removed the
  Kubernetes discovery from its build. `PodDiscovery` lists pods through the API server and
  answers with exactly the ``__meta_kubernetes_pod_*`` labels kubernetes_sd would give, one
  target per container port, so the rules below cannot tell the difference.

Pod IPs outside 127.0.0.0/8 are dropped before scraping, so even a misconfigured pod cannot
make Prometheus dial anything but loopback.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.httpthread import LoopbackHTTP
from modelops_devcluster.ports import LOOPBACK

JOB_NAME = "modelops-pods"
_LOOPBACK_IP_REGEX = r"127\.\d+\.\d+\.\d+"
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
META = "__meta_kubernetes_pod_"


def _meta(name: str) -> str:
    return META + name


def pod_relabel_configs() -> list[dict[str, Any]]:
    """Keep annotated, running, loopback pods; one target per pod, addressed by annotation."""
    return [
        {"source_labels": [_meta("annotation_prometheus_io_scrape")], "regex": "true", "action": "keep"},
        {"source_labels": [_meta("phase")], "regex": "Running", "action": "keep"},
        # role=pod yields one target per container port, init containers included; keep the
        # regular containers' targets (they collapse into one once the address is rewritten)
        {"source_labels": [_meta("container_init")], "regex": "false", "action": "keep"},
        {"source_labels": [_meta("ip")], "regex": _LOOPBACK_IP_REGEX, "action": "keep"},
        {
            "source_labels": [_meta("ip"), _meta("annotation_prometheus_io_port")],
            "regex": r"(.+);(\d+)",
            "replacement": "$1:$2",
            "target_label": "__address__",
            "action": "replace",
        },
        {
            "source_labels": [_meta("annotation_prometheus_io_path")],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
            "action": "replace",
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace", "action": "replace"},
        {"source_labels": [_meta("name")], "target_label": "pod", "action": "replace"},
    ]


def prometheus_config(
    cluster: DevCluster,
    *,
    namespaces: Sequence[str],
    scrape_interval: str = "1s",
    discovery_url: str | None = None,
) -> dict[str, Any]:
    """A complete Prometheus config scraping annotated pods of `namespaces` in the dev cluster.

    With `discovery_url` (a `PodDiscovery.url`) targets come from HTTP service discovery,
    refreshed every `scrape_interval`; without it, from ``kubernetes_sd_configs``. The scrape
    timeout equals the interval (Prometheus rejects one above it; the default is 10s). An
    empty `namespaces` means every namespace.
    """
    job: dict[str, Any] = {"job_name": JOB_NAME, "scrape_interval": scrape_interval, "scrape_timeout": scrape_interval}
    if discovery_url is not None:
        job["http_sd_configs"] = [{"url": discovery_url, "refresh_interval": scrape_interval}]
    else:
        pki = cluster.workdir / "pki"  # file names as written by modelops_devcluster.pki.generate
        sd: dict[str, Any] = {
            "role": "pod",
            "api_server": cluster.server,
            "tls_config": {
                "ca_file": str(pki / "ca.crt"),
                "cert_file": str(pki / "admin.crt"),
                "key_file": str(pki / "admin.key"),
            },
        }
        if namespaces:
            sd["namespaces"] = {"names": list(namespaces)}
        job["kubernetes_sd_configs"] = [sd]
    job["relabel_configs"] = pod_relabel_configs()
    interval = {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval}
    return {"global": {**interval, "evaluation_interval": scrape_interval}, "scrape_configs": [job]}


# -- kubernetes_sd's pod role, served over HTTP SD --------------------------------------------


def _sanitize(name: str) -> str:
    return _INVALID_LABEL_CHARS.sub("_", name)


def pod_target_groups(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """What kubernetes_sd (role pod) discovers for one pod, as HTTP SD target groups.

    One target per declared container port (``podIP:port``) and one port-less target per
    container without ports; pods without an IP yet have none.
    """
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
    ip = status.get("podIP", "")
    if not ip:
        return []
    common = {
        "__meta_kubernetes_namespace": meta["namespace"],
        _meta("name"): meta["name"],
        _meta("ip"): ip,
        _meta("ready"): _condition(status, "Ready"),
        _meta("phase"): status.get("phase", ""),
        _meta("node_name"): spec.get("nodeName", ""),
        _meta("host_ip"): status.get("hostIP", ""),
        _meta("uid"): meta["uid"],
    }
    for kind in ("label", "annotation"):
        for key, value in (meta.get(f"{kind}s") or {}).items():
            common[_meta(f"{kind}_{_sanitize(key)}")] = value
            common[_meta(f"{kind}present_{_sanitize(key)}")] = "true"
    owner = next((o for o in meta.get("ownerReferences", []) if o.get("controller")), None)
    if owner is not None:
        common[_meta("controller_kind")] = owner["kind"]
        common[_meta("controller_name")] = owner["name"]
    groups = []
    containers = [(c, "true") for c in spec.get("initContainers", [])] + [(c, "false") for c in spec["containers"]]
    for container, init in containers:
        labels = {
            **common,
            _meta("container_name"): container["name"],
            _meta("container_image"): container.get("image", ""),
            _meta("container_init"): init,
        }
        ports = container.get("ports") or []
        if not ports:
            groups.append({"targets": [ip], "labels": labels})
        for port in ports:
            groups.append(
                {
                    "targets": [f"{ip}:{port['containerPort']}"],
                    "labels": {
                        **labels,
                        _meta("container_port_name"): port.get("name", ""),
                        _meta("container_port_number"): str(port["containerPort"]),
                        _meta("container_port_protocol"): port.get("protocol", "TCP"),
                    },
                }
            )
    return groups


def _condition(status: dict[str, Any], kind: str) -> str:
    found = next((c for c in status.get("conditions", []) if c.get("type") == kind), None)
    return "unknown" if found is None else str(found.get("status", "unknown")).lower()


class PodDiscovery:
    """An HTTP service-discovery endpoint on 127.0.0.1 serving the dev cluster's pods.

    `with PodDiscovery(cluster, ["ns"]) as sd: prometheus_config(cluster, namespaces=["ns"],
    discovery_url=sd.url)`. Each GET lists pods through the API server, so Prometheus sees
    pods come and go within one refresh interval.
    """

    def __init__(self, cluster: DevCluster, namespaces: Sequence[str] = ()) -> None:
        self.cluster = cluster
        self.namespaces = list(namespaces)
        self._http = LoopbackHTTP("modelops-pod-sd")

    @property
    def url(self) -> str:
        if not self._http.running:
            raise RuntimeError("PodDiscovery is not started")
        return f"http://{LOOPBACK}:{self._http.port}/targets"

    def target_groups(self) -> list[dict[str, Any]]:
        paths = [f"/api/v1/namespaces/{ns}/pods" for ns in self.namespaces] or ["/api/v1/pods"]
        groups: list[dict[str, Any]] = []
        for path in paths:
            status, body = self.cluster.api("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path} failed ({status}): {body}")
            for pod in body.get("items", []):
                groups.extend(pod_target_groups(pod))
        return groups

    def start(self) -> PodDiscovery:
        if self._http.running:
            return self
        discovery = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urllib.parse.urlparse(self.path).path != "/targets":
                    self.send_error(404)
                    return
                try:
                    body = json.dumps(discovery.target_groups()).encode()
                except (RuntimeError, OSError) as error:  # Prometheus keeps the last good targets
                    self.send_error(503, str(error))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # one request per second: stay quiet
                pass

        self._http.start(Handler)
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> PodDiscovery:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
