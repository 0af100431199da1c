"""What every store returns: where the artifact was placed and the digest that identifies it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Fetched:
    """A placed artifact. `sha256` is the file's SHA-256, or the directory digest (storage.directory)
    for a directory; `verified` says it was checked against an expected value; `resolved` is the
    OCI manifest digest the reference resolved to (what was pulled, whatever the tag says later)."""

    path: Path
    sha256: str
    size: int
    verified: bool
    kind: Literal["file", "directory"] = "file"
    resolved: str | None = None
