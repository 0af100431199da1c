"""A mini-kubelet for the dev cluster: model-server pods run as local processes on their pod IPs.

kwok marks pods Running and Ready but runs nothing, so by itself the dev cluster has no
data plane. `DataPlane` polls the API server and, for each Running pod whose containers run
the modelops image's ``modelops`` command, does what a kubelet would, locally:

1. materialises the pod's volumes in a per-pod directory (emptyDir: a fresh directory;
   configMap, secret, downwardAPI and projected: files written from the API objects once,
   at start) and rewrites container paths under a volume mount, in args and env values, to
   the local directory (``--dest /models`` becomes ``--dest <pod dir>/volumes/models``);
2. runs the init containers in order, each to completion within `init_timeout`; a failing
   one is reported by `status()` and the pod's servers are not started. ``fetch-model`` gets
   ``--termination-log`` in the pod's directory, and its end (exit code, termination message)
   goes into the pod's ``initContainerStatuses`` as a kubelet reports it;
3. runs each regular container as ``python -m modelops.cli.main <args>`` with the pod's env
   (literal values and ``fieldRef``) and, for ``serve``, ``--host <pod IP>`` appended so
   the server binds the pod's 127.x address on its container port.

Pods of a Job annotated ``kwok.modelops.dev/run-locally`` (kwok leaves those Running)
run to completion instead: ``modelops train`` gets ``--termination-log`` in the pod's
directory, and when every container has exited the data plane reports what a kubelet
would (exit codes, the termination message, phase Succeeded or Failed), so the Job
controller and the operator see a real trainer's real result.

It owns the Ready condition of the pods it runs, as a kubelet does: kwok starts a pod whose
containers declare a ``readinessProbe`` NotReady, and the data plane probes the real local
server as the probe says (httpGet or tcpSocket on the pod IP, loopback only; periodSeconds,
timeoutSeconds, initialDelaySeconds, successThreshold, failureThreshold) and PATCHes the pod's
Ready and ContainersReady conditions through the API; they go False again when probes fail or
a process dies. A probe it cannot run (exec, gRPC, HTTPS, a foreign container) never passes.

Deletion follows a kubelet's termination: the data plane puts its finalizer
(`DATAPLANE_FINALIZER`) on each pod it starts, so kwok cannot remove a deleted pod before its
processes have stopped. A deleted pod goes NotReady at once, runs its ``preStop`` hook
(``sleep`` only; other handlers are logged and skipped), then gets SIGTERM, then SIGKILL when
the grace period (counted from when the deletion was seen) is over; then the finalizer goes and
kwok removes the pod. `stop()` removes the finalizer from every pod, so nothing is left stuck.
A new pod given the IP of a pod that is still stopping (kwok reuses IPs at once) waits for
those processes to end before it starts, as if it had its own network namespace.

It also stops a pod's processes at once when the pod is gone or was replaced (new uid), and
when it is no longer Running. Containers with another command or image are skipped with a
logged reason (so are pods with none runnable); volumes of other types fail the pod with a
clear message. A crashed server is reported, not restarted.

What it is not: a container runtime (no isolation, images, resources, liveness or startup
probes, restarts)
or a network (Services get no endpoints, because Kubernetes refuses loopback addresses in
EndpointSlices; `modelops_devcluster.traffic` routes by reading the API instead). Every
address it serves on or probes is on 127.0.0.0/8; any other pod IP is refused.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import logging
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import httpx

import modelops
from modelops_devcluster.cluster import DevCluster
from modelops_devcluster.kwok import DATAPLANE_FINALIZER, PROBES_PASS_ANNOTATION
from modelops_devcluster.procs import ManagedProcess, keep_workdirs, stop_all, tail
from modelops_devcluster.storage import STORAGE_CLASS, LocalStorage

log = logging.getLogger(__name__)

LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")
READY_PATH = "/v2/health/ready"
MODELOPS_COMMAND = "modelops"
DEFAULT_PORT = 8080
RUN_LOCALLY_ANNOTATION = "kwok.modelops.dev/run-locally"  # a Job pod kwok leaves running for us to run
TERMINATION_MESSAGE_BYTES = 4096  # what a kubelet keeps of /dev/termination-log
DEFAULT_GRACE_SECONDS = 30  # a pod's terminationGracePeriodSeconds when it sets none
GONE_GRACE_SECONDS = 5.0  # SIGTERM to SIGKILL for processes whose pod is gone from the API already
_PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV", "MODELOPS_PVC_ROOT")
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_KEY = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")

# `python -m modelops.cli.main`, except that the child first asks the kernel to SIGKILL it
# when the thread that forked it dies (PR_SET_PDEATHSIG = 1). ManagedProcess only does that
# from the main thread and ours is the poll thread, which outlives every child it starts; so a
# SIGKILLed test run still leaves no server holding a pod IP and port for the next run.
_LAUNCHER = (
    "import ctypes, os, runpy, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(137)\n"
    "sys.argv = ['modelops', *sys.argv[2:]]\n"
    "runpy.run_module('modelops.cli.main', run_name='__main__', alter_sys=True)\n"
)


class DataPlaneError(RuntimeError):
    """A pod could not be run, or did not become ready in time."""


class NonLoopbackError(DataPlaneError, ValueError):
    """An address outside 127.0.0.0/8: the dev data plane never serves on or dials one."""


def require_loopback(ip: str) -> str:
    """Return `ip` if it is on 127.0.0.0/8, else raise NonLoopbackError."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError as error:
        raise NonLoopbackError(f"{ip!r} is not an IP address; only 127.0.0.0/8 is allowed") from error
    if address not in LOOPBACK_NET:
        raise NonLoopbackError(f"refusing {ip}: only 127.0.0.0/8 is allowed in the dev data plane")
    return ip


