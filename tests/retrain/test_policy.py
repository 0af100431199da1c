from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelops.api.v1alpha1.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus, RetrainRun
from modelops.retrain.policy import (
    IDLE_SECONDS,
    MAX_NAME,
    RUNNING_POLL_SECONDS,
    BurnSignal,
    DriftSignal,
    JobState,
    RetrainDecision,
    Signals,
    decide,
    output_uri,
    run_name,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NAME, NAMESPACE = "rp", "ml"
JOB_TEMPLATE = {"template": {"spec": {"containers": [{"name": "t", "image": "x"}], "restartPolicy": "Never"}}}
DRIFT = {"drift": {"monitorRef": {"name": "dm"}}}


def spec(**fields: Any) -> RetrainPolicySpec:
    return RetrainPolicySpec.model_validate(
        {
            "modelDeploymentRef": {"name": "fraud"},
            "jobTemplate": JOB_TEMPLATE,
            "cooldown": "1h",
            **fields,
        }
    )


def result(version: str, **doc: Any) -> str:
    return json.dumps({"version": version, "uri": f"file:///models/fraud/{version}", **doc})


def ok(version: str, **metrics: float) -> JobState:
    return JobState("succeeded", result(version, metrics=metrics, sha256="b" * 64))


@dataclass
class Sim:
    """Drives decide() like the controller: the returned status is the next pass's input."""

    spec: RetrainPolicySpec
    status: RetrainPolicyStatus = field(default_factory=RetrainPolicyStatus)
    now: datetime = T0
    stable: str | None = None
    roundtrip: bool = False
    last: RetrainDecision | None = None

    def tick(
        self,
        step: timedelta = timedelta(0),
        *,
        jobs: Mapping[str, JobState] | None = None,
        drift: DriftSignal | None = None,
        burn: BurnSignal | None = None,
    ) -> RetrainDecision:
        self.now += step
        status = RetrainPolicyStatus.model_validate(self.status.wire()) if self.roundtrip else self.status
        signals = Signals(self.now, "fraud", self.stable, dict(jobs or {}), drift, burn)
        self.last = decide(NAME, NAMESPACE, self.spec, status, signals)
        self.status = self.last.status
        return self.last

    def manual(self, nonce: str, step: timedelta = timedelta(0), **kw: Any) -> RetrainDecision:
        self.spec = self.spec.model_copy(update={"triggers": self.spec.triggers.model_copy(update={"manual": nonce})})
        return self.tick(step, **kw)

    def run(self, name: str) -> RetrainRun:
        return next(r for r in self.status.runs if r.name == name)

    def outcomes(self) -> list[tuple[str, str]]:
        return [(r.name, r.outcome) for r in self.status.runs]


def started(d: RetrainDecision) -> list[str]:
    return [e.message.split()[0] for e in d.events if e.reason == "RunStarted"]


# manual -----------------------------------------------------------------------------------------


def test_manual_nonce_starts_one_run() -> None:
    sim = Sim(spec(triggers={"manual": "a"}))
    d = sim.tick()
    assert [r.name for r in d.running] == ["rp-1"] and started(d) == ["rp-1"]
    run = d.running[0]
    assert (run.trigger, run.outcome, run.job, run.version, run.started) == ("manual", "Running", "rp-1", "rp-1", T0)
    assert run.uri == "file:///models/fraud/rp-1" and run.evidence == "requested with nonce a"
    assert d.status.run_count == 1 and d.status.acknowledged_manual == "a" and d.status.last_run == run
    assert d.requeue_after == RUNNING_POLL_SECONDS and not d.skipped and not d.problems
    # the same nonce on the next passes does nothing
    for _ in range(3):
        d = sim.tick(timedelta(hours=2))
        assert not d.events and not d.skipped and d.status.run_count == 1
    assert sim.outcomes() == [("rp-1", "Running")]


def test_new_nonce_within_cooldown_is_skipped_then_starts_after_it() -> None:
    sim = Sim(spec(triggers={"manual": "a"}))
    sim.tick()
    sim.tick(timedelta(minutes=10), jobs={"rp-1": ok("rp-1")})
    assert sim.run("rp-1").outcome == "Validated"
    d = sim.manual("b", timedelta(minutes=10))
    assert not d.running and d.status.run_count == 1
    (skip,) = d.skipped
    assert skip.outcome == "Skipped" and skip.trigger == "manual" and skip.started == sim.now
    assert skip.reason == "cooldown until 2026-11-23T13:00:00Z"
    assert [e.reason for e in d.events] == ["TriggerSkipped"] and "cooldown until" in d.events[0].message
    assert d.status.acknowledged_manual == "b"  # not queued: the skipped request is gone
    assert not sim.tick(timedelta(hours=1)).events
    d = sim.manual("c")  # exactly the cooldown after rp-1 started
    assert started(d) == ["rp-2"] and d.status.runs[0].name == "rp-2"
    assert [n for n, o in sim.outcomes()] == ["rp-2", "skipped-manual-20261123T122000-1", "rp-1"]


def test_empty_nonce_requests_nothing() -> None:
    assert not Sim(spec(triggers={"manual": ""})).tick().events


# schedule ---------------------------------------------------------------------------------------


def test_schedule_first_pass_only_computes_the_next_time() -> None:
    sim = Sim(spec(triggers={"schedule": "*/30 * * * *"}))
    d = sim.tick(timedelta(minutes=5, seconds=17))
    assert not d.events and d.status.run_count == 0
    assert d.status.next_scheduled == T0 + timedelta(minutes=30) and d.status.schedule == "*/30 * * * *"
    assert d.requeue_after == IDLE_SECONDS  # the idle poll comes first
    d = sim.tick(timedelta(minutes=20))  # 12:25:17: not yet
    assert not d.events and d.requeue_after == pytest.approx(4 * 60 + 43)  # woken for the schedule
    d = sim.tick(timedelta(minutes=4, seconds=43))  # exactly 12:30
    assert started(d) == ["rp-1"]
    assert d.running[0].trigger == "schedule" and d.running[0].evidence == "scheduled for 2026-11-23T12:30Z"
    assert d.status.next_scheduled == T0 + timedelta(hours=1)


def test_schedule_missed_slots_fire_once() -> None:
    sim = Sim(spec(triggers={"schedule": "*/30 * * * *"}, cooldown="0s", maxConcurrent=3))
    sim.tick()
    d = sim.tick(timedelta(hours=5, minutes=10))
    assert started(d) == ["rp-1"] and not d.skipped
    assert d.status.next_scheduled == T0 + timedelta(hours=5, minutes=30)


def test_changing_the_schedule_recomputes_without_firing() -> None:
    sim = Sim(spec(triggers={"schedule": "*/30 * * * *"}))
    sim.tick()
    sim.spec = spec(triggers={"schedule": "@daily"})
    d = sim.tick(timedelta(hours=1))  # past the old nextScheduled
    assert not d.events
    assert d.status.next_scheduled == datetime(2026, 11, 24, tzinfo=UTC) and d.status.schedule == "@daily"
    d = sim.tick(timedelta(hours=11))  # midnight
    assert started(d) == ["rp-1"]


def test_removing_the_schedule_clears_it() -> None:
    sim = Sim(spec(triggers={"schedule": "@hourly"}))
    sim.tick()
    sim.spec = spec()
    d = sim.tick(timedelta(hours=2))
    assert not d.events and d.status.next_scheduled is None and d.status.schedule is None
    assert d.requeue_after == IDLE_SECONDS


def test_a_schedule_that_cannot_be_evaluated_is_a_problem_not_a_crash() -> None:
    sim = Sim(spec(triggers={"schedule": "61 * * * *"}))  # five fields: the API pattern lets it through
    d = sim.tick()
    assert d.problems == ["schedule '61 * * * *': Bad minute"]
    assert d.status.next_scheduled is None and not d.events


# drift ------------------------------------------------------------------------------------------


def drifted(since: datetime, summary: str = "psi 0.4 on amount") -> DriftSignal:
    return DriftSignal(True, since, summary)


def test_drift_fires_once_per_episode() -> None:
    sim = Sim(spec(triggers=DRIFT, cooldown="0s"))
    s1 = T0 - timedelta(minutes=3)
    d = sim.tick(drift=drifted(s1))
    assert started(d) == ["rp-1"] and d.running[0].trigger == "drift"
    assert d.running[0].evidence == "psi 0.4 on amount" and d.status.acknowledged_drift == s1
    sim.tick(timedelta(minutes=5), jobs={"rp-1": ok("rp-1")}, drift=drifted(s1))
    assert sim.last is not None and not started(sim.last) and not sim.last.skipped
    s2 = sim.now
    d = sim.tick(timedelta(minutes=5), drift=drifted(s2, "psi 0.5"))
    assert started(d) == ["rp-2"] and d.status.acknowledged_drift == s2


def test_drift_that_is_not_drifted_never_fires() -> None:
    sim = Sim(spec(triggers=DRIFT, cooldown="0s"))
    for i, signal in enumerate(
        [
            DriftSignal(False, T0, "recovered"),
            DriftSignal(None, T0, "no data"),
            DriftSignal(None, None, "no data"),
            DriftSignal(True, None, "no transition time"),
            None,
        ]
    ):
        d = sim.tick(timedelta(minutes=i), drift=signal)
        assert not d.events and d.status.acknowledged_drift is None


def test_an_older_episode_does_not_fire_again() -> None:
    sim = Sim(spec(triggers=DRIFT, cooldown="0s", maxConcurrent=5))
    sim.tick(drift=drifted(T0))
    d = sim.tick(timedelta(minutes=1), drift=drifted(T0 - timedelta(hours=1)))
    assert not d.events and d.status.acknowledged_drift == T0


def test_drift_without_a_drift_trigger_is_ignored() -> None:
    d = Sim(spec(cooldown="0s")).tick(drift=drifted(T0))
    assert not d.events and d.status.acknowledged_drift is None


# burn rate --------------------------------------------------------------------------------------


def test_burn_fires_on_the_rising_edge_only() -> None:
    sim = Sim(spec(triggers={"burnRate": {"above": 2}}, cooldown="0s", maxConcurrent=10, maxRunsPerDay=100))
    fired = []
    for rate in [1.0, 3.0, 5.0, None, 2.5, 1.9, None, 2.0, None, 0.1, 8.0]:
        d = sim.tick(timedelta(minutes=1), burn=BurnSignal(rate, f"burn {rate}"))
        fired += [r.evidence for r in d.status.runs if r.started == sim.now]
    assert fired == ["burn 3.0", "burn 2.0", "burn 8.0"]  # the threshold itself counts as above
    assert sim.status.burn_firing is True


def test_burn_rate_none_changes_nothing() -> None:
    sim = Sim(spec(triggers={"burnRate": {"above": 1}}))
    sim.tick(burn=BurnSignal(0.5, "low"))
    d = sim.tick(timedelta(minutes=1), burn=BurnSignal(None, "no data"))
    assert d.status.burn_firing is False and not d.events
    sim.tick(timedelta(hours=2), burn=BurnSignal(1.5, "high"))
    d = sim.tick(timedelta(hours=2), burn=BurnSignal(None, "no data"))
    assert d.status.burn_firing is True and not d.events
    assert not sim.tick(timedelta(hours=2), burn=BurnSignal(1.5, "high")).events


def test_burn_without_a_burn_trigger_is_ignored() -> None:
    d = Sim(spec()).tick(burn=BurnSignal(50.0, "on fire"))
    assert not d.events and d.status.burn_firing is False


# guards -----------------------------------------------------------------------------------------


def test_two_triggers_in_one_pass_start_one_run_the_other_skipped_by_max_concurrent() -> None:
    sim = Sim(spec(triggers={"manual": "a", **DRIFT}))
    d = sim.tick(drift=drifted(T0))
    assert started(d) == ["rp-1"] and d.running[0].trigger == "manual"
    (skip,) = d.skipped
    assert skip.trigger == "drift" and skip.reason == "maxConcurrent 1 reached: rp-1 still running"
    assert d.status.acknowledged_drift == T0 and d.status.run_count == 1
    assert [e.reason for e in d.events] == ["RunStarted", "TriggerSkipped"]


def test_two_triggers_in_one_pass_the_other_skipped_by_cooldown() -> None:
    sim = Sim(spec(triggers={"manual": "a", **DRIFT}, maxConcurrent=2))
    d = sim.tick(drift=drifted(T0))
    assert started(d) == ["rp-1"]
    assert [s.reason for s in d.skipped] == ["cooldown until 2026-11-23T13:00:00Z"]


def test_zero_cooldown_lets_simultaneous_triggers_start_up_to_max_concurrent() -> None:
    sim = Sim(
        spec(
            triggers={"schedule": "@hourly", "burnRate": {}, **DRIFT}, cooldown="0s", maxConcurrent=2, maxRunsPerDay=10
        )
    )
    sim.tick()
    d = sim.manual("a", timedelta(hours=1), drift=drifted(T0), burn=BurnSignal(9, "9x"))
    assert started(d) == ["rp-1", "rp-2"]
    assert [r.trigger for r in d.running] == ["schedule", "manual"]  # newest first
    assert [(s.trigger, s.reason.split(":")[0]) for s in d.skipped] == [
        ("drift", "maxConcurrent 2 reached"),
        ("burnRate", "maxConcurrent 2 reached"),
    ]


def test_suspend_records_skipped() -> None:
    sim = Sim(spec(triggers={"manual": "a", **DRIFT}, suspend=True))
    d = sim.tick(drift=drifted(T0))
    assert not d.running and d.status.run_count == 0 and d.status.last_run is None
    assert [(s.trigger, s.reason) for s in d.skipped] == [
        ("manual", "suspended (spec.suspend)"),
        ("drift", "suspended (spec.suspend)"),
    ]
    assert all(e.reason == "TriggerSkipped" and "suspended" in e.message for e in d.events)
    sim.spec = spec(triggers={"manual": "a", **DRIFT})  # resumed: what was skipped is not replayed
    assert not sim.tick(timedelta(hours=3), drift=drifted(T0)).events


def test_suspend_still_finishes_running_runs() -> None:
    sim = Sim(spec(triggers={"manual": "a"}))
    sim.tick()
    sim.spec = sim.spec.model_copy(update={"suspend": True})
    d = sim.tick(timedelta(minutes=5), jobs={"rp-1": ok("rp-1")})
    assert sim.run("rp-1").outcome == "Validated" and d.finished


def test_max_runs_per_day() -> None:
    sim = Sim(spec(triggers={"manual": "a"}, maxRunsPerDay=2))
    sim.tick()
    sim.tick(timedelta(minutes=30), jobs={"rp-1": ok("rp-1")})
    assert started(sim.manual("b", timedelta(minutes=30))) == ["rp-2"]
    sim.tick(timedelta(minutes=30), jobs={"rp-2": ok("rp-2")})
    d = sim.manual("c", timedelta(hours=5))
    assert [s.reason for s in d.skipped] == ["maxRunsPerDay 2 reached; the next slot opens at 2026-11-24T12:00Z"]
    d = sim.manual("d", T0 + timedelta(days=1) - sim.now - timedelta(seconds=1))
    assert d.skipped and "maxRunsPerDay" in d.skipped[0].reason
    d = sim.manual("e", timedelta(seconds=1))  # 24h after rp-1: its slot is free again
    assert started(d) == ["rp-3"]


# finished runs ----------------------------------------------------------------------------------


def running_sim(**fields: Any) -> Sim:
    sim = Sim(spec(**{**fields, "triggers": {"manual": "a", **fields.get("triggers", {})}}))
    sim.tick()
    return sim


def test_active_job_stays_running() -> None:
    sim = running_sim()
    d = sim.tick(timedelta(minutes=5), jobs={"rp-1": JobState("active")})
    assert sim.outcomes() == [("rp-1", "Running")] and not d.finished and not d.events


def test_succeeded_job_with_a_good_result_is_validated() -> None:
    sim = running_sim(validation=[{"metric": "auc", "min": 0.8}, {"metric": "logLoss", "max": 0.4}])
    d = sim.tick(timedelta(minutes=7), jobs={"rp-1": ok("rp-1", auc=0.91, logLoss=0.2)})
    run = sim.run("rp-1")
    assert run.outcome == "Validated" and run.reason == "passed 2 gate(s)" and run.finished == sim.now
    assert run.metrics == {"auc": 0.91, "logLoss": 0.2} and run.sha256 == "b" * 64
    assert d.finished == [run] and not d.running and d.status.last_run == run
    v = d.status.latest_validated
    assert v is not None and (v.version, v.uri, v.run) == ("rp-1", "file:///models/fraud/rp-1", "rp-1")
    assert v.metrics == {"auc": 0.91, "logLoss": 0.2} and v.sha256 == "b" * 64
    (event,) = d.events
    assert (event.type, event.reason) == ("Normal", "RunValidated")
    assert event.message == "rp-1: version rp-1 validated (auc 0.91, logLoss 0.2)"
    assert d.requeue_after == IDLE_SECONDS


def test_the_uri_the_trainer_reports_wins() -> None:
    sim = running_sim()
    job = JobState("succeeded", json.dumps({"version": "rp-1", "uri": "s3://elsewhere/m"}))
    d = sim.tick(timedelta(minutes=1), jobs={"rp-1": job})
    assert sim.run("rp-1").uri == "s3://elsewhere/m" and d.events[0].message.endswith("(no metrics)")


def test_failing_gate_is_rejected_and_keeps_the_latest_validated() -> None:
    sim = running_sim(validation=[{"metric": "auc", "min": 0.8}], cooldown="0s")
    sim.tick(timedelta(minutes=5), jobs={"rp-1": ok("rp-1", auc=0.9)})
    before = sim.status.latest_validated
    sim.manual("b", timedelta(minutes=1))
    d = sim.tick(timedelta(minutes=5), jobs={"rp-2": ok("rp-2", auc=0.5)})
    run = sim.run("rp-2")
    assert run.outcome == "Rejected" and run.reason == "auc 0.5 < min 0.8" and run.metrics == {"auc": 0.5}
    assert d.status.latest_validated == before and before is not None and before.run == "rp-1"
    assert [(e.type, e.reason, e.message) for e in d.events] == [
        ("Warning", "RunRejected", "rp-2 (rp-2): auc 0.5 < min 0.8")
    ]
    assert d.status.consecutive_failures == 0  # the Job worked; the model did not


def test_result_for_another_version_is_rejected() -> None:
    sim = running_sim()
    d = sim.tick(timedelta(minutes=5), jobs={"rp-1": ok("rp-0", auc=0.99)})
    run = sim.run("rp-1")
    assert run.outcome == "Rejected" and run.reason == "the result is version 'rp-0', the run asked for 'rp-1'"
    assert d.status.latest_validated is None


def test_must_beat_stable_uses_the_stable_versions_recorded_metrics() -> None:
    sim = running_sim(validation=[{"metric": "auc", "mustBeatStable": True}], cooldown="0s")
    sim.tick(timedelta(minutes=5), jobs={"rp-1": ok("rp-1", auc=0.8)})
    assert sim.run("rp-1").outcome == "Rejected"  # no stable version: unknown is never a pass
    assert sim.run("rp-1").reason == "auc: no recorded value for the stable version -"
    sim.manual("b", timedelta(minutes=1))
    sim.tick(timedelta(minutes=5), jobs={"rp-2": ok("rp-2", auc=0.8)})
    sim.stable = "rp-9"  # a version this policy has no record of
    assert sim.run("rp-2").outcome == "Rejected"
    sim.manual("c", timedelta(minutes=1))
    sim.tick(timedelta(minutes=5), jobs={"rp-3": ok("rp-3", auc=0.8)})
    assert sim.run("rp-3").reason == "auc: no recorded value for the stable version rp-9"


def test_must_beat_stable_against_a_validated_run() -> None:
    sim = running_sim(validation=[{"metric": "auc", "min": 0.5}], cooldown="0s", maxRunsPerDay=10)
    sim.tick(timedelta(minutes=5), jobs={"rp-1": ok("rp-1", auc=0.8)})
    sim.spec = sim.spec.model_copy(
        update={"validation": spec(validation=[{"metric": "auc", "mustBeatStable": True}]).validation}
    )
    sim.stable = "rp-1"
    sim.manual("b", timedelta(minutes=1))
    sim.tick(timedelta(minutes=5), jobs={"rp-2": ok("rp-2", auc=0.79)})
    assert sim.run("rp-2").reason == "auc 0.79 is below the stable version's 0.8"
    sim.manual("c", timedelta(minutes=1))
    sim.tick(timedelta(minutes=5), jobs={"rp-3": ok("rp-3", auc=0.85)})
    assert sim.run("rp-3").outcome == "Validated"
    # rp-1 is still stable but no longer latestValidated: its metrics come from the history
    sim.manual("d", timedelta(minutes=1))
    sim.tick(timedelta(minutes=5), jobs={"rp-4": ok("rp-4", auc=0.81)})
    assert sim.run("rp-4").outcome == "Validated"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (None, "no usable result: the trainer left no termination message (the result JSON)"),
        ("Error: killed", "no usable result: the termination message is not a JSON object: 'Error: killed'"),
        ('{"uri": "u"}', "no usable result: the result has no version"),
    ],
)
def test_succeeded_job_without_a_usable_result_fails(message: str | None, reason: str) -> None:
    sim = running_sim()
    d = sim.tick(timedelta(minutes=5), jobs={"rp-1": JobState("succeeded", message)})
    run = sim.run("rp-1")
    assert run.outcome == "Failed" and run.reason == reason and run.finished == sim.now
    assert d.status.consecutive_failures == 1 and d.status.latest_validated is None
    assert [(e.type, e.reason) for e in d.events] == [("Warning", "RunFailed")]


