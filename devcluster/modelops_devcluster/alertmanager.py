"""A real Alertmanager on 127.0.0.1, built from the Go module proxy, for the alerting tests.

`build()` compiles `cmd/alertmanager` of github.com/prometheus/alertmanager at
`versions.ALERTMANAGER` with `gotools.build_module` into the cache
(`build.cache_root()/bin/alertmanager-<version>`, never the repository), once; a second call
finds it. The module as the proxy serves it does not carry the web UI's compiled assets
(`ui/app/dist`, built with npm by the project's release process), which `ui/web.go` embeds, so
`go install` fails there. The build works on a copy of the module and writes a one-line
placeholder page where the UI would be: the API, routing, grouping and every notifier are the
release's own code, only the browser UI is absent.

`AlertmanagerServer(config)` runs it with its own config and data directory on a free loopback
port, clustering off (`--cluster.listen-address=`), and answers what it holds through its v2 API.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from modelops_devcluster import gotools, versions
from modelops_devcluster.ports import LOOPBACK, free_port
from modelops_devcluster.procs import ManagedProcess, ProcessError, keep_workdirs, tail, wait_for

MODULE = "github.com/prometheus/alertmanager"
_UI_PLACEHOLDER = "<!doctype html><title>Alertmanager</title><p>web UI not built (API only)</p>\n"


class AlertmanagerError(RuntimeError):
    """Alertmanager could not be built, failed to start, or answered unexpectedly."""


def _ui_placeholder(source: Path) -> None:
    for ui in ("elm", "mantine"):
        (source / "ui" / "app" / "dist" / ui).mkdir(parents=True, exist_ok=True)
        (source / "ui" / "app" / "dist" / ui / "index.html").write_text(_UI_PLACEHOLDER)


def module(version: str = versions.ALERTMANAGER) -> gotools.Module:
    return gotools.Module(
        name="alertmanager",
        module=MODULE,
        version=version,
        package="./cmd/alertmanager",
        ldflags=f"-s -w -X github.com/prometheus/common/version.Version={version.lstrip('v')}",
        prepare=_ui_placeholder,
    )


def binary_path(version: str = versions.ALERTMANAGER) -> Path:
    return module(version).binary()


def build(version: str = versions.ALERTMANAGER, *, timeout: float = 1800.0) -> Path:
    """The cached binary, built first if missing (about a minute on two cores once modules are downloaded)."""
    try:
        return gotools.build_module(module(version), timeout=timeout)
    except gotools.GoToolError as e:
        raise AlertmanagerError(str(e)) from e


class AlertmanagerServer:
    """`with AlertmanagerServer({"route": ..., "receivers": [...]}) as am:` then point Prometheus at `am.url`."""

    def __init__(self, config: dict[str, Any], *, start_timeout: float = 30.0) -> None:
        self.config = config
        self.start_timeout = start_timeout
        self._workdir: Path | None = None
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise AlertmanagerError("AlertmanagerServer is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        """host:port, as Prometheus' `alerting.alertmanagers[].static_configs[].targets` wants it."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise AlertmanagerError("AlertmanagerServer is not started")
        return self._workdir

    def start(self) -> AlertmanagerServer:
        if self._workdir is not None:
            return self
        binary = build()
        self._workdir = Path(tempfile.mkdtemp(prefix="modelops-alertmanager-"))
        atexit.register(self.stop)
        try:
            config = self.workdir / "alertmanager.yml"
            config.write_text(yaml.safe_dump(self.config, sort_keys=False))
            self._port = free_port()
            argv = [
                str(binary),
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address={self.address}",
                "--cluster.listen-address=",  # no gossip: one instance, nothing listens beyond the API
                "--log.level=info",
            ]
            self._process = ManagedProcess("alertmanager", argv, self.workdir / "alertmanager.log")
            self._process.start()
            wait_for("/-/ready", self._ready, [self._process], self._process, self.start_timeout)
        except BaseException as e:
            self.stop()
            if isinstance(e, ProcessError):
                raise AlertmanagerError(f"alertmanager failed to start: {e}") from e
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._workdir is not None and not keep_workdirs():
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None
        atexit.unregister(self.stop)

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds now (GET /api/v2/alerts)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as resp:
            found: list[dict[str, Any]] = json.loads(resp.read())
            return found

    def log_tail(self, lines: int = 40) -> str:
        return "" if self._process is None else tail(self._process.log_path, lines)

    def __enter__(self) -> AlertmanagerServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)
