from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from modelops.analysis.checks import Verdict
from modelops.api.conditions import get_condition
from modelops.api.v1alpha1 import ModelDeploymentStatus
from modelops.rollout.fetch_failures import Fetched, FetchFailure, failure, fetched, parse_message
from modelops.rollout.machine import RolloutDecision, RolloutObservations, analysis_due, decide
from tests.rollout.test_machine import T0, V1, V2, Sim, analysis, deployed, spec

SIGNER = "SHA256:D86fW5/9HXCvymYsLgyLR1cbVcy86FVYsgbsqy03LMI="
BAD_SIGNATURE = FetchFailure("SignatureInvalid", "signature (signature) does not verify with key ...", "fraud-v2-a")


def pod(name: str, terminated: dict[str, Any] | None, *, key: str = "lastState", ready: bool = False) -> dict[str, Any]:
    fetch = {"name": "fetch", "ready": ready, key: {"terminated": terminated} if terminated else {}}
    return {"metadata": {"name": name}, "status": {"initContainerStatuses": [fetch]}}


def test_the_reason_fetch_model_wrote_is_read_from_the_last_termination() -> None:
    pods = [
        pod("b", {"exitCode": 1, "message": "DigestMismatch: sha256 mismatch: expected 00, got 11"}),
        pod("a", {"exitCode": 1, "message": "SignatureMissing: no signature for file:///m at file:///m.sig"}),
    ]
    found = failure(pods)
    assert found == FetchFailure("SignatureMissing", "no signature for file:///m at file:///m.sig", "a")
    assert found.condition_reason == "SignatureInvalid" and found.permanent
    crashed = failure([pod("c", {"exitCode": 137, "message": "Traceback ...\nMemoryError"}, key="state")])
    assert crashed is not None and crashed.reason == "FetchFailed" and "MemoryError" in crashed.message
    assert parse_message("", 2).message == "the fetch init container exited with code 2"
    assert not FetchFailure("FetchFailed", "unreachable").permanent


def test_a_running_or_successful_fetch_is_no_failure_and_reports_provenance() -> None:
    report = json.dumps({"path": "/models/m.npz", "sha256": "ab", "bytes": 3, "verified": True, "signer": SIGNER})
    ok = pod("a", {"exitCode": 0, "message": report}, key="state", ready=True)
    assert failure([ok, pod("b", None)]) is None
    assert fetched([pod("b", None), ok]) == Fetched("ab", SIGNER)
    assert fetched([pod("c", {"exitCode": 0, "message": "not json"}, key="state")]) is None


def _decide(sim: Sim, target: Any, obs: RolloutObservations, *, step: int = 20) -> RolloutDecision:
    sim.now += timedelta(seconds=step)
    sim.last = decide(sim.spec, sim.status, target, obs, sim.now, generation=1)
    sim.status = sim.last.status
    return sim.last


def test_a_first_version_that_cannot_verify_is_stalled_with_the_reason_until_it_can() -> None:
    sim = Sim(spec())
    failing = RolloutObservations(ready={}, fetch_failures={"v1": FetchFailure("SignatureInvalid", "x", "p")})
    decision = _decide(sim, V1, failing)
    s = decision.status
    assert s.phase == "Pending" and s.stable is not None and s.stable.fetch_failure is not None
    stalled = get_condition(s.conditions, "Stalled")
    assert stalled is not None and stalled.status == "True" and stalled.reason == "SignatureInvalid"
    assert "v1 cannot load its model (pod p): SignatureInvalid: x" in stalled.message
    degraded = get_condition(s.conditions, "Degraded")
    assert degraded is not None and degraded.status == "True" and degraded.reason == "SignatureInvalid"
    assert [e.reason for e in decision.events if e.type == "Warning"] == ["SignatureInvalid"]
    again = _decide(sim, V1, failing)  # the same failure: no second event
    assert [e.reason for e in again.events if e.type == "Warning"] == []
    fixed = _decide(sim, V1, RolloutObservations(ready={"v1": 1}, fetched={"v1": Fetched("ab", SIGNER)}))
    s = fixed.status
    assert s.phase == "Available" and s.stable is not None and s.stable.fetch_failure is None
    assert s.stable.signer == SIGNER and s.stable.digest == "ab"
    assert get_condition(s.conditions, "Ready").status == "True"  # type: ignore[union-attr]


def _canary() -> Sim:
    sim = deployed()
    sim.tick(V2)
    assert sim.status.canary is not None and sim.status.canary.version == "v2"
    return sim


def test_a_canary_that_fails_its_signature_is_rolled_back_at_once_never_promoted() -> None:
    sim = _canary()
    sim.spec = sim.spec.model_copy(update={"rollout": sim.spec.rollout.model_copy(update={"promote": "now"})})
    obs = RolloutObservations(ready={"v1": 3}, fetch_failures={"v2": BAD_SIGNATURE})
    decision = _decide(sim, V2, obs)
    s = decision.status
    assert s.canary is None and s.phase == "RolledBack" and s.blocked_version == "v2"
    assert s.stable is not None and s.stable.version == "v1"
    entry = s.history[0]
    assert entry.version == "v2" and entry.outcome == "RolledBack" and entry.failure_reason == "SignatureInvalid"
    assert entry.retrain_run == "rp-7"
    stalled = get_condition(s.conditions, "Stalled")
    assert stalled is not None and stalled.reason == "SignatureInvalid" and "does not verify" in stalled.message
    for type_ in ("Ready", "Degraded"):  # the same reason everywhere (docs/runbooks/stalled-signature-invalid.md)
        condition = get_condition(s.conditions, type_)
        assert condition is not None and condition.reason == "SignatureInvalid", condition
    assert all(h.outcome != "Promoted" for h in s.history)
    assert [e.reason for e in decision.events if e.type == "Warning"] == ["SignatureInvalid", "RolledBack"]