def test_failed_job_fails_with_its_reason_and_backs_off() -> None:
    sim = running_sim()
    d = sim.tick(timedelta(minutes=10), jobs={"rp-1": JobState("failed", reason="BackoffLimitExceeded: exit 1")})
    run = sim.run("rp-1")
    assert run.outcome == "Failed" and run.reason == "BackoffLimitExceeded: exit 1"
    assert d.status.consecutive_failures == 1 and d.status.last_run == run
    assert [(e.type, e.reason, e.message) for e in d.events] == [
        ("Warning", "RunFailed", "rp-1: BackoffLimitExceeded: exit 1")
    ]
    # the plain cooldown (1h) has passed, the doubled one (2h) has not
    d = sim.manual("b", timedelta(minutes=80))
    assert [s.reason for s in d.skipped] == ["backoff after 1 failed run(s) until 2026-11-23T14:00:00Z"]
    d = sim.manual("c", T0 + timedelta(hours=2) - sim.now)
    assert started(d) == ["rp-2"]
    # a second failure in a row: four times the cooldown
    sim.tick(timedelta(minutes=1), jobs={"rp-2": JobState("failed")})
    assert sim.run("rp-2").reason == "the Job failed" and sim.status.consecutive_failures == 2
    d = sim.manual("d", timedelta(hours=3, minutes=58))
    assert d.skipped and d.skipped[0].reason == "backoff after 2 failed run(s) until 2026-11-23T18:00:00Z"
    assert started(sim.manual("e", timedelta(minutes=1))) == ["rp-3"]
    # a run that produces a result resets the count
    sim.tick(timedelta(minutes=1), jobs={"rp-3": ok("rp-3")})
    assert sim.status.consecutive_failures == 0