class _SetupError(Exception):
    """The pod cannot be set up; `retry` when a later poll may succeed (a ConfigMap not created yet)."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class LocalPod:
    """What runs where: one pod's local state, as `pods()` and `status()` report it.

    phase: waiting (volumes not available yet), initializing, running, failed or skipped.
    """

    namespace: str
    name: str
    uid: str
    ip: str
    port: int | None
    labels: Mapping[str, str]
    phase: str
    message: str
    pid: int | None
    ready: bool
    directory: Path

    @property
    def model(self) -> str:
        return self.labels.get("modelops.dev/model", "")

    @property
    def version(self) -> str:
        return self.labels.get("modelops.dev/version", "")

    @property
    def variant(self) -> str:
        return self.labels.get("modelops.dev/variant", "")


@dataclass
class _Command:
    """One container, translated to a local process."""

    container: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    serves: bool  # `modelops serve`: probed for readiness
    termination_log: Path | None = (
        None  # where train/fetch-model write their result (the kubelet's /dev/termination-log)
    )


@dataclass
class _Plan:
    init: list[_Command]
    main: list[_Command]
    port: int | None


class _Process(ManagedProcess):
    """ManagedProcess plus the exit code an init container is judged by."""

    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def started(self) -> bool:
        return self._proc is not None


@dataclass
class _PodRun:
    pod: dict[str, Any]
    directory: Path
    phase: str = "waiting"
    message: str = ""
    plan: _Plan | None = None
    pending_init: list[_Command] = field(default_factory=list)
    init: _Process | None = None
    init_command: _Command | None = None
    init_deadline: float = 0.0
    processes: list[_Process] = field(default_factory=list)
    servers: list[_Process] = field(default_factory=list)
    ready: bool = False  # the server answered its readiness check (what `pods()` reports)
    probes: dict[str, _Prober] = field(default_factory=dict)  # container -> its readiness prober
    finalized: bool = False  # our finalizer is on the pod
    reported_ready: bool | None = None  # the Ready status we last saw or set in the API
    terminating_since: float | None = None
    grace_deadline: float = 0.0
    prestop_until: float = 0.0
    sigterm_sent: bool = False
    sigkill_sent: bool = False

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def ip(self) -> str:
        return str(self.pod.get("status", {}).get("podIP", ""))

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    def alive(self) -> list[_Process]:
        return [p for p in self.processes if p.exit_code() is None and p.started()]

    def snapshot(self) -> LocalPod:
        meta = self.pod["metadata"]
        return LocalPod(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=self.uid,
            ip=self.ip,
            port=self.plan.port if self.plan else None,
            labels=dict(meta.get("labels", {})),
            phase="terminating" if self.terminating_since is not None and self.phase != "terminated" else self.phase,
            message=self.message,
            pid=self.servers[0].pid if self.servers else None,
            ready=self.ready,
            directory=self.directory,
        )


class DataPlane:
    """`with DataPlane(cluster, ["ns"]) as dp: dp.wait_ready(...)`; see the module docstring."""

    def __init__(
        self,
        cluster: DevCluster,
        namespaces: Sequence[str] | None = None,
        *,
        allow_fault_injection: bool = False,
        workdir: Path | None = None,
        init_timeout: float = 60.0,
        poll_interval: float = 0.5,
        storage: bool = True,
    ) -> None:
        self.cluster = cluster
        self._with_storage = storage
        self.storage: LocalStorage | None = None
        self.namespaces = list(namespaces or [])
        self.allow_fault_injection = allow_fault_injection
        self.init_timeout = init_timeout
        self.poll_interval = poll_interval
        self._given_workdir = workdir
        self._workdir: Path | None = None
        self._runs: dict[str, _PodRun] = {}  # by pod uid
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise DataPlaneError("DataPlane is not started")
        return self._workdir

    def start(self) -> DataPlane:
        if self._thread is not None:
            return self
        if self._given_workdir is not None:
            self._given_workdir.mkdir(parents=True, exist_ok=True)
            self._workdir = self._given_workdir
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="modelops-dataplane-"))
        if self._with_storage:  # a default StorageClass and its provisioner, as kind and k3d have
            self.storage = LocalStorage(self.cluster, self.namespaces, self._workdir / "storage")
            self.storage.ensure_class()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="modelops-dataplane", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling; the poll thread stops every process it started before it exits."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=60)
            self._thread = None
        with self._lock:
            runs = list(self._runs.values())
            self._runs.clear()
        stop_all([p for run in runs for p in run.processes], timeout=5.0)  # only if the thread could not
        if runs:
            self._release_all(runs)
        if self._workdir is not None and self._given_workdir is None and not keep_workdirs():
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None

    def __enter__(self) -> DataPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what runs where -------------------------------------------------------------

    def pods(self) -> list[LocalPod]:
        with self._lock:
            return sorted((run.snapshot() for run in self._runs.values()), key=lambda p: (p.namespace, p.name))

    def status(self, name: str, namespace: str | None = None) -> LocalPod | None:
        """The pod called `name` (the one not terminating, if a replacement has the same name)."""
        found = [p for p in self.pods() if p.name == name and namespace in (None, p.namespace)]
        return min(found, key=lambda p: p.phase == "terminating", default=None)

    def logs(self, name: str, namespace: str | None = None, container: str | None = None) -> str:
        """A pod's container logs (all containers, init first, when `container` is None)."""
        pod = self.status(name, namespace)
        if pod is None:
            raise DataPlaneError(f"pod {name} is not run by this data plane")
        parts = []
        for path in sorted((pod.directory / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime):
            if container in (None, path.stem):
                text = path.read_text(errors="replace")
                parts.append(text if container else f"==> {path.stem} <==\n{text}")
        return "\n".join(parts)

    def wait_ready(
        self,
        selector: Mapping[str, str] | str | Sequence[str] | None = None,
        timeout: float = 30.0,
        *,
        count: int | None = None,
        namespace: str | None = None,
    ) -> list[LocalPod]:
        """Wait until the selected pods answer /v2/health/ready with 200 on their pod IP.

        `selector` is a label selector (``{"app": "x"}`` or ``"app=x,tier=y"``) or a list of
        pod names; pods are selected among those this data plane runs. Waits for at least
        `count` pods (default: one, or every name given) and fails fast on a failed pod.
        """
        names, labels = _selection(selector)
        wanted = count if count is not None else (len(names) if names else 1)
        deadline = time.monotonic() + timeout
        while True:
            chosen = [p for p in self.pods() if _selected(p, names, labels, namespace) and p.phase != "terminating"]
            failed = [p for p in chosen if p.phase in ("failed", "skipped")]
            if failed:
                pod = failed[0]
                raise DataPlaneError(f"pod {pod.namespace}/{pod.name} {pod.phase}: {pod.message}")
            ready = [p for p in chosen if p.phase == "running" and (p.ready if p.port is None else _probe(p))]
            if len(ready) >= wanted and len(ready) == len(chosen) and (not names or len(ready) == len(names)):
                return ready
            if time.monotonic() > deadline:
                states = ", ".join(f"{p.name}: {p.phase} {p.message}".strip() for p in chosen) or "none yet"
                raise DataPlaneError(f"{len(ready)}/{wanted} pods ready after {timeout:.0f}s ({states})")
            time.sleep(0.2)

    # -- the poll loop ---------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._sync()
                except Exception:  # the API server may be restarting; keep polling
                    log.exception("data plane poll failed")
                self._stop.wait(self.poll_interval)
        finally:
            with self._lock:
                runs = list(self._runs.values())
                self._runs.clear()
            stop_all([p for run in runs for p in run.processes], timeout=5.0)
            self._release_all(runs)

    def _release_all(self, runs: Sequence[_PodRun]) -> None:
        """Take our finalizer off every pod we ran (and any other carrying it), so nothing stays stuck."""
        for run in runs:
            if run.finalized:
                with contextlib.suppress(Exception):  # the API server may be gone already
                    self._remove_finalizer(run.pod)
        with contextlib.suppress(Exception):
            for pod in self._list_pods():
                if DATAPLANE_FINALIZER in (pod["metadata"].get("finalizers") or []):
                    self._remove_finalizer(pod)

    def _list_pods(self) -> list[dict[str, Any]]:
        paths = [f"/api/v1/namespaces/{ns}/pods" for ns in self.namespaces] or ["/api/v1/pods"]
        pods: list[dict[str, Any]] = []
        for path in paths:
            status, body = self.cluster.api("GET", path)
            if status != 200:
                raise DataPlaneError(f"GET {path} failed ({status}): {body}")
            pods.extend(body.get("items", []))
        return pods

    def _sync(self) -> None:
        if self.storage is not None:
            try:
                self.storage.sync()
            except Exception:  # claims wait for the next poll; pods already running go on
                log.exception("local storage provisioning failed")
        pods = {p["metadata"]["uid"]: p for p in self._list_pods()}
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            pod = pods.get(run.uid)
            if pod is None:  # gone from the API (force-deleted, or a finalizer removed by someone else)
                if run.terminating_since is None:
                    log.info("pod %s gone: stopping its processes", run.name)
                    self._begin_termination(run, GONE_GRACE_SECONDS, prestop=False)
                run.finalized = False
            else:
                run.pod = pod  # labels, IP, deletionTimestamp
                if pod["metadata"].get("deletionTimestamp") and run.terminating_since is None:
                    grace = pod["metadata"].get("deletionGracePeriodSeconds")
                    if grace is None:
                        grace = pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
                    log.info("pod %s deleted: terminating (grace period %ss)", run.name, grace)
                    self._begin_termination(run, float(grace), prestop=True)
                elif pod.get("status", {}).get("phase") != "Running" and run.terminating_since is None:
                    log.info("pod %s is %s: stopping its processes", run.name, pod.get("status", {}).get("phase"))
                    self._begin_termination(run, GONE_GRACE_SECONDS, prestop=False)
            if run.terminating_since is not None:
                self._step_termination(run)
            else:
                self._advance(run)
                self._update_ready(run)
        known = {run.uid for run in runs}
        for uid, pod in pods.items():
            meta = pod["metadata"]
            if uid in known:
                continue
            if meta.get("deletionTimestamp"):
                if DATAPLANE_FINALIZER in (meta.get("finalizers") or []):  # left by a data plane that died
                    self._remove_finalizer(pod)
                continue
            if pod.get("status", {}).get("phase") != "Running":
                continue
            directory = self.workdir / meta["namespace"] / f"{meta['name']}-{uid[:8]}"
            run = _PodRun(pod, directory)
            run.finalized = DATAPLANE_FINALIZER in (meta.get("finalizers") or [])
            with self._lock:
                self._runs[uid] = run
            self._advance(run)
            self._update_ready(run)

    def _advance(self, run: _PodRun) -> None:
        """One step of a pod's lifecycle; never blocks for long (the loop serves every pod)."""
        if run.phase == "waiting":
            self._setup(run)
        if run.phase == "initializing":
            self._step_init(run)
        if run.phase == "running":
            self._check_servers(run)

    def _setup(self, run: _PodRun) -> None:
        if not run.ip:
            run.message = "no pod IP yet"
            return
        holder = self._holder_of(run)
        if holder is not None:  # kwok reuses the IP of a pod that is still stopping
            run.message = f"waiting for pod {holder} to stop serving on {run.ip}"
            return
        try:
            require_loopback(run.ip)
            plan = _Planner(self.cluster, run.pod, run.directory, self.allow_fault_injection, self.storage).plan()
        except NonLoopbackError as error:
            self._finish(run, "failed", str(error))
            return
        except _SetupError as error:
            if error.retry:
                run.message = str(error)
            else:
                self._finish(run, "failed", str(error))
            return
        if not plan.main:
            self._finish(run, "skipped", "no container runs the modelops command")
            return
        if not run.finalized and not self._add_finalizer(run):
            return  # retried on the next poll
        run.plan = plan
        run.probes = _probers(run.pod, {c.container for c in plan.main})
        run.pending_init = list(plan.init)
        run.phase, run.message = "initializing", ""

    def _holder_of(self, run: _PodRun) -> str | None:
        """The name of another pod whose processes still run on `run`'s IP, if any.

        kwok hands a deleted pod's IP to a new pod at once, while the old pod's server may
        still be draining (preStop, grace period): starting the new server then fails to bind,
        where on a real node each pod has its own network namespace.
        """
        with self._lock:
            others = [r for r in self._runs.values() if r.uid != run.uid and r.ip == run.ip]
        return next((r.name for r in others if r.alive()), None)

    def _step_init(self, run: _PodRun) -> None:
        assert run.plan is not None
        if run.init is not None:
            code = run.init.exit_code()
            if code is None:
                if time.monotonic() > run.init_deadline:
                    run.init.stop(timeout=2.0)
                    why = run.init.describe_failure(f"timed out after {self.init_timeout:.0f}s")
                    self._finish(run, "failed", f"init container {why}")
                return
            self._report_init(run, run.init_command, code)
            if code != 0:
                why = run.init.describe_failure(f"exited with code {code}")
                self._finish(run, "failed", f"init container {why}")
                return
            run.init = None
        if run.pending_init:
            command = run.pending_init.pop(0)
            run.init_command = command
            run.init = self._spawn(run, command)
            run.init_deadline = time.monotonic() + _init_timeout(command.argv, self.init_timeout)
            return
        run.servers = [self._spawn(run, c) for c in run.plan.main]
        now = time.monotonic()
        for prober in run.probes.values():
            prober.started(now)
        run.phase, run.message = "running", ""

    def _report_init(self, run: _PodRun, command: _Command | None, code: int) -> None:
        """An init container's end in the pod's status, as a kubelet reports it: exit code, and its
        termination message (fetch-model's reason or report), so the operator reads what a real
        cluster would. kwok's own status says every init container Completed; this replaces it."""
        if command is None or command.termination_log is None:
            return
        message = ""
        if command.termination_log.is_file():
            message = command.termination_log.read_text(errors="replace")[-TERMINATION_MESSAGE_BYTES:]
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "message": message}
        statuses = [
            s
            for s in (run.pod.get("status") or {}).get("initContainerStatuses") or []
            if s.get("name") != command.container
        ]
        statuses.append(
            {
                "name": command.container,
                "ready": code == 0,
                "restartCount": 0,
                "image": "",
                "imageID": "",
                "state": {"terminated": terminated},
            }
        )
        meta = run.pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        body = {"status": {"initContainerStatuses": statuses}}
        status, answer = self.cluster.api("PATCH", path, body, content_type="application/merge-patch+json")
        if status != 200:
            log.warning(
                "pod %s: reporting init container %s failed (%s): %s", meta["name"], command.container, status, answer
            )

    def _check_servers(self, run: _PodRun) -> None:
        if _runs_to_completion(run.pod):
            self._check_job(run)
            return
        for proc in run.servers:
            code = proc.exit_code()
            if code is not None:
                run.ready = False
                self._finish(run, "failed", proc.describe_failure(f"exited with code {code}"))
                return
        if not run.ready:
            pod = run.snapshot()
            run.ready = pod.port is None or _probe(pod)  # nothing serves: running is all there is
        now = time.monotonic()
        for prober in run.probes.values():
            prober.step(now)

    # -- readiness: the pod's Ready condition, as a kubelet sets it ------------------------

    def _update_ready(self, run: _PodRun) -> None:
        """PATCH Ready/ContainersReady when what the pod's containers say differs from the API."""
        wanted = _pod_ready(run)
        if wanted is None:
            return
        current = _condition(run.pod, "Ready")
        if current == wanted and run.reported_ready == wanted:
            return
        if current == wanted:
            run.reported_ready = wanted
            return
        self._patch_ready(run, wanted)

    def _patch_ready(self, run: _PodRun, ready: bool) -> None:
        meta = run.pod["metadata"]
        body = _ready_patch(run.pod, ready, _container_readiness(run), _now_rfc3339())
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        status, answer = self.cluster.api("PATCH", path, body, content_type="application/strategic-merge-patch+json")
        if status == 200:
            run.pod = answer
            run.reported_ready = ready
            log.info("pod %s: Ready=%s", run.name, ready)
        elif status != 404:
            log.warning("pod %s: setting Ready=%s failed (%s): %s", run.name, ready, status, answer)

    # -- termination: preStop, SIGTERM, SIGKILL after the grace period, then the finalizer goes

    def _begin_termination(self, run: _PodRun, grace: float, *, prestop: bool) -> None:
        now = time.monotonic()
        run.terminating_since = now
        run.grace_deadline = now + grace
        run.prestop_until = now
        if run.init is not None:  # an init container is never given a preStop hook
            run.init.terminate()
        if prestop and run.plan is not None:
            running = {c.container for c, p in zip(run.plan.main, run.servers, strict=False) if p.exit_code() is None}
            for container in run.pod["spec"].get("containers", []):
                if container["name"] not in running:
                    continue
                seconds, skipped = _prestop(container)
                if skipped:
                    log.info(
                        "pod %s: preStop %s of container %s skipped (only sleep is run locally)",
                        run.name,
                        skipped,
                        container["name"],
                    )
                run.prestop_until = max(run.prestop_until, now + seconds)
        if run.finalized and run.reported_ready is not False and _condition(run.pod, "Ready") is not False:
            self._patch_ready(run, False)  # out of the endpoints before anything stops

    def _step_termination(self, run: _PodRun) -> None:
        now = time.monotonic()
        alive = run.alive()
        if alive and not run.sigterm_sent and now >= min(run.prestop_until, run.grace_deadline):
            for proc in alive:
                proc.terminate()
            run.sigterm_sent = True
            log.info("pod %s: SIGTERM after %.1fs", run.name, now - (run.terminating_since or now))
        if alive and not run.sigkill_sent and now >= run.grace_deadline:
            for proc in alive:
                proc.kill()
            run.sigkill_sent = True
            log.info("pod %s: grace period over, SIGKILL", run.name)
        if alive:
            return
        for proc in run.processes:
            proc.stop(timeout=1.0)  # reaped already: closes the log, forgets the process
        if run.finalized and not self._remove_finalizer(run.pod):
            return  # retried on the next poll
        run.finalized = False
        run.phase = "terminated"
        with self._lock:
            self._runs.pop(run.uid, None)

    # -- our finalizer ---------------------------------------------------------------------

    def _add_finalizer(self, run: _PodRun) -> bool:
        meta = run.pod["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if DATAPLANE_FINALIZER not in finalizers:
            body = {
                "metadata": {
                    "finalizers": [*finalizers, DATAPLANE_FINALIZER],
                    "resourceVersion": meta["resourceVersion"],
                }
            }
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            status, answer = self.cluster.api("PATCH", path, body, content_type="application/merge-patch+json")
            if status != 200:  # 409: changed since we read it; 422: being deleted
                run.message = f"adding the data plane's finalizer failed ({status}); retrying"
                return False
            run.pod = answer
        run.finalized = True
        return True

    def _remove_finalizer(self, pod: Mapping[str, Any]) -> bool:
        """Remove our finalizer (and only ours); True when it is gone (or the pod is)."""
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        for _ in range(3):
            finalizers = list(meta.get("finalizers") or [])
            if DATAPLANE_FINALIZER not in finalizers:
                return True
            body = {
                "metadata": {
                    "finalizers": [f for f in finalizers if f != DATAPLANE_FINALIZER],
                    "resourceVersion": meta["resourceVersion"],
                }
            }
            status, _ = self.cluster.api("PATCH", path, body, content_type="application/merge-patch+json")
            if status in (200, 404):
                return True
            status, fresh = self.cluster.api("GET", path)
            if status == 404:
                return True
            if status != 200:
                break
            meta = fresh["metadata"]
        log.warning("pod %s: could not remove the data plane's finalizer", meta["name"])
        return False

    def _check_job(self, run: _PodRun) -> None:
        """A Job's pod: when every container has exited, report what a kubelet would (exit codes,
        termination messages, Succeeded or Failed) so the Job controller and the operator see it."""
        assert run.plan is not None
        codes = [proc.exit_code() for proc in run.servers]
        if any(code is None for code in codes):
            return
        statuses = []
        for command, code in zip(run.plan.main, codes, strict=True):
            message = ""
            if command.termination_log is not None and command.termination_log.is_file():
                message = command.termination_log.read_text(errors="replace")[-TERMINATION_MESSAGE_BYTES:]
            statuses.append(
                {
                    "name": command.container,
                    "ready": False,
                    "restartCount": 0,
                    "image": "",
                    "imageID": "",
                    "state": {
                        "terminated": {
                            "exitCode": code,
                            "reason": "Completed" if code == 0 else "Error",
                            "message": message,
                        }
                    },
                }
            )
        phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        meta = run.pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        body = {"status": {"phase": phase, "containerStatuses": statuses}}
        status, answer = self.cluster.api("PATCH", path, body, content_type="application/merge-patch+json")
        if status != 200:
            run.message = f"reporting the pod's end failed ({status}): {answer}"
            return
        self._finish(run, "completed" if phase == "Succeeded" else "failed", f"exit codes {codes}")

    def _spawn(self, run: _PodRun, command: _Command) -> _Process:
        proc = _Process(command.container, command.argv, command.log_path, env=command.env, cwd=command.cwd)
        with self._lock:
            run.processes.append(proc)
        proc.start()
        log.info("pod %s: started %s (pid %d)", run.pod["metadata"]["name"], command.container, proc.pid)
        return proc

    def _finish(self, run: _PodRun, phase: str, message: str) -> None:
        run.phase, run.message = phase, message
        if run.uid not in self._reported:
            self._reported.add(run.uid)
            level = logging.INFO if phase == "completed" else logging.WARNING
            log.log(level, "pod %s %s: %s", run.pod["metadata"]["name"], phase, message)


# -- translating a pod spec --------------------------------------------------------------


class _Planner:
    """Turns one pod's spec into local commands, materialising the volumes they mount."""

    def __init__(
        self,
        cluster: DevCluster,
        pod: dict[str, Any],
        directory: Path,
        fault_injection: bool,
        storage: LocalStorage | None = None,
    ) -> None:
        self.cluster = cluster
        self.storage = storage
        self.pod = pod
        self.meta: dict[str, Any] = pod["metadata"]
        self.spec: dict[str, Any] = pod["spec"]
        self.directory = directory
        self.fault_injection = fault_injection

    def plan(self) -> _Plan:
        init = [c for c in self.spec.get("initContainers", []) if self._runnable(c, "init container")]
        main = [c for c in self.spec.get("containers", []) if self._runnable(c, "container")]
        if not main:
            return _Plan([], [], None)
        volumes = self._volumes({m["name"] for c in (*init, *main) for m in c.get("volumeMounts", [])})
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        commands = [self._command(c, volumes) for c in main]
        serving = [c for c, command in zip(main, commands, strict=True) if command.serves]
        port = _server_port(serving[0]) if serving else None
        return _Plan([self._command(c, volumes) for c in init], commands, port)

    def _runnable(self, container: dict[str, Any], what: str) -> bool:
        if _modelops_args(container) is not None:
            return True
        reason = (
            f"runs {container['command'][0]!r}" if container.get("command") else f"image {container.get('image')!r}"
        )
        log.info(
            "pod %s: skipping %s %s: it %s, not the modelops image's `modelops` command",
            self.meta["name"],
            what,
            container["name"],
            reason,
        )
        return False

    def _command(self, container: dict[str, Any], volumes: Mapping[str, Path]) -> _Command:
        mounts = _mounts(container, volumes)
        env = self._env(container, mounts)
        args = _modelops_args(container) or []
        args = [_rewrite_arg(_expand(a, env), mounts) for a in args]
        serves = bool(args) and args[0] == "serve"
        if serves:
            args += ["--host", self.pod["status"]["podIP"]]
            if self.fault_injection:
                args.append("--allow-fault-injection")
        termination_log = None
        if args and args[0] in {"train", "fetch-model"} and "--termination-log" not in args:
            termination_log = self.directory / f"termination-log-{container['name']}"
            args += ["--termination-log", str(termination_log)]
        argv = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args]
        log_path = self.directory / "logs" / f"{container['name']}.log"
        return _Command(container["name"], argv, env, self.directory, log_path, serves, termination_log)

    def _env(self, container: dict[str, Any], mounts: Sequence[tuple[str, Path]]) -> dict[str, str]:
        if container.get("envFrom"):
            raise _SetupError(f"container {container['name']}: envFrom is not supported by the local data plane")
        defined: dict[str, str] = {}
        for var in container.get("env", []):
            if "valueFrom" in var:
                source = var["valueFrom"]
                keyed = [
                    (r, k) for r, k in (("secrets", "secretKeyRef"), ("configmaps", "configMapKeyRef")) if k in source
                ]
                if keyed:  # as the kubelet does: a missing optional key leaves the variable unset
                    resource, kind = keyed[0]
                    ref = source[kind]
                    value = (self._source(resource, ref) or {}).get(ref["key"])
                    if value is None and not ref.get("optional"):
                        raise _SetupError(f"{kind} {ref['name']}/{ref['key']} not available", retry=True)
                    if value is not None:
                        defined[var["name"]] = value.decode()
                    continue
                ref = source.get("fieldRef")
                if ref is None:
                    kinds = ", ".join(source)
                    raise _SetupError(
                        f"container {container['name']}: env {var['name']} uses {kinds}; the local data plane "
                        "supports literal values, fieldRef, secretKeyRef and configMapKeyRef"
                    )
                defined[var["name"]] = self._field(ref["fieldPath"])
            else:
                defined[var["name"]] = _rewrite_path(_expand(var.get("value", ""), defined), mounts)
        package_root = str(Path(modelops.__file__).resolve().parent.parent)
        base = {k: os.environ[k] for k in _PASSTHROUGH_ENV if k in os.environ}
        base["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        base.update(HOME=str(self.directory), HOSTNAME=self.meta["name"], PYTHONUNBUFFERED="1")
        return {**base, **defined}

    def _field(self, path: str) -> str:
        simple = {
            "metadata.name": self.meta["name"],
            "metadata.namespace": self.meta["namespace"],
            "metadata.uid": self.meta["uid"],
            "spec.nodeName": self.spec.get("nodeName", ""),
            "spec.serviceAccountName": self.spec.get("serviceAccountName", ""),
            "status.podIP": self.pod["status"].get("podIP", ""),
            "status.hostIP": self.pod["status"].get("hostIP", ""),
        }
        if path in simple:
            return str(simple[path])
        keyed = _FIELD_KEY.fullmatch(path)
        if keyed:
            return str(self.meta.get(keyed.group(1), {}).get(keyed.group(2), ""))
        raise _SetupError(f"fieldRef {path!r} is not supported by the local data plane")

    # volumes

    def _volumes(self, used: set[str]) -> dict[str, Path]:
        local: dict[str, Path] = {}
        for volume in self.spec.get("volumes", []):
            name = volume["name"]
            if name not in used:
                continue
            target = self.directory / "volumes" / name
            if "emptyDir" in volume:
                target.mkdir(parents=True, exist_ok=True)
            elif "configMap" in volume:
                self._write(target, self._source("configmaps", volume["configMap"]), volume["configMap"])
            elif "secret" in volume:
                source = {**volume["secret"], "name": volume["secret"]["secretName"]}
                self._write(target, self._source("secrets", source), source)
            elif "downwardAPI" in volume:
                self._write(target, self._downward(volume["downwardAPI"]), {})
            elif "projected" in volume:
                self._projected(target, volume["projected"])
            elif "persistentVolumeClaim" in volume:
                target = self._claim(volume["persistentVolumeClaim"]["claimName"])
            else:
                kind = next((k for k in volume if k != "name"), "unknown")
                raise _SetupError(
                    f"volume {name} is of type {kind}; the local data plane supports emptyDir, configMap, "
                    "secret, downwardAPI, projected and persistentVolumeClaim volumes"
                )
            local[name] = target
        missing = used - set(local)
        if missing:
            raise _SetupError(f"volume mounts name undefined volumes {sorted(missing)}")
        return local

    def _claim(self, claim: str) -> Path:
        """The local directory of a bound claim: its volume's, shared by every pod that mounts it.

        As a kubelet does, it waits (retries) while the claim is missing or not Bound yet; a claim
        bound to a volume that is not one of the local provisioner's directories fails the pod.
        """
        namespace = self.meta["namespace"]
        status, pvc = self.cluster.api("GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
        if status == 404:
            raise _SetupError(f"persistentVolumeClaim {claim} not found", retry=True)
        if status != 200:
            raise _SetupError(f"persistentVolumeClaim {claim} not available ({status})", retry=True)
        phase = (pvc.get("status") or {}).get("phase")
        volume = pvc["spec"].get("volumeName")
        if phase != "Bound" or not volume:
            raise _SetupError(f"persistentVolumeClaim {claim} is {phase or 'Pending'}, not Bound yet", retry=True)
        status, pv = self.cluster.api("GET", f"/api/v1/persistentvolumes/{volume}")
        if status != 200:
            raise _SetupError(f"persistentVolume {volume} of claim {claim} not available ({status})", retry=True)
        path = (pv["spec"].get("hostPath") or pv["spec"].get("local") or {}).get("path")
        if not path or self.storage is None or not self.storage.owns(Path(path)):
            raise _SetupError(
                f"persistentVolumeClaim {claim} is bound to {volume}, which is not a local directory of the "
                f"data plane's provisioner (StorageClass {STORAGE_CLASS})"
            )
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        return target

    def _source(self, resource: str, ref: Mapping[str, Any]) -> dict[str, bytes] | None:
        """The data of a ConfigMap or Secret (None if optional and missing)."""
        path = f"/api/v1/namespaces/{self.meta['namespace']}/{resource}/{ref['name']}"
        status, body = self.cluster.api("GET", path)
        if status == 404 and ref.get("optional"):
            return None
        if status != 200:
            raise _SetupError(f"{resource[:-1]} {ref['name']} not available ({status})", retry=True)
        if resource == "secrets":
            return {k: base64.b64decode(v) for k, v in body.get("data", {}).items()}
        data = {k: v.encode() for k, v in body.get("data", {}).items()}
        data.update({k: base64.b64decode(v) for k, v in body.get("binaryData", {}).items()})
        return data

    def _write(self, target: Path, data: Mapping[str, bytes] | None, ref: Mapping[str, Any]) -> None:
        target.mkdir(parents=True, exist_ok=True)
        if data is None:
            return
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                if ref.get("optional"):
                    continue
                raise _SetupError(f"{ref.get('name', 'volume')} has no key {item['key']!r}")
            path = _inside(target, item["path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[item["key"]])

    def _downward(self, source: Mapping[str, Any]) -> dict[str, bytes]:
        data = {}
        for item in source.get("items", []):
            if "fieldRef" not in item:
                raise _SetupError(f"downwardAPI item {item['path']}: only fieldRef is supported locally")
            data[item["path"]] = self._field(item["fieldRef"]["fieldPath"]).encode()
        return data

    def _projected(self, target: Path, projected: Mapping[str, Any]) -> None:
        target.mkdir(parents=True, exist_ok=True)
        for source in projected.get("sources", []):
            if "configMap" in source:
                self._write(target, self._source("configmaps", source["configMap"]), source["configMap"])
            elif "secret" in source:
                self._write(target, self._source("secrets", source["secret"]), source["secret"])
            elif "downwardAPI" in source:
                self._write(target, self._downward(source["downwardAPI"]), {})
            elif "serviceAccountToken" in source:
                # no token: in-cluster API access would mean dialling the kubernetes Service's
                # ClusterIP, which the dev data plane never does
                log.info("pod %s: service-account token not materialised locally", self.meta["name"])
            else:
                raise _SetupError(f"projected volume source {sorted(source)} is not supported locally")


# -- pure helpers ------------------------------------------------------------------------


def _init_timeout(argv: Sequence[str], timeout: float) -> float:
    """How long an init container may run: `timeout`, except `fetch-model --wait`, which waits for a
    file another pod writes (a training Job into a claim) and, as on a kubelet, has no deadline;
    it stops with its pod."""
    return math.inf if "fetch-model" in argv and "--wait" in argv else timeout


def _runs_to_completion(pod: Mapping[str, Any]) -> bool:
    """A Job's pod that kwok leaves to us (annotated run-locally): its containers run to the end."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return RUN_LOCALLY_ANNOTATION in annotations


def _modelops_args(container: Mapping[str, Any]) -> list[str] | None:
    """The `modelops` arguments a container runs, or None if it runs something else.

    Either the command is `modelops` (any directory), or there is no command and the image is
    the modelops image, whose entrypoint is `modelops`.
    """
    command = list(container.get("command") or [])
    args = [str(a) for a in container.get("args") or []]
    if command:
        if PurePosixPath(command[0]).name != MODELOPS_COMMAND:
            return None
        return [*command[1:], *args]
    image = str(container.get("image", "")).split("@")[0]
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return args if repository.rsplit("/", 1)[-1] == MODELOPS_COMMAND else None


def _server_port(container: Mapping[str, Any]) -> int:
    ports = [p for p in container.get("ports", []) if p.get("protocol", "TCP") == "TCP"]
    named = [p for p in ports if p.get("name") == "http"]
    if named or ports:
        return int((named or ports)[0]["containerPort"])
    args = _modelops_args(container) or []
    for i, arg in enumerate(args):
        if arg == "--port" and i + 1 < len(args):
            return int(args[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return DEFAULT_PORT


def _mounts(container: Mapping[str, Any], volumes: Mapping[str, Path]) -> list[tuple[str, Path]]:
    """(mount path, local path) pairs, longest mount path first so nested mounts win."""
    pairs = []
    for mount in container.get("volumeMounts", []):
        local = volumes[mount["name"]]
        if mount.get("subPath"):
            local = _inside(local, mount["subPath"])
        pairs.append((mount["mountPath"].rstrip("/") or "/", local))
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def _rewrite_path(value: str, mounts: Sequence[tuple[str, Path]]) -> str:
    """A container path under a volume mount, as the local path; anything else unchanged."""
    for mount_path, local in mounts:
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(local) + value[len(mount_path) :]
    return value


def _rewrite_arg(arg: str, mounts: Sequence[tuple[str, Path]]) -> str:
    if arg.startswith("-") and "=" in arg:
        option, value = arg.split("=", 1)
        return f"{option}={_rewrite_path(value, mounts)}"
    return _rewrite_path(arg, mounts)


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are substituted, $$ escapes, others stay."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR_REF.sub(substitute, value)


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise _SetupError(f"path {relative!r} escapes its volume")
    return path


def _selection(selector: Mapping[str, str] | str | Sequence[str] | None) -> tuple[set[str], dict[str, str]]:
    """(pod names, labels) from a name list, a label dict or an equality-based selector string."""
    if selector is None:
        return set(), {}
    if isinstance(selector, Mapping):
        return set(), dict(selector)
    if isinstance(selector, str):
        labels = {}
        for term in filter(None, (t.strip() for t in selector.split(","))):
            key, sep, value = term.replace("==", "=").partition("=")
            if not sep or "!" in key:
                raise ValueError(f"only equality selectors are supported, got {term!r}")
            labels[key.strip()] = value.strip()
        return set(), labels
    return set(selector), {}


def _selected(pod: LocalPod, names: Iterable[str], labels: Mapping[str, str], namespace: str | None) -> bool:
    names = set(names)
    return (
        namespace in (None, pod.namespace)
        and (not names or pod.name in names)
        and all(pod.labels.get(k) == v for k, v in labels.items())
    )


def _probe(pod: LocalPod) -> bool:
    """GET /v2/health/ready on the pod IP (loopback only); a fresh connection, so any thread may call it."""
    if pod.port is None or not pod.ip:
        return False
    url = f"http://{require_loopback(pod.ip)}:{pod.port}{READY_PATH}"
    try:
        return httpx.get(url, timeout=0.5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def log_tail(pod: LocalPod, container: str = "model", lines: int = 40) -> str:
    """The last lines of one container's log, for failure messages."""
    return tail(pod.directory / "logs" / f"{container}.log", lines)


# -- readiness probes and termination: pure helpers ----------------------------------------


@dataclass
class _Prober:
    """One container's readiness probe, as a kubelet runs it: Failure until `success_threshold`
    consecutive successes, Failure again after `failure_threshold` consecutive failures; the
    first probe `initial_delay` after the container started, then one every `period`.

    `check` is None when the probe cannot be run locally (`why` says so): it never passes.
    """

    container: str
    check: Callable[[], bool] | None
    why: str = ""
    period: float = 10.0
    initial_delay: float = 0.0
    success_threshold: int = 1
    failure_threshold: int = 3
    ready: bool = False
    successes: int = 0
    failures: int = 0
    next_at: float = math.inf  # not started yet

    def started(self, now: float) -> None:
        self.next_at = now + self.initial_delay

    def step(self, now: float) -> bool:
        """Probe if one is due; returns whether the container is ready."""
        if self.check is None or now < self.next_at:
            return self.ready
        self.next_at = now + self.period
        if self.check():
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.ready = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.failure_threshold:
                self.ready = False
        return self.ready


def _probes_pass(pod: Mapping[str, Any]) -> bool:
    """The pod asks kwok to play a kubelet whose probes pass at once (tests without a data plane)."""
    return (pod["metadata"].get("annotations") or {}).get(PROBES_PASS_ANNOTATION) == "true"


def _owns_ready(pod: Mapping[str, Any]) -> bool:
    """kwok left Ready to a prober: some container declares a readinessProbe."""
    return not _probes_pass(pod) and any("readinessProbe" in c for c in pod["spec"].get("containers", []))


def _probers(pod: Mapping[str, Any], runnable: Iterable[str]) -> dict[str, _Prober]:
    """A prober per runnable container with a readinessProbe (none when the pod says probes pass)."""
    if _probes_pass(pod):
        return {}
    runnable = set(runnable)
    out = {}
    for container in pod["spec"].get("containers", []):
        if "readinessProbe" in container and container["name"] in runnable:
            out[container["name"]] = _prober(container, str(pod.get("status", {}).get("podIP", "")))
    return out


def _prober(container: Mapping[str, Any], pod_ip: str) -> _Prober:
    probe = container["readinessProbe"]
    timing = {
        "period": float(probe.get("periodSeconds", 10)),
        "initial_delay": float(probe.get("initialDelaySeconds", 0)),
        "success_threshold": int(probe.get("successThreshold", 1)),
        "failure_threshold": int(probe.get("failureThreshold", 3)),
    }
    timeout = float(probe.get("timeoutSeconds", 1))
    name = container["name"]
    handler = probe.get("httpGet") or probe.get("tcpSocket")
    if handler is None:
        kind = next((k for k in ("exec", "grpc") if k in probe), "unknown")
        return _Prober(name, None, f"{kind} probes cannot run locally", **timing)  # type: ignore[arg-type]
    port = _named_port(container, handler.get("port"))
    host = handler.get("host") or pod_ip
    try:
        require_loopback(host)
    except NonLoopbackError as error:
        return _Prober(name, None, str(error), **timing)  # type: ignore[arg-type]
    if port is None:
        return _Prober(name, None, f"probe port {handler.get('port')!r} is not a port of the container", **timing)  # type: ignore[arg-type]
    if "httpGet" in probe:
        if str(handler.get("scheme", "HTTP")).upper() != "HTTP":
            return _Prober(name, None, "HTTPS probes are not run locally", **timing)  # type: ignore[arg-type]
        path = str(handler.get("path", "/"))
        url = f"http://{host}:{port}{path if path.startswith('/') else '/' + path}"
        headers = {h["name"]: h["value"] for h in handler.get("httpHeaders", [])}
        return _Prober(name, lambda: _http_ok(url, headers, timeout), **timing)  # type: ignore[arg-type]
    return _Prober(name, lambda: _tcp_ok(host, port, timeout), **timing)  # type: ignore[arg-type]


def _named_port(container: Mapping[str, Any], port: Any) -> int | None:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    return None


def _http_ok(url: str, headers: Mapping[str, str], timeout: float) -> bool:
    """A kubelet's HTTP probe: any 2xx or 3xx within the timeout (loopback only, no proxy)."""
    try:
        code = httpx.get(url, headers=dict(headers), timeout=timeout, trust_env=False).status_code
    except httpx.HTTPError:
        return False
    return 200 <= code < 400


def _tcp_ok(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((require_loopback(host), port), timeout=timeout):
            return True
    except OSError:
        return False


def _container_readiness(run: _PodRun) -> dict[str, bool]:
    """Each container's ready flag: its probe (if it has one), else whether its process runs."""
    running = {}
    if run.plan is not None and run.phase == "running":
        running = {c.container: p.exit_code() is None for c, p in zip(run.plan.main, run.servers, strict=False)}
    probes_pass = _probes_pass(run.pod)
    out = {}
    for container in run.pod["spec"].get("containers", []):
        name = container["name"]
        if name in running:
            prober = run.probes.get(name)
            out[name] = running[name] and (prober is None or prober.ready)
        elif run.plan is not None and any(c.container == name for c in run.plan.main):
            out[name] = False  # ours, but not running (yet, or any more)
        else:  # a container the data plane skips: nothing probes it
            out[name] = probes_pass or "readinessProbe" not in container
    return out


def _pod_ready(run: _PodRun) -> bool | None:
    """The Ready status the pod should have, or None where the data plane leaves it as kwok set it."""
    if run.terminating_since is not None or run.phase == "failed":
        return False if run.finalized or run.phase == "failed" else None
    if run.phase in ("waiting", "initializing"):
        return False if _owns_ready(run.pod) else None
    if run.phase == "running" and not _runs_to_completion(run.pod):
        return all(_container_readiness(run).values())
    return None


def _condition(pod: Mapping[str, Any], kind: str) -> bool | None:
    for condition in pod.get("status", {}).get("conditions", []):
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return None


def _ready_patch(pod: Mapping[str, Any], ready: bool, containers: Mapping[str, bool], now: str) -> dict[str, Any]:
    """A strategic-merge patch of the pod's status: Ready and ContainersReady (merged by type),
    and the containers' ready flags (containerStatuses is atomic: the whole list, as it is, but ready)."""
    unready = sorted(name for name, ok in containers.items() if not ok) if not ready else []
    extra: dict[str, Any] = {"reason": None, "message": None}
    if not ready:
        extra = {"reason": "ContainersNotReady", "message": f"containers with unready status: [{' '.join(unready)}]"}
        if pod["metadata"].get("deletionTimestamp"):
            extra = {"reason": "PodTerminating", "message": "the pod is terminating"}
    status = "True" if ready else "False"
    conditions = [
        {"type": kind, "status": status, "lastTransitionTime": now, **extra} for kind in ("Ready", "ContainersReady")
    ]
    body: dict[str, Any] = {"status": {"conditions": conditions}}
    statuses = pod.get("status", {}).get("containerStatuses")
    if statuses:
        body["status"]["containerStatuses"] = [
            {**s, "ready": containers.get(s.get("name", ""), ready)} for s in statuses
        ]
    return body


def _now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prestop(container: Mapping[str, Any]) -> tuple[float, str]:
    """(seconds the preStop hook sleeps, the kind of a hook that is not run locally, else '')."""
    hook = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in hook:
        return float(hook["sleep"].get("seconds", 0)), ""
    return 0.0, next(iter(hook), "")
