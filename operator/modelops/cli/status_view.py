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
    bake = status.get("bake")
    if bake:
        reverting = f"  REVERTING: {bake['reverting']}" if bake.get("reverting") else ""
        lines.append(
            f"  Bake:     until {bake.get('until')}, previous {_variant(bake.get('previous'))} warm{reverting}"
        )
    for r in status.get("retiring") or []:
        lines.append(f"  Retiring: {r.get('version')} (no traffic) removed at {r.get('until')}")
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


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _outcome(f: dict[str, Any]) -> str:
    if f.get("error"):
        return f"error: {f['error']}"
    if f.get("insufficientData"):
        return "insufficient data"
    return "DRIFTED" if f.get("drifted") else "ok"


def drift_monitor(obj: dict[str, Any]) -> str:
    """The per-feature table of a DriftMonitor's latest evaluation, worst first."""
    meta, spec, status = obj.get("metadata", {}), obj.get("spec") or {}, obj.get("status") or {}
    drifted = {True: "DRIFTED", False: "not drifted", None: "unknown (no conclusive evaluation yet)"}
    share = status.get("driftShare")
    lines = [
        f"DriftMonitor {meta.get('namespace')}/{meta.get('name')}",
        f"  Watches:   ModelDeployment {(spec.get('modelDeploymentRef') or {}).get('name')} "
        f"({spec.get('variant', 'stable')}), version {status.get('version') or '-'}",
        f"  Reference: {status.get('reference') or '-'}",
        f"  Verdict:   {drifted[status.get('drifted')]}"
        + (f", share {share:.2f} (threshold {spec.get('driftShare', 0.5)})" if share is not None else ""),
        f"  Evaluated: {status.get('lastEvaluated') or 'never'}",
    ]
    features = [*(status.get("features") or []), *([status["prediction"]] if status.get("prediction") else [])]
    if features:
        rows = [
            (
                f.get("name"),
                f.get("test") or "-",
                f.get("samples", 0),
                _num(f.get("pValue"), ".2e"),
                _num(f.get("adjustedPValue"), ".2e"),
                _num(f.get("psi"), ".3f"),
                _num(f.get("js"), ".3f"),
                _num(f.get("ks"), ".3f"),
                _outcome(f),
            )
            for f in features
        ]
        header = ("FEATURE", "TEST", "SAMPLES", "P", "ADJ P", "PSI", "JS", "KS", "RESULT")
        lines += ["", table(header, rows)]
    lines += ["", conditions(status)]
    return "\n".join(lines)


def history(md: dict[str, Any], policy: dict[str, Any] | None) -> str:
    """A ModelDeployment's rollouts, newest first, each traced to the retraining run that produced
    its version and what triggered that run (drift table summary, burn rate, schedule, person)."""
    meta, status = md.get("metadata", {}), md.get("status") or {}
    runs = {r.get("name"): r for r in ((policy or {}).get("status") or {}).get("runs") or []}
    lines = [
        f"ModelDeployment {meta.get('namespace')}/{meta.get('name')}: "
        f"stable {(status.get('stable') or {}).get('version', '-')}"
    ]
    if policy is not None:
        lines[0] += f", versions from RetrainPolicy {policy.get('metadata', {}).get('name')}"
    rows = []
    for h in status.get("history") or []:
        run = runs.get(h.get("retrainRun")) if h.get("retrainRun") else None
        trigger = run.get("trigger") if run else ("-" if not h.get("retrainRun") else "(run no longer in history)")
        evidence = (run or {}).get("evidence", "")
        at, version, outcome, reason = h.get("at"), h.get("version"), h.get("outcome"), h.get("reason", "")
        rows.append((at, version, outcome, h.get("retrainRun") or "-", trigger, evidence, reason))
    if not rows:
        return "\n".join([*lines, "no finished rollouts yet"])
    return "\n".join([*lines, "", table(("AT", "VERSION", "OUTCOME", "RUN", "TRIGGER", "EVIDENCE", "REASON"), rows)])
