from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.analysis.checks import Analysis, CheckResult, Verdict
from modelops.analysis.slo import Counts, SLOEvaluation, StableSLOs, error_budget, evaluate, standard_pairs, windows
from modelops.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus
from modelops.rollout.machine import RolloutDecision, RolloutObservations, Target, analysis_due, decide

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
V1 = Target("v1", "file:///m/v1.npz")
V2 = Target("v2", "file:///m/v2.npz", retrain_run="rp-7")


def spec(traffic: dict[str, Any] | None = None, **rollout: Any) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {
            "model": {"name": "fraud", "version": "v1", "uri": "file:///m/v1.npz"},
            "rollout": {"interval": "1m", "bakeTime": "10m", **rollout},
            "traffic": traffic or {},
        }
    )


def analysis(verdict: Verdict, at: datetime) -> Analysis:
    return Analysis(at, verdict, (CheckResult("availability", verdict, 1.0, "t", 500, "q", f"{verdict}"),))


@dataclass
class Sim:
    """Drives decide() like the controller: pods become ready as planned, analyses when due."""

    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    now: datetime = T0
    last: RolloutDecision | None = None
    roundtrip: bool = False

    def tick(
        self,
        target: Target,
        verdict: Verdict | None = None,
        *,
        slo: Any = None,
        ready: dict[str, int] | None = None,
        step: timedelta = timedelta(seconds=20),
    ) -> RolloutDecision:
        self.now += step
        planned = {p.version: p.replicas for p in self.last.plans} if self.last else {}
        obs = RolloutObservations(
            ready=ready if ready is not None else planned,
            analysis=analysis(verdict, self.now)
            if verdict and analysis_due(self.spec, self.status, self.now)
            else None,
            stable_slo=StableSLOs({"availability": slo}) if isinstance(slo, SLOEvaluation) else slo,
        )
        status = ModelDeploymentStatus.model_validate(self.status.wire()) if self.roundtrip else self.status
        self.last = decide(self.spec, status, target, obs, self.now, generation=1)
        self.status = self.last.status
        return self.last

    def run(self, target: Target, verdicts: Callable[[int], Verdict | None], ticks: int) -> Iterator[RolloutDecision]:
        for i in range(ticks):
            yield self.tick(target, verdicts(i))


def deployed(s: ModelDeploymentSpec | None = None) -> Sim:
    sim = Sim(s or spec())
    sim.tick(V1)
    sim.tick(V1)
    assert sim.status.phase == "Available"
    return sim


def test_first_version_goes_straight_to_stable() -> None:
    sim = Sim(spec())
    first = sim.tick(V1, ready={})
    assert first.status.phase == "Pending" and [p.version for p in first.plans] == ["v1"]
    assert sim.tick(V1).status.phase == "Available"
    assert {c.type: c.status for c in sim.status.conditions} == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
        "Progressing": "False",
        "Degraded": "False",
        "Frozen": "False",
    }


def test_a_first_version_on_a_claim_says_its_pods_wait_for_the_file() -> None:
    sim = Sim(spec())
    uri = "pvc://fraud-models/fraud/v1/model.npz"
    waiting = sim.tick(Target("v1", uri), ready={}).status
    assert waiting.phase == "Pending" and waiting.message == (
        f"v1: 0/2 ready; its pods wait until {uri} exists "
        "(kubectl logs -l modelops.dev/model=fraud,modelops.dev/version=v1 -c fetch)"
    )
    assert sim.tick(Target("v1", uri), ready={"v1": 1}).status.message == "v1: 1/2 ready"