def test_backoff_doublings_are_capped() -> None:
    sim = running_sim(cooldown="1m", maxRunsPerDay=100)
    sim.status = sim.status.model_copy(update={"consecutive_failures": 40})
    d = sim.manual("b", timedelta(minutes=63))
    assert d.skipped and d.skipped[0].reason.startswith("maxConcurrent")
    sim.tick(jobs={"rp-1": JobState("failed")})
    assert started(sim.manual("c", timedelta(minutes=1))) == ["rp-2"]  # 64 minutes after rp-1: 2**6 cap


# restart safety and history ---------------------------------------------------------------------


def test_running_run_whose_job_is_absent_stays_running() -> None:
    sim = running_sim()
    for _ in range(3):
        d = sim.tick(timedelta(minutes=2))  # no Job in the cluster (yet, or deleted): same run, same Job name
        assert [(r.name, r.job, r.outcome) for r in d.running] == [("rp-1", "rp-1", "Running")]
        assert d.status.run_count == 1 and not d.events


def test_a_restarted_operator_sees_the_same_runs() -> None:
    sim = running_sim(cooldown="0s", triggers={"manual": "a", "schedule": "*/30 * * * *"})
    sim.roundtrip = True
    d = sim.tick(timedelta(hours=2))
    assert [r.name for r in d.running] == ["rp-1"] and d.status.run_count == 1
    d = sim.tick(timedelta(minutes=1), jobs={"rp-1": ok("rp-1")})
    assert sim.run("rp-1").outcome == "Validated"
    d = sim.tick(timedelta(minutes=30))
    assert started(d) == ["rp-2"]


