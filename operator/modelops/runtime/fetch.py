"""Fetch a model artifact for the init container and verify its checksum before anything loads it.

Sources: ``file:///path``, ``http(s)://host/path`` (streamed, retried up to RETRIES times) and
``pvc://claim/path`` (read from the claim mounted at `claim_dir`, else under
MODELOPS_PVC_ROOT, default /mnt/pvc). A local source (file://, pvc://) that does not exist
yet can be waited for (`wait`): a training Job may still be writing it, and an init container
that waits, saying so in its log, is clearer than one that crash-loops. The artifact is
hashed while it is copied to a temporary file beside the
destination and renamed into place only when the checksum matches, so a server never
sees a partial or tampered file.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

import httpx

from modelops.runtime.storage.base import Fetched
from modelops.runtime.storage.errors import (
    AccessDenied,
    BadCredentials,
    DigestMismatch,
    FetchError,
    InvalidArtifact,
    InvalidDigest,
    InvalidSource,
    NotFound,
    PathEscapes,
    StoreUnreachable,
)

CHUNK = 1 << 20
DEFAULT_PVC_ROOT = "/mnt/pvc"
RETRIES = 4  # after the first attempt: 5 in all, backing off 1, 2, 4, 8 s (about 15 s for a server to come back)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


# The names this module raised before the storage hierarchy (modelops.runtime.storage.errors).
ChecksumMismatch = DigestMismatch
InvalidChecksum = InvalidDigest
__all__ = ["ChecksumMismatch", "FetchError", "Fetched", "InvalidChecksum", "fetch"]


def _filename(uri: str) -> str:
    name = PurePosixPath(urllib.parse.urlparse(uri).path).name
    if not name or name in {".", ".."}:
        raise InvalidSource(f"{uri}: the URI must name a file")
    return name


def _copy(source: BinaryIO, target: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _local_source(uri: str, pvc_root: Path, claim_dir: Path | None = None) -> Path:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    claim, path = parsed.netloc, urllib.parse.unquote(parsed.path).lstrip("/")
    if not claim or not path:
        raise InvalidSource(f"{uri}: expected pvc://CLAIM/PATH")
    root = claim_dir if claim_dir is not None else pvc_root / claim
    source = (root / path).resolve()
    if not source.is_relative_to(root.resolve()):
        raise PathEscapes(f"{uri}: path escapes the claim")
    return source


def _kind(path: Path) -> Literal["file", "other"] | None:
    """One stat: `is_file()` then `exists()` called a file created between the two "not a regular file"."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    return "file" if stat.S_ISREG(mode) else "other"