def test_healthy_canary_walks_every_step_then_bakes_then_settles() -> None:
    sim = deployed()
    weights = [d.canary_weight for d in sim.run(V2, lambda i: Verdict.PASS, 40)]
    assert 10 in weights and 50 in weights
    assert sim.status.stable is not None and sim.status.stable.version == "v2"
    assert sim.status.history[0].outcome == "Promoted" and sim.status.history[0].retrain_run == "rp-7"
    assert sim.status.phase in {"Baking", "Available"}
    for _ in range(40):
        sim.tick(V2, Verdict.PASS)
    assert sim.status.phase == "Available" and sim.status.bake is None
    assert [p.version for p in sim.last.plans] == ["v2"]  # type: ignore[union-attr]
    assert sim.status.stable.variant == "canary"  # the label its pods were created with: no restart at promotion


def test_failing_canary_rolls_back_with_the_reason() -> None:
    sim = deployed()
    decisions = list(sim.run(V2, lambda i: Verdict.FAIL, 12))
    assert sim.status.phase == "RolledBack" and sim.status.blocked_version == "v2"
    assert sim.status.history[0].outcome == "RolledBack" and "failed analyses" in sim.status.history[0].reason
    final = decisions[-1]
    assert final.canary_weight == 0 and [p.version for p in final.plans] == ["v1"]
    assert any(e.reason == "RolledBack" and e.type == "Warning" for d in decisions for e in d.events)
    # the blocked version is not retried by itself...
    for _ in range(5):
        sim.tick(V2, Verdict.PASS)
    assert sim.status.canary is None
    # ...but is when a person asks
    sim.spec = spec(retry="again")
    sim.tick(V2, Verdict.PASS)
    assert sim.status.canary is not None and sim.status.canary.version == "v2"


def test_unknown_holds_then_rolls_back_at_the_limit() -> None:
    sim = deployed(spec(maxUnknownChecks=3))
    steps = [d.status.current_step for d in sim.run(V2, lambda i: Verdict.UNKNOWN, 20)]
    assert max(s for s in steps if s is not None) == 0  # never past the first step
    assert sim.status.phase == "RolledBack" and "without a verdict" in sim.status.history[0].reason


def test_unknown_analyses_warn_at_doubling_counts_and_just_before_the_limit() -> None:
    """A canary waiting for traffic is not an event every interval; its status always has the reason."""
    sim = deployed(spec(maxUnknownChecks=20, progressDeadline="2h"))
    warned = []
    for d in sim.run(V2, lambda i: Verdict.UNKNOWN, 200):
        warned += [e.message.split("/")[0] for e in d.events if e.reason == "AnalysisUnknown"]
        if d.status.phase == "RolledBack":
            break
    assert warned == ["1", "2", "4", "8", "16", "19"]
    assert sim.status.phase == "RolledBack" and "20 analyses without a verdict" in sim.status.history[0].reason


def test_progress_deadline() -> None:
    sim = deployed(spec(progressDeadline="5m"))
    list(sim.run(V2, lambda i: None, 30))  # no analysis ever arrives
    assert sim.status.phase == "RolledBack" and "deadline" in sim.status.history[0].reason


def test_pause_resume_promote_abort() -> None:
    sim = deployed(spec(paused=True))
    list(sim.run(V2, lambda i: Verdict.PASS, 10))
    assert sim.status.phase == "Paused" and sim.status.current_step == 0
    sim.spec = spec(paused=False, promote="now")
    for _ in range(3):
        sim.tick(V2, Verdict.PASS)
    assert sim.status.history[0].outcome == "Promoted" and sim.status.acknowledged.promote == "now"
    sim2 = deployed()
    list(sim2.run(V2, lambda i: Verdict.PASS, 3))
    sim2.spec = spec(abort="stop")
    sim2.tick(V2, Verdict.PASS)
    assert sim2.status.phase == "RolledBack" and sim2.status.history[0].outcome == "Aborted"


