"""oci:// against the real registry in token mode (Bearer, as Docker Hub, GHCR and Harbor): its tokens
come from devcluster's loopback token server, the artifact is pushed by the real oras CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.cli.main import main
from modelops.runtime.fetch import fetch
from modelops.runtime.storage import errors, oci
from modelops_devcluster.oci import Oras, RegistryServer
from modelops_devcluster.oci_token import TokenServer

pytestmark = pytest.mark.integration  # builds (or finds cached) registry and oras from the Go module proxy

MODEL = b"npz bytes " * 5000
USERS = {"alice": "s3cret", "bob": "b0b"}  # bob logs in but is granted nothing
GRANTS = {"alice": {"models/*": {"pull", "push"}}}


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenServer]:
    with TokenServer(users=USERS, grants=GRANTS) as server:
        yield server


@pytest.fixture(scope="module")
def registry(tokens: TokenServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    work = tmp_path_factory.mktemp("token")
    with RegistryServer(token=tokens) as registry:
        (work / "model.npz").write_bytes(MODEL)
        Oras(registry, login=("alice", USERS["alice"])).push("models/fraud:v1", ["model.npz"], cwd=work)
        yield registry


@pytest.fixture(autouse=True)
def _docker_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


def _docker_config(tmp_path: Path, registry: RegistryServer, entry: dict[str, str]) -> None:
    (tmp_path / "docker").mkdir(exist_ok=True)
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {registry.address: entry}}))


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_oras_pushed_through_the_token_service(tokens: TokenServer, registry: RegistryServer) -> None:
    """oras v1.3.6 with --username/--password gets its token by a GET with Basic (not the OAuth2 password POST)."""
    assert ("GET", "basic", "alice") in tokens.requests


def test_username_and_password_get_a_bearer_token(
    tokens: TokenServer, registry: RegistryServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _docker_config(tmp_path, registry, _auth("alice", USERS["alice"]))
    before = len(tokens.requests)
    argv = ["fetch-model", "--uri", f"oci://{registry.address}/models/fraud:v1", "--dest", str(tmp_path / "d")]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(tmp_path / "d" / "model.npz")
    assert (tmp_path / "d" / "model.npz").read_bytes() == MODEL
    assert tokens.requests[before:] == [("GET", "basic", "alice")]  # one token for the manifest and the blob


def test_an_identity_token_is_exchanged_as_a_refresh_token(
    tokens: TokenServer, registry: RegistryServer, tmp_path: Path
) -> None:
    """What `docker login` stores when the token service gives a refresh token: `auth` without the password."""
    entry = {**_auth("alice", ""), "identitytoken": tokens.refresh_token_for("alice")}
    _docker_config(tmp_path, registry, entry)
    before = len(tokens.requests)
    fetched = fetch(f"oci://{registry.address}/models/fraud:v1", tmp_path / "d")
    assert fetched.path.read_bytes() == MODEL
    assert tokens.requests[before:] == [("POST", "refresh_token", "alice")]


def test_an_expired_token_is_renewed(tokens: TokenServer, registry: RegistryServer, tmp_path: Path) -> None:
    """A token held from an earlier request (a long download before it) may have expired: one new one is got."""
    _docker_config(tmp_path, registry, _auth("alice", USERS["alice"]))
    uri = f"oci://{registry.address}/models/fraud:v1"
    client = oci.Registry(oci.parse(uri), uri, timeout=10, attempts=1)
    expired = tokens.issue("alice", ["repository:models/fraud:pull"], lifetime=-120)
    client.authorization = f"Bearer {expired}"
    before = len(tokens.requests)
    try:
        with client.get("/manifests/v1", oci.MANIFEST_TYPES[0]) as response:
            assert response.status_code == 200
    finally:
        client.close()
    assert tokens.requests[before:] == [("GET", "basic", "alice")] and client.authorization != f"Bearer {expired}"


@pytest.mark.parametrize(
    ("entry", "reason", "message"),
    [
        (
            _auth("alice", "wrong"),
            errors.BadCredentials,
            r"token service .* refused the password of user 'alice' \(HTTP 401\)",
        ),
        ({"identitytoken": "revoked"}, errors.BadCredentials, r"refused the identity token \(invalid_grant\)"),
        (_auth("bob", USERS["bob"]), errors.AccessDenied, r"user 'bob' has no pull access to models/fraud: .*"),
        (None, errors.AccessDenied, r"anonymous pulls are not allowed and no credentials were given"),
    ],
    ids=["wrong-password", "unknown-identity-token", "no-pull-grant", "anonymous"],
)
def test_refused(
    registry: RegistryServer,
    tmp_path: Path,
    entry: dict[str, str] | None,
    reason: type[errors.FetchError],
    message: str,
) -> None:
    if entry is not None:
        _docker_config(tmp_path, registry, entry)
    with pytest.raises(errors.FetchError, match=message) as raised:
        fetch(f"oci://{registry.address}/models/fraud:v1", tmp_path / "d")
    assert type(raised.value) is reason, raised.value
    assert _leftovers(tmp_path / "d") == []


def test_a_token_service_that_comes_back_is_retried_like_the_registry(
    tokens: TokenServer, registry: RegistryServer, tmp_path: Path
) -> None:
    """A token service restarting (a rollout of Harbor's core, a blip) is waited for with the registry's
    back-off, not a StoreUnreachable at the first refused connection."""
    _docker_config(tmp_path, registry, _auth("alice", USERS["alice"]))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            tokens.start()  # back on the same port after two refused connections

    tokens.stop()
    try:
        fetched = fetch(f"oci://{registry.address}/models/fraud:v1", tmp_path / "d", retries=4, sleep=sleep)
    finally:
        tokens.start()
    assert fetched.path.read_bytes() == MODEL and waits == [1, 2]


@pytest.mark.parametrize("trouble", ["token-service-down", "untrusted-issuer"])
def test_a_broken_token_service(tmp_path: Path, trouble: str) -> None:
    """Not the credentials' fault, so neither is BadCredentials: the realm refuses connections (the store
    is unreachable), or it signs tokens the registry does not trust (its `iss` is not the configured one)."""
    reason: type[errors.FetchError]
    with TokenServer(users=USERS, grants=GRANTS) as tokens, RegistryServer(token=tokens) as registry:
        if trouble == "token-service-down":
            tokens.stop()
            reason, message = errors.StoreUnreachable, r"token service http://127\.0\.0\.1:\d+/token did not answer"
        else:
            tokens.issuer = "someone-else"
            reason, message = errors.AccessDenied, r"refused the token its own token service issued .*invalid_token"
        _docker_config(tmp_path, registry, _auth("alice", USERS["alice"]))
        with pytest.raises(errors.FetchError, match=message) as raised:
            fetch(f"oci://{registry.address}/models/fraud:v1", tmp_path / "d", retries=0)
    assert type(raised.value) is reason, raised.value
    assert _leftovers(tmp_path / "d") == []