def test_running_runs_are_never_trimmed_by_history_limit() -> None:
    sim = Sim(
        spec(
            triggers={"manual": "a", "schedule": "@hourly", **DRIFT},
            cooldown="0s",
            maxConcurrent=3,
            historyLimit=1,
            maxRunsPerDay=100,
        )
    )
    sim.tick()
    d = sim.tick(timedelta(hours=1), drift=drifted(T0))
    assert sorted(r.name for r in d.running) == ["rp-1", "rp-2", "rp-3"]
    assert sorted(r.name for r in d.status.runs) == ["rp-1", "rp-2", "rp-3"]
    d = sim.manual("b", timedelta(minutes=1))  # skipped (maxConcurrent); the record does not fit
    assert d.skipped and sorted(r.name for r in d.status.runs) == ["rp-1", "rp-2", "rp-3"]
    d = sim.tick(timedelta(minutes=1), jobs={"rp-1": ok("rp-1"), "rp-3": JobState("failed")})
    assert sorted(r.name for r in d.status.runs) == ["rp-2"] and d.status.last_run is not None
    d = sim.tick(timedelta(minutes=1), jobs={"rp-2": ok("rp-2")})
    assert [r.name for r in d.status.runs] == ["rp-2"]


def test_history_keeps_the_newest_ended_runs() -> None:
    sim = running_sim(historyLimit=2, cooldown="0s", maxRunsPerDay=100)
    for i in range(2, 6):
        sim.tick(timedelta(minutes=1), jobs={f"rp-{i - 1}": ok(f"rp-{i - 1}")})
        sim.manual(f"n{i}", timedelta(minutes=1))
    assert [r.name for r in sim.status.runs] == ["rp-5", "rp-4"]
    assert sim.status.latest_validated is not None and sim.status.latest_validated.run == "rp-4"