def test_a_canary_whose_store_is_unreachable_is_held_without_traffic() -> None:
    sim = _canary()
    unreachable = FetchFailure("FetchFailed", "http://store/m: download failed after 5 attempt(s)", "fraud-v2-a")
    decision = _decide(sim, V2, RolloutObservations(ready={"v1": 3}, fetch_failures={"v2": unreachable}))
    s = decision.status
    assert s.canary is not None and s.canary.fetch_failure is not None and decision.canary_weight == 0
    assert "FetchFailed: http://store/m" in s.message
    assert s.message.startswith("v2 held at 0% (step 0/"), s.message  # the step's weight is not what it gets
    assert [e.reason for e in decision.events if e.type == "Warning"] == ["ModelFetchFailed"]
    deadline = sim.spec.rollout.progress_deadline.delta
    later = _decide(sim, V2, RolloutObservations(ready={"v1": 3}, fetch_failures={"v2": unreachable}), step=0)
    sim.now = T0 + deadline * 2
    ended = _decide(sim, V2, RolloutObservations(ready={"v1": 3}, fetch_failures={"v2": unreachable}))
    assert later.status.canary is not None and ended.status.phase == "RolledBack"


def test_provenance_reaches_the_history_of_a_promotion() -> None:
    sim = _canary()
    report = {"v2": Fetched("cd" * 32, SIGNER)}
    for _ in range(60):
        planned = {p.version: p.replicas for p in sim.last.plans} if sim.last else {}
        sim.now += timedelta(seconds=20)
        judged = analysis(Verdict.PASS, sim.now) if analysis_due(sim.spec, sim.status, sim.now) else None
        obs = RolloutObservations(ready=planned, analysis=judged, fetched=report)
        sim.last = decide(sim.spec, sim.status, V2, obs, sim.now, generation=1)
        sim.status = sim.last.status
        if any(h.outcome == "Promoted" for h in sim.status.history):
            break
    promoted = next(h for h in sim.status.history if h.outcome == "Promoted")
    assert promoted.version == "v2" and promoted.signer == SIGNER and promoted.digest == "cd" * 32
    assert promoted.retrain_run == "rp-7"
    assert ModelDeploymentStatus.model_validate(sim.status.wire()).history[0].signer == SIGNER


def test_a_canary_whose_digest_does_not_match_is_rolled_back_with_model_fetch_failed_everywhere() -> None:
    sim = _canary()
    mismatch = FetchFailure(
        "DigestMismatch", "s3://models/fraud/v2/: directory digest mismatch: expected 00, got ab", "fraud-v2-a"
    )
    decision = _decide(sim, V2, RolloutObservations(ready={"v1": 3}, fetch_failures={"v2": mismatch}))
    s = decision.status
    assert s.phase == "RolledBack" and s.blocked_version == "v2" and s.history[0].failure_reason == "ModelFetchFailed"
    conditions = {t: get_condition(s.conditions, t) for t in ("Stalled", "Ready", "Degraded")}
    assert {t: (c.status, c.reason) for t, c in conditions.items() if c is not None} == {
        "Stalled": ("True", "ModelFetchFailed"),
        "Ready": ("False", "ModelFetchFailed"),
        "Degraded": ("True", "ModelFetchFailed"),
    }
    assert "DigestMismatch: s3://models/fraud/v2/: directory digest mismatch" in s.message
    assert [e.reason for e in decision.events if e.type == "Warning"] == ["ModelFetchFailed", "RolledBack"]
    # a canary rolled back by its analysis keeps the RolledBack reason
    plain = _canary()
    plain.spec = plain.spec.model_copy(update={"rollout": plain.spec.rollout.model_copy(update={"abort": "now"})})
    aborted = _decide(plain, V2, RolloutObservations(ready={"v1": 3, "v2": 1})).status
    assert aborted.phase == "RolledBack"
    assert get_condition(aborted.conditions, "Degraded").reason == "RolledBack"  # type: ignore[union-attr]
    assert get_condition(aborted.conditions, "Stalled").reason == "RolledBack"  # type: ignore[union-attr]


def test_a_first_version_whose_store_refuses_it_is_stalled_whatever_the_store_said() -> None:
    """Held or not for a canary, a first version with nothing serving is Stalled: a person must look."""
    for reason in ("DigestMismatch", "BadCredentials", "NotFound", "PathEscapes", "StoreUnreachable", "AccessDenied"):
        sim = Sim(spec())
        failing = FetchFailure(reason, f"s3://models/fraud/v1/: what the store said about {reason}", "fraud-v1-a")
        s = _decide(sim, V1, RolloutObservations(ready={}, fetch_failures={"v1": failing})).status
        for type_, status in (("Stalled", "True"), ("Ready", "False"), ("Degraded", "True")):
            condition = get_condition(s.conditions, type_)
            assert condition is not None and (condition.status, condition.reason) == (status, "ModelFetchFailed")
            assert f"v1 cannot load its model (pod fraud-v1-a): {reason}: s3://models/fraud/v1/" in condition.message
