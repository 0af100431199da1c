"""Analysis against a real Prometheus behind real authentication (issue 14, defect 4).

Basic auth is Prometheus' own: `--web.config.file` with `basic_auth_users` (a bcrypt hash),
which guards every endpoint. The bearer token is checked by a small reverse proxy on loopback
in front of that Prometheus (as an oauth2-proxy or a gateway would be): it accepts
`Authorization: Bearer <current token>` and forwards with the basic-auth credentials.

Credentials go the operator's way: `client_for_deployment` reads the Secret the source names
(an in-memory stand-in of the kube module for the first tests, the real API server for the
last one), so a changed Secret is used on the very next pass.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import kopf
import pytest

from modelops.analysis.checks import Verdict
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.api.v1alpha1.modeldeployment import PrometheusSource
from modelops.controllers.config import OperatorConfig
from modelops.controllers.prometheus import client_for_deployment
from modelops.kube import ClusterKube, Kube, load
from modelops.prom.canary import Variant, analyze
from modelops.prom.client import PrometheusAuthError, PrometheusClient, PrometheusCredentialsError
from modelops_devcluster import objects
from modelops_devcluster.ports import LOOPBACK, free_port
from modelops_devcluster.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

USER = "modelops"
PASSWORD = "modelops-test-password"
# bcrypt of PASSWORD at cost 4 (the minimum; fine for a test), made once with libxcrypt:
#   python3 -c "import crypt; print(crypt.crypt('modelops-test-password', '\$2b\$04\$modelopsfixedsalt00000'))"
PASSWORD_BCRYPT = "$2b$04$modelopsfixedsalt0000ugmgQAJGLTLkRpSFsxan28ZsVOgbLi9."
NAMESPACE = "prom-auth"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def guarded() -> Iterator[PrometheusServer]:
    """Prometheus that answers only with USER:PASSWORD, scraping itself with them every second."""
    server = PrometheusServer(
        {"global": {"scrape_interval": "1s"}},
        auth=(USER, PASSWORD),
        web_config={"basic_auth_users": {USER: PASSWORD_BCRYPT}},
    )
    with server:
        job = {
            "job_name": "self",
            "basic_auth": {"username": USER, "password": PASSWORD},
            "static_configs": [{"targets": [f"{LOOPBACK}:{server.port}"]}],
        }
        server.reload({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]})
        yield server


class BearerProxy:
    """Loopback reverse proxy: `Authorization: Bearer <token>` or 401; forwards with basic auth."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.token = upstream, "token-one"
        self.seen: list[str] = []  # Authorization headers received
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                header = self.headers.get("Authorization", "")
                proxy.seen.append(header)
                if header != f"Bearer {proxy.token}":
                    self._send(401, b"bad or missing bearer token\n", "text/plain")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST")
                req.add_header("Content-Type", self.headers.get("Content-Type", "application/x-www-form-urlencoded"))
                req.add_header("Authorization", _basic(USER, PASSWORD))
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        self._send(resp.status, resp.read(), resp.headers.get("Content-Type", "application/json"))
                except urllib.error.HTTPError as error:
                    self._send(error.code, error.read(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, free_port()), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BearerProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def proxy(guarded: PrometheusServer) -> Iterator[BearerProxy]:
    with BearerProxy(guarded.url) as p:
        yield p


class Secrets:
    """The kube module's secret_data over a dict, as the API server serves it (base64 values)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}

    def put(self, name: str, **values: str) -> None:
        self.data[name] = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}

    async def secret_data(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        found = self.data.get(name)
        return None if found is None else ("1", dict(found))


def _memo() -> kopf.Memo:
    memo = kopf.Memo()
    memo["prometheus"], memo["config"] = {}, OperatorConfig()
    return memo


async def _up(client: PrometheusClient) -> float:
    samples = await client.query('up{job="self"}', time=datetime.now(UTC))
    return samples[0].value if samples else float("nan")


async def _pass(memo: kopf.Memo, kube: Any, source: PrometheusSource) -> float:
    """What a reconcile pass does: read the Secret, pick the client for those credentials, query.
    One event loop per test (the cached clients' connections belong to it)."""
    client = await client_for_deployment(memo, cast(Kube, kube), NAMESPACE, source)
    assert client is not None
    for _ in range(100):  # the first self-scrape lands within a couple of seconds
        if (value := await _up(client)) == 1.0:
            return value
        await asyncio.sleep(0.1)
    return await _up(client)


def test_basic_auth_right_wrong_missing_and_rotated(guarded: PrometheusServer) -> None:
    memo, secrets = _memo(), Secrets()
    source = PrometheusSource.model_validate({"url": guarded.url, "basicAuthSecretRef": {"name": "prom-basic"}})

    async def passes() -> None:
        secrets.put("prom-basic", username=USER, password=PASSWORD)
        assert await _pass(memo, secrets, source) == 1.0  # Prometheus scraped itself and answers us

        secrets.put("prom-basic", username=USER, password="not-the-password")
        with pytest.raises(PrometheusAuthError) as refused:
            await _pass(memo, secrets, source)
        assert "HTTP 401 Unauthorized" in refused.value.reason
        assert "refused the configured credentials" in refused.value.reason
        assert "not-the-password" not in str(refused.value)

        secrets.put("prom-basic", username=USER, password=PASSWORD)  # the Secret is fixed: the next pass works
        assert await _pass(memo, secrets, source) == 1.0

        secrets.put("prom-basic", user=USER, password=PASSWORD)  # a key renamed by mistake
        with pytest.raises(PrometheusCredentialsError) as missing:
            await _pass(memo, secrets, source)
        assert missing.value.reason == (
            "basicAuthSecretRef: Secret prom-auth/prom-basic has no key 'username' (its keys: password, user)"
        )

        with pytest.raises(PrometheusAuthError, match="none are configured"):
            await _pass(memo, secrets, PrometheusSource.model_validate({"url": guarded.url}))

    asyncio.run(passes())


def test_bearer_token_through_a_checking_proxy_and_rotation(proxy: BearerProxy) -> None:
    memo, secrets = _memo(), Secrets()
    source = PrometheusSource.model_validate({"url": proxy.url, "bearerTokenSecretRef": {"name": "prom-token"}})

    async def passes() -> None:
        secrets.put("prom-token", token="token-one\n")  # a trailing newline, as `--from-file` leaves it
        proxy.token = "token-one"
        assert await _pass(memo, secrets, source) == 1.0
        assert proxy.seen[-1] == "Bearer token-one"

        proxy.token = "token-two"  # Prometheus' side rotates first: the old token is refused, and said so
        with pytest.raises(PrometheusAuthError, match=r"HTTP 401 Unauthorized \(bad or missing bearer token\)"):
            await _pass(memo, secrets, source)

        secrets.put("prom-token", token="token-two")  # then the Secret: the next pass uses it
        assert await _pass(memo, secrets, source) == 1.0
        assert proxy.seen[-1] == "Bearer token-two"

        del secrets.data["prom-token"]
        with pytest.raises(PrometheusCredentialsError, match=r"prom-auth/prom-token \(bearerTokenSecretRef, key"):
            await _pass(memo, secrets, source)

    asyncio.run(passes())


def test_refused_credentials_make_every_canary_check_unknown_with_the_reason(guarded: PrometheusServer) -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"name": "m", "version": "v2", "uri": "file:///m.npz"}})

    async def go() -> list[tuple[Verdict, str]]:
        async with PrometheusClient(guarded.url, basic_auth=(USER, "wrong")) as client:
            analysis = await analyze(
                client,
                spec.analysis,
                canary=Variant(NAMESPACE, "m", "v2"),
                stable=Variant(NAMESPACE, "m", "v1"),
                interval=timedelta(minutes=1),
                min_requests=100,
                at=datetime.now(UTC),
            )
        assert analysis.verdict is Verdict.UNKNOWN
        return [(c.verdict, c.reason) for c in analysis.checks]

    results = asyncio.run(go())
    assert results and all(v is Verdict.UNKNOWN for v, _ in results)
    assert all(r.startswith("Prometheus refused the credentials: HTTP 401 Unauthorized") for _, r in results)


