"""Credentials read from the ModelDeployment's Secret; clients cached per credentials, never shared."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, cast

import kopf
import pytest

from modelops.api.v1alpha1.modeldeployment import PrometheusSource
from modelops.controllers.config import OperatorConfig
from modelops.controllers.prometheus import Credentials, client_for, client_for_deployment, credentials_for
from modelops.kube import Kube, ReadRefused


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class FakeKube:
    """secret_data as the API serves it: base64 values, None when absent, ReadRefused on 403."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.refuse: str | None = None
        self.gets = 0

    def put(self, namespace: str, name: str, **values: str) -> None:
        self.secrets[(namespace, name)] = {k: _b64(v) for k, v in values.items()}

    async def secret_data(self, namespace: str, name: str) -> tuple[str, dict[str, str]] | None:
        self.gets += 1
        if self.refuse:
            raise ReadRefused(self.refuse)
        data = self.secrets.get((namespace, name))
        return None if data is None else ("1", dict(data))


def _kube(fake: FakeKube) -> Kube:
    return cast(Kube, fake)


def _source(**wire: Any) -> PrometheusSource:
    return PrometheusSource.model_validate(wire)


def _memo() -> kopf.Memo:
    memo = kopf.Memo()
    memo["prometheus"] = {}
    memo["config"] = OperatorConfig(prometheus_url="http://prom.test:9090")
    return memo


def _read(fake: FakeKube, **wire: Any) -> Credentials:
    return asyncio.run(credentials_for(_kube(fake), "ml", _source(**wire)))


def test_bearer_token_is_read_and_trimmed() -> None:
    fake = FakeKube()
    fake.put("ml", "prom", token="abc\n")
    creds = _read(fake, bearerTokenSecretRef={"name": "prom"})
    assert creds.bearer_token == "abc" and creds.refusal is None
    assert "abc" not in repr(creds)


def test_basic_auth_is_read_with_default_and_custom_keys() -> None:
    fake = FakeKube()
    fake.put("ml", "basic", username="ops", password="pw", user="u2", pass_="p2")
    assert _read(fake, basicAuthSecretRef={"name": "basic"}).basic_auth == ("ops", "pw")
    custom = _read(fake, basicAuthSecretRef={"name": "basic", "usernameKey": "user", "passwordKey": "pass_"})
    assert custom.basic_auth == ("u2", "p2")
    assert "pw" not in repr(custom) and "p2" not in repr(custom)


def test_no_reference_means_no_credentials_and_no_read() -> None:
    fake = FakeKube()
    creds = _read(fake)
    assert creds == Credentials() and fake.gets == 0


@pytest.mark.parametrize(
    ("secrets", "wire", "expected"),
    [
        (
            {},
            {"bearerTokenSecretRef": {"name": "prom"}},
            "Secret ml/prom (bearerTokenSecretRef, key 'token') not found in namespace ml",
        ),
        (
            {"prom": {"tok": "x"}},
            {"bearerTokenSecretRef": {"name": "prom"}},
            "bearerTokenSecretRef: Secret ml/prom has no key 'token' (its keys: tok)",
        ),
        (
            {"prom": {"token": " \n"}},
            {"bearerTokenSecretRef": {"name": "prom"}},
            "bearerTokenSecretRef: key 'token' of Secret ml/prom is empty",
        ),
        (
            {"b": {"username": "u"}},
            {"basicAuthSecretRef": {"name": "b"}},
            "basicAuthSecretRef: Secret ml/b has no key 'password' (its keys: username)",
        ),
        (
            {},
            {"basicAuthSecretRef": {"name": "b"}},
            "Secret ml/b (basicAuthSecretRef, keys 'username' and 'password') not found in namespace ml",
        ),
    ],
)
def test_a_missing_secret_or_key_is_a_refusal_naming_it(
    secrets: dict[str, dict[str, str]], wire: dict[str, Any], expected: str
) -> None:
    fake = FakeKube()
    for name, values in secrets.items():
        fake.put("ml", name, **values)
    creds = _read(fake, **wire)
    assert creds.refusal == expected and creds.bearer_token is None and creds.basic_auth is None


def test_a_forbidden_read_hints_at_rbac() -> None:
    fake = FakeKube()
    fake.refuse = "HTTP 403 Forbidden"
    creds = _read(fake, bearerTokenSecretRef={"name": "prom"})
    assert creds.refusal is not None and "HTTP 403 Forbidden" in creds.refusal and "get on secrets" in creds.refusal


def test_clients_are_shared_for_equal_credentials_and_never_across_different_ones() -> None:
    memo = _memo()
    a = client_for(memo, "http://p", credentials=Credentials("bearer ml/a[token]", bearer_token="tok-AAA"))
    again = client_for(memo, "http://p", credentials=Credentials("bearer ml/a[token]", bearer_token="tok-AAA"))
    other = client_for(memo, "http://p", credentials=Credentials("bearer ml/b[token]", bearer_token="tok-BBB"))
    plain = client_for(memo, "http://p")
    assert a is again and other is not a and plain is not a and plain is not other
    assert a._client.headers["authorization"] == "Bearer tok-AAA"
    assert other._client.headers["authorization"] == "Bearer tok-BBB"
    assert "authorization" not in plain._client.headers
    for key in memo["prometheus"]:  # the cache's keys name sources, never values
        assert "tok-" not in key


def test_a_changed_secret_gives_a_new_client_on_the_next_pass() -> None:
    memo, fake = _memo(), FakeKube()
    source = _source(bearerTokenSecretRef={"name": "prom"})

    async def passes() -> list[str]:
        headers = []
        for token in ("first", "first", "second"):
            fake.put("ml", "prom", token=token)
            client = await client_for_deployment(memo, _kube(fake), "ml", source)
            assert client is not None
            headers.append(client._client.headers["authorization"])
        return headers

    assert asyncio.run(passes()) == ["Bearer first", "Bearer first", "Bearer second"]
    assert fake.gets == 3 and len(memo["prometheus"]) == 1  # the rotated slot replaced, not grown


def test_a_refusing_source_builds_a_client_that_sends_nothing() -> None:
    memo, fake = _memo(), FakeKube()
    client = asyncio.run(client_for_deployment(memo, _kube(fake), "ml", _source(bearerTokenSecretRef={"name": "x"})))
    assert client is not None and client.refusal is not None and "Secret ml/x" in client.refusal
