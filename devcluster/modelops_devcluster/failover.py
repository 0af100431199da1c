"""Lose the leading operator replica on purpose and time the standby's takeover.

Three ways a leader goes: `kill` (SIGKILL: OOM kill, node loss; the Lease simply stops being
renewed), `stop` (SIGSTOP for longer than the lease, then SIGCONT: a leader cut off from the API
server that comes back and must notice it was deposed, stop writing and exit 3), and `term`
(SIGTERM: a drain or rollout; the leader releases the Lease and the standby takes it at once).

Two figures per takeover, both from the moment the signal was sent: `lease_s`, until the standby
says it leads (its /leader, polled every 50 ms), and `reconcile_s`, until it has finished its
first reconcile pass of a kind (its modelops_reconcile_total counter, which starts at 0 in a
process that becomes leader: kopf starts only then).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from modelops_devcluster.operator import OperatorProcess
from modelops_devcluster.stack import Stack

How = Literal["kill", "stop", "term"]


@dataclass(frozen=True)
class Takeover:
    how: How
    old: str
    new: str
    lease_s: float
    reconcile_s: float | None  # None: no pass of `kind` finished within the timeout
    exit_code: int | None  # the old leader's, for stop and term (kill: -9)
    signalled_at: datetime  # wall clock, to compare with the API server's audit log
    resumed_at: datetime | None  # stop: when SIGCONT was sent


def identity(operator: OperatorProcess) -> str:
    assert operator.election is not None, "not started with leader election"
    return operator.election.identity


def _first_pass(operator: OperatorProcess, kind: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            if (operator.metric("modelops_reconcile_total", kind=kind, result="ok") or 0) > 0:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def fail_leader(
    stack: Stack, how: How, *, kind: str = "ModelDeployment", timeout: float = 90.0, restart: bool = True
) -> Takeover:
    """Take the leader out `how`, wait for a standby to lead and reconcile, then (with `restart`)
    start the old replica again as a standby, the way its pod would restart."""
    old = stack.leader(timeout=timeout)
    assert old.election is not None
    signalled_at = datetime.now(UTC)
    started = time.monotonic()
    if how == "kill":
        old.kill()
    elif how == "stop":
        old.send_signal(signal.SIGSTOP)
    else:
        old.terminate()
    new = stack.leader(timeout=timeout, exclude=old)
    lease_s = time.monotonic() - started
    reconciled = _first_pass(new, kind, started + timeout)
    reconcile_s = time.monotonic() - started if reconciled else None
    resumed_at = None
    exit_code: int | None = -9
    if how == "stop":
        # frozen longer than the lease for sure: the standby already leads
        time.sleep(max(0.0, old.election.lease_duration - (time.monotonic() - started)) + 0.5)
        resumed_at = datetime.now(UTC)
        old.send_signal(signal.SIGCONT)
        exit_code = old.wait_exit(timeout=30)
    elif how == "term":
        exit_code = old.wait_exit(timeout=60)
    if restart:
        old.start()
    return Takeover(how, identity(old), identity(new), lease_s, reconcile_s, exit_code, signalled_at, resumed_at)


WRITE_VERBS = {"create", "update", "patch", "delete"}
AUDIT_WRITES = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create, update, patch, delete]
  - level: None
"""


def writes_by(stack: Stack, who: str, *, since: datetime) -> list[dict[str, object]]:
    """Write requests replica `who` sent that the API server received at or after `since`
    (needs Stack(audit_policy=AUDIT_WRITES); replicas name themselves in their User-Agent)."""
    out = []
    for event in stack.cluster.audit_events():
        if event.get("verb") not in WRITE_VERBS:
            continue
        if event.get("userAgent") != f"modelops-operator/{who}":
            continue
        received = datetime.fromisoformat(str(event["requestReceivedTimestamp"]).replace("Z", "+00:00"))
        if received >= since:
            out.append(event)
    return out
