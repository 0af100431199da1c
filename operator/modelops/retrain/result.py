"""A training run's result (the trainer's termination message) and the gates it must pass."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelops.api.v1alpha1.retrainpolicy import ValidationGate
from modelops.errors import ModelopsError


class ResultError(ModelopsError, ValueError):
    """A result the operator cannot use; the message says what is wrong with it."""


@dataclass(frozen=True)
class RunResult:
    version: str
    uri: str
    sha256: str | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    baseline: str | None = None  # the baseline document's name beside the artifact (trainer: baseline.json)


def _finite(value: Any) -> float | None:
    """A metric as a float; None for what is not a finite number (a 400-digit integer included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse(message: str | None) -> RunResult:
    """The JSON the trainer writes last; only version, uri and metrics are required.

    A trainer may print log lines before it: the last line that is a JSON object wins.
    """
    if not message or not message.strip():
        raise ResultError("the trainer left no termination message (the result JSON)")
    doc: Any = None
    try:  # the whole message (a trainer may pretty-print), else its last JSON-object line
        doc = json.loads(message)
    except ValueError:
        for line in reversed(message.strip().splitlines()):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                break
    if not isinstance(doc, dict):
        raise ResultError(f"the termination message is not a JSON object: {message.strip()[:200]!r}")
    missing = [k for k in ("version", "uri") if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        raise ResultError(f"the result has no {' or '.join(missing)}")
    raw = doc.get("metrics") or {}
    if not isinstance(raw, dict):
        raise ResultError("the result's metrics are not an object")
    metrics = {str(k): number for k, v in raw.items() if (number := _finite(v)) is not None}
    sha = doc.get("sha256") if isinstance(doc.get("sha256"), str) else None
    baseline = doc.get("baseline") if isinstance(doc.get("baseline"), str) else None
    return RunResult(doc["version"], doc["uri"], sha, metrics, baseline)


def check(
    gates: Sequence[ValidationGate],
    metrics: Mapping[str, float],
    stable: Mapping[str, float] | None,
    stable_version: str,
) -> list[str]:
    """Reasons the result fails its gates (empty: validated). A metric that is missing, on either
    side, fails its gate: unknown is never a pass."""
    failures: list[str] = []
    for gate in gates:
        value = metrics.get(gate.metric)
        if value is None:
            failures.append(f"{gate.metric} missing from the result")
            continue
        if gate.min is not None and value < gate.min:
            failures.append(f"{gate.metric} {value:.4g} < min {gate.min:g}")
        if gate.max is not None and value > gate.max:
            failures.append(f"{gate.metric} {value:.4g} > max {gate.max:g}")
        if gate.must_beat_stable:
            reference = (stable or {}).get(gate.metric)
            if reference is None:
                failures.append(f"{gate.metric}: no recorded value for the stable version {stable_version or '-'}")
            elif (value < reference) if gate.higher_is_better else (value > reference):
                worse = "below" if gate.higher_is_better else "above"
                failures.append(f"{gate.metric} {value:.4g} is {worse} the stable version's {reference:.4g}")
    return failures
