"""A run's Job and pods, read into views, give its state: active, succeeded with the trainer's
message, or failed with the Job's reason and the last pod's exit."""

from __future__ import annotations

from typing import Any

from modelops.retrain.jobs import JobState, JobView, PodView, job_state


def job(*conditions: dict[str, Any]) -> JobView:
    return JobView.model_validate({"metadata": {"name": "rp-1"}, "status": {"conditions": list(conditions)}})


def pod(created: str | None, *containers: tuple[str, dict[str, Any] | None]) -> PodView:
    statuses = [
        {"name": name, "state": {"terminated": ended} if ended is not None else {}} for name, ended in containers
    ]
    return PodView.model_validate(
        {"metadata": {"creationTimestamp": created}, "status": {"containerStatuses": statuses}}
    )


COMPLETE = {"type": "Complete", "status": "True"}
FAILED = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "too slow"}


def test_a_job_without_a_true_end_condition_is_active_whatever_its_pods() -> None:
    assert job().finished is False
    assert job({"type": "Complete", "status": "False"}).finished is False
    assert job_state(job({"type": "Failed", "status": "Unknown"}), [pod(None, ("t", {"exitCode": 1}))]) == JobState(
        "active"
    )
    assert JobView.model_validate({"status": None}).finished is False


def test_a_complete_job_carries_the_message_of_the_newest_container_that_exited_zero() -> None:
    pods = [
        pod("2026-01-01T00:00:02Z", ("t", {"exitCode": 0, "message": "newest"})),
        pod("2026-01-01T00:00:01Z", ("t", {"exitCode": 0, "message": "older"}), ("side", {"exitCode": 0})),
        pod(None, ("t", {"exitCode": 1, "message": "failed attempt"})),
    ]
    assert job_state(job(COMPLETE), pods) == JobState("succeeded", "newest")
    assert job_state(job(COMPLETE), []) == JobState("succeeded", None)


def test_a_failed_job_names_its_condition_and_the_last_exit() -> None:
    pods = [pod("2", ("t", {"exitCode": 2, "reason": "Error"})), pod("1", ("t", {"exitCode": 137}))]
    state = job_state(job(FAILED), pods)
    assert state.phase == "failed"
    assert state.reason == "Job failed: DeadlineExceeded: too slow; last pod: t exit 2 (Error)"
    bare = job_state(job({"type": "Failed", "status": "True"}), [pod(None, ("t", None), ("u", {}))])
    assert bare.reason == "Job failed: Failed"  # running and empty states are not exits
