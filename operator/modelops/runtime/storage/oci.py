"""oci:// artifacts (work in progress)."""

from __future__ import annotations

from pathlib import Path

from modelops.runtime.storage.base import Fetched
from modelops.runtime.storage.errors import InvalidSource


def fetch(uri: str, dest: Path, *, sha256: str | None, timeout: float = 60.0, attempts: int = 5) -> Fetched:
    raise InvalidSource(f"{uri}: oci:// is not supported yet")
