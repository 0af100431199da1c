"""`kubectl modelops list` and `status --watch`: rendering and the watch loop, without a cluster."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from modelops.cli import kubectl_plugin, status_view
from modelops.cli.kubectl_plugin import build_parser, list_command, watch_frames

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def md(namespace: str, name: str, generation: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "generation": generation,
            "resourceVersion": "1",
            "creationTimestamp": "2026-12-05T11:55:00Z",
        },
        "status": {"observedGeneration": 1, **status},
    }


ROLLING = md(
    "ml",
    "fraud",
    phase="Progressing",
    stable={"version": "v1", "replicas": 3, "readyReplicas": 3},
    canary={"version": "v2", "replicas": 1, "readyReplicas": 0},
    canaryWeight=10,
    failedChecks=1,
    lastAnalysis={"verdict": "Fail", "checks": []},
    conditions=[{"type": "Ready", "status": "False"}],
)
SETTLED = md(
    "risk",
    "churn",
    phase="Available",
    stable={"version": "2026-11-30", "replicas": 2, "readyReplicas": 2},
    canaryWeight=0,
    conditions=[{"type": "Ready", "status": "True"}],
)


def test_list_tells_each_rollout_in_one_line() -> None:
    lines = status_view.model_deployment_list([SETTLED, ROLLING], NOW, all_namespaces=False).splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "PODS", "READY", "ANALYSIS", "AGE"]
    rolling = ["fraud", "Progressing", "v1", "v2", "10%", "3/4", "False", "Fail", "(1", "failed)", "5m"]
    assert lines[1].split() == rolling  # sorted by namespace, then name
    assert lines[2].split() == ["churn", "Available", "2026-11-30", "-", "-", "2/2", "True", "-", "5m"]
    assert len(lines) == 3


def test_list_all_namespaces_adds_the_namespace_and_sorts_by_it() -> None:
    lines = status_view.model_deployment_list([SETTLED, ROLLING], NOW, all_namespaces=True).splitlines()
    assert lines[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [line.split()[:2] for line in lines[1:]] == [["ml", "fraud"], ["risk", "churn"]]


def test_list_marks_a_spec_the_operator_has_not_seen() -> None:
    stale = md("ml", "fraud", generation=2, phase="Available")
    text = status_view.model_deployment_list([stale], NOW, all_namespaces=False)
    assert text.splitlines()[1].split()[1] == "Available*"
    assert "has not acted on the latest spec" in text.splitlines()[-1]
    fresh = md("ml", "new", generation=1)
    fresh["status"] = {}
    row = status_view.model_deployment_row(fresh, NOW)
    assert row["phase"] == "Unknown" and row["stale"] and row["pods"] == "-" and row["ready"] == "-"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 120, "3h2m"), (9 * 3600, "9h"),
     (2 * 86400 + 3600, "2d1h"), (40 * 86400, "40d")],
)  # fmt: skip
def test_age_reads_like_kubectl(seconds: int, shown: str) -> None:
    created = datetime.fromtimestamp(NOW.timestamp() - seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status_view.age(created, NOW) == shown
    assert status_view.age(None, NOW) == "-"


class FakeResources:
    def __init__(self, objs: list[dict[str, Any]]) -> None:
        self.objs = objs
        self.asked: list[str | None] = []

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        self.asked.append(namespace)
        return [o for o in self.objs if namespace is None or o["metadata"]["namespace"] == namespace]


def test_list_command_text_json_and_empty(capsys: pytest.CaptureFixture[str]) -> None:
    resources = FakeResources([SETTLED, ROLLING])
    out = io.StringIO()
    assert list_command(resources, "ml", "text", out) == 0  # type: ignore[arg-type]
    assert out.getvalue().splitlines()[1].startswith("fraud")
    out = io.StringIO()
    assert list_command(resources, None, "json", out) == 0  # type: ignore[arg-type]
    rows = json.loads(out.getvalue())
    weights = [(r["namespace"], r["name"], r["canaryWeight"]) for r in rows]
    assert weights == [("ml", "fraud", 10), ("risk", "churn", None)]
    out = io.StringIO()
    assert list_command(resources, "empty", "text", out) == 0  # type: ignore[arg-type]
    assert out.getvalue() == ""
    assert "No ModelDeployments found in namespace empty." in capsys.readouterr().err
    assert resources.asked == ["ml", None, "empty"]


def test_parser_list_and_watch_flags() -> None:
    args = build_parser().parse_args(["list", "-A", "-o", "json"])
    assert args.verb == "list" and args.all_namespaces and args.output == "json"
    args = build_parser().parse_args(["status", "fraud", "--watch", "--timeout", "90s"])
    assert args.watch and args.timeout == 90.0
    assert build_parser().parse_args(["status", "fraud"]).timeout == 1800.0  # bounded by default
    for bad in ("forever", "0s", "2d"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["status", "fraud", "-w", "--timeout", bad])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def with_phase(obj: dict[str, Any], version: str, phase: str) -> dict[str, Any]:
    meta, status = {**obj["metadata"], "resourceVersion": version}, {**obj["status"], "phase": phase}
    return {**obj, "metadata": meta, "status": status}


def render(obj: dict[str, Any]) -> str:
    return str(obj["status"].get("phase"))


def test_watch_prints_only_what_changes_and_resumes_from_the_last_version() -> None:
    clock = Clock()
    calls: list[tuple[str | None, int]] = []
    scripted = [
        # first watch: a status write that changes nothing shown, then a new phase; the server ends it
        [("MODIFIED", with_phase(ROLLING, "2", "Progressing")), ("MODIFIED", with_phase(ROLLING, "3", "Promoting"))],
        # resumed from "3": too old by now (410) -> start again from the object as it is
        [("ERROR", {})],
        [("ADDED", with_phase(ROLLING, "9", "Promoting")), ("MODIFIED", with_phase(ROLLING, "10", "Available"))],
    ]

    def events(version: str | None, seconds: int) -> Iterator[tuple[str, dict[str, Any]]]:
        calls.append((version, seconds))
        batch = scripted.pop(0) if scripted else []
        clock.now += 5 if batch else seconds  # an empty watch lasts as long as asked
        yield from batch

    frames = list(watch_frames(ROLLING, events, render, timeout=120, clock=clock, sleep=clock.sleep))
    assert frames == ["Progressing", "Promoting", "Available"]
    assert [v for v, _ in calls[:3]] == ["1", "3", None]
    assert calls[3][0] == "10"
    assert all(0 < seconds <= kubectl_plugin.WATCH_REQUEST_SECONDS for _, seconds in calls)
    assert clock.now >= 120  # ran until the timeout, no further


def test_watch_ends_when_the_object_is_deleted() -> None:
    def events(version: str | None, seconds: int) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "DELETED", ROLLING

    frames = list(watch_frames(ROLLING, events, render, timeout=60, clock=Clock()))
    assert frames == ["Progressing", "ModelDeployment ml/fraud was deleted"]


def test_watch_never_spins_on_watches_that_end_at_once() -> None:
    clock = Clock()
    count = 0

    def events(version: str | None, seconds: int) -> Iterator[tuple[str, dict[str, Any]]]:
        nonlocal count
        count += 1
        yield "ERROR", {}

    assert list(watch_frames(ROLLING, events, render, timeout=30, clock=clock, sleep=clock.sleep)) == ["Progressing"]
    assert count <= 31  # one try a second at most, then the timeout


class Interrupting(FakeResources):
    def watch(self, namespace: str, name: str, **_: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "MODIFIED", with_phase(ROLLING, "2", "Promoting")
        raise KeyboardInterrupt


def test_ctrl_c_stops_the_watch_quietly() -> None:
    out = io.StringIO()
    code = kubectl_plugin._watch(Interrupting([]), "ml", ROLLING, render, timeout=60, out=out)  # type: ignore[arg-type]
    assert code == 130
    text = out.getvalue()
    assert "--- " in text and "watching ml/fraud (Ctrl-C to stop)" in text
    assert text.count("Progressing") == 1 and text.count("Promoting") == 1
    assert "Traceback" not in text and text.endswith("\n")


def test_watch_as_json_lines() -> None:
    out = io.StringIO()
    code = kubectl_plugin._watch(  # type: ignore[arg-type]
        Interrupting([]), "ml", ROLLING, kubectl_plugin._status_json, timeout=60, out=out, lines=True
    )
    assert code == 130
    phases = [json.loads(line)["phase"] for line in out.getvalue().splitlines() if line]
    assert phases == ["Progressing", "Promoting"]


def test_ctrl_c_before_the_watch_is_quiet_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(kubectl_plugin, "_run", interrupted)
    assert kubectl_plugin.main(["list"]) == 130
