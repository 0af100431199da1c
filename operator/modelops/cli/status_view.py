"""Plain-text views of a resource's status for people on call (pure formatting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns like kubectl prints them."""
    cells = [[str(h) for h in header], *[["" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _variant(v: dict[str, Any] | None) -> str:
    if not v:
        return "-"
    return f"{v.get('version', '?')} ({v.get('readyReplicas', 0)}/{v.get('replicas', 0)} ready)"


def conditions(status: dict[str, Any]) -> str:
    rows = [
        (c.get("type"), c.get("status"), c.get("reason", ""), c.get("lastTransitionTime", ""), c.get("message", ""))
        for c in status.get("conditions") or []
    ]
    return table(("CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"), rows) if rows else "no conditions yet"


def model_deployment(obj: dict[str, Any]) -> str:
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    stale = status.get("observedGeneration") != meta.get("generation")
    lines = [
        f"ModelDeployment {meta.get('namespace')}/{meta.get('name')}",
        f"  Phase:    {status.get('phase', 'Unknown')}"
        + ("  (operator has not seen the latest spec)" if stale else ""),
        f"  Stable:   {_variant(status.get('stable'))}",
        f"  Canary:   {_variant(status.get('canary'))}  weight {status.get('canaryWeight', 0)}%"
        f"  step {status.get('currentStep', '-')}"
        f"  failed {status.get('failedChecks', 0)}  unknown {status.get('unknownChecks', 0)}",
    ]
    if status.get("message"):
        lines.append(f"  Message:  {status['message']}")
    analysis = status.get("lastAnalysis")
    if analysis:
        lines.append(f"\nLast analysis at {analysis.get('time')}: {analysis.get('verdict')}")
        checks = [
            (c.get("name"), c.get("verdict"), c.get("value"), c.get("threshold"), c.get("samples"), c.get("reason"))
            for c in analysis.get("checks") or []
        ]
        lines.append(table(("CHECK", "VERDICT", "VALUE", "THRESHOLD", "SAMPLES", "REASON"), checks))
    lines += ["", conditions(status)]
    history = status.get("history") or []
    if history:
        rows = [(h.get("at"), h.get("version"), h.get("outcome"), h.get("reason", "")) for h in history]
        lines += ["", table(("AT", "VERSION", "OUTCOME", "REASON"), rows)]
    return "\n".join(lines)
