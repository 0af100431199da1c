"""Why a version's pods cannot load their model, read from the fetch init container's status (pure).

`modelops fetch-model` writes `REASON: message` to its termination message when it fails
(SignatureInvalid, SignatureMissing, PublicKeyInvalid, DigestMismatch, FetchFailed, or the
reason a storage error names) and its JSON report when it succeeds; with
terminationMessagePolicy FallbackToLogsOnError a crash leaves its log's tail instead. The
kubelet keeps the last run in `state.terminated` (or `lastState.terminated` while the
container waits in CrashLoopBackOff), and that is what is read here.

Two condition reasons come out of it: SignatureInvalid for anything about the signature (a
person must sign the artifact or fix the key) and ModelFetchFailed for the rest; the fine
reason stays in the message. Permanent failures (the bytes or the signature are wrong: retrying
fetches the same) roll a canary back at once; others (a store that may come back) hold it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FETCH_CONTAINER = "fetch"
MAX_MESSAGE = 1000
SIGNATURE_REASONS = frozenset({"SignatureInvalid", "SignatureMissing", "PublicKeyInvalid"})
# what waiting cannot fix (runtime/storage/errors.py); a store that may come back (StoreUnreachable,
# AccessDenied/BadCredentials until a Secret is fixed, NotFound until a Job writes it) holds instead
PERMANENT_REASONS = SIGNATURE_REASONS | {
    "DigestMismatch",
    "InvalidDigest",
    "InvalidChecksum",
    "InvalidSource",
    "InvalidArtifact",
    "PathEscapes",
}
CONDITION_REASONS = ("ModelFetchFailed", "SignatureInvalid")
_REASON = re.compile(r"([A-Z][A-Za-z0-9]{2,63}): (.*)", re.DOTALL)


def condition_reason(reason: str) -> str:
    """SignatureInvalid for anything about the signature, ModelFetchFailed for the rest."""
    return "SignatureInvalid" if reason in SIGNATURE_REASONS else "ModelFetchFailed"


def describe(version: str, reason: str, message: str, pod: str = "") -> str:
    where = f" (pod {pod})" if pod else ""
    return f"{version} cannot load its model{where}: {reason}: {message}"


@dataclass(frozen=True)
class FetchFailure:
    """The last failed fetch of one version's pod: the fine reason and the init container's words."""

    reason: str  # as fetch-model wrote it, e.g. SignatureInvalid, DigestMismatch, FetchFailed
    message: str
    pod: str = ""

    @property
    def condition_reason(self) -> str:
        return condition_reason(self.reason)

    @property
    def permanent(self) -> bool:
        return self.reason in PERMANENT_REASONS

    def describe(self, version: str) -> str:
        return describe(version, self.reason, self.message, self.pod)


@dataclass(frozen=True)
class Fetched:
    """What a successful fetch reported: the artifact's digest and, when signed, the signer."""

    sha256: str
    signer: str | None


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for key in ("state", "lastState"):
        terminated = (status.get(key) or {}).get("terminated")
        if terminated:
            return dict(terminated)
    return None


def _fetch_status(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    return next((s for s in statuses if s.get("name") == FETCH_CONTAINER), None)


def parse_message(text: str, exit_code: int | None) -> FetchFailure:
    """`REASON: message` as fetch-model writes it; anything else (a log tail) is FetchFailed."""
    text = text.strip()
    found = _REASON.fullmatch(text)
    if found is not None:
        return FetchFailure(found.group(1), found.group(2).strip()[:MAX_MESSAGE])
    tail = text[-MAX_MESSAGE:] if text else f"the fetch init container exited with code {exit_code}"
    return FetchFailure("FetchFailed", tail)


def failure(pods: Iterable[Mapping[str, Any]]) -> FetchFailure | None:
    """The first pod whose fetch init container last ended in failure (by name, so the answer is stable)."""
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
        status = _fetch_status(pod)
        if status is None or status.get("ready"):
            continue
        terminated = _terminated(status)
        if terminated is None or terminated.get("exitCode", 0) == 0:
            continue
        found = parse_message(str(terminated.get("message") or ""), terminated.get("exitCode"))
        name = str((pod.get("metadata") or {}).get("name", ""))
        return FetchFailure(found.reason, found.message, name)
    return None


def fetched(pods: Iterable[Mapping[str, Any]]) -> Fetched | None:
    """The report of a fetch that succeeded (exit 0, JSON termination message), if any pod has one."""
    for pod in pods:
        status = _fetch_status(pod)
        terminated = _terminated(status) if status is not None else None
        if terminated is None or terminated.get("exitCode") != 0:
            continue
        try:
            report = json.loads(str(terminated.get("message") or ""))
        except json.JSONDecodeError:
            continue
        if isinstance(report, dict) and isinstance(report.get("sha256"), str):
            signer = report.get("signer")
            return Fetched(report["sha256"], signer if isinstance(signer, str) else None)
    return None
