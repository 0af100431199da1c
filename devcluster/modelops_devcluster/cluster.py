"""A real Kubernetes control plane on loopback, with one kwok-simulated node.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real
binaries (see `build`), so admission, RBAC, garbage collection, Deployments and
scheduling behave as in production; only the kubelet is replaced by kwok, which
marks pods Running and Ready and gives them IPs from a loopback pod CIDR. Nothing
listens on or dials anything but 127.0.0.1: the service CIDR is only ever allocated
from, and pods are never contacted.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import json
import os
import random
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from modelops_devcluster import build, kwok, pki
from modelops_devcluster.ports import LOOPBACK, free_ports
from modelops_devcluster.procs import (
    KEEP_ENV,
    ManagedProcess,
    ProcessError,
    keep_workdirs,
    stop_all,
    wait_for,
)

NODE_NAME = "kwok-node-0"
POD_CIDR = "127.1.0.0/16"


def _free_pod_cidr() -> tuple[str, IO[str]]:
    """A loopback /16 no other dev cluster on this machine is using for its pods.

    Pods bind their 127.x IPs for real (the data plane), so two clusters at once (tests and a
    demo, or parallel test runs) must not hand out the same addresses. Claimed with a lock on a
    file, held until the cluster stops (or its process dies); 127.0.0.0/16 is left alone.
    """
    for second in [1, *random.sample(range(2, 255), 253)]:
        lock = Path(tempfile.gettempdir()) / f"modelops-podcidr-127.{second}.lock"
        handle = lock.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return f"127.{second}.0.0/16", handle
    raise DevClusterError("no free loopback /16 for pod IPs")


SERVICE_CIDR = "10.96.0.0/16"  # ClusterIPs are allocated from here, never contacted
FIRST_SERVICE_IP = "10.96.0.1"
_SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


class DevClusterError(RuntimeError):
    """The dev cluster could not start, or a command against it failed."""


class CommandError(DevClusterError):
    """kubectl or helm exited non-zero (or timed out)."""

    def __init__(self, cmd: list[str], returncode: int | None, stdout: str, stderr: str) -> None:
        self.cmd, self.returncode, self.stdout, self.stderr = cmd, returncode, stdout, stderr
        status = "timed out" if returncode is None else f"exited with {returncode}"
        super().__init__(f"{' '.join(cmd)} {status}:\n{stderr.strip() or stdout.strip()}")


@dataclass(frozen=True)
class _Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False


def _insecure_context() -> ssl.SSLContext:
    """For the scheduler's self-signed /healthz on 127.0.0.1 only."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class DevCluster:
    """Start with `with DevCluster() as c:` (or `start()`/`stop()`); see module docstring."""

    def __init__(
        self, bin_dir: Path | None = None, *, start_timeout: float = 120.0, audit_policy: str | None = None
    ) -> None:
        """`audit_policy`: an audit.k8s.io/v1 Policy (YAML); the API server then logs the requests it
        selects as JSON lines, read back with `audit_events()`."""
        self.bin_dir = bin_dir or build.bin_dir()
        self.audit_policy = audit_policy
        self.node_name = NODE_NAME
        self.pod_cidr, self._cidr_lock = _free_pod_cidr()
        self.start_timeout = start_timeout
        self._workdir: Path | None = None
        self._ports: _Ports | None = None
        self._pki: pki.ClusterPKI | None = None
        self._ssl: ssl.SSLContext | None = None
        self._processes: list[ManagedProcess] = []

    # -- public API ---------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise DevClusterError("DevCluster is not started")
        return self._workdir

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        if self._ports is None:
            raise DevClusterError("DevCluster is not started")
        return f"https://{LOOPBACK}:{self._ports.apiserver}"

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG, bin_dir first on PATH and helm dirs in the workdir."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        for kind in ("cache", "config", "data"):
            env[f"HELM_{kind.upper()}_HOME"] = str(self.workdir / "helm" / kind)
        return env

    @property
    def pids(self) -> dict[str, int]:
        """Component name -> PID, for tests that check teardown."""
        return {p.name: p.pid for p in self._processes}

    def check_running(self) -> None:
        """Raise ProcessError (with its log tail) if any component has exited."""
        for proc in self._processes:
            proc.check_running()

    def start(self) -> DevCluster:
        if self._workdir is not None:
            return self
        missing = build.missing(self.bin_dir)
        if missing:
            raise DevClusterError(
                f"missing {', '.join(missing)} in {self.bin_dir}; run `python -m modelops_devcluster build`"
            )
        self._processes = []
        self._workdir = Path(tempfile.mkdtemp(prefix="modelops-devcluster-"))
        atexit.register(self.stop)
        try:
            self._start_components()
        except BaseException as e:
            self.stop()
            if isinstance(e, ProcessError):
                kept = "" if keep_workdirs() else f" (set {KEEP_ENV}=1 to keep the logs)"
                raise DevClusterError(f"dev cluster failed to start{kept}: {e}") from e
            raise
        return self

    def stop(self) -> None:
        """Stop every component (all at once, then SIGKILL stragglers) and drop the workdir."""
        stop_all(list(reversed(self._processes)))
        self._cidr_lock.close()  # the pod addresses are free for another cluster
        if self._workdir is not None and not keep_workdirs():
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> DevCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def restart_apiserver(self) -> float:
        """Stop kube-apiserver and start it again on the same port and etcd (chaos tests); returns the
        seconds it was not ready."""
        started = time.monotonic()
        apiserver = next(p for p in self._processes if p.name == "kube-apiserver")
        apiserver.restart()
        wait_for(
            "kube-apiserver /readyz after a restart",
            lambda: _http_ok(self.server + "/readyz", self._client_context()),
            self._processes,
            apiserver,
            self.start_timeout,
        )
        return time.monotonic() - started

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return self._tool("kubectl", args, input, check, timeout)

    def helm(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self._tool("helm", args, input, check, timeout)

    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """A raw API request as the admin; returns (status, decoded JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._client_context()) as resp:
                return int(resp.status), _decode(resp.read())
        except urllib.error.HTTPError as e:
            return int(e.code), _decode(e.read())

    # -- startup ------------------------------------------------------------------

    def _tool(
        self, name: str, args: tuple[str, ...], input: str | None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / name), *args]
        try:
            result = subprocess.run(
                cmd, input=input, capture_output=True, text=True, env=self.env, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise CommandError(cmd, None, _text(e.stdout), _text(e.stderr)) from e
        if check and result.returncode != 0:
            raise CommandError(cmd, result.returncode, result.stdout, result.stderr)
        return result

    def _start_components(self) -> None:
        work = self.workdir
        self._ports = _Ports(*free_ports(5))
        self._pki = pki.generate(work / "pki", FIRST_SERVICE_IP)
        self._ssl = None
        self._write_kubeconfig()
        etcd = self._spawn("etcd", self._etcd_args())
        etcd_health = f"http://{LOOPBACK}:{self._ports.etcd_client}/health"
        wait_for("etcd /health", lambda: _http_ok(etcd_health), [etcd], etcd, 30)
        apiserver = self._spawn("kube-apiserver", self._apiserver_args())
        wait_for(
            "kube-apiserver /readyz",
            lambda: _http_ok(self.server + "/readyz", self._client_context()),
            [etcd, apiserver],
            apiserver,
            self.start_timeout,
        )
        controller_manager = self._spawn("kube-controller-manager", self._controller_manager_args())
        scheduler = self._spawn("kube-scheduler", self._scheduler_args())
        (work / "kwok.yaml").write_text(kwok.STAGES_YAML)
        # kwok also reads ~/.kwok/kwok.yaml; a private HOME keeps the user's out
        kwok_env = {**os.environ, "HOME": str(work / "kwok-home")}
        kwok_proc = self._spawn("kwok", self._kwok_args(), env=kwok_env)
        self._create_node()
        scheduler_health = f"https://{LOOPBACK}:{self._ports.scheduler}/healthz"
        wait_for(
            "kube-scheduler /healthz",
            lambda: _http_ok(scheduler_health, _insecure_context()),
            self._processes,
            scheduler,
            self.start_timeout,
        )
        node_ready = f"node {self.node_name} Ready and untainted"
        wait_for(node_ready, self._node_ready, self._processes, kwok_proc, 60)
        wait_for(
            "ServiceAccount default/default",
            lambda: self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
            self._processes,
            controller_manager,
            self.start_timeout,
        )

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        proc = ManagedProcess(name, [str(self.bin_dir / name), *args], self.workdir / f"{name}.log", env=env)
        self._processes.append(proc)
        return proc.start()

    def _client_context(self) -> ssl.SSLContext:
        """Trust only our CA; authenticate as the admin (system:masters)."""
        if self._ssl is None:
            assert self._pki is not None
            self._ssl = ssl.create_default_context(cafile=str(self._pki.ca_cert))
            self._ssl.load_cert_chain(str(self._pki.admin_cert), str(self._pki.admin_key))
        return self._ssl

    def _write_kubeconfig(self) -> None:
        """An admin kubeconfig with the certs inlined, so it can be copied anywhere."""
        assert self._pki is not None

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "modelops-dev",
                    "cluster": {"server": self.server, "certificate-authority-data": b64(self._pki.ca_cert)},
                }
            ],
            "users": [
                {
                    "name": "modelops-dev-admin",
                    "user": {
                        "client-certificate-data": b64(self._pki.admin_cert),
                        "client-key-data": b64(self._pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {"name": "modelops-dev", "context": {"cluster": "modelops-dev", "user": "modelops-dev-admin"}}
            ],
            "current-context": "modelops-dev",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _etcd_args(self) -> list[str]:
        assert self._ports is not None
        client = f"http://{LOOPBACK}:{self._ports.etcd_client}"
        peer = f"http://{LOOPBACK}:{self._ports.etcd_peer}"
        return [
            "--name=modelops-dev",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=modelops-dev={peer}",
            "--unsafe-no-fsync",  # throwaway data: trade durability for speed
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        assert self._ports is not None
        assert self._pki is not None
        p = self._pki
        return [
            f"--etcd-servers=http://{LOOPBACK}:{self._ports.etcd_client}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={self._ports.apiserver}",
            f"--cert-dir={self.workdir / 'apiserver'}",
            f"--tls-cert-file={p.apiserver_cert}",
            f"--tls-private-key-file={p.apiserver_key}",
            f"--client-ca-file={p.ca_cert}",
            f"--service-account-issuer={_SA_ISSUER}",
            f"--service-account-key-file={p.sa_pub}",
            f"--service-account-signing-key-file={p.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # Endpoints may not hold loopback IPs, so the `kubernetes` Service gets none
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            *self._audit_args(),
        ]

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def _audit_args(self) -> list[str]:
        if self.audit_policy is None:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(self.audit_policy)
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-format=json"]

    def audit_events(self) -> list[dict[str, Any]]:
        """Every audit event logged so far (none without `audit_policy`)."""
        if not self.audit_log.exists():
            return []
        lines = self.audit_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def _component_common_args(self, port: int) -> list[str]:
        """Scheduler and controller-manager: admin kubeconfig, serving on loopback only."""
        kubeconfig = str(self.kubeconfig)
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={port}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _controller_manager_args(self) -> list[str]:
        assert self._ports is not None
        assert self._pki is not None
        return [
            *self._component_common_args(self._ports.controller_manager),
            f"--cert-dir={self.workdir / 'controller-manager'}",
            f"--service-account-private-key-file={self._pki.sa_key}",
            f"--root-ca-file={self._pki.ca_cert}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--use-service-account-credentials=false",
        ]

    def _scheduler_args(self) -> list[str]:
        assert self._ports is not None
        return self._component_common_args(self._ports.scheduler)

    def _kwok_args(self) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--config={self.workdir / 'kwok.yaml'}",
            f"--manage-single-node={self.node_name}",
            f"--cidr={self.pod_cidr}",  # fallback only: the node's spec.podCIDR wins
            f"--node-ip={LOOPBACK}",
            "--node-lease-duration-seconds=40",
        ]

    def _create_node(self) -> None:
        status, body = self.api("POST", "/api/v1/nodes", kwok.node_manifest(self.node_name, self.pod_cidr))
        if status not in (201, 409):
            raise DevClusterError(f"creating node {self.node_name} failed ({status}): {body}")

    def _node_ready(self) -> bool:
        status, node = self.api("GET", f"/api/v1/nodes/{self.node_name}")
        if status != 200:
            return False
        conditions = node.get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        # the node lifecycle controller taints not-ready nodes; wait until it lifts them
        blocking = [t for t in node["spec"].get("taints", []) if t["effect"] in ("NoSchedule", "NoExecute")]
        return ready and not blocking


def _decode(raw: bytes) -> Any:
    """JSON if the body is JSON (API objects and Status), else the text."""
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""