def _wait_for(
    uri: str,
    source: Path,
    *,
    wait: float,
    poll: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once `source` is a file; FetchError after `wait` seconds (math.inf: never gives up)."""
    began = clock()
    said = -math.inf
    waited_at_all = False
    while (kind := _kind(source)) != "file":
        waited_at_all = True
        waited = clock() - began
        if kind == "other":
            raise InvalidArtifact(f"{uri}: {source} is not a regular file")
        if waited >= wait:
            raise NotFound(f"{uri}: {source} still does not exist after waiting {waited:.0f}s")
        if waited - said >= 30 or said == -math.inf:
            say(
                f"waiting for {uri}: {source} does not exist yet (waited {waited:.0f}s); "
                "the pod stays NotReady until it is written"
            )
            said = waited
        sleep(min(poll, max(0.0, wait - waited)))
    if waited_at_all:
        say(f"{uri}: {source} appeared after {clock() - began:.0f}s")


def http_status_error(what: str, status: int, *, authenticated: bool) -> FetchError:
    """The failure an HTTP status means: 401/403 refused access, 404 not found, the rest a store problem."""
    if status == 401 and authenticated:
        return BadCredentials(f"{what}: HTTP 401: the store rejected the credentials")
    if status in (401, 403):
        return AccessDenied(f"{what}: HTTP {status}: access denied")
    if status in (404, 410):
        return NotFound(f"{what}: HTTP {status}: not found")
    if status >= 500:
        return StoreUnreachable(f"{what}: HTTP {status}")
    return FetchError(f"{what}: HTTP {status}")


def _download(
    uri: str, target: BinaryIO, timeout: float, retries: int, sleep: Callable[[float], None]
) -> tuple[str, int]:
    last: Exception | None = None
    for attempt in range(retries + 1):
        target.seek(0)
        target.truncate()
        try:
            with httpx.stream("GET", uri, timeout=timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise http_status_error(uri, response.status_code, authenticated=False)
                digest, size = hashlib.sha256(), 0
                for chunk in response.iter_bytes(CHUNK):
                    digest.update(chunk)
                    target.write(chunk)
                    size += len(chunk)
                return digest.hexdigest(), size
        except (httpx.TransportError, FetchError) as error:
            last = error
            if isinstance(error, FetchError) and not isinstance(error, StoreUnreachable):
                raise  # a 4xx will not get better by retrying
            if attempt < retries:
                sleep(min(2**attempt, 10))
    raise StoreUnreachable(f"{uri}: download failed after {attempt + 1} attempt(s): {last}")


def fetch(
    uri: str,
    dest: Path,
    *,
    sha256: str | None = None,
    pvc_root: Path | None = None,
    claim_dir: Path | None = None,
    timeout: float = 60.0,
    retries: int = RETRIES,
    wait: float = 0.0,
    poll: float = 2.0,
    say: Callable[[str], None] = _stderr,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """Copy the artifact at `uri` into directory `dest`; raise ChecksumMismatch or FetchError.

    `wait`: seconds to wait for a file:// or pvc:// source that does not exist yet (math.inf
    waits as long as it takes), polling every `poll` seconds and saying so through `say`.
    A malformed `sha256` raises InvalidChecksum before anything is fetched or created.
    """
    if sha256 and not _SHA256.fullmatch(sha256):
        raise InvalidChecksum(f"expected sha256 {sha256!r} is not 64 hex digits; nothing was fetched")
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme == "s3":
        from modelops.runtime.storage import s3

        return s3.fetch(uri, dest, sha256=sha256, timeout=timeout, attempts=retries + 1)
    if scheme == "oci":
        from modelops.runtime.storage import oci

        return oci.fetch(uri, dest, sha256=sha256, timeout=timeout, attempts=retries + 1, sleep=sleep)
    if scheme not in {"file", "http", "https", "pvc"}:
        raise InvalidSource(f"{uri}: unsupported scheme {scheme!r} (file, http, https, pvc, s3, oci)")
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / _filename(uri)
    partial = dest / f".{final.name}.partial"
    source: Path | None = None
    if scheme not in {"http", "https"}:
        root = pvc_root or Path(os.environ.get("MODELOPS_PVC_ROOT", DEFAULT_PVC_ROOT))
        source = _local_source(uri, root, claim_dir)
        if wait > 0:
            _wait_for(uri, source, wait=wait, poll=poll, say=say)
    try:
        with partial.open("wb") as target:
            if source is None:
                digest, size = _download(uri, target, timeout, retries, sleep)
            else:
                try:
                    with source.open("rb") as f:
                        digest, size = _copy(f, target)
                except FileNotFoundError as error:
                    raise NotFound(f"{uri}: cannot read {source}: {error.strerror or error}") from error
                except PermissionError as error:
                    raise AccessDenied(f"{uri}: cannot read {source}: {error.strerror or error}") from error
                except OSError as error:
                    raise FetchError(f"{uri}: cannot read {source}: {error.strerror or error}") from error
        if sha256 and digest != sha256.lower():
            raise ChecksumMismatch(f"{uri}: sha256 mismatch: expected {sha256.lower()}, got {digest} ({size} bytes)")
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return Fetched(final, digest, size, verified=bool(sha256))
