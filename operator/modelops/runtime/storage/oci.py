"""``oci://REGISTRY/REPOSITORY:TAG`` or ``@sha256:DIGEST``: a model pushed as an OCI artifact (``oras push``).

A small client of the OCI distribution API over httpx (already the server's HTTP client) rather
than the ``oras`` PyPI package: pulling an artifact is three kinds of GET (manifest, blobs, a
token), and the PyPI package brings requests and jsonschema into the serving image for them.

What is pulled: the manifest (OCI image manifest or Docker schema 2; an index is refused), then
every layer with an ``org.opencontainers.image.title`` annotation, each checked against its
descriptor's digest. A layer annotated ``io.deis.oras.content.unpack: "true"`` is a directory
``oras push`` packed as a tar(.gz) and is unpacked (regular files and directories only, every
member inside the title). The placed result is what ``oras pull`` would write:

- one titled layer whose title is a plain file name: the file ``DEST/TITLE``;
- anything else (several files, a directory layer, titles with '/'): the directory
  ``DEST/NAME`` (NAME the repository's last segment) holding the layers by title.

The manifest digest the reference resolved to is returned (`Fetched.resolved`) and, with
``@sha256:``, must equal the pinned one. ``sha256`` (the spec's) is checked against the file's
SHA-256 or the directory digest.

Credentials: a Docker config (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``;
the ``.dockerconfigjson`` of a ``kubernetes.io/dockerconfigjson`` Secret), entries
``auth`` (base64 user:password), ``username``/``password`` or ``identitytoken``. The registry's
401 challenge picks the scheme: Basic, or Bearer with a token from its realm: a GET with the
user and password as Basic (anonymous when no credentials), or, for an ``identitytoken`` (a
refresh token), the OAuth2 ``grant_type=refresh_token`` POST. A token the registry answers with
``insufficient_scope`` is AccessDenied (valid credentials without pull on the repository), a
refused password or identity token BadCredentials, a token service that does not answer
StoreUnreachable. Plain HTTP only for a loopback registry or one listed in
``MODELOPS_OCI_PLAIN_HTTP`` (comma-separated host:port).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import httpx

from modelops.runtime.storage.base import Fetched
from modelops.runtime.storage.directory import CHUNK, FileStaging, Staging, safe_relative, size_of
from modelops.runtime.storage.errors import (
    AccessDenied,
    BadCredentials,
    DigestMismatch,
    FetchError,
    InvalidArtifact,
    InvalidSource,
    NotFound,
    PathEscapes,
    StoreUnreachable,
)

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
TITLE = "org.opencontainers.image.title"
UNPACK = "io.deis.oras.content.unpack"
MAX_MANIFEST = 4 << 20
# registry host[:port], repository path components (the distribution spec's grammar), tag or digest
_REFERENCE = re.compile(
    r"oci://(?P<registry>[A-Za-z0-9.-]+(:[0-9]+)?|\[[0-9a-fA-F:]+\](:[0-9]+)?)"
    r"/(?P<repository>[a-z0-9]+([._-]+[a-z0-9]+|__[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+|__[a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[0-9a-f]{64}))?"
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
CLIENT_ID = "modelops-fetch-model"  # the OAuth2 client_id distribution's token spec requires


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"


def parse(uri: str) -> Reference:
    match = _REFERENCE.fullmatch(uri)
    if match is None:
        raise InvalidSource(
            f"{uri}: expected oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST] (lowercase repository, 64-hex digest)"
        )
    return Reference(match["registry"], match["repository"], match["tag"], match["digest"])


def _plain_http(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]", maxsplit=1)[0] + "]"
    listed = {h.strip() for h in os.environ.get("MODELOPS_OCI_PLAIN_HTTP", "").split(",") if h.strip()}
    return registry in listed or host in ("localhost", "[::1]") or host.startswith("127.")


@dataclass(frozen=True)
class Login:
    """A Docker config entry: a user and password, or an identity token (an OAuth2 refresh token, which
    `docker login` stores for token services that issue one; the user is then only for messages)."""

    username: str
    password: str = ""
    identity_token: str | None = None

    def who(self) -> str:
        if self.identity_token is not None:
            return "the identity token" + (f" of {self.username}" if self.username else "")
        return f"user {self.username!r}"


def credentials(registry: str) -> Login | None:
    """The credentials for `registry` from the Docker config, or None."""
    directory = os.environ.get("DOCKER_CONFIG")
    path = Path(directory) / "config.json" if directory else Path.home() / ".docker" / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise InvalidSource(f"{path}: not a readable Docker config ({error})") from error
    auths = config.get("auths") or {}
    for key in (registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v2/"):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        if not user and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError as error:
                raise InvalidSource(f"{path}: the auth entry of {key} is not base64 of user:password") from error
        if entry.get("identitytoken"):
            return Login(user if user != "<token>" else "", identity_token=str(entry["identitytoken"]))
        if user:
            return Login(user, password)
    return None


class Registry:
    """One registry, one repository: authenticated GETs with retries, errors mapped to storage reasons."""

    def __init__(
        self,
        ref: Reference,
        uri: str,
        *,
        timeout: float,
        attempts: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ref, self.uri, self.attempts, self.sleep = ref, uri, attempts, sleep
        scheme = "http" if _plain_http(ref.registry) else "https"
        self.base = f"{scheme}://{ref.registry}/v2/{ref.repository}"
        self.client = httpx.Client(timeout=timeout, follow_redirects=True)
        self.login = credentials(ref.registry)
        self.authorization: str | None = None

    def close(self) -> None:
        self.client.close()

    def _authorize(self, challenge: str, *, renewed: bool) -> None:
        """Answer a 401's WWW-Authenticate: Basic with the credentials, or a Bearer token from the realm.

        `renewed`: the request was already sent with a token got for it, so a second 401 is a refusal
        (``insufficient_scope``: no pull grant; ``invalid_token``: the registry distrusts its token
        service). A token from an earlier request may just have expired (Docker Hub's last 5 minutes):
        it is renewed once.
        """
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self.login is None:
                raise AccessDenied(f"{self.uri}: the registry wants credentials and none were given (HTTP 401)")
            if self.authorization is not None:
                raise BadCredentials(
                    f"{self.uri}: the registry rejected the credentials of {self.login.who()} (HTTP 401)"
                )
            if self.login.identity_token is not None:
                raise BadCredentials(
                    f"{self.uri}: the Docker config has an identity token, but the registry asks for Basic "
                    "username/password (HTTP 401)"
                )
            userpass = f"{self.login.username}:{self.login.password}"
            self.authorization = "Basic " + base64.b64encode(userpass.encode()).decode()
            return
        if scheme.lower() != "bearer":
            raise AccessDenied(f"{self.uri}: unsupported authentication scheme {scheme!r} (HTTP 401)")
        fields = dict(_CHALLENGE.findall(params))
        who = self.login.who() if self.login else "an anonymous client"
        if renewed:
            if fields.get("error") == "insufficient_scope":
                granted = f"the token service granted none of {fields.get('scope', 'pull')!r} (insufficient_scope)"
                if self.login is None:
                    raise AccessDenied(
                        f"{self.uri}: anonymous pulls are not allowed and no credentials were given: {granted}"
                    )
                raise AccessDenied(
                    f"{self.uri}: {who} has no pull access to {self.ref.repository}: {granted}; "
                    "grant it pull on the repository or use credentials that have it"
                )
            raise AccessDenied(  # not the credentials: the token service took them
                f"{self.uri}: the registry refused the token its own token service issued for {who} "
                f"({fields.get('error') or 'HTTP 401'}): the registry's token auth (issuer, service, "
                "signing certificate) does not match its token service, or their clocks differ"
            )
        realm = fields.get("realm")
        if not realm:
            raise AccessDenied(f"{self.uri}: a Bearer challenge without a realm")
        self.authorization = f"Bearer {self._token(realm, fields, who)}"

    def _ask_token_service(self, realm: str, query: dict[str, str]) -> httpx.Response:
        """One answer of the token service below 500; a transport error or a 5xx is retried as a
        registry request is (`attempts` in all, 1, 2, 4, 8 s apart), then StoreUnreachable."""
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                if self.login is not None and self.login.identity_token is not None:
                    form = {
                        "grant_type": "refresh_token",
                        "refresh_token": self.login.identity_token,
                        "client_id": CLIENT_ID,
                    }
                    answer = self.client.post(realm, data={**form, **query})
                else:
                    auth = httpx.BasicAuth(self.login.username, self.login.password) if self.login else None
                    answer = self.client.get(realm, params=query, auth=auth)
            except httpx.TransportError as error:
                last = f"did not answer: {error}"
            else:
                if answer.status_code < 500:
                    return answer
                last = f"answered HTTP {answer.status_code}"
            if attempt < self.attempts:
                self.sleep(min(2 ** (attempt - 1), 10))
        raise StoreUnreachable(f"{self.uri}: the registry's token service {realm} {last} ({self.attempts} attempt(s))")

    def _token(self, realm: str, fields: dict[str, str], who: str) -> str:
        """A token from the realm: an identity token is a refresh token, exchanged by the OAuth2 POST
        (distribution's spec/auth/oauth); else a GET, with Basic credentials when there are some."""
        answer = self._ask_token_service(realm, {k: v for k, v in fields.items() if k in ("service", "scope")})
        try:
            body = answer.json()
        except ValueError:
            body = None
        said = (body.get("error") if isinstance(body, dict) else None) or f"HTTP {answer.status_code}"
        refused = answer.status_code in (401, 403) or said in ("invalid_grant", "invalid_client", "unauthorized_client")
        if refused and self.login is None:
            raise AccessDenied(f"{self.uri}: the registry's token service {realm} refused {who} ({said})")
        if refused and self.login is not None and self.login.identity_token is not None:
            raise BadCredentials(
                f"{self.uri}: the registry's token service {realm} refused {who} ({said}): it is expired, "
                "revoked or for another registry; log in again and update the credentials Secret"
            )
        if refused:
            raise BadCredentials(
                f"{self.uri}: the registry's token service {realm} refused the password of {who} ({said}): "
                "check the username and password in the credentials Secret"
            )
        if answer.status_code >= 400:
            raise FetchError(f"{self.uri}: the registry's token service {realm} answered {said}")
        token = (body.get("access_token") or body.get("token")) if isinstance(body, dict) else None
        if not token:
            raise FetchError(f"{self.uri}: the registry's token service {realm} answered without a token")
        return str(token)

    def _open(self, path: str, accept: str | None) -> httpx.Response:
        """A streamed response below 400: auth challenges answered (not counted as attempts), transport
        errors and 5xx retried with backoff, a 4xx mapped to its reason at once."""
        headers = {"Accept": accept} if accept else {}
        failures, challenges, last = 0, 0, ""
        while failures < self.attempts:
            if self.authorization:
                headers["Authorization"] = self.authorization
            try:
                request = self.client.build_request("GET", self.base + path, headers=headers)
                response = self.client.send(request, stream=True)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    return response
                try:
                    response.read()  # an error body: a few hundred bytes of JSON
                except httpx.HTTPError:
                    pass
                finally:
                    response.close()
                if response.status_code == 401 and challenges < 2:
                    challenges += 1
                    self._authorize(response.headers.get("www-authenticate", ""), renewed=challenges > 1)
                    continue
                if response.status_code == 401:
                    raise BadCredentials(f"{self.uri}: the registry kept refusing the credentials (HTTP 401)")
                if response.status_code < 500:
                    raise self._status_error(response)
                last = f"HTTP {response.status_code}"
            failures += 1
            if failures < self.attempts:
                self.sleep(min(2 ** (failures - 1), 10))
        raise StoreUnreachable(f"{self.uri}: {self.ref.registry} failed after {failures} attempt(s): {last}")

    @contextmanager
    def get(self, path: str, accept: str | None = None) -> Iterator[httpx.Response]:
        response = self._open(path, accept)
        try:
            yield response
        except httpx.TransportError as error:
            raise StoreUnreachable(f"{self.uri}: the download broke off: {error}") from error
        finally:
            response.close()

    def _status_error(self, response: httpx.Response) -> FetchError:
        """The reason a 4xx (not 401) means; the body's error codes when it has them."""
        try:
            codes = [str(e.get("code", "")) for e in json.loads(response.content).get("errors", [])]
        except (ValueError, AttributeError, httpx.HTTPError, httpx.ResponseNotRead):
            codes = []
        said = ", ".join(codes) or f"HTTP {response.status_code}"
        if response.status_code == 404 or {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"} & set(codes):
            return NotFound(f"{self.uri}: {said}")
        if response.status_code == 403 or "DENIED" in codes:
            return AccessDenied(f"{self.uri}: {said}")
        return FetchError(f"{self.uri}: {said}")


def _manifest(registry: Registry) -> tuple[dict[str, Any], str]:
    """The manifest and the digest of its bytes (checked against a pinned digest)."""
    accept = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
    with registry.get(f"/manifests/{registry.ref.reference}", accept) as response:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_MANIFEST:
                raise InvalidArtifact(f"{registry.uri}: the manifest is over {MAX_MANIFEST} bytes")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if registry.ref.digest and digest != registry.ref.digest:
        raise DigestMismatch(f"{registry.uri}: the manifest's digest is {digest}, not the pinned {registry.ref.digest}")
    try:
        manifest = json.loads(body)
    except ValueError as error:
        raise InvalidArtifact(f"{registry.uri}: the manifest is not JSON") from error
    media = manifest.get("mediaType")
    if media in INDEX_TYPES or "manifests" in manifest:
        raise InvalidArtifact(f"{registry.uri}: an image index (several platforms), not a model artifact")
    if not isinstance(manifest.get("layers"), list):
        raise InvalidArtifact(f"{registry.uri}: the manifest has no layers")
    return manifest, digest


def _blob(registry: Registry, layer: dict[str, Any], target: BinaryIO, what: str) -> None:
    """Download the layer's blob into `target`, checking its digest and size against the descriptor."""
    expected = str(layer.get("digest", ""))
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", expected):
        raise InvalidArtifact(f"{what}: layer digest {expected!r} is not a sha256 digest")
    digest, size = hashlib.sha256(), 0
    with registry.get(f"/blobs/{expected}") as response:
        for chunk in response.iter_bytes(CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    actual = "sha256:" + digest.hexdigest()
    if actual != expected or size != int(layer.get("size", size)):
        raise DigestMismatch(f"{what}: the blob is {actual} ({size} bytes), the manifest says {expected}")


def _unpack(archive: Path, root: Path, title: str, what: str) -> None:
    """Extract an oras directory layer (tar, maybe gzip) under `root`: regular files and directories only,
    every member the title or inside it."""
    top = None if title == "." else safe_relative(title, what)  # `oras push REF .`: the root itself
    try:
        with tarfile.open(archive, mode="r:*") as tar:  # plain or gzip, detected
            for member in tar:
                name = member.name.removeprefix("./").rstrip("/")
                if name in ("", ".") and member.isdir():
                    continue
                path = safe_relative(name, f"{what}: tar member {member.name!r}")
                if top is not None and path != top and top not in path.parents:
                    raise PathEscapes(f"{what}: tar member {member.name!r} is outside {title!r}")
                target = root.joinpath(*path.parts)
                if member.issym() or member.islnk():
                    raise PathEscapes(f"{what}: tar member {member.name!r} is a link; only regular files are placed")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    if target.exists():
                        raise InvalidArtifact(f"{what}: tar member {member.name!r} is given twice")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    with target.open("wb") as out:
                        while chunk := source.read(CHUNK):
                            out.write(chunk)
                else:
                    raise InvalidArtifact(f"{what}: tar member {member.name!r} is not a file or directory")
    except (tarfile.TarError, OSError, EOFError) as error:
        if isinstance(error, FetchError):
            raise
        raise InvalidArtifact(f"{what}: not a readable tar archive: {error}") from error


def fetch(
    uri: str,
    dest: Path,
    *,
    sha256: str | None,
    timeout: float = 60.0,
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """Pull the artifact `uri` into `dest` (a file or a directory, module docstring), verified."""
    ref = parse(uri)
    registry = Registry(ref, uri, timeout=timeout, attempts=attempts, sleep=sleep)
    try:
        manifest, resolved = _manifest(registry)
        layers = [
            layer
            for layer in manifest["layers"]
            if isinstance(layer, dict) and (layer.get("annotations") or {}).get(TITLE)
        ]
        if not layers:
            raise InvalidArtifact(f"{uri}: no layer has a title ({TITLE}): not an artifact pushed with oras")
        titles = [str(layer["annotations"][TITLE]) for layer in layers]
        unpack = [(layer.get("annotations") or {}).get(UNPACK) == "true" for layer in layers]
        for title, is_directory in zip(titles, unpack, strict=True):  # every name checked before any write
            if not (title == "." and is_directory):
                safe_relative(title, f"{uri}: layer title")
        if len(layers) == 1 and "/" not in titles[0] and not unpack[0]:
            with FileStaging(dest, titles[0]) as staged:
                with staged.partial.open("wb") as out:
                    _blob(registry, layers[0], out, f"{uri}: layer {titles[0]!r}")
                digest = staged.verify(sha256, uri)
                size = staged.partial.stat().st_size
                path = staged.commit()
            return Fetched(path, digest, size, verified=bool(sha256), resolved=resolved)
        with Staging(dest, PurePosixPath(ref.repository).name) as staging:
            for layer, title, is_directory in zip(layers, titles, unpack, strict=True):
                what = f"{uri}: layer {title!r}"
                if is_directory:
                    archive = staging.root.parent / f"{staging.root.name}.layer"
                    try:
                        with archive.open("wb") as out:
                            _blob(registry, layer, out, what)
                        _unpack(archive, staging.root, title, what)
                    finally:
                        archive.unlink(missing_ok=True)
                else:
                    with staging.path(title, what).open("wb") as out:
                        _blob(registry, layer, out, what)
            digest = staging.verify(sha256, uri)
            size = size_of(staging.root)
            path = staging.commit()
        return Fetched(path, digest, size, verified=bool(sha256), kind="directory", resolved=resolved)
    finally:
        registry.close()


# `cosign sign --key` of an artifact in a registry: a manifest tagged `sha256-<hex>.sig` in the same
# repository whose layers are simple-signing payloads naming the signed manifest digest, each with
# its signature in an annotation (cosign's "tag" scheme, its default before v3).
COSIGN_PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
MAX_PAYLOAD = 64 << 10  # a payload is a few hundred bytes of JSON


@dataclass(frozen=True)
class SignedPayload:
    """One signature `cosign sign` stored: the payload's bytes and the base64 signature over them."""

    payload: bytes
    signature: str


def cosign_tag(digest: str) -> str:
    """The tag cosign stores the signatures of manifest `digest` under: `sha256-<hex>.sig`."""
    return digest.replace(":", "-", 1) + ".sig"


def cosign_signatures(
    uri: str,
    digest: str,
    *,
    timeout: float = 60.0,
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SignedPayload]:
    """The payloads and signatures `cosign sign` stored for manifest `digest` of `uri`'s repository.

    NotFound when the repository holds no signature for it; the payloads are checked against their
    descriptors' digests (what they say is the verifier's business: runtime/signature.py).
    """
    ref = parse(uri)
    tag = cosign_tag(digest)
    what = f"{uri} (cosign signature tag {tag})"
    registry = Registry(
        Reference(ref.registry, ref.repository, tag, None), what, timeout=timeout, attempts=attempts, sleep=sleep
    )
    found: list[SignedPayload] = []
    try:
        manifest, _ = _manifest(registry)
        for layer in manifest["layers"]:
            if not isinstance(layer, dict) or layer.get("mediaType") != COSIGN_PAYLOAD_TYPE:
                continue
            signature = (layer.get("annotations") or {}).get(COSIGN_SIGNATURE_ANNOTATION)
            if not isinstance(signature, str) or not signature:
                continue
            if int(layer.get("size") or 0) > MAX_PAYLOAD:
                raise InvalidArtifact(f"{what}: a signature payload of {layer.get('size')} bytes: not cosign's")
            payload = io.BytesIO()
            _blob(registry, layer, payload, f"{what}: payload")
            found.append(SignedPayload(payload.getvalue(), signature))
    finally:
        registry.close()
    return found
