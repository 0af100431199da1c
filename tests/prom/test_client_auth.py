"""Credentials on the wire, and authentication failures told apart from an unreachable Prometheus."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from modelops.analysis.checks import Verdict
from modelops.api.v1alpha1 import ModelDeploymentSpec
from modelops.prom.canary import Variant, analyze
from modelops.prom.client import (
    PrometheusAuthError,
    PrometheusClient,
    PrometheusCredentialsError,
    PrometheusUnreachable,
)

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EMPTY = {"status": "success", "data": {"resultType": "vector", "result": []}}


def _run(client: PrometheusClient) -> None:
    async def go() -> None:
        async with client:
            await client.query("up", time=AT)

    asyncio.run(go())


def _recording(seen: list[httpx.Request], status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=EMPTY) if status == 200 else httpx.Response(status, text="Unauthorized\n")

    return handler


def test_bearer_token_goes_in_the_authorization_header() -> None:
    seen: list[httpx.Request] = []
    _run(PrometheusClient("http://p.test", bearer_token="s3cret", transport=httpx.MockTransport(_recording(seen))))
    assert seen[0].headers["authorization"] == "Bearer s3cret"


def test_basic_auth_goes_in_the_authorization_header() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(_recording(seen))
    _run(PrometheusClient("http://p.test", basic_auth=("ops", "pa:ss"), transport=transport))
    expected = base64.b64encode(b"ops:pa:ss").decode()
    assert seen[0].headers["authorization"] == f"Basic {expected}"


def test_no_credentials_no_header() -> None:
    seen: list[httpx.Request] = []
    _run(PrometheusClient("http://p.test", transport=httpx.MockTransport(_recording(seen))))
    assert "authorization" not in seen[0].headers


def test_token_and_basic_auth_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        PrometheusClient("http://p.test", bearer_token="t", basic_auth=("u", "p"))


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_auth_errors_sent_once_and_never_unreachable(status: int) -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(_recording(seen, status))
    client = PrometheusClient("http://p.test", bearer_token="wrong", retries=3, backoff=0.001, transport=transport)
    with pytest.raises(PrometheusAuthError) as error:
        _run(client)
    assert not isinstance(error.value, PrometheusUnreachable)
    assert len(seen) == 1  # a refusal is not transient: no retries
    assert f"HTTP {status}" in error.value.reason and "refused the configured credentials" in error.value.reason
    assert "wrong" not in str(error.value)  # the token never appears in an error


def test_401_without_credentials_says_none_are_configured() -> None:
    with pytest.raises(PrometheusAuthError, match="none are configured"):
        _run(PrometheusClient("http://p.test", transport=httpx.MockTransport(_recording([], 401))))


def test_a_refusing_client_sends_nothing() -> None:
    seen: list[httpx.Request] = []
    client = PrometheusClient(
        "http://p.test", refusal="Secret ml/prom has no key 'token'", transport=httpx.MockTransport(_recording(seen))
    )
    with pytest.raises(PrometheusCredentialsError, match="Secret ml/prom has no key 'token'"):
        _run(client)
    assert seen == []


def _analysis_reasons(client: PrometheusClient) -> list[tuple[Verdict, str]]:
    spec = ModelDeploymentSpec.model_validate({"model": {"name": "m", "version": "v2", "uri": "file:///m.npz"}})

    async def go() -> list[tuple[Verdict, str]]:
        async with client:
            result = await analyze(
                client,
                spec.analysis,
                canary=Variant("ml", "m", "v2"),
                stable=Variant("ml", "m", "v1"),
                interval=timedelta(minutes=1),
                min_requests=100,
                at=AT,
            )
        return [(c.verdict, c.reason) for c in result.checks]

    return asyncio.run(go())


def test_analysis_is_unknown_and_says_the_credentials_were_refused() -> None:
    client = PrometheusClient("http://p.test", bearer_token="x", transport=httpx.MockTransport(_recording([], 401)))
    results = _analysis_reasons(client)
    assert results and all(v is Verdict.UNKNOWN for v, _ in results)
    assert all(r.startswith("Prometheus refused the credentials: HTTP 401") for _, r in results)


def test_analysis_is_unknown_and_names_the_missing_secret() -> None:
    client = PrometheusClient("http://p.test", refusal="Secret ml/prom (bearerTokenSecretRef, key 'token') not found")
    results = _analysis_reasons(client)
    assert all(v is Verdict.UNKNOWN for v, _ in results)
    assert all("credentials unavailable: Secret ml/prom (bearerTokenSecretRef, key 'token')" in r for _, r in results)
