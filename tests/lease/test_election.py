"""The Lease state machine: single steps, then the simulator (kills, pauses, cut-offs, skewed clocks)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.lease import Durations, Elector, Record, leading, release, step, unreachable, written
from tests.lease.sim import WALL0, Sim, overlaps

D = Durations()


def test_durations_follow_client_go_and_refuse_an_unsafe_order() -> None:
    assert (D.lease, D.renew_deadline, D.retry_period) == (15.0, 10.0, 2.0)
    for lease, renew, retry in [(10, 10, 2), (15, 10, 10), (15, 20, 2), (15, 10, 0)]:
        with pytest.raises(ValueError, match="retryPeriod < renewDeadline < leaseDuration"):
            Durations(lease, renew, retry)
    assert Durations(4.5, 3, 1).lease_seconds == 5


def test_an_absent_lease_is_created_and_held() -> None:
    s = step(Elector(), None, "a", 100.0, wall=WALL0, durations=D)
    assert s.create and s.write is not None and s.write.holder == "a" and s.write.transitions == 0
    after = written(s.state, replace(s.write, version="1"), 100.0)
    assert leading(after, 109.9, D) and not leading(after, 110.0, D)


def test_a_held_lease_is_taken_only_after_standing_unchanged_for_its_duration() -> None:
    held = Record("a", 15, WALL0, WALL0, 3, version="7")
    s = step(Elector(), held, "b", 50.0, wall=WALL0, durations=D)
    assert s.write is None and s.wait == D.retry_period and s.state.observed_at == 50.0
    s = step(s.state, held, "b", 64.9, wall=WALL0, durations=D)
    assert s.write is None
    renewed = replace(held, version="8")  # the holder renewed: the clock starts again
    s = step(s.state, renewed, "b", 65.0, wall=WALL0, durations=D)
    assert s.write is None and s.state.observed_at == 65.0
    s = step(s.state, renewed, "b", 80.0, wall=WALL0, durations=D)
    assert s.write is not None and s.write.holder == "b" and s.write.version == "8" and s.write.transitions == 4


def test_a_released_lease_is_taken_at_once() -> None:
    mine = Record("a", 15, WALL0, WALL0, 2, version="9")
    handed = release(mine, "a", WALL0)
    assert handed is not None and handed.holder == "" and handed.lease_seconds == 1
    assert release(mine, "b", WALL0) is None and release(None, "a", WALL0) is None
    s = step(Elector(), replace(handed, version="10"), "b", 5.0, wall=WALL0, durations=D)
    assert s.write is not None and s.write.holder == "b"


def test_a_leader_that_cannot_renew_stops_at_its_deadline() -> None:
    state = written(Elector(), Record("a", 15, version="1"), 0.0)
    assert not unreachable(state, 9.9, D).lost
    assert unreachable(state, 10.0, D).lost
    assert step(
        state, Record("a", 15, version="1"), "a", 10.0, wall=WALL0, durations=D
    ).lost  # even if the read works now
    assert not unreachable(Elector(), 1e9, D).lost  # a standby has nothing to lose


def test_a_leader_that_finds_another_holder_stops() -> None:
    state = written(Elector(), Record("a", 15, version="1"), 0.0)
    assert step(state, Record("b", 15, version="2"), "a", 1.0, wall=WALL0, durations=D).lost


def test_renewal_keeps_the_acquire_time_and_transitions() -> None:
    mine = Record("a", 15, acquired=WALL0.replace(year=2025), renewed=WALL0, transitions=5, version="3")
    state = written(Elector(), mine, 0.0)
    s = step(state, mine, "a", 2.0, wall=WALL0, durations=D)
    assert s.write is not None and s.write.acquired == mine.acquired and s.write.transitions == 5


@pytest.mark.parametrize("durations", [D, Durations(4, 3, 1)])
def test_takeover_after_a_kill_is_within_lease_plus_two_retries_of_the_last_renewal(durations: Durations) -> None:
    """No skew, no delay: the standby sees the last renewal at most one retry after it was made,
    then waits the lease, then tries at most one retry later."""
    for seed in range(20):
        sim = Sim.of(2, durations, seed=seed)
        sim.run(until=30)
        (leader,) = sim.leading_now(30.0)
        index = [c.name for c in sim.candidates].index(leader)
        last = sim.candidates[index].true(sim.candidates[index].state.renewed_at or 0.0)
        sim.kill(index, 30.0)
        sim.restart_after = 1e9  # it stays dead
        sim.run(until=80)
        taken = [t for t, who in sim.acquisitions if who != leader and t > 30]
        assert taken, f"seed {seed}: nobody took over"
        assert taken[0] - last <= durations.lease + 2 * durations.retry_period + 1e-6
        assert taken[0] - 30.0 >= durations.lease - durations.retry_period - 1e-6


SKEW = 0.05  # clock rate error: 5%, far beyond NTP-free drift; renew/lease = 10/15 tolerates 20%
DELAY = 0.2


disruptions = st.lists(
    st.tuples(
        st.sampled_from(["kill", "pause", "cut"]),
        st.integers(0, 2),
        st.floats(5, 100),
        st.floats(0.1, 40),
    ),
    max_size=6,
)


@settings(max_examples=150)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 3),
    durations=st.sampled_from([D, Durations(4, 3, 1), Durations(2, 1.5, 0.5)]),
    events=disruptions,
)
def test_never_two_leaders_and_someone_leads_again(
    seed: int, n: int, durations: Durations, events: list[tuple[str, int, float, float]]
) -> None:
    """Whatever is killed, stopped or cut off, and with skewed clocks and slow requests, no two
    candidates ever believe they lead at the same moment (the fence), and once the disruptions
    are over a leader is back within the lease plus two retries (and the request delays)."""
    sim = Sim.of(n, durations, seed=seed, skew=SKEW, max_delay=DELAY)
    end = 0.0
    for what, which, at, seconds in events:
        i = which % n
        if what == "kill":
            sim.kill(i, at)
            end = max(end, at + sim.restart_after)
        elif what == "pause":
            sim.pause(i, at, seconds)
            end = max(end, at + seconds)
        else:
            sim.cut(i, at, seconds)
            end = max(end, at + seconds)
    settle = durations.renew_deadline + durations.lease + 2 * durations.retry_period
    horizon = max(end, 30.0) + 2 * settle + 10
    sim.run(until=horizon)
    sim.finish(horizon)
    assert not overlaps(sim), overlaps(sim)
    bound = (settle + 4 * DELAY) / (1 - SKEW)
    probe = max(end, 30.0) + bound
    assert sim.leader_at(probe), f"no leader at {probe:.1f}s (disruptions over at {end:.1f}s)"