def test_pause_step_without_duration_waits_for_resume() -> None:
    sim = deployed(spec(steps=[{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]))
    list(sim.run(V2, lambda i: Verdict.PASS, 15))
    assert sim.status.current_step == 1 and sim.status.phase == "Paused"
    sim.spec = spec(steps=[{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}], resume="go")
    list(sim.run(V2, lambda i: Verdict.PASS, 15))
    assert sim.status.history and sim.status.history[0].outcome == "Promoted"


def _burn(ratio: float) -> Any:
    pairs = standard_pairs(timedelta(days=30))
    return evaluate(pairs, error_budget(99.9), {w: Counts(ratio * 100_000, 100_000) for w in windows(pairs)})


def _baking(s: ModelDeploymentSpec | None = None) -> Sim:
    sim = deployed(s)
    list(sim.run(V2, lambda i: Verdict.PASS, 40))
    assert sim.status.phase == "Baking" and sim.status.bake is not None
    return sim


def test_page_burn_during_bake_reverts_to_the_warm_version() -> None:
    sim = _baking()
    assert [(p.version, p.replicas) for p in sim.last.plans] == [("v2", 2), ("v1", 2)]  # type: ignore[union-attr]
    sim.tick(V2, slo=_burn(0.05))
    assert sim.status.phase == "RolledBack" and sim.status.stable.version == "v1"  # type: ignore[union-attr]
    assert (
        sim.status.history[0].outcome == "Reverted" and "page-level availability burn" in sim.status.history[0].reason
    )
    assert sim.status.blocked_version == "v2"
    # the bad version keeps its pods, out of traffic, for the scale-down delay (default 30s), then goes
    assert [(p.version, p.replicas) for p in sim.last.plans] == [("v1", 2), ("v2", 2)]  # type: ignore[union-attr]
    sim.tick(V2, step=timedelta(seconds=31))
    assert [p.version for p in sim.last.plans] == ["v1"] and not sim.status.retiring  # type: ignore[union-attr]


def test_revert_waits_until_the_previous_version_is_ready() -> None:
    sim = _baking()
    sim.tick(V2, slo=_burn(0.05), ready={"v2": 2, "v1": 1})
    assert sim.status.phase == "Baking" and sim.status.stable.version == "v2"  # type: ignore[union-attr]
    assert sim.status.bake is not None and sim.status.bake.reverting and "waiting for 1/2" in sim.status.message
    assert sim.status.blocked_version == "v2" and sim.status.canary is None
    sim.tick(V2, ready={"v2": 2, "v1": 1})  # no new evaluation: the decided revert still waits
    assert sim.status.stable.version == "v2"  # type: ignore[union-attr]
    sim.tick(V2, ready={"v2": 2, "v1": 2})
    assert sim.status.phase == "RolledBack" and sim.status.stable.version == "v1"  # type: ignore[union-attr]
    assert sim.status.history[0].outcome == "Reverted"


def _slow(fraction: float) -> SLOEvaluation:
    pairs = standard_pairs(timedelta(days=30))
    return evaluate(pairs, error_budget(99), {w: Counts(fraction * 100_000, 100_000) for w in windows(pairs)})


def test_latency_burn_during_bake_reverts() -> None:
    sim = _baking()
    sim.tick(V2, slo=StableSLOs({"availability": _burn(0.0), "latency": _slow(0.5)}))
    assert sim.status.phase == "RolledBack" and "page-level latency burn" in sim.status.history[0].reason
    checks = {c.name for c in sim.status.last_analysis.checks}  # type: ignore[union-attr]
    assert {"availability-burn-1h/5m", "latency-burn-1h/5m"} <= checks


def test_bake_end_holds_while_prometheus_cannot_be_read() -> None:
    sim = _baking()
    sim.tick(V2, slo=StableSLOs(blind="Prometheus unavailable: ConnectError"), step=timedelta(minutes=11))
    assert sim.status.phase == "Baking" and sim.status.bake is not None and "holding v1 warm" in sim.status.message
    assert any(e.reason == "BakeHeld" for e in sim.last.events)  # type: ignore[union-attr]
    assert ("v1", 2) in [(p.version, p.replicas) for p in sim.last.plans]  # type: ignore[union-attr]
    sim.tick(V2, slo=_burn(0.0), step=timedelta(minutes=1))
    assert sim.status.phase == "Available" and sim.status.bake is None
    assert [r.version for r in sim.status.retiring] == ["v1"]


@pytest.mark.parametrize("router", ["istio", "replicas"])
def test_new_version_during_bake_ends_it(router: str) -> None:
    sim = _baking(spec({"router": router, "hosts": ["m"]}))
    v3 = Target("v3", "file:///m/v3.npz")
    sim.tick(v3, Verdict.PASS)
    assert sim.status.bake is None and [r.version for r in sim.status.retiring] == ["v1"]
    assert any(e.reason == "BakeEnded" for e in sim.last.events)  # type: ignore[union-attr]
    if router == "replicas":  # its Service will select every version: v1 must be gone before v3 starts
        assert sim.status.canary is None and "once v1 has left" in sim.status.message
        sim.tick(v3, Verdict.PASS, step=timedelta(seconds=31))
    assert sim.status.canary.version == "v3"  # type: ignore[union-attr]


@pytest.mark.parametrize("router", ["istio", "replicas"])
def test_rolled_back_canary_retires_after_the_scale_down_delay(router: str) -> None:
    sim = deployed(spec({"router": router, "hosts": ["m.example"]}, scaleDownDelay="1m"))
    while sim.status.phase != "RolledBack":
        sim.tick(V2, Verdict.FAIL)
    assert sim.status.retiring and sim.status.retiring[0].version == "v2"
    # out of the route and the Service, its pods kept until the delay ends (nothing scales down in the switch)
    assert ("v2", 1) in [(p.version, p.replicas) for p in sim.last.plans]  # type: ignore[union-attr]
    sim.tick(V2, step=timedelta(minutes=1))
    assert [p.version for p in sim.last.plans] == ["v1"]  # type: ignore[union-attr]


def _frozen(**freeze: Any) -> Sim:
    return deployed(ModelDeploymentSpec.model_validate({**spec().wire(), "freeze": {"burnRateAbove": 2, **freeze}}))


def test_freeze_holds_new_rollouts_while_stable_burns() -> None:
    sim = _frozen()
    sim.tick(V2, slo=_burn(0.01))  # burn 10
    assert sim.status.phase == "Frozen" and sim.status.canary is None
    sim.tick(V2, slo=_burn(0.0001))
    assert sim.status.phase == "Progressing"


def test_freeze_reads_the_latency_slo_too() -> None:
    sim = _frozen()
    sim.tick(V2, slo=StableSLOs({"availability": _burn(0.0), "latency": _slow(0.1)}))  # latency burn 10
    assert sim.status.phase == "Frozen" and "latency budget" in sim.status.message


def test_freeze_fails_closed_when_it_cannot_see() -> None:
    sim = _frozen()
    sim.tick(V2, slo=StableSLOs(blind="Prometheus unavailable: ConnectError"))
    assert sim.status.phase == "Frozen" and sim.status.canary is None and "cannot see" in sim.status.message
    frozen = {c.type: c for c in sim.status.conditions}["Frozen"]
    assert (frozen.status, frozen.reason) == ("True", "CannotSee")
    sim.tick(V2, slo=_burn(0.0))
    assert sim.status.phase == "Progressing"
    opted_out = _frozen(whenUnknown="Proceed")
    opted_out.tick(V2, slo=StableSLOs(blind="Prometheus unavailable: ConnectError"))
    assert opted_out.status.phase == "Progressing"


def test_newer_version_supersedes_the_running_canary() -> None:
    sim = deployed()
    list(sim.run(V2, lambda i: Verdict.PASS, 3))
    v3 = Target("v3", "file:///m/v3.npz")
    sim.tick(v3, Verdict.PASS)
    assert sim.status.history[0].outcome == "Superseded" and [r.version for r in sim.status.retiring] == ["v2"]
    sim.tick(v3, Verdict.PASS, step=timedelta(seconds=31))  # the replicas router: once v2 has left
    assert sim.status.canary.version == "v3"  # type: ignore[union-attr]


def test_shadow_mirrors_then_continues_as_canary() -> None:
    istio = {"router": "istio", "hosts": ["m"]}
    sim = deployed(spec(istio, strategy="shadow", shadow={"mirrorPercent": 50, "intervals": 2}))
    assert sim.tick(V2, Verdict.PASS).mirror_percent == 0  # no shadow pod is ready yet: nothing to mirror to
    second = sim.tick(V2, Verdict.PASS)
    assert (second.canary_weight, second.mirror_percent) == (0, 50)
    decisions = list(sim.run(V2, lambda i: Verdict.PASS, 12))
    assert any(d.canary_weight > 0 and d.mirror_percent == 0 for d in decisions)


def test_broken_first_version_is_replaced_outright() -> None:
    sim = Sim(spec())
    sim.tick(V1, ready={})
    sim.tick(V2, ready={})
    assert sim.status.stable.version == "v2" and sim.status.canary is None  # type: ignore[union-attr]


def test_no_traffic_reaches_a_canary_before_a_pod_of_it_is_ready() -> None:
    sim = deployed(spec({"router": "istio", "hosts": ["m"]}))
    for _ in range(4):
        decision = sim.tick(V2, Verdict.PASS, ready={"v1": 2})
        assert sim.status.canary_weight in (0, 10) and decision.canary_weight == 0
    assert sim.status.canary_weight == 10  # the step's weight, waiting for the canary
    assert sim.tick(V2, ready={"v1": 2, "v2": 1}).canary_weight == 10


def test_replicas_router_sizes_the_canary_for_its_weight() -> None:
    sim = deployed(ModelDeploymentSpec.model_validate({**spec().wire(), "replicas": 9}))
    for d in sim.run(V2, lambda i: Verdict.PASS, 12):
        canary = [p for p in d.plans if p.version == "v2"]
        if d.canary_weight == 10 and canary and d.status.phase == "Progressing":
            assert canary[0].replicas == 1  # 1 / (1 + 9) = 10%
        if d.canary_weight == 50 and canary and d.status.phase == "Progressing":
            assert canary[0].replicas == 9


verdicts = st.lists(st.sampled_from([Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN, None]), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(verdicts, st.booleans())
def test_properties(sequence: list[Verdict | None], roundtrip: bool) -> None:
    sim = deployed()
    sim.roundtrip = roundtrip
    passes = 0
    for i, verdict in enumerate(sequence):
        decision = sim.tick(V2, verdict)
        a = decision.status.last_analysis
        if a is not None and a.time == sim.now and a.verdict == "Pass":
            passes += 1
        if decision.status.phase == "RolledBack":
            assert decision.canary_weight == 0 and decision.mirror_percent == 0
            retiring = {r.version for r in decision.status.retiring}
            serving = [p.version for p in decision.plans if p.replicas > 0 and p.version not in retiring]
            assert serving == [decision.status.stable.version]  # type: ignore[union-attr]
        if any(h.outcome == "Promoted" for h in decision.status.history):
            assert passes >= 1, f"promoted without a pass at tick {i}"
    if all(v in (Verdict.UNKNOWN, None) for v in sequence):
        assert (sim.status.current_step or 0) == 0 and not sim.status.history


@settings(max_examples=60, deadline=None)
@given(verdicts)
def test_a_restarted_operator_reaches_the_same_outcome(sequence: list[Verdict | None]) -> None:
    memory, restarted = deployed(), deployed()
    restarted.roundtrip = True
    for verdict in sequence:
        a, b = memory.tick(V2, verdict), restarted.tick(V2, verdict)
        assert a.status.wire() == b.status.wire() and a.plans == b.plans and a.canary_weight == b.canary_weight


def _live(decision: RolloutDecision) -> set[str]:
    """Versions that take live traffic under a decision."""
    s = decision.status
    live = {s.stable.version} if s.stable else set()
    if s.canary is not None and decision.canary_weight > 0:
        live.add(s.canary.version)
    return live


ticks = st.lists(
    st.tuples(
        st.sampled_from([Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN, None]),
        st.sampled_from([None, 0.0, 0.05]),  # the stable SLO, when the bake reads it: fine or page-level burn
        st.integers(0, 2),  # ready replicas of every version this tick (pods come and go)
        st.sampled_from([None, "abort", "retry"]),
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=120, deadline=None)
@given(ticks, st.sampled_from(["istio", "replicas"]))
def test_traffic_only_moves_onto_ready_pods_and_never_off_a_removed_version(
    sequence: list[tuple[Verdict | None, float | None, int, str | None]], router: str
) -> None:
    """Whatever happens, a version loses its pods only after it has lost its traffic (behind a route: only
    after the scale-down delay), and a switch of the stable version lands on a fully ready one."""
    sim = deployed(spec({"router": router, "hosts": ["m"]}, bakeTime="2m", scaleDownDelay="30s"))
    previous = sim.last
    assert previous is not None
    for i, (verdict, burn, ready, nonce) in enumerate(sequence):
        if nonce is not None:
            sim.spec = spec({"router": router, "hosts": ["m"]}, bakeTime="2m", scaleDownDelay="30s", **{nonce: str(i)})
        versions = {p.version for p in previous.plans}
        decision = sim.tick(
            V2, verdict, slo=None if burn is None else _burn(burn), ready=dict.fromkeys(versions, ready)
        )
        planned = {p.version: p.replicas for p in decision.plans}
        for version in _live(previous):
            assert version in planned, f"tick {i}: {version} removed while it had traffic"
            assert planned[version] > 0, f"tick {i}: {version}'s pods went in the pass that moved its traffic"
        old, new = previous.status.stable, decision.status.stable
        assert old is not None and new is not None
        if new.version != old.version:
            assert ready >= 2, f"tick {i}: traffic switched to {new.version} with {ready}/2 ready"
        previous = decision


def _follow(sim: Sim, verdict: Verdict, ticks: int) -> list[RolloutDecision]:
    """Tick when each decision asks to be woken (the controller's sleep), not on a fixed beat."""
    out: list[RolloutDecision] = []
    for _ in range(ticks):
        wait = sim.last.requeue_after if sim.last is not None and sim.last.requeue_after else 20.0
        out.append(sim.tick(V2, verdict, step=timedelta(seconds=wait)))
    return out


def test_a_canary_waiting_for_analyses_sleeps_until_the_next_one_is_due() -> None:
    """One pass per interval, each exactly when its analysis is due: not four polls, none late."""
    sim = deployed(spec(steps=[{"setWeight": 20}, {"pause": {}}], maxFailedChecks=1))
    _follow(sim, Verdict.PASS, 3)
    assert sim.status.canary is not None
    times = []
    for d in _follow(sim, Verdict.PASS, 6):
        assert d.status.last_analysis is not None
        times.append(d.status.last_analysis.time)
    assert sim.status.phase == "Paused" and sim.status.current_step == 1  # the analyses go on at the pause
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(times))
    rolled_back = _follow(sim, Verdict.FAIL, 1)[0]  # a fault after the last analysis: judged at the next
    assert rolled_back.status.phase == "RolledBack" and sim.now - times[-1] == timedelta(minutes=1)


def test_a_timed_pause_and_a_bake_still_poll_every_quarter_interval() -> None:
    timed = deployed(spec(steps=[{"setWeight": 20}, {"pause": {"duration": "3m"}}]))
    decisions = _follow(timed, Verdict.PASS, 6)
    assert any(d.status.current_step == 1 and d.requeue_after == 15.0 for d in decisions)
    baking = _baking()
    assert baking.tick(V2, Verdict.PASS).requeue_after == 15.0
