"""Random sequences of passes: the guards hold and every trigger that fires is accounted for."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.api.v1alpha1.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus
from modelops.retrain.policy import MAX_BACKOFF_DOUBLINGS, BurnSignal, DriftSignal, JobState, Signals, decide

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NAME = "rp"
JOB_TEMPLATE = {"template": {"spec": {"containers": [{"name": "t", "image": "x"}], "restartPolicy": "Never"}}}
BURN_ABOVE = 1.0

DriftEvent = Literal["start", "keep", "end", "nodata"]
JobEvent = Literal["absent", "active", "validated", "rejected", "garbage", "failed"]


@dataclass(frozen=True)
class Pass:
    advance: timedelta
    manual: bool  # a new nonce
    drift: DriftEvent
    burn: float | None
    jobs: tuple[JobEvent, ...]  # for the Running runs, newest first (missing entries: absent)


@dataclass(frozen=True)
class Guards:
    schedule: bool
    max_concurrent: int
    cooldown_minutes: int
    max_runs_per_day: int
    roundtrip: bool

    def spec(self) -> RetrainPolicySpec:
        triggers: dict[str, object] = {"drift": {"monitorRef": {"name": "dm"}}, "burnRate": {"above": BURN_ABOVE}}
        if self.schedule:
            triggers["schedule"] = "*/30 * * * *"
        return RetrainPolicySpec.model_validate(
            {
                "modelDeploymentRef": {"name": "fraud"},
                "jobTemplate": JOB_TEMPLATE,
                "triggers": triggers,
                "validation": [{"metric": "auc", "min": 0.7}],
                "cooldown": f"{self.cooldown_minutes}m",
                "maxConcurrent": self.max_concurrent,
                "maxRunsPerDay": self.max_runs_per_day,
                "historyLimit": 100,
            }
        )


passes = st.builds(
    Pass,
    advance=st.integers(0, 3 * 3600).map(lambda s: timedelta(seconds=s)),
    manual=st.booleans(),
    drift=st.sampled_from(["start", "keep", "end", "nodata"]),
    burn=st.sampled_from([None, 0.2, BURN_ABOVE, 4.0]),
    jobs=st.lists(st.sampled_from(["absent", "active", "validated", "rejected", "garbage", "failed"]), max_size=3).map(
        tuple
    ),
)
guards = st.builds(
    Guards,
    schedule=st.booleans(),
    max_concurrent=st.integers(1, 3),
    cooldown_minutes=st.integers(0, 120),
    max_runs_per_day=st.integers(1, 5),
    roundtrip=st.booleans(),
)


def next_half_hour(now: datetime) -> datetime:
    """'*/30 * * * *' computed by hand: the first :00 or :30 strictly after now."""
    minute = now.replace(second=0, microsecond=0)
    return minute + timedelta(minutes=30 - minute.minute % 30)


def job_state(event: JobEvent, run: str) -> JobState | None:
    match event:
        case "absent":
            return None
        case "active":
            return JobState("active")
        case "validated" | "rejected":
            auc = 0.9 if event == "validated" else 0.5
            return JobState(
                "succeeded", json.dumps({"version": run, "uri": f"file:///m/{run}", "metrics": {"auc": auc}})
            )
        case "garbage":
            return JobState("succeeded", "Traceback (most recent call last): ...")
        case "failed":
            return JobState("failed", reason="BackoffLimitExceeded")


@dataclass
class World:
    """The signals as they evolve, and what the test expects to fire (computed without the policy)."""

    now: datetime = T0
    nonce: int = 0
    drift: DriftSignal | None = None
    episodes_started: datetime | None = None
    burn_above: bool = False
    next_scheduled: datetime | None = None
    starts: list[tuple[str, datetime]] = field(default_factory=list)

    def advance(self, p: Pass, schedule: bool) -> list[str]:
        """Move to the next pass; the triggers that must fire in it."""
        self.now += p.advance
        fired = []
        if p.manual:
            self.nonce += 1
            fired.append("manual")
        if schedule:
            if self.next_scheduled is None:
                self.next_scheduled = next_half_hour(self.now)
            elif self.now >= self.next_scheduled:
                fired.append("schedule")
                self.next_scheduled = next_half_hour(self.now)
        if p.drift == "start" and (self.episodes_started is None or self.now > self.episodes_started):
            self.drift = DriftSignal(True, self.now, f"episode at {self.now:%H:%M:%S}")
            self.episodes_started = self.now
            fired.append("drift")
        elif p.drift == "end" and self.drift is not None and self.drift.drifted:
            self.drift = DriftSignal(False, self.now, "recovered")
        elif p.drift == "nodata":
            self.drift = DriftSignal(None, self.drift.since if self.drift else None, "no data")
        # "keep" (or a start in the same instant as the last one): the monitor says what it said before
        if p.burn is not None:
            above = p.burn >= BURN_ABOVE
            if above and not self.burn_above:
                fired.append("burnRate")
            self.burn_above = above
        return fired


@settings(max_examples=200, deadline=None)
@given(guards, st.lists(passes, min_size=1, max_size=20))
def test_guards_hold_and_every_fired_trigger_is_recorded(g: Guards, sequence: list[Pass]) -> None:
    spec = g.spec()
    cooldown = timedelta(minutes=g.cooldown_minutes)
    world = World()
    status = RetrainPolicyStatus()
    for i, p in enumerate(sequence):
        running_before = [r.name for r in status.runs if r.outcome == "Running"]
        jobs = {name: s for name, e in zip(running_before, p.jobs, strict=False) if (s := job_state(e, name))}
        expected = world.advance(p, g.schedule)
        if g.roundtrip:
            status = RetrainPolicyStatus.model_validate(status.wire())
        signals = Signals(world.now, "fraud", None, jobs, world.drift, BurnSignal(p.burn, f"burn {p.burn}"))
        spec = spec.model_copy(
            update={"triggers": spec.triggers.model_copy(update={"manual": f"n{world.nonce}" if world.nonce else None})}
        )
        before = status.run_count
        skipped_before = sum(1 for r in status.runs if r.outcome == "Skipped")
        d = decide(NAME, "ml", spec, status, signals)
        status = d.status
        at = f"pass {i} at {world.now:%d %H:%M:%S}"

        # finished Jobs leave Running; the others stay
        for name in running_before:
            outcome = next(r.outcome for r in status.runs if r.name == name)
            state = jobs.get(name)
            assert (outcome == "Running") == (state is None or state.phase == "active"), f"{name} {outcome} {at}"

        # every fired trigger either started a run or was recorded as skipped, in this pass
        new = [r for r in status.runs if r.outcome != "Skipped" and int(r.name.rsplit("-", 1)[1]) > before]
        assert len(new) == status.run_count - before, at
        assert all(r.started == world.now and r.job == r.name for r in new), at
        skipped = sum(1 for r in status.runs if r.outcome == "Skipped")
        assert len(d.skipped) == skipped - skipped_before, at
        assert all(r.reason and r.started == world.now for r in d.skipped), at
        assert Counter(r.trigger for r in new + d.skipped) == Counter(expected), f"{at}: expected {expected}"

        # names: unique, numbered consecutively, in start order
        world.starts += [(r.name, world.now) for r in reversed(new)]
        assert [n for n, _ in world.starts] == [f"{NAME}-{k}" for k in range(1, len(world.starts) + 1)], at
        names = [r.name for r in status.runs if r.outcome != "Skipped"]
        assert len(names) == len(set(names)), at

        # maxConcurrent
        running = [r for r in status.runs if r.outcome == "Running"]
        assert len(running) <= g.max_concurrent, at
        assert [r.name for r in d.running] == [r.name for r in running]

        # cooldown: starts at least the plain cooldown apart; a start in this pass waited out the backoff
        times = [t for _, t in world.starts]
        assert all(b - a >= cooldown for a, b in pairwise(times)), at
        if new and len(world.starts) > len(new):
            backoff = cooldown * 2 ** min(status.consecutive_failures, MAX_BACKOFF_DOUBLINGS)
            assert world.now - times[-len(new) - 1] >= backoff, at

        # maxRunsPerDay: in any 24h window
        for t in times:
            assert sum(1 for u in times if t - DAY < u <= t) <= g.max_runs_per_day, at
