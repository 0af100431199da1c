"""Reading the baseline document a trainer wrote beside its artifact (file:// or http(s)://).

Behind the small `BaselineReader` protocol so the RetrainPolicy controller does no fetching
itself and a unit test can hand it documents; what is read is checked to be a baseline
document before a ConfigMap carries it to servers and DriftMonitors.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path
from typing import Protocol

import httpx
from pydantic import ValidationError

from modelops.analysis.drift_documents import loads
from modelops.api.v1alpha1.baseline import Baseline
from modelops.retrain.jobs import JobState
from modelops.retrain.policy import BaselineRead
from modelops.retrain.result import parse

MAX_BASELINE_BYTES = 900_000  # a ConfigMap holds at most 1 MiB


class BaselineReader(Protocol):
    async def read_beside(self, uri: str, filename: str) -> str:
        """The file `filename` in the same directory as the artifact at `uri`; raises OSError,
        ValueError or httpx.HTTPError when it cannot be read or is not a baseline document."""
        ...


class ArtifactBaselines:
    """Reads beside file:// and http(s):// artifacts."""

    async def read_beside(self, uri: str, filename: str) -> str:
        if "/" in filename or filename in {"", ".", ".."}:
            raise ValueError(f"baseline {filename!r} is not a file name beside the artifact")
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme == "file":
            path = Path(urllib.parse.unquote(parsed.path)).parent / filename
            data = await asyncio.to_thread(path.read_bytes)
        elif parsed.scheme in {"http", "https"}:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.get(urllib.parse.urljoin(uri, filename))
                response.raise_for_status()
                data = response.content
        else:
            raise ValueError(f"cannot read a baseline beside a {parsed.scheme}:// artifact")
        if len(data) > MAX_BASELINE_BYTES:
            raise ValueError(f"baseline is {len(data)} bytes, more than a ConfigMap holds")
        text = data.decode(errors="replace")
        try:  # refuse what the servers and DriftMonitors could not read; never echo the content
            Baseline.model_validate_json(text)
            unreadable = len(loads(text, max_bytes=MAX_BASELINE_BYTES).errors)  # duplicates, counts over 2**53
        except ValidationError as error:
            raise ValueError(f"{filename} is not a baseline document ({error.error_count()} problem(s))") from None
        if unreadable:
            entries = f"{unreadable} entr{'y' if unreadable == 1 else 'ies'}"
            check = f"modelops drift evaluate --reference {filename} --current {filename}"
            raise ValueError(f"{filename} has {entries} a DriftMonitor cannot read (check it with `{check}`)")
        return text


async def read_baseline(reader: BaselineReader, state: JobState) -> BaselineRead:
    """The baseline a succeeded run's result names, or why there is none (never raises)."""
    try:
        result = parse(state.message)
        if not result.baseline:
            raise ValueError("the result names no baseline document")
        return BaselineRead(await reader.read_beside(result.uri, result.baseline))
    except (OSError, ValueError, httpx.HTTPError) as error:
        return BaselineRead(error=str(error))
