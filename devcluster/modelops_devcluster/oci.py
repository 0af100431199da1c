"""A real OCI registry on 127.0.0.1 and the real `oras` CLI, both built from the Go module proxy.

`registry_module()` is CNCF distribution's `registry` (github.com/distribution/distribution/v3,
the reference registry Docker Hub, GHCR and Harbor descend from) and `oras_module()` the ORAS
CLI (oras.land/oras), the client users push model artifacts with. `gotools.build_module`
builds each once into `build.cache_root()/bin/<name>-<version>`, keyed by the version below.

`RegistryServer(users=...)` runs the registry with filesystem storage in its own directory on a
free loopback port; with users it requires HTTP Basic authentication (an htpasswd file with
bcrypt hashes, the only kind distribution accepts), with `token=` a `TokenServer`'s Bearer tokens
(`auth: token`, the Docker Hub/GHCR/Harbor flow: oci_token.py), without either it is anonymous.
`Oras` runs the CLI against it (`--plain-http`, credentials through `--username`/`--password`).
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import bcrypt
import yaml

from modelops_devcluster import gotools
from modelops_devcluster.oci_token import TokenServer
from modelops_devcluster.ports import LOOPBACK, free_port
from modelops_devcluster.procs import ManagedProcess, ProcessError, keep_workdirs, tail, wait_for

REGISTRY = "v3.1.2"  # `go list -m -versions github.com/distribution/distribution/v3`, 2026-12-06
ORAS = "v1.3.6"  # `go list -m -versions oras.land/oras`, 2026-12-06


class OciError(RuntimeError):
    """The registry or oras could not be built, failed to start, or a push failed."""


def registry_module(version: str = REGISTRY) -> gotools.Module:
    return gotools.Module(
        name="registry",
        module="github.com/distribution/distribution/v3",
        version=version,
        package="./cmd/registry",
    )


def oras_module(version: str = ORAS) -> gotools.Module:
    return gotools.Module(
        name="oras",
        module="oras.land/oras",
        version=version,
        package="./cmd/oras",
        ldflags=f"-s -w -X oras.land/oras/internal/version.Version={version.lstrip('v')} "
        "-X oras.land/oras/internal/version.BuildMetadata=",
    )


def _build(spec: gotools.Module, timeout: float) -> Path:
    try:
        return gotools.build_module(spec, timeout=timeout)
    except gotools.GoToolError as e:
        raise OciError(str(e)) from e


def build_registry(*, timeout: float = 1800.0) -> Path:
    return _build(registry_module(), timeout)


def build_oras(*, timeout: float = 1800.0) -> Path:
    return _build(oras_module(), timeout)


class RegistryServer:
    """`with RegistryServer(users={"alice": "secret"}) as reg:` then push to `reg.address`; or
    `RegistryServer(token=tokens)` for a started `TokenServer` (its realm, service, issuer, certificate)."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        token: TokenServer | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        if users and token is not None:
            raise OciError("RegistryServer: Basic users or a token server, not both")
        self.users = dict(users or {})
        self.token = token
        self.start_timeout = start_timeout
        self._workdir: Path | None = None
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def address(self) -> str:
        """host:port, as an image reference or an oci:// URI names the registry."""
        if self._port is None:
            raise OciError("RegistryServer is not started")
        return f"{LOOPBACK}:{self._port}"

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise OciError("RegistryServer is not started")
        return self._workdir

    def start(self) -> RegistryServer:
        if self._workdir is not None:
            return self
        binary = build_registry()
        self._workdir = Path(tempfile.mkdtemp(prefix="modelops-registry-"))
        atexit.register(self.stop)
        try:
            self._port = free_port()
            config: dict[str, object] = {
                "version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": str(self.workdir / "data")}, "delete": {"enabled": True}},
                "http": {"addr": self.address},
            }
            if self.users:
                htpasswd = self.workdir / "htpasswd"
                lines = [f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}" for u, p in self.users.items()]
                htpasswd.write_text("\n".join(lines) + "\n")
                config["auth"] = {"htpasswd": {"realm": "modelops-test", "path": str(htpasswd)}}
            if self.token is not None:
                bundle = self.workdir / "token-ca.pem"
                bundle.write_bytes(self.token.certificate_pem)
                config["auth"] = {
                    "token": {
                        "realm": self.token.realm,
                        "service": self.token.service,
                        "issuer": self.token.issuer,
                        "rootcertbundle": str(bundle),
                    }
                }
            (self.workdir / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            argv = [str(binary), "serve", str(self.workdir / "config.yml")]
            self._process = ManagedProcess("registry", argv, self.workdir / "registry.log")
            self._process.start()
            wait_for("/v2/", self._ready, [self._process], self._process, self.start_timeout)
        except BaseException as e:
            self.stop()
            if isinstance(e, ProcessError):
                raise OciError(f"registry failed to start: {e}") from e
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

    def log_tail(self, lines: int = 40) -> str:
        return "" if self._process is None else tail(self._process.log_path, lines)

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError as e:  # 401 with auth on: it is up
            return e.code == 401


class Oras:
    """The real oras CLI against a plain-HTTP loopback registry."""

    def __init__(self, registry: RegistryServer, *, login: tuple[str, str] | None = None) -> None:
        self.registry = registry
        self.login = login
        self.binary = build_oras()

    def run(self, args: Sequence[str], *, cwd: Path) -> str:
        """Run `oras ARGS --plain-http` in `cwd` (with a throwaway config); stdout, or OciError with stderr."""
        auth = ["--username", self.login[0], "--password", self.login[1]] if self.login else []
        config = cwd / ".oras-config.json"
        argv = [str(self.binary), *args, "--plain-http", "--registry-config", str(config), *auth]
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise OciError(f"oras {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def push(self, reference: str, files: Sequence[str], *, cwd: Path, extra: Sequence[str] = ()) -> str:
        """Push `files` (paths relative to `cwd`, directories allowed) as `reference` (REPO:TAG on the registry);
        returns the manifest digest oras reports."""
        out = self.run(
            [
                "push",
                f"{self.registry.address}/{reference}",
                *extra,
                *files,
                "--format",
                "go-template",
                "--template",
                "{{.digest}}",
            ],
            cwd=cwd,
        )
        return out.strip().splitlines()[-1]