def test_skipped_records_do_not_erase_the_cooldown() -> None:
    sim = running_sim(historyLimit=1)
    sim.tick(timedelta(minutes=5), jobs={"rp-1": ok("rp-1")})
    assert sim.manual("b", timedelta(minutes=5)).skipped  # cooldown; its record pushes rp-1 out of status.runs
    d = sim.manual("c", timedelta(minutes=5))  # 15 minutes after rp-1 started, cooldown 1h
    assert not started(d), f"{started(d)} started 15 minutes after rp-1 with a 1h cooldown"


# names ------------------------------------------------------------------------------------------


def test_output_uri_replaces_only_the_four_placeholders() -> None:
    template = "s3://b/{namespace}/{model}/{version}/{run}/{other}/{{model}}/{Model}/{ model}"
    assert output_uri(template, model="fraud", version="v7", run="rp-7", namespace="ml") == (
        "s3://b/ml/fraud/v7/rp-7/{other}/{fraud}/{Model}/{ model}"
    )
    assert output_uri("file:///m/{model}-{model}", model="a", version="", run="", namespace="") == "file:///m/a-a"
    assert output_uri("plain", model="a", version="b", run="c", namespace="d") == "plain"


def test_default_output_uri() -> None:
    d = Sim(spec(triggers={"manual": "x"})).tick()
    assert d.running[0].uri == "file:///models/fraud/rp-1"


