"""Run the operator as a real process against a dev cluster (tests and the demo).

A separate process, not an in-process kopf runner, so a test can SIGKILL it mid-work and
start another, exactly like a pod being killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from modelops_devcluster.ports import LOOPBACK, free_ports
from modelops_devcluster.procs import ManagedProcess, ProcessError


@dataclass(frozen=True)
class LeaderElection:
    """`--leader-elect` and its settings for one replica; `identity` plays the pod name."""

    identity: str
    namespace: str = "default"
    name: str = "modelops-operator"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def args(self) -> list[str]:
        return [
            *("--leader-elect", "--identity", self.identity),
            *("--lease-namespace", self.namespace, "--lease-name", self.name),
            *("--lease-duration", f"{self.lease_duration:g}", "--renew-deadline", f"{self.renew_deadline:g}"),
            *("--retry-period", f"{self.retry_period:g}"),
        ]


class OperatorProcess:
    """`modelops operator` on loopback ports, logging JSON to a file."""

    def __init__(
        self,
        env: Mapping[str, str],
        namespaces: Sequence[str] = (),
        *,
        prometheus_url: str | None = None,
        log_dir: Path | None = None,
        extra_args: Sequence[str] = (),
        election: LeaderElection | None = None,
    ) -> None:
        self.metrics_port, self.health_port = free_ports(2)
        self.election = election
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="modelops-operator-"))
        suffix = election.identity if election is not None else str(self.metrics_port)
        self.log_path = self.log_dir / f"operator-{suffix}.log"
        ports = ["--metrics-port", str(self.metrics_port), "--health-port", str(self.health_port)]
        argv = [
            *(sys.executable, "-m", "modelops.cli.main", "operator", *ports),
            *("--bind-address", LOOPBACK, "--log-format", "json"),
            *(a for ns in namespaces for a in ("--namespace", ns)),
            *(["--prometheus-url", prometheus_url] if prometheus_url else []),
            *(election.args() if election is not None else []),
            *extra_args,
        ]
        self._process = ManagedProcess("operator", argv, self.log_path, env=env)

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.health_port}/healthz"

    @property
    def leader_url(self) -> str:
        return f"http://{LOOPBACK}:{self.health_port}/leader"

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        """Start and wait until the health endpoint answers (kopf's; with leader election, the
        elector's, which a standby serves too)."""
        self._process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._process.check_running()
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        raise ProcessError(self._process.describe_failure(f"not healthy after {timeout:.0f}s"))

    def stop(self) -> None:
        self._process.stop()

    def kill(self) -> None:
        """SIGKILL, no chance to clean up: what an OOM kill or node loss looks like."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.stop()  # reaps it and closes the log

    def terminate(self) -> None:
        """SIGTERM without waiting (a pod being deleted); `wait_exit` collects the exit code."""
        self._process.terminate()

    def send_signal(self, sig: signal.Signals) -> None:
        """SIGSTOP freezes it (a partition from its own point of view: it cannot renew), SIGCONT thaws it."""
        self._process.send_signal(sig)

    def wait_exit(self, timeout: float) -> int | None:
        """Its exit code if it exits within `timeout` (3: a leader that lost its Lease), else None."""
        code = self._process.wait(timeout)
        if code is not None:
            self._process.stop()  # reap the group, close the log
        return code

    def running(self) -> bool:
        return self._process.running()

    def leader(self) -> dict[str, object] | None:
        """What /leader says (identity, leader, holder, lease), None when it does not answer."""
        try:
            with urllib.request.urlopen(self.leader_url, timeout=2) as resp:
                return dict(json.loads(resp.read()))
        except (OSError, ValueError):
            return None

    def is_leader(self) -> bool:
        answer = self.leader()
        return bool(answer and answer.get("leader"))

    def metric(self, metric: str, /, **labels: str) -> float | None:
        """The value of the sample `metric` whose labels include `labels`, or None when there is none.

        Per-object series (the rollout phase, invalid resources) are set at the end of a pass, so
        a test can see that this process has passed an object, where a fixed sleep only hopes so.
        """
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
