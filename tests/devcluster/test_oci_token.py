"""The loopback token server alone: its grants, its OAuth2 grants, and JWTs whose x5c key verifies them.
(The registry's verdict on its tokens is judged in tests/runtime/storage/test_oci_token.py.)"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from modelops_devcluster.oci_token import TokenServer

SCOPE = "repository:models/fraud:pull,push"


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenServer]:
    grants = {"alice": {"models/*": {"pull"}}, "root": {"*": {"*"}}, "": {"public/*": {"pull"}}}
    with TokenServer(users={"alice": "pw", "root": "rpw"}, grants=grants) as server:
        yield server


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _claims(token: str) -> dict[str, Any]:
    """The claims, after checking the ES256 signature with the key of the x5c certificate."""
    header, claims, signature = token.split(".")
    cert = x509.load_der_x509_certificate(base64.b64decode(json.loads(_b64(header))["x5c"][0]))
    raw = _b64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    parsed: dict[str, Any] = json.loads(_b64(claims))
    return parsed


def test_get_grants_what_the_user_has(tokens: TokenServer) -> None:
    query = {"service": tokens.service, "scope": SCOPE}
    alice = httpx.get(tokens.realm, params=query, auth=("alice", "pw"), timeout=5).json()
    claims = _claims(alice["token"])
    assert claims["iss"] == tokens.issuer and claims["aud"] == tokens.service and claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "models/fraud", "actions": ["pull"]}]
    assert _claims(httpx.get(tokens.realm, params=query, auth=("root", "rpw"), timeout=5).json()["token"])["access"][0][
        "actions"
    ] == ["pull", "push"]
    anonymous = httpx.get(tokens.realm, params=query, timeout=5).json()
    assert _claims(anonymous["access_token"])["access"] == []  # a token granting nothing, as the spec says
    public = {"service": tokens.service, "scope": "repository:public/x:pull"}
    assert _claims(httpx.get(tokens.realm, params=public, timeout=5).json()["token"])["access"] != []
    assert httpx.get(tokens.realm, params=query, auth=("alice", "no"), timeout=5).status_code == 401


def test_oauth2_password_then_refresh_token(tokens: TokenServer) -> None:
    form = {"service": tokens.service, "client_id": "test", "scope": SCOPE}
    first = httpx.post(
        tokens.realm,
        data={**form, "grant_type": "password", "username": "alice", "password": "pw", "access_type": "offline"},
        timeout=5,
    ).json()
    assert _claims(first["access_token"])["sub"] == "alice"
    again = httpx.post(
        tokens.realm, data={**form, "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, timeout=5
    )
    assert _claims(again.json()["access_token"])["access"][0]["actions"] == ["pull"]
    for refused in (
        {"grant_type": "refresh_token", "refresh_token": "nope"},
        {"grant_type": "password", "username": "alice"},
    ):
        answer = httpx.post(tokens.realm, data={**form, **refused}, timeout=5)
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
