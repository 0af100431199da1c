"""Prometheus clients shared by every controller, kept in kopf's memo, and the credentials they send.

A ModelDeployment's `spec.analysis.prometheus` may name a Secret (bearer token, or basic auth)
in its own namespace; DriftMonitors and RetrainPolicies query through their ModelDeployment's
source, so all three authenticate the same way. The Secret is read with one GET on each pass
that builds a client (no watch: watching Secrets would need list/watch on every Secret the
operator can see and hold them all in memory; a GET needs only `get`, and a pass that queries
Prometheus sends several queries anyway). So a rotated Secret is used on the next pass.

Clients are cached per (URL, TLS verification, credential source), and an entry is reused only
while the credentials' fingerprint is unchanged: two sets of credentials never share a client,
and a rotated Secret replaces its slot (the old client is closed a while later, once no pass can
still be using it). The fingerprint is a keyed hash (a per-process random key): neither a
credential nor an offline-guessable hash of one is ever kept in a key, logged or reported.

A Secret or key that cannot be read is not "no credentials": the client then refuses every
query with PrometheusCredentialsError naming the Secret and key, so every check is Unknown with
a reason the user can act on, and nothing goes out unauthenticated.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import secrets
from dataclasses import dataclass, field

import kopf

from modelops.api.v1alpha1.modeldeployment import PrometheusSource
from modelops.kube import Kube, ReadRefused
from modelops.prom.client import PrometheusClient

log = logging.getLogger("modelops.prometheus")
_FINGERPRINT_KEY = secrets.token_bytes(32)
CLOSE_REPLACED_AFTER = 300.0  # seconds: longer than any pass holds a client (timeouts x retries x queries)


@dataclass(frozen=True)
class Credentials:
    """What a client sends. repr never shows a value; `source` says where they came from."""

    source: str = "none"  # e.g. "bearer ml/prom-token[token]": names, never values
    bearer_token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    refusal: str | None = None  # configured but unreadable: why (names the Secret and key)

    def fingerprint(self) -> str:
        h = hashlib.blake2b(key=_FINGERPRINT_KEY, digest_size=16)
        for part in (self.bearer_token, *(self.basic_auth or (None, None)), self.refusal):
            h.update(b"\x01" if part is None else b"\x02" + part.encode() + b"\x00")
        return h.hexdigest()


NO_CREDENTIALS = Credentials()


def _decode(namespace: str, name: str, data: dict[str, str], key: str) -> str | Credentials:
    """The key's value (surrounding whitespace trimmed, as Prometheus does with credential files),
    or refusing Credentials that say what is wrong."""
    where = f"Secret {namespace}/{name}"
    if key not in data:
        present = ", ".join(sorted(data)) or "none"
        return Credentials(refusal=f"{where} has no key {key!r} (its keys: {present})")
    try:
        value = base64.b64decode(data[key], validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        return Credentials(refusal=f"key {key!r} of {where} is not UTF-8 text")
    if not value:
        return Credentials(refusal=f"key {key!r} of {where} is empty")
    return value


async def _secret(kube: Kube, namespace: str, name: str, keys: str) -> dict[str, str] | Credentials:
    try:
        found = await kube.secret_data(namespace, name)
    except ReadRefused as error:
        hint = " (does the operator's role allow get on secrets?)" if "403" in str(error) else ""
        return Credentials(refusal=f"cannot read Secret {namespace}/{name} ({keys}): {error}{hint}")
    except Exception as error:  # an API outage must hold the checks, not crash the pass
        return Credentials(refusal=f"cannot read Secret {namespace}/{name} ({keys}): {type(error).__name__}")
    if found is None:
        return Credentials(refusal=f"Secret {namespace}/{name} ({keys}) not found in namespace {namespace}")
    return found[1]


async def credentials_for(kube: Kube, namespace: str, source: PrometheusSource) -> Credentials:
    """Read the credentials `source` names from its Secret in `namespace` (one GET), now."""
    if (ref := source.bearer_token_secret_ref) is not None:
        where = f"bearer {namespace}/{ref.name}[{ref.key}]"
        data = await _secret(kube, namespace, ref.name, f"bearerTokenSecretRef, key {ref.key!r}")
        if isinstance(data, Credentials):
            return Credentials(source=where, refusal=data.refusal)
        token = _decode(namespace, ref.name, data, ref.key)
        if isinstance(token, Credentials):
            return Credentials(source=where, refusal=f"bearerTokenSecretRef: {token.refusal}")
        return Credentials(source=where, bearer_token=token)
    if (basic := source.basic_auth_secret_ref) is not None:
        where = f"basic {namespace}/{basic.name}[{basic.username_key},{basic.password_key}]"
        keys = f"basicAuthSecretRef, keys {basic.username_key!r} and {basic.password_key!r}"
        data = await _secret(kube, namespace, basic.name, keys)
        if isinstance(data, Credentials):
            return Credentials(source=where, refusal=data.refusal)
        username = _decode(namespace, basic.name, data, basic.username_key)
        password = _decode(namespace, basic.name, data, basic.password_key)
        for part in (username, password):
            if isinstance(part, Credentials):
                return Credentials(source=where, refusal=f"basicAuthSecretRef: {part.refusal}")
        assert isinstance(username, str) and isinstance(password, str)
        return Credentials(source=where, basic_auth=(username, password))
    return NO_CREDENTIALS


def _close_later(client: PrometheusClient) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop (a synchronous caller): the client is dropped and collected
    loop.call_later(CLOSE_REPLACED_AFTER, lambda: loop.create_task(client.aclose()))


def client_for(
    memo: kopf.Memo, url: str, *, verify: bool = True, credentials: Credentials = NO_CREDENTIALS
) -> PrometheusClient:
    """A client with short timeouts and few retries: a reconcile pass must not hang on Prometheus.

    memo["prometheus_transport"], when set, answers its requests instead of the network (unit tests)."""
    clients: dict[str, tuple[str, PrometheusClient]] = memo["prometheus"]  # shared: made at start-up (lifecycle)
    slot = f"{url}|{verify}|{credentials.source}"
    fingerprint = credentials.fingerprint()
    cached = clients.get(slot)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    client = PrometheusClient(
        url,
        bearer_token=credentials.bearer_token,
        basic_auth=credentials.basic_auth,
        refusal=credentials.refusal,
        verify=verify,
        timeout=5.0,
        retries=2,
        transport=memo.get("prometheus_transport"),
    )
    if cached is not None:
        log.info("Prometheus credentials changed (%s): new client for %s", credentials.source, url)
        _close_later(cached[1])
    clients[slot] = (fingerprint, client)
    return client


async def client_for_deployment(
    memo: kopf.Memo, kube: Kube, namespace: str, source: PrometheusSource
) -> PrometheusClient | None:
    """The Prometheus a ModelDeployment (and its DriftMonitors and RetrainPolicies) is judged by:
    spec.analysis.prometheus.url, else the operator's --prometheus-url, with the credentials of the
    Secret the source names, read now; None when no URL is set."""
    url = source.url or memo["config"].prometheus_url
    if not url:
        return None
    credentials = await credentials_for(kube, namespace, source)
    return client_for(memo, url, verify=not source.insecure_skip_verify, credentials=credentials)
