"""Every Stalled reason the operator can set has its runbook page, linked from docs/api.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelops.analysis.drift_report import STALLED_REASONS as MONITOR
from modelops.retrain.conditions import STALLED_REASONS as POLICY
from modelops.rollout.health import STALLED_REASONS as DEPLOYMENT

ROOT = Path(__file__).resolve().parents[1]
REASONS = sorted({*DEPLOYMENT, *MONITOR, *POLICY})


def page(reason: str) -> Path:
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", reason).lower()
    return ROOT / "docs" / "runbooks" / f"stalled-{kebab}.md"


@pytest.mark.parametrize("reason", REASONS)
def test_each_stalled_reason_has_a_runbook(reason: str) -> None:
    text = page(reason).read_text()
    assert text.startswith(f"# Stalled: {reason}\n")
    for heading in ("## What it means", "## How to look", "## What to do"):
        assert heading in text
    api = (ROOT / "docs" / "api.md").read_text()
    assert f"runbooks/{page(reason).name}" in api


def test_no_runbook_for_a_reason_nothing_sets() -> None:
    pages = {p.name for p in (ROOT / "docs" / "runbooks").glob("stalled-*.md")}
    assert pages == {page(r).name for r in REASONS}
