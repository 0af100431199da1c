"""A token server on 127.0.0.1 for the registry's `auth: token` mode, as Docker Hub, GHCR and Harbor do it.

It speaks the distribution token auth spec (distribution.github.io/distribution/spec/auth/token/,
jwt.md, oauth.md) so the Bearer flow of `modelops fetch-model` and of the real `oras` CLI are
judged by the real registry, not by a mock of it:

- ``GET /token?service=..&scope=..`` with Basic credentials or none (anonymous);
- ``POST /token`` (form) with ``grant_type=password`` (username, password) or
  ``grant_type=refresh_token`` (a refresh token: what a Docker config's ``identitytoken`` holds);
  ``access_type=offline`` also returns a refresh token. A refused grant is HTTP 400
  ``{"error": "invalid_grant"}`` (RFC 6749 section 5.2), bad Basic credentials HTTP 401.

The answer is a JWT signed ES256 by a P-256 key whose self-signed certificate is in the JWS
header (``x5c``) and is the registry's ``rootcertbundle``. What registry v3.1.2 checks
(registry/auth/token/token.go, accesscontroller.go): the ``alg`` is an allowed one, the ``x5c``
chain verifies against the bundle (else a ``kid`` must be the key's JWK thumbprint), the
signature, ``iss`` equals its ``issuer``, ``aud`` contains its ``service``, ``exp`` and ``nbf``
within 60 s of leeway, and every access the request needs is in ``access`` (actions or ``*``);
a token without it is answered 401 ``error="insufficient_scope"``.

Grants are per user and repository (fnmatch patterns, ``""`` the anonymous user): the token
carries the requested actions the user is granted, possibly none, as the spec says.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Collection, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from modelops_devcluster.httpthread import LoopbackHTTP
from modelops_devcluster.ports import LOOPBACK

TOKEN_LIFETIME = 300  # seconds, Docker Hub's
MAX_BODY = 64 << 10


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """`with TokenServer(users={"alice": "pw"}, grants={"alice": {"models/*": {"pull"}}}) as tokens:`,
    then `RegistryServer(token=tokens)`. `requests` records (method, grant, subject) of each token issued."""

    def __init__(
        self,
        *,
        users: Mapping[str, str],
        grants: Mapping[str, Mapping[str, Collection[str]]],
        service: str = "modelops-test-registry",
        issuer: str = "modelops-test-token-server",
    ) -> None:
        self.users, self.grants = dict(users), {u: dict(g) for u, g in grants.items()}
        self.service, self.issuer = service, issuer
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.requests: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._http = LoopbackHTTP("token-server", poll_interval=0.1)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def realm(self) -> str:
        if self._http.port is None:
            raise RuntimeError("TokenServer is not started")
        return f"http://{LOOPBACK}:{self._http.port}/token"

    def start(self) -> TokenServer:
        """Listen on a free loopback port, or, after `stop()`, on the same one (the registry's realm)."""
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._http.start(Handler)  # a restart keeps the port, so the registry's realm stays right
        return self

    def stop(self) -> None:
        """Stop listening (the realm then refuses connections); `realm` still names the port."""
        self._http.stop()

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def refresh_token_for(self, user: str) -> str:
        """A refresh token for `user`, as `docker login` would have stored in `identitytoken`."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.refresh_tokens[token] = user
        return token

    def granted(self, user: str, scopes: Collection[str]) -> list[dict[str, Any]]:
        """The `access` claim: for each requested `repository:NAME:ACTIONS`, the actions `user` has on NAME."""
        access = []
        for scope in (s for item in scopes for s in item.split()):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            allowed = set().union(*(a for p, a in self.grants.get(user, {}).items() if fnmatch.fnmatchcase(name, p)))
            wanted = actions.split(",")
            given = wanted if "*" in allowed else [a for a in wanted if a in allowed]
            if given:
                access.append({"type": kind, "name": name, "actions": given})
        return access

    def issue(self, user: str, scopes: Collection[str], *, lifetime: int = TOKEN_LIFETIME) -> str:
        """A JWT the registry accepts (module docstring), granting `user` what `granted` says; a
        `lifetime` below -60 makes one it refuses as expired."""
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service,
            "exp": now + lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": self.granted(user, scopes),
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class _Handler(BaseHTTPRequestHandler):
    server_owner: TokenServer
    timeout = 10  # a stalled client cannot hold a handler thread

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _token(self, method: str, grant: str, user: str, scopes: list[str], refresh: bool) -> None:
        owner = self.server_owner
        token = owner.issue(user, scopes)
        with owner._lock:
            owner.requests.append((method, grant, user))
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "issued_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "scope": " ".join(scopes),
        }
        if refresh and user:
            body["refresh_token"] = owner.refresh_token_for(user)
        self._answer(200, body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        owner = self.server_owner
        if url.path != "/token" or query.get("service") != [owner.service]:
            self._answer(404, {"errors": [{"code": "UNKNOWN", "message": "GET /token?service=" + owner.service}]})
            return
        user = ""
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except ValueError:  # not base64, not UTF-8
                user = password = ""
            if not user or owner.users.get(user) != password:
                challenge = {"WWW-Authenticate": 'Basic realm="modelops-test-token-server"'}
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}, challenge)
                return
        self._token(
            "GET",
            "basic" if user else "anonymous",
            user,
            query.get("scope", []),
            query.get("offline_token") == ["true"],
        )

    def do_POST(self) -> None:
        owner = self.server_owner
        length = int(self.headers.get("Content-Length") or 0)
        if urllib.parse.urlsplit(self.path).path != "/token" or not 0 < length <= MAX_BODY:
            self._answer(400, {"error": "invalid_request", "error_description": "POST /token with a form body"})
            return
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        if form.get("service") != owner.service or not form.get("client_id"):
            self._answer(400, {"error": "invalid_request", "error_description": "service and client_id are required"})
            return
        grant = form.get("grant_type", "")
        if grant == "password":
            user = form.get("username", "")
            ok = bool(user) and owner.users.get(user) == form.get("password")
        elif grant == "refresh_token":
            with owner._lock:
                user = owner.refresh_tokens.get(form.get("refresh_token", ""), "")
            ok = bool(user)
        else:
            self._answer(400, {"error": "unsupported_grant_type"})
            return
        if not ok:
            self._answer(400, {"error": "invalid_grant", "error_description": f"the {grant} grant is refused"})
            return
        scopes = form.get("scope", "").split()
        self._token("POST", grant, user, scopes, form.get("access_type") == "offline")
