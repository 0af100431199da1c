"""``s3://BUCKET/KEY`` (one object) and ``s3://BUCKET/PREFIX/`` (every object below it, a directory).

boto3 (AWS's own SDK, the extra ``modelops-operator[s3]``, in the serving image) does the
protocol: SigV4 signing, and above all the whole credential chain a pod may be given without
us re-implementing it: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (from a Secret),
web identity (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``: EKS IRSA), EKS Pod
Identity and the instance metadata service. When the chain finds no credentials the request is
sent unsigned (a public bucket). A custom endpoint (MinIO, Ceph, a cloud's S3 API) comes from
``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (botocore reads both) and uses path-style
addressing, which every S3-compatible store serves; ``MODELOPS_S3_ADDRESSING=virtual`` overrides it.

Every botocore failure becomes a storage error with its reason: unreachable endpoint,
rejected credentials (unknown key id, wrong secret, expired token), access denied, missing
bucket/key/prefix. A refused connection, a timeout or a 5xx is retried by botocore's standard
mode, `attempts` in all (the first included), backing off 50 ms doubling with jitter (0.75 s at
most for 5), so a refused connection fails in under a second (http(s) waits 1, 2, 4, 8 s); an
init container that fails is restarted by the kubelet with its own back-off.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from modelops.runtime.storage.base import Fetched
from modelops.runtime.storage.directory import CHUNK, FileStaging, Staging, safe_relative, size_of
from modelops.runtime.storage.errors import (
    AccessDenied,
    BadCredentials,
    FetchError,
    InvalidSource,
    NotFound,
    StoreUnreachable,
)

BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "InvalidClientTokenId",
}
NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
MAX_KEYS = 100_000  # a model directory of more objects than this is a mistake, not a model


def parse(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix); a key ending in '/' (or none) names a directory."""
    parsed = urllib.parse.urlparse(uri)
    bucket, key = parsed.netloc, urllib.parse.unquote(parsed.path).lstrip("/")
    if parsed.scheme != "s3" or not bucket or parsed.query or parsed.fragment:
        raise InvalidSource(f"{uri}: expected s3://BUCKET/KEY or s3://BUCKET/PREFIX/")
    return bucket, key


def client(*, timeout: float, attempts: int = 5) -> tuple[Any, bool]:
    """A boto3 S3 client from the environment's credential chain (unsigned when it has none), and
    whether it signs."""
    try:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
    except ImportError as error:  # pragma: no cover - the image and the dev venv have it
        raise InvalidSource("s3:// needs boto3: pip install 'modelops-operator[s3]'") from error
    session = boto3.session.Session()
    custom_endpoint = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    style = os.environ.get("MODELOPS_S3_ADDRESSING") or ("path" if custom_endpoint else "auto")
    options: dict[str, Any] = {
        "connect_timeout": timeout,
        "read_timeout": timeout,
        "retries": {"mode": "standard", "total_max_attempts": attempts},  # max_attempts would not count the first
        "s3": {"addressing_style": style},
    }
    signed = session.get_credentials() is not None
    if not signed:
        options["signature_version"] = UNSIGNED
    region = session.region_name or "us-east-1"
    return session.client("s3", region_name=region, config=Config(**options)), signed


def _error(uri: str, error: Exception, *, signed: bool) -> FetchError:
    """The storage error a botocore exception means."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        said = error.response.get("Error", {}).get("Message") or code
        if code in BAD_CREDENTIALS:
            return BadCredentials(f"{uri}: the store rejected the credentials ({code}: {said})")
        if code in NOT_FOUND or status == 404:
            return NotFound(f"{uri}: {code or 'HTTP 404'}: {said}")
        if status in (401, 403) or code == "AccessDenied":
            who = "the credentials given" if signed else "an anonymous request (no credentials found)"
            return AccessDenied(f"{uri}: access denied to {who} ({code}: {said})")
        if status >= 500:
            return StoreUnreachable(f"{uri}: the store failed: HTTP {status} {code}: {said}")
        return FetchError(f"{uri}: {code or status}: {said}")
    if isinstance(error, EndpointConnectionError):
        return StoreUnreachable(f"{uri}: cannot connect to the store: {error}")
    if isinstance(error, BotoCoreError):  # timeouts, closed connections, bad responses
        return StoreUnreachable(f"{uri}: {type(error).__name__}: {error}")
    return FetchError(f"{uri}: {error}")


def _download(s3: Any, bucket: str, key: str, target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        with target.open("wb") as out:
            while chunk := body.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    finally:
        body.close()
    return digest.hexdigest(), size


def _keys(s3: Any, uri: str, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, path below the prefix) of every object below `prefix`, names checked before any download."""
    found: list[tuple[str, str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = str(item["Key"])
            relative = key[len(prefix) :]
            if relative.endswith("/") and int(item.get("Size", 0)) == 0:
                continue  # a "folder" marker some consoles create
            safe_relative(relative, f"{uri}: key {key!r}")
            found.append((key, relative))
            if len(found) > MAX_KEYS:
                raise InvalidSource(f"{uri}: more than {MAX_KEYS} objects below the prefix")
    if not found:
        raise NotFound(f"{uri}: no object below the prefix {prefix!r} in bucket {bucket!r}")
    return found


def fetch(uri: str, dest: Path, *, sha256: str | None, timeout: float = 60.0, attempts: int = 5) -> Fetched:
    """Place the object (as dest/NAME) or the prefix (as the directory dest/LAST-SEGMENT) and verify it."""
    bucket, key = parse(uri)
    s3, signed = client(timeout=timeout, attempts=attempts)
    try:
        if key and not key.endswith("/"):
            name = PurePosixPath(key).name
            with FileStaging(dest, name) as staged:
                _digest, size = _download(s3, bucket, key, staged.partial)
                digest = staged.verify(sha256, uri)
                path = staged.commit()
            return Fetched(path, digest, size, verified=bool(sha256))
        keys = _keys(s3, uri, bucket, key)
        name = PurePosixPath(key.rstrip("/")).name or bucket
        with Staging(dest, name) as staging:
            for object_key, relative in keys:
                _download(s3, bucket, object_key, staging.path(relative, f"{uri}: key {object_key!r}"))
            digest = staging.verify(sha256, uri)
            size = size_of(staging.root)
            path = staging.commit()
        return Fetched(path, digest, size, verified=bool(sha256), kind="directory")
    except FetchError:
        raise
    except Exception as error:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, BotoCoreError | ClientError):
            raise _error(uri, error, signed=signed) from error
        raise
