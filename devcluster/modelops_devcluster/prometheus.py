"""A real Prometheus on 127.0.0.1 with its own config and data dir, for tests and the demo.

The canary analysis queries Prometheus, so tests run the real server (Debian's
/usr/bin/prometheus) rather than a fake: PromQL semantics, staleness and scrape
timing are exactly what production sees. `reload()` swaps scrape configs mid-test.
`web_config` turns on Prometheus' own authentication (`--web.config.file`, e.g.
`basic_auth_users` with bcrypt hashes); `auth` is what this helper's own requests
(readiness, reload) then send.

Alerting: `rules` are rule files (name -> the file's document, `{"groups": [...]}`) written into
`rules/` of the data directory, which the config then loads (`rule_files`); `set_rules` adds or
replaces one and reloads, so a test can load rules that exist only once the stack runs (a
PrometheusRule the operator applied). `alertmanagers` (host:port on loopback) become the
config's `alerting` section (alerts are resent every 2 s, not every minute), and
`evaluation_interval` its global rule evaluation interval.
"""

from __future__ import annotations

import atexit
import base64
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from modelops_devcluster.ports import LOOPBACK, free_port
from modelops_devcluster.procs import ManagedProcess, ProcessError, keep_workdirs, wait_for


class PrometheusServerError(RuntimeError):
    """Prometheus is missing, failed to start, or rejected a config reload."""


def _find_binary(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise PrometheusServerError(f"{binary!r} not found on PATH: install it with `apt-get install prometheus`")
    return path


class PrometheusServer:
    """`with PrometheusServer({"scrape_configs": [...]}) as prom:` then query `prom.url`."""

    def __init__(
        self,
        config: dict[str, Any] | str,
        *,
        binary: str = "prometheus",
        start_timeout: float = 30.0,
        blocks: Path | None = None,
        extra_args: Sequence[str] = (),
        web_config: dict[str, Any] | None = None,
        auth: tuple[str, str] | None = None,
        rules: Mapping[str, dict[str, Any]] | None = None,
        alertmanagers: Sequence[str] = (),
        evaluation_interval: str | None = None,
    ) -> None:
        """`blocks`: a directory of TSDB blocks (e.g. from `promtool tsdb create-blocks-from`)
        copied into the data directory before start, so tests can query known history."""
        self.blocks = blocks
        self.extra_args = tuple(extra_args)
        self.web_config = web_config
        self.auth = auth
        self.config = config
        self.rules = dict(rules or {})
        self.alertmanagers = tuple(alertmanagers)
        self.evaluation_interval = evaluation_interval
        self.binary = binary
        self.start_timeout = start_timeout
        self._workdir: Path | None = None
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise PrometheusServerError("PrometheusServer is not started")
        return self._workdir

    @property
    def port(self) -> int:
        if self._port is None:
            raise PrometheusServerError("PrometheusServer is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise PrometheusServerError("PrometheusServer is not started")
        return self._process.pid

    def start(self) -> PrometheusServer:
        if self._workdir is not None:
            return self
        binary = _find_binary(self.binary)
        self._workdir = Path(tempfile.mkdtemp(prefix="modelops-prometheus-"))
        atexit.register(self.stop)
        try:
            self._write_config(self.config)
            if self.web_config is not None:
                (self.workdir / "web.yml").write_text(yaml.safe_dump(self.web_config, sort_keys=False))
            if self.blocks is not None:
                shutil.copytree(self.blocks, self.workdir / "data", dirs_exist_ok=True)
            self._port = free_port()
            self._process = ManagedProcess("prometheus", self._args(binary), self.workdir / "prometheus.log")
            self._process.start()
            wait_for("/-/ready", self._ready, [self._process], self._process, self.start_timeout)
        except BaseException as e:
            self.stop()
            if isinstance(e, ProcessError):
                raise PrometheusServerError(f"prometheus failed to start: {e}") from e
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        if self._workdir is not None and not keep_workdirs():
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None
        atexit.unregister(self.stop)

    def restart(self) -> float:
        """Stop the server and start it again on the same port and data directory (chaos tests: the TSDB
        keeps what was scraped before); returns the seconds it was not ready."""
        started = time.monotonic()
        if self._process is None:
            raise PrometheusServerError("PrometheusServer is not started")
        self._process.restart()
        wait_for("/-/ready after a restart", self._ready, [self._process], self._process, self.start_timeout)
        return time.monotonic() - started

    def reload(self, config: dict[str, Any] | str | None = None) -> None:
        """Optionally rewrite the config, then POST /-/reload (fails if Prometheus rejects it)."""
        if config is not None:
            self.config = config
            self._write_config(config)
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST", headers=self._auth_headers())
        try:
            with urllib.request.urlopen(req, timeout=10):
                pass
        except urllib.error.HTTPError as e:
            raise PrometheusServerError(f"reload rejected ({e.code}): {e.read().decode(errors='replace')}") from e

    def set_rules(self, name: str, document: dict[str, Any]) -> None:
        """Add or replace the rule file `name` (a `{"groups": [...]}` document), then reload."""
        self.rules[name] = document
        self.reload(self.config)

    def rules_loaded(self) -> list[dict[str, Any]]:
        """The rule groups Prometheus has loaded (GET /api/v1/rules), with each rule's health."""
        req = urllib.request.Request(f"{self.url}/api/v1/rules", headers=self._auth_headers())
        with urllib.request.urlopen(req, timeout=5) as resp:
            groups: list[dict[str, Any]] = json.loads(resp.read())["data"]["groups"]
            return groups

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _write_config(self, config: dict[str, Any] | str) -> None:
        wants_alerting = self.rules or self.alertmanagers or self.evaluation_interval
        if wants_alerting and isinstance(config, str):
            raise PrometheusServerError("rules, alertmanagers and evaluation_interval need the config as a dict")
        if isinstance(config, dict) and wants_alerting:
            config = self._with_alerting(config)
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)

    def _with_alerting(self, config: dict[str, Any]) -> dict[str, Any]:
        out = dict(config)
        if self.evaluation_interval is not None:
            out["global"] = {**out.get("global", {}), "evaluation_interval": self.evaluation_interval}
        directory = self.workdir / "rules"
        directory.mkdir(exist_ok=True)
        for old in directory.glob("*.yml"):
            if old.stem not in self.rules:
                old.unlink()
        for name, document in self.rules.items():
            (directory / f"{name}.yml").write_text(yaml.safe_dump(document, sort_keys=False))
        out["rule_files"] = [*out.get("rule_files", []), str(directory / "*.yml")]
        if self.alertmanagers:
            out["alerting"] = {
                "alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": list(self.alertmanagers)}]}]
            }
        return out

    def _args(self, binary: str) -> list[str]:
        return [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
            *([f"--web.config.file={self.workdir / 'web.yml'}"] if self.web_config is not None else []),
            # a firing alert sent before the Alertmanager targets are discovered (a second or so after a
            # start or a reload) is otherwise resent only a minute later
            *(["--rules.alert.resend-delay=2s"] if self.alertmanagers else []),
            *self.extra_args,
        ]

    def _auth_headers(self) -> dict[str, str]:
        if self.auth is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()}

    def _ready(self) -> bool:
        req = urllib.request.Request(f"{self.url}/-/ready", headers=self._auth_headers())
        with urllib.request.urlopen(req, timeout=2) as resp:
            return bool(resp.status == 200)
