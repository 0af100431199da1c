"""Plain-text views of a resource's status for people on call (pure formatting)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
    if status.get("quality"):
        lines.append(f"  Quality:  {quality(status['quality'])}")
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


def _seconds(value: Any) -> str:
    """A lag in the largest unit or two (45s, 5m12s, 3h4m, 2d5h)."""
    if value is None:
        return "-"
    seconds = round(float(value))
    for unit, size, smaller, small in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if seconds >= size:
            rest = (seconds % size) // small
            return f"{seconds // size}{unit}" + (f"{rest}{smaller}" if rest else "")
    return f"{seconds}s"


def quality(q: dict[str, Any]) -> str:
    """status.quality in one line: the value against the objective, the labels behind it and how stale they are."""
    value = q.get("value")
    shown = "-" if value is None else f"{value:.3f}"
    verdict = {"Pass": "meets objective", "Fail": "BELOW OBJECTIVE", "Unknown": "insufficient data"}
    return (
        f"{q.get('metric')} {shown} (objective {q.get('objective')}) of {q.get('version')} on {q.get('labels', 0)} "
        f"labels over {q.get('window') or '-'}, label lag p90 {_seconds(q.get('labelLagP90Seconds'))}: "
        f"{verdict.get(q.get('verdict', ''), q.get('verdict'))}, read at {q.get('evaluatedAt')}"
    )


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


def age(created: str | None, now: datetime) -> str:
    """kubectl's AGE: the largest unit or two (45s, 5m12s, 3h4m, 2d5h, 40d)."""
    if not created:
        return "-"
    seconds = max(0, int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if days < 2:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def _pods(status: dict[str, Any]) -> str:
    """Ready/desired serving pods over the versions that take traffic (stable and canary)."""
    variants = [v for v in (status.get("stable"), status.get("canary")) if v]
    if not variants:
        return "-"
    ready = sum(int(v.get("readyReplicas") or 0) for v in variants)
    return f"{ready}/{sum(int(v.get('replicas') or 0) for v in variants)}"


def _ready(status: dict[str, Any]) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status", "Unknown"))
    return "-"


def _analysis(status: dict[str, Any]) -> str:
    verdict = (status.get("lastAnalysis") or {}).get("verdict")
    if not verdict:
        return "-"
    counts = [f"{status[k]} {k[:-6]}" for k in ("failedChecks", "unknownChecks") if status.get(k)]
    return f"{verdict} ({', '.join(counts)})" if counts and status.get("canary") else str(verdict)


LIST_HEADER = ("NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "PODS", "READY", "ANALYSIS", "AGE")


def model_deployment_row(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One ModelDeployment as the values of `kubectl modelops list` (also its -o json)."""
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    canary = status.get("canary") or {}
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "phase": status.get("phase") or "Unknown",
        "stale": status.get("observedGeneration") != meta.get("generation"),
        "stable": (status.get("stable") or {}).get("version"),
        "canary": canary.get("version"),
        "canaryWeight": int(status.get("canaryWeight") or 0) if canary else None,
        "pods": _pods(status),
        "ready": _ready(status),
        "analysis": _analysis(status),
        "age": age(meta.get("creationTimestamp"), now),
    }


def model_deployment_list(objs: Sequence[dict[str, Any]], now: datetime, *, all_namespaces: bool) -> str:
    """`kubectl modelops list`: one line per ModelDeployment, the rollout's story in columns."""
    rows = sorted((model_deployment_row(o, now) for o in objs), key=lambda r: (r["namespace"] or "", r["name"] or ""))
    cells = [
        (
            *((r["namespace"],) if all_namespaces else ()),
            r["name"],
            r["phase"] + ("*" if r["stale"] else ""),
            r["stable"] or "-",
            r["canary"] or "-",
            "-" if r["canaryWeight"] is None else f"{r['canaryWeight']}%",
            r["pods"],
            r["ready"],
            r["analysis"],
            r["age"],
        )
        for r in rows
    ]
    text = table((*(("NAMESPACE",) if all_namespaces else ()), *LIST_HEADER), cells)
    if any(r["stale"] for r in rows):
        text += "\n* the operator has not acted on the latest spec yet (observedGeneration behind)"
    return text