def test_a_model_deployments_secret_is_read_from_the_api_server(cluster: Any, proxy: BearerProxy) -> None:
    """The real thing: a ModelDeployment stored by the API server names a Secret in its namespace;
    the operator's client reads it there, and a changed Secret is used on the next pass."""
    objects.install_crds(cluster)
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)

    def secret(token: str) -> None:
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prom-token", "namespace": NAMESPACE},
            "stringData": {"token": token},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    prometheus = {"url": proxy.url, "bearerTokenSecretRef": {"name": "prom-token"}}
    md = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "authed", "namespace": NAMESPACE},
        "spec": {
            "model": {"name": "authed", "version": "v1", "uri": "file:///m.npz"},
            "analysis": {"prometheus": prometheus},
        },
    }
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(md))
    stored = json.loads(cluster.kubectl("get", "-n", NAMESPACE, "md", "authed", "-o", "json").stdout)
    source = ModelDeploymentSpec.model_validate(stored["spec"]).analysis.prometheus
    kube, memo = ClusterKube(load(str(cluster.kubeconfig))), _memo()

    async def passes() -> None:
        proxy.token = "live-one"
        secret("live-one")
        assert await _pass(memo, kube, source) == 1.0
        assert proxy.seen[-1] == "Bearer live-one"

        proxy.token = "live-two"
        secret("live-two")
        assert await _pass(memo, kube, source) == 1.0
        assert proxy.seen[-1] == "Bearer live-two"

        cluster.kubectl("delete", "secret", "-n", NAMESPACE, "prom-token")
        with pytest.raises(PrometheusCredentialsError, match=r"Secret prom-auth/prom-token .* not found"):
            await _pass(memo, kube, source)

    asyncio.run(passes())

    both = json.loads(json.dumps(md))
    both["spec"]["analysis"]["prometheus"]["basicAuthSecretRef"] = {"name": "prom-basic"}
    refused = cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(both), check=False)
    assert refused.returncode != 0 and "mutually exclusive" in refused.stderr
