"""The drift and burn-rate signals of a RetrainPolicy, from what its controller observed (pure).

The burn rate is analysis.slo's (error ratio / budget, exact budget arithmetic), the same
number the bake and the freeze judge a stable version by.
"""

from __future__ import annotations

from modelops.analysis.slo import Counts, burn_rate, error_budget
from modelops.api.v1alpha1.views import MonitorView
from modelops.retrain.policy import BurnSignal, DriftSignal


def drift_signal(monitor_name: str, monitor: MonitorView) -> DriftSignal:
    """The monitor's verdict; a drift episode starts at its Drifted condition's last transition."""
    drifted = monitor.drifted
    condition = monitor.condition("Drifted")
    summary = f"DriftMonitor {monitor_name}: {condition.message or 'drifted'}"
    return DriftSignal(drifted, condition.last_transition_time if drifted else None, summary[:1000])


def burn_signal(found: Counts | None, *, objective: float, window: str, stable_version: str) -> BurnSignal:
    """The stable version's availability burn rate over the trigger's window; no traffic is no data."""
    rate = burn_rate(found, error_budget(objective))
    if found is None or rate is None:
        return BurnSignal(None, "no traffic")
    summary = (
        f"stable {stable_version} burns its {objective}% availability budget at {float(rate):.2f}x over "
        f"{window} ({found.bad:.0f} of {found.total:.0f} requests failed)"
    )
    return BurnSignal(float(rate), summary)
