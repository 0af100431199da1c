"""Fetch a model artifact for the init container and verify its checksum before anything loads it.

Sources: ``file:///path``, ``http(s)://host/path`` (streamed, bounded retries) and
``pvc://claim/path`` (read from the claim mounted under MODELOPS_PVC_ROOT, default
/mnt/pvc). The artifact is hashed while it is copied to a temporary file beside the
destination and renamed into place only when the checksum matches, so a server never
sees a partial or tampered file.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import httpx

from modelops.errors import ModelopsError

CHUNK = 1 << 20
DEFAULT_PVC_ROOT = "/mnt/pvc"


class FetchError(ModelopsError, RuntimeError):
    """The artifact could not be fetched."""


class ChecksumMismatch(FetchError):
    """The artifact's sha256 is not the expected one."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size: int
    verified: bool


def _filename(uri: str) -> str:
    name = PurePosixPath(urllib.parse.urlparse(uri).path).name
    if not name or name in {".", ".."}:
        raise FetchError(f"{uri}: the URI must name a file")
    return name


def _copy(source: BinaryIO, target: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _local_source(uri: str, pvc_root: Path) -> Path:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    claim, path = parsed.netloc, urllib.parse.unquote(parsed.path).lstrip("/")
    if not claim or not path:
        raise FetchError(f"{uri}: expected pvc://CLAIM/PATH")
    source = (pvc_root / claim / path).resolve()
    if not source.is_relative_to((pvc_root / claim).resolve()):
        raise FetchError(f"{uri}: path escapes the claim")
    return source


def _download(uri: str, target: BinaryIO, timeout: float, attempts: int) -> tuple[str, int]:
    last: Exception | None = None
    for attempt in range(attempts):
        target.seek(0)
        target.truncate()
        try:
            with httpx.stream("GET", uri, timeout=timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise FetchError(f"{uri}: HTTP {response.status_code}")
                digest, size = hashlib.sha256(), 0
                for chunk in response.iter_bytes(CHUNK):
                    digest.update(chunk)
                    target.write(chunk)
                    size += len(chunk)
                return digest.hexdigest(), size
        except (httpx.TransportError, FetchError) as error:
            last = error
            if isinstance(error, FetchError) and "HTTP 4" in str(error):
                break  # a 4xx will not get better by retrying
            time.sleep(min(2**attempt, 10))
    raise FetchError(f"{uri}: download failed after {attempt + 1} attempt(s): {last}")


def fetch(
    uri: str,
    dest: Path,
    *,
    sha256: str | None = None,
    pvc_root: Path | None = None,
    timeout: float = 60.0,
    attempts: int = 4,
) -> Fetched:
    """Copy the artifact at `uri` into directory `dest`; raise ChecksumMismatch or FetchError."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme not in {"file", "http", "https", "pvc"}:
        raise FetchError(f"{uri}: unsupported scheme {scheme!r} (file, http, https, pvc)")
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / _filename(uri)
    partial = dest / f".{final.name}.partial"
    try:
        with partial.open("wb") as target:
            if scheme in {"http", "https"}:
                digest, size = _download(uri, target, timeout, attempts)
            else:
                root = pvc_root or Path(os.environ.get("MODELOPS_PVC_ROOT", DEFAULT_PVC_ROOT))
                source = _local_source(uri, root)
                try:
                    with source.open("rb") as f:
                        digest, size = _copy(f, target)
                except OSError as error:
                    raise FetchError(f"{uri}: cannot read {source}: {error.strerror or error}") from error
        if sha256 and digest != sha256.lower():
            raise ChecksumMismatch(f"{uri}: sha256 mismatch: expected {sha256.lower()}, got {digest} ({size} bytes)")
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return Fetched(final, digest, size, verified=bool(sha256))