@pytest.mark.parametrize("count", [1, 9, 10, 12345, 10**9])
@pytest.mark.parametrize("policy", ["rp", "a" * 63, "a" * 61 + "-b", "x" * 58 + "-.-yz", "fraud-retrain"])
def test_run_name_fits_a_label(policy: str, count: int) -> None:
    name = run_name(policy, count)
    suffix = f"-{count}"
    assert len(name) <= MAX_NAME and name.endswith(suffix)
    if len(policy) + len(suffix) <= MAX_NAME:
        assert name == policy + suffix
    else:  # cut, plus a hash of the whole policy name
        prefix, digest = name[: -len(suffix)].rsplit("-", 1)
        assert policy.startswith(prefix) and prefix[-1] not in "-." and len(digest) == 6


def test_long_policy_names_sharing_a_prefix_get_distinct_job_names() -> None:
    assert run_name("a" * 70 + "x", 1) != run_name("a" * 70 + "y", 1)


def test_short_run_names_are_kept_whole() -> None:
    assert run_name("fraud-retrain", 3) == "fraud-retrain-3"
    assert run_name("a" * 61, 1) == "a" * 61 + "-1"
    assert len(run_name("a" * 61, 10)) == 63 and run_name("a" * 61, 10) != "a" * 60 + "-10"
