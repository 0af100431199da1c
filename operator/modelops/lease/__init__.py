"""Leader election on a coordination.k8s.io Lease, as a pure state machine (client-go's rules).

Layer rule (enforced by import-linter): no kopf, kubernetes or httpx, no I/O; both clocks are
arguments, so every step is reproducible and the simulator in the tests can skew them.
"""

from modelops.lease.election import (
    Durations,
    Elector,
    Record,
    Step,
    leading,
    release,
    step,
    unreachable,
    valid_until,
    written,
)

__all__ = [
    "Durations",
    "Elector",
    "Record",
    "Step",
    "leading",
    "release",
    "step",
    "unreachable",
    "valid_until",
    "written",
]
