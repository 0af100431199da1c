"""Run the operator as a real process against a dev cluster (tests and the demo).

A separate process, not an in-process kopf runner, so a test can SIGKILL it mid-work and
start another, exactly like a pod being killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from modelops_devcluster.ports import LOOPBACK, free_ports
from modelops_devcluster.procs import ManagedProcess, ProcessError


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
    ) -> None:
        self.metrics_port, self.health_port = free_ports(2)
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="modelops-operator-"))
        self.log_path = self.log_dir / f"operator-{self.metrics_port}.log"
        ports = ["--metrics-port", str(self.metrics_port), "--health-port", str(self.health_port)]
        argv = [
            *(sys.executable, "-m", "modelops.cli.main", "operator", *ports),
            *("--bind-address", LOOPBACK, "--log-format", "json"),
            *(a for ns in namespaces for a in ("--namespace", ns)),
            *(["--prometheus-url", prometheus_url] if prometheus_url else []),
            *extra_args,
        ]
        self._process = ManagedProcess("operator", argv, self.log_path, env=env)

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.health_port}/healthz"

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        """Start and wait until kopf's liveness endpoint answers."""
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
