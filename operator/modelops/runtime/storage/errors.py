"""Why a model artifact could not be fetched: one exception class per cause, each with a machine `reason`.

The init container (`modelops fetch-model`) fails with one of these; its `reason` is a single
CamelCase word a machine can match (the pod's termination message, the ModelDeployment's
condition reason, an alert), its message says what and where for a person. Every backend
(file, http, pvc, s3, oci) raises only these, so a caller maps a failure to status without
knowing which store it came from. `exit_code` keeps the CLI's contract: 2 for a digest that does
not match, 3 for input refused before anything is fetched, 1 for everything else.

Nothing is ever left half-written when one of these is raised: the backends download into a
temporary file or directory beside the destination and rename it into place only after the
digest is verified.
"""

from __future__ import annotations

from typing import ClassVar

from modelops.errors import ModelopsError


class FetchError(ModelopsError, RuntimeError):
    """The artifact could not be fetched (the base: catch this to catch every fetch failure)."""

    reason: ClassVar[str] = "FetchFailed"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSource(FetchError):
    """The URI or an option is malformed or names an unsupported scheme: refused before any I/O."""

    reason = "InvalidSource"
    exit_code = 3


class InvalidDigest(InvalidSource):
    """The expected digest is not one (64 hex digits): said before anything is fetched."""

    reason = "InvalidDigest"


class StoreUnreachable(FetchError):
    """The store did not answer (connection refused, DNS, TLS, timeout, repeated 5xx), after retries."""

    reason = "StoreUnreachable"


class AccessDenied(FetchError):
    """The store refused access (HTTP 403, or 401 to an anonymous request): missing credentials or permission."""

    reason = "AccessDenied"


class BadCredentials(AccessDenied):
    """The store rejected the credentials given (unknown key id, wrong secret, a refused token)."""

    reason = "BadCredentials"


class NotFound(FetchError):
    """The bucket, key, prefix, repository, tag, digest or file does not exist (or did not appear in time)."""

    reason = "NotFound"


class DigestMismatch(FetchError):
    """What was downloaded does not hash to the expected digest (the spec's sha256, a pinned OCI digest, a layer)."""

    reason = "DigestMismatch"
    exit_code = 2


class PathEscapes(FetchError):
    """A name in the artifact (an S3 key, an OCI layer title, a symlink) would land outside the destination."""

    reason = "PathEscapes"


class InvalidArtifact(FetchError):
    """The store answered, but with something that is not a usable artifact (a bad manifest, not a regular file)."""

    reason = "InvalidArtifact"


# Every reason, for documentation and for callers that map reasons to status.
REASONS: tuple[str, ...] = tuple(
    cls.reason
    for cls in (
        FetchError,
        InvalidSource,
        InvalidDigest,
        StoreUnreachable,
        AccessDenied,
        BadCredentials,
        NotFound,
        DigestMismatch,
        PathEscapes,
        InvalidArtifact,
    )
)
