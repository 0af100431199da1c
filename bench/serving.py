#!/usr/bin/env python3
"""Serving benchmark: `modelops serve` (telemetry on/off, numpy-linear and scikit-learn) against MLServer.

    .venv/bin/python bench/serving.py [--duration 10] [--connections 8] [--skip-mlserver]

One run, one machine, one 20-feature logistic model, batch 1 and batch 32, for four targets:

  a  modelops serve, numpy-linear model, telemetry on (20-feature baseline: every histogram live)
  b  the same with --no-telemetry
  c  modelops serve, the equivalent scikit-learn LogisticRegression (joblib), telemetry on
  d  MLServer + mlserver-sklearn serving that same joblib file over its V2 REST endpoint

Every target is a subprocess this script starts and stops (its own process group, stopped on
error and Ctrl-C too), pinned to one core with the load generator (`wrk`, one Lua script POSTing
64 different bodies in turn: a server sees different rows in every request, as in production,
and work that depends on the data is not flattered by repeats) pinned to another. Before
measuring, each target must answer every body with HTTP 200 and the scikit-learn model's
probabilities (within 1e-6). MLServer lives in its own
virtualenv (bench/.venv-mlserver, created on first use) because its dependencies pin versions
ours do not. Results: a table on stdout and bench/results/serving-<date>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
MLSERVER_VENV = BENCH / ".venv-mlserver"
MLSERVER_VERSION = "1.7.1"  # mlserver and mlserver-sklearn, pinned; scikit-learn/joblib match the project venv
MODEL = "bench"
VERSION = "v1"
N_FEATURES = 20
BATCHES = (1, 32)
BODIES = 64  # distinct request bodies per batch size, sent in turn
TOLERANCE = 1e-6
WRK_THREADS = 1
TELEMETRY_GOAL_PCT = 10.0  # telemetry may cost at most this much throughput
IN_PROCESS_PAIRS = 15  # telemetry on/off pairs of the in-process figure
READY_TIMEOUT = 120.0
# every server gets the same environment: one BLAS/OpenMP thread (they are pinned to one core anyway)
SERVER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


class BenchError(RuntimeError):
    """A target that cannot be benchmarked; the message says why."""


# ---- artifacts -----------------------------------------------------------------------------


@dataclass
class Artifacts:
    npz: Path
    joblib: Path
    baseline: Path
    bodies: dict[int, list[Path]]  # batch -> BODIES request body files
    expected: dict[int, list[npt.NDArray[np.float64]]]  # batch -> sklearn predict_proba[:, 1] of each body


def build_artifacts(workdir: Path) -> Artifacts:
    """A LogisticRegression fitted on 20 numeric features, the same weights as a numpy-linear model, a baseline."""
    import joblib
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    from modelops.models.base import FeatureSpec, Signature
    from modelops.models.numpy_linear import NumpyLinearModel
    from modelops.train import baseline as baseline_mod
    from modelops.train.dataset import Dataset, generate

    train = generate(20_000, seed=0, n_numeric=N_FEATURES)
    # sklearn fitted on a plain array names its inputs f0..f19; the numpy-linear model uses the same names,
    # so one baseline (and the same request bodies) fits every target
    names = [f"f{i}" for i in range(N_FEATURES)]
    estimator = LogisticRegression(max_iter=1000).fit(train.numeric, train.labels)
    joblib_path = workdir / "model.joblib"
    joblib.dump(estimator, joblib_path)
    linear = NumpyLinearModel(
        Signature(tuple(FeatureSpec(n) for n in names), task="binary"),
        means=np.zeros(N_FEATURES),
        scales=np.ones(N_FEATURES),
        coef=np.asarray(estimator.coef_[0], dtype=np.float64),
        intercept=float(estimator.intercept_[0]),
    )
    npz_path = workdir / "model.npz"
    linear.save(npz_path)
    reference = Dataset(names, train.numeric, {}, train.labels)
    baseline = baseline_mod.build(reference, estimator.predict_proba(train.numeric)[:, 1], model=MODEL, version=VERSION)
    baseline_path = workdir / "baseline.json"
    baseline_path.write_text(json.dumps(baseline.wire()))

    test = generate(max(BATCHES) * BODIES, seed=1, n_numeric=N_FEATURES)
    bodies: dict[int, list[Path]] = {}
    expected: dict[int, list[npt.NDArray[np.float64]]] = {}
    for batch in BATCHES:
        bodies[batch], expected[batch] = [], []
        for k in range(BODIES):
            rows = test.numeric[k * batch : (k + 1) * batch]
            # one [N, 20] FP64 tensor, row-major: both servers take it, and MLServer's default codec decodes it
            doc = {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [batch, N_FEATURES],
                        "datatype": "FP64",
                        "data": rows.reshape(-1).tolist(),
                    }
                ]
            }
            path = workdir / f"body-{batch}-{k}.json"
            path.write_text(json.dumps(doc))
            bodies[batch].append(path)
            expected[batch].append(np.asarray(estimator.predict_proba(rows)[:, 1], dtype=np.float64))
    return Artifacts(npz_path, joblib_path, baseline_path, bodies, expected)


# ---- MLServer's virtualenv -------------------------------------------------------------------


def _venv_versions(python: Path, packages: Sequence[str]) -> dict[str, str | None]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(p):\n"
        "    try:\n        return m.version(p)\n"
        "    except m.PackageNotFoundError:\n        return None\n"
        "print(json.dumps({p: v(p) for p in sys.argv[1:]}))"
    )
    out = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True, check=True)
    found: dict[str, str | None] = json.loads(out.stdout)
    return found


def ensure_mlserver() -> dict[str, str]:
    """bench/.venv-mlserver with pinned mlserver + mlserver-sklearn and our scikit-learn/joblib/httptools versions.

    scikit-learn and joblib must match the project venv so the pickle loads as written; httptools is
    installed so MLServer's uvicorn parses HTTP with the same parser as ours (it falls back to h11
    without it, which would compare parsers rather than servers).
    """
    wanted = {
        "mlserver": MLSERVER_VERSION,
        "mlserver-sklearn": MLSERVER_VERSION,
        "scikit-learn": importlib.metadata.version("scikit-learn"),
        "joblib": importlib.metadata.version("joblib"),
        "httptools": importlib.metadata.version("httptools"),
    }
    python = MLSERVER_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {MLSERVER_VENV.relative_to(ROOT)} (first run only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
    if _venv_versions(python, list(wanted)) != wanted:
        pins = [f"{name}=={version}" for name, version in wanted.items()]
        print(f"installing into {MLSERVER_VENV.relative_to(ROOT)}: {' '.join(pins)}", flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
            check=True,
            timeout=1200,
        )
        found = _venv_versions(python, list(wanted))
        if found != wanted:
            raise BenchError(f"{MLSERVER_VENV}: wanted {wanted}, pip left {found}")
    return wanted


# ---- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Pinning:
    server: list[str]  # command prefix
    wrk: list[str]
    note: str


def pinning() -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    if taskset and len(cpus) >= 2:
        note = f"server pinned to CPU {cpus[0]}, wrk to CPU {cpus[1]} (taskset)"
        return Pinning([taskset, "-c", str(cpus[0])], [taskset, "-c", str(cpus[1])], note)
    why = "taskset not found" if not taskset else f"only {len(cpus)} CPU(s) available"
    return Pinning([], [], f"not pinned ({why}): server and wrk share the CPUs")


@dataclass
class Target:
    key: str
    label: str
    command: list[str]
    port: int
    cwd: Path
    threshold: float = TOLERANCE
    notes: list[str] = field(default_factory=list)

    @property
    def infer_path(self) -> str:
        return f"/v2/models/{MODEL}/infer"


class Server:
    """A target process in its own process group: stop() ends the group, on any exit path."""

    def __init__(self, target: Target, prefix: list[str], log: Path) -> None:
        self.target = target
        self.log = log
        env = {**os.environ, **SERVER_ENV}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*prefix, *target.command],
                cwd=target.cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.target.label} exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = http_request(self.target.port, "GET", f"/v2/models/{MODEL}/ready", timeout=2)
                if status == 200:
                    return time.monotonic() - started
            time.sleep(0.2)
        raise BenchError(f"{self.target.label} not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        # anything left in the group (a worker the server spawned) goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def running(target: Target, prefix: list[str], log: Path) -> Iterator[Server]:
    server = Server(target, prefix, log)
    try:
        yield server
    finally:
        server.stop()


def http_request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scores_of(document: dict[str, Any], rows: int) -> npt.NDArray[np.float64]:
    """The positive-class probabilities in a V2 response: modelops sends [N], MLServer's predict_proba [N, 2]."""
    output = document["outputs"][0]
    data = np.asarray(output["data"], dtype=np.float64)
    shape = output.get("shape") or [rows]
    if len(shape) == 2 and shape[1] == 2:
        return np.asarray(data.reshape(rows, 2)[:, 1], dtype=np.float64)
    return np.asarray(data.reshape(rows), dtype=np.float64)


def verify(target: Target, bodies: Sequence[Path], expected: Sequence[npt.NDArray[np.float64]]) -> float:
    """One request per body: HTTP 200 and the reference predictions, else BenchError. Returns the max abs difference."""
    worst = 0.0
    for body, want in zip(bodies, expected, strict=True):
        status, payload = http_request(target.port, "POST", target.infer_path, body.read_bytes())
        if status != 200:
            raise BenchError(f"{target.label}: HTTP {status} for {body.name}: {payload[:500]!r}")
        try:
            got = scores_of(json.loads(payload), len(want))
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise BenchError(f"{target.label}: unexpected response {payload[:500]!r}: {error}") from error
        diff = float(np.max(np.abs(got - want)))
        if not diff <= target.threshold:
            raise BenchError(
                f"{target.label}: predictions for {body.name} differ from scikit-learn's by {diff:.3g} "
                f"(> {target.threshold})"
            )
        worst = max(worst, diff)
    return worst


# ---- wrk ---------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and not any(self.socket_errors.values())


_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUM = r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)"


def parse_wrk(text: str) -> WrkResult:
    """wrk 4's report with --latency."""

    def seconds(number: str, unit: str) -> float:
        return float(number) * _UNITS_S[unit]

    percentiles = {
        int(p): seconds(n, u) * 1e3 for p, n, u in re.findall(rf"^\s+(50|75|90|99)%\s+{_NUM}\s*$", text, re.M)
    }
    total = re.search(rf"^\s+(\d+) requests in {_NUM}", text, re.M)
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if total is None or rate is None or len(percentiles) != 4:
        raise BenchError(f"cannot parse wrk's output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)) if errors else {}
    )
    return WrkResult(
        requests=int(total.group(1)),
        seconds=seconds(total.group(2), total.group(3)),
        requests_per_s=float(rate.group(1)),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def lua_script(bodies: Sequence[Path], directory: Path, name: str) -> Path:
    """A wrk script that POSTs the bodies in turn, one per request."""
    script = directory / f"{name}.lua"
    paths = ", ".join(f"[==[{body}]==]" for body in bodies)
    script.write_text(
        "local bodies = {}\n"
        f"for _, path in ipairs({{{paths}}}) do\n"
        '  local f = assert(io.open(path, "rb"))\n'
        '  bodies[#bodies + 1] = f:read("*a")\n'
        "  f:close()\n"
        "end\n"
        'local headers = {["Content-Type"] = "application/json"}\n'
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #bodies + 1\n"
        '  return wrk.format("POST", nil, headers, bodies[i])\n'
        "end\n"
    )
    return script


def run_wrk(port: int, path: str, script: Path, *, duration: int, connections: int, prefix: list[str]) -> WrkResult:
    load = [f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    command = [*prefix, "wrk", *load, "-s", str(script), f"http://127.0.0.1:{port}{path}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


def load_target(target: Target, script: Path, duration: int, args: argparse.Namespace, pins: Pinning) -> WrkResult:
    """One wrk run against a target with the run's connections and CPU pinning."""
    return run_wrk(
        target.port, target.infer_path, script, duration=duration, connections=args.connections, prefix=pins.wrk
    )


# ---- the run -----------------------------------------------------------------------------


def modelops_target(key: str, label: str, model: Path, baseline: Path, cwd: Path, *extra: str) -> Target:
    port = free_port()
    modelops = Path(sys.executable).with_name("modelops")
    command = [str(modelops)] if modelops.exists() else [sys.executable, "-m", "modelops.cli.main"]
    command += ["serve", "--model", str(model), "--baseline", str(baseline), "--name", MODEL, "--version", VERSION]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra]
    return Target(key, label, command, port, cwd)


def mlserver_target(artifacts: Artifacts, workdir: Path, workers: int) -> Target:
    """A model repository with settings.json + model-settings.json; REST, gRPC and metrics on loopback ports."""
    repo = workdir / "mlserver"
    (repo / MODEL).mkdir(parents=True)
    shutil.copy(artifacts.joblib, repo / MODEL / "model.joblib")
    port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    settings = {
        "debug": False,  # MLServer's default (True) writes an access-log line per request
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "metrics_dir": str(workdir / "mlserver-metrics"),
        "environments_dir": str(workdir / "mlserver-envs"),
        "parallel_workers": workers,
        "load_models_at_startup": True,
    }
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": VERSION, "extra": {"predict_fn": "predict_proba"}},
    }
    (repo / "settings.json").write_text(json.dumps(settings, indent=2))
    (repo / MODEL / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    how = "in the server process" if workers == 0 else f"in {workers} worker process(es) beside the server"
    notes = [
        f"parallel_workers={workers} (inference {how})",
        f"gRPC on 127.0.0.1:{grpc_port} and Prometheus metrics on 127.0.0.1:{metrics_port} left on (MLServer's "
        "defaults, the counterpart of modelops telemetry); access log off (debug=false)",
        "model-settings predict_fn=predict_proba, so it returns [N, 2] probabilities",
    ]
    command = [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(repo)]
    return Target("d", f"MLServer {MLSERVER_VERSION} sklearn", command, port, workdir, notes=notes)


@dataclass
class Row:
    target: str
    key: str
    batch: int
    requests_per_s: float
    rows_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: dict[str, int]
    valid: bool
    round: int = 1
    loadavg_before: float = 0.0  # 1-minute load average just before the measured run: other work on the machine


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n", 1)[0]
    return {
        "nproc": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version.strip(),
    }


def package_versions(names: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def measure(
    target: Target,
    artifacts: Artifacts,
    pins: Pinning,
    workdir: Path,
    args: argparse.Namespace,
    *,
    round_: int,
    batches: Sequence[int],
) -> tuple[list[Row], dict[str, Any], dict[int, str]]:
    """Start the target, and per batch: verify one request, warm up, measure, verify again; stop it.

    A batch whose verification fails is not measured (its error is returned); the other batches still are.
    """
    info: dict[str, Any] = {"label": target.label, "command": target.command, "notes": target.notes}
    rows: list[Row] = []
    errors: dict[int, str] = {}
    with running(target, pins.server, workdir / f"server-{target.key}.log") as server:
        info["ready_after_s"] = round(server.wait_ready(), 2)
        info["max_abs_diff"] = {}
        for batch in batches:
            try:
                info["max_abs_diff"][batch] = verify(target, artifacts.bodies[batch], artifacts.expected[batch])
            except BenchError as error:
                errors[batch] = f"batch {batch}: {error}"
                print(f"  {target.key} batch {batch:>2}: NOT MEASURED: {error}", flush=True)
                continue
            script = lua_script(artifacts.bodies[batch], workdir, f"bodies-{batch}")
            if args.warmup > 0:
                load_target(target, script, args.warmup, args, pins)
            loadavg = os.getloadavg()[0]
            result = load_target(target, script, args.duration, args, pins)
            if server.proc.poll() is not None:
                raise BenchError(f"{target.label} died during the run:\n{server.tail()}")
            rows.append(
                Row(
                    target=target.label,
                    key=target.key,
                    batch=batch,
                    requests_per_s=result.requests_per_s,
                    rows_per_s=result.requests_per_s * batch,
                    p50_ms=result.p50_ms,
                    p75_ms=result.p75_ms,
                    p90_ms=result.p90_ms,
                    p99_ms=result.p99_ms,
                    requests=result.requests,
                    non_2xx=result.non_2xx,
                    socket_errors=result.socket_errors,
                    valid=result.clean,
                    round=round_,
                    loadavg_before=round(loadavg, 2),
                )
            )
            flag = "" if result.clean else f"  INVALID: {result.non_2xx} non-2xx, socket errors {result.socket_errors}"
            print(
                f"  {target.key} batch {batch:>2}: {result.requests_per_s:>9.0f} req/s  p50 {result.p50_ms:.3f} ms  "
                f"p99 {result.p99_ms:.3f} ms  (load average before: {loadavg:.2f}){flag}",
                flush=True,
            )
            # the model answers the same after the load as before it
            verify(target, artifacts.bodies[batch], artifacts.expected[batch])
    return rows, info, errors


def in_process_cost(artifacts: Artifacts, pairs: int = IN_PROCESS_PAIRS) -> dict[int, dict[str, float]]:
    """Telemetry's cost per request without HTTP: the same request body through the ASGI app of
    `modelops serve` with telemetry on and off, in this process, interleaved in `pairs` pairs.

    It says how many microseconds telemetry adds, without HTTP parsing or the load generator:
    steadier than wrk's rounds (15-40 points apart on a busy VM), though still moving by 20% or
    more between runs when the VM's speed does.
    """
    import asyncio

    from modelops.runtime.server import InferenceApp, ServeOptions, load_model

    def app(telemetry: bool) -> InferenceApp:
        options = ServeOptions(
            model_path=artifacts.npz, name=MODEL, version=VERSION, baseline_path=artifacts.baseline, telemetry=telemetry
        )
        served = InferenceApp(options)
        served.loaded = load_model(options)
        return served

    async def per_request_us(served: InferenceApp, bodies: Sequence[bytes], count: int) -> float:
        scopes = [
            {
                "type": "http",
                "path": f"/v2/models/{MODEL}/infer",
                "method": "POST",
                "headers": [(b"content-length", str(len(body)).encode())],
            }
            for body in bodies
        ]
        messages = [{"type": "http.request", "body": body, "more_body": False} for body in bodies]
        statuses: list[int] = []
        current: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return current[0]

        async def send(reply: MutableMapping[str, Any]) -> None:
            if reply["type"] == "http.response.start":
                statuses.append(reply["status"])

        started = time.perf_counter()
        for k in range(count):  # the bodies in turn, as wrk sends them
            current[:] = [messages[k % len(messages)]]
            await served(scopes[k % len(scopes)], receive, send)
        elapsed = time.perf_counter() - started
        if set(statuses) != {200}:
            raise BenchError(f"in-process requests answered {sorted(set(statuses))}")
        return elapsed / count * 1e6

    apps = {True: app(True), False: app(False)}
    out: dict[int, dict[str, float]] = {}
    for batch in BATCHES:
        bodies = [path.read_bytes() for path in artifacts.bodies[batch]]
        count = max(200, 4000 // batch)
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(pairs + 1):  # the first pair warms up and is dropped
            for telemetry in (True, False) if i % 2 else (False, True):
                value = asyncio.run(per_request_us(apps[telemetry], bodies, count))
                if i:
                    times[telemetry].append(value)
        on, off = statistics.median(times[True]), statistics.median(times[False])
        added = statistics.median(a - b for a, b in zip(times[True], times[False], strict=True))
        out[batch] = {
            "telemetry_on_us": round(on, 1),
            "telemetry_off_us": round(off, 1),
            "added_us": round(added, 1),
            "requests_per_sample": count,
            "pairs": pairs,
        }
    return out


def in_process_figures(costs: dict[int, dict[str, float]], rows: Sequence[Row]) -> dict[int, dict[str, float]]:
    """The in-process microseconds as a share of throughput: added / (wrk's time per request of b + added)."""
    by = {(r.key, r.batch): r for r in rows if r.valid}
    out = {}
    for batch, cost in costs.items():
        figures = dict(cost)
        b = by.get(("b", batch))
        if b is not None and b.requests_per_s > 0:
            figures["implied_throughput_cost_pct"] = round(
                cost["added_us"] / (1e6 / b.requests_per_s + cost["added_us"]) * 100, 2
            )
        out[batch] = figures
    return out


def summarise(rows: Sequence[Row]) -> tuple[list[Row], dict[tuple[str, int], float]]:
    """Per target and batch, the round with the median throughput (the lower one of an even count), and the
    spread of throughput over rounds in % of that median."""
    groups: dict[tuple[str, int], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.key, r.batch), []).append(r)
    chosen: list[Row] = []
    spread: dict[tuple[str, int], float] = {}
    for key, group in groups.items():
        pool = sorted((r for r in group if r.valid), key=lambda r: r.requests_per_s) or group
        median = pool[(len(pool) - 1) // 2]
        chosen.append(median)
        rates = [r.requests_per_s for r in pool]
        spread[key] = (max(rates) - min(rates)) / median.requests_per_s * 100 if median.requests_per_s else 0.0
    return chosen, spread


def paired_overhead(rows: Sequence[Row]) -> dict[int, dict[str, Any]]:
    """Telemetry overhead per round, from a and b measured back to back in that round: 1 - a/b.

    Pairing cancels what the machine's background load does between rounds (it moves a and b
    alike), which is most of the run-to-run spread; the median over rounds is the figure, and
    the lowest and highest round show how far one round can be trusted.
    """
    by = {(r.key, r.batch, r.round): r for r in rows if r.valid}
    out: dict[int, dict[str, Any]] = {}
    for batch in BATCHES:
        pcts = sorted(
            (1 - by[("a", batch, n)].requests_per_s / by[("b", batch, n)].requests_per_s) * 100
            for (key, b, n) in by
            if key == "b" and b == batch and ("a", batch, n) in by and by[("b", batch, n)].requests_per_s > 0
        )
        if pcts:
            out[batch] = {
                "median_pct": round(statistics.median(pcts), 2),
                "min_pct": round(pcts[0], 2),
                "max_pct": round(pcts[-1], 2),
                "rounds": len(pcts),
                "per_round_pct": [round(p, 2) for p in pcts],
            }
    return out


def alternating_overhead(
    a: Target, b: Target, artifacts: Artifacts, pins: Pinning, *, workdir: Path, args: argparse.Namespace
) -> dict[int, dict[str, Any]]:
    """Telemetry overhead from a and b running side by side (pinned to the same CPU), measured by
    `args.alternate` pairs of short wrk runs per batch, alternating which goes first.

    On a busy VM one wrk run of the same server moves by 15-40%, so a handful of rounds cannot
    tell 7% from 12%. Many short pairs can: the mean of the per-pair overheads comes with its
    standard error, and no server restarts between them.
    """
    out: dict[int, dict[str, Any]] = {}
    with (
        running(a, pins.server, workdir / "alt-a.log") as server_a,
        running(b, pins.server, workdir / "alt-b.log") as server_b,
    ):
        server_a.wait_ready()
        server_b.wait_ready()
        for batch in BATCHES:
            verify(a, artifacts.bodies[batch], artifacts.expected[batch])
            verify(b, artifacts.bodies[batch], artifacts.expected[batch])
            script = lua_script(artifacts.bodies[batch], workdir, f"alternate-{batch}")
            for target in (a, b):
                load_target(target, script, max(args.warmup, 1), args, pins)
            rates: dict[str, list[float]] = {"a": [], "b": []}
            for i in range(args.alternate):
                for target in (a, b) if i % 2 else (b, a):
                    result = load_target(target, script, args.alternate_duration, args, pins)
                    if not result.clean:
                        raise BenchError(f"{target.label}: errors during an alternating run at batch {batch}")
                    rates[target.key].append(result.requests_per_s)
            pcts = [(1 - ra / rb) * 100 for ra, rb in zip(rates["a"], rates["b"], strict=True)]
            mean = statistics.mean(pcts)
            error = statistics.stdev(pcts) / len(pcts) ** 0.5 if len(pcts) > 1 else float("nan")
            out[batch] = {
                "mean_pct": round(mean, 2),
                "standard_error_pct": round(error, 2),
                "median_pct": round(statistics.median(pcts), 2),
                "pairs": len(pcts),
                "seconds_each": args.alternate_duration,
                "a_req_s": [round(r) for r in rates["a"]],
                "b_req_s": [round(r) for r in rates["b"]],
            }
            if server_a.proc.poll() is not None or server_b.proc.poll() is not None:
                raise BenchError("a server died during the alternating runs")
    return out


def derived(rows: Sequence[Row], all_rows: Sequence[Row]) -> dict[str, Any]:
    """Telemetry overhead (the median of per-round pairs when there are several rounds) and
    modelops vs MLServer (from the median rounds)."""
    by = {(r.key, r.batch): r for r in rows if r.valid}

    def ratio(a: str, b: str, batch: int) -> float | None:
        if (a, batch) in by and (b, batch) in by and by[(b, batch)].requests_per_s > 0:
            return by[(a, batch)].requests_per_s / by[(b, batch)].requests_per_s
        return None

    paired = paired_overhead(all_rows)
    overhead: dict[int, float | None] = {}
    vs_mlserver: dict[int, float | None] = {}
    for batch in BATCHES:
        r = ratio("a", "b", batch)
        overhead[batch] = None if r is None else round((1 - r) * 100, 2)
        if batch in paired and paired[batch]["rounds"] > 1:
            overhead[batch] = paired[batch]["median_pct"]
        v = ratio("c", "d", batch)
        vs_mlserver[batch] = None if v is None else round(v, 3)
    return {
        "telemetry_overhead_pct": overhead,
        "telemetry_overhead_paired": paired,
        "modelops_vs_mlserver": vs_mlserver,
    }


def print_table(rows: Sequence[Row], spread: dict[tuple[str, int], float], rounds: int) -> None:
    extra = f" {'spread':>7}" if rounds > 1 else ""
    header = f"{'target':<38} {'batch':>5} {'req/s':>9} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8}{extra}"
    print(header)
    print("-" * len(header))
    for r in rows:
        mark = "" if r.valid else "  INVALID (errors during the run)"
        more = f" {spread[(r.key, r.batch)]:>6.1f}%" if rounds > 1 else ""
        print(
            f"{r.key + ') ' + r.target:<38} {r.batch:>5} {r.requests_per_s:>9.0f} {r.rows_per_s:>10.0f} "
            f"{r.p50_ms:>8.3f} {r.p99_ms:>8.3f}{more}{mark}"
        )
    if rounds > 1:
        print(f"(median of {rounds} rounds by req/s; spread = (max - min) / median req/s over the rounds)")


def print_goals(figures: dict[str, Any]) -> dict[str, Any]:
    goals: dict[str, Any] = {}
    print()
    for batch in BATCHES:
        pct = figures["telemetry_overhead_pct"][batch]
        alternating = figures.get("telemetry_alternating", {}).get(batch)
        if alternating is not None:
            pct = alternating["mean_pct"]  # the most precise figure there is, when it was measured
        if pct is None:
            print(f"telemetry overhead, batch {batch:>2}: n/a")
            continue
        met = pct < TELEMETRY_GOAL_PCT
        goals[f"telemetry_overhead_batch_{batch}"] = {
            "value_pct": pct,
            "goal": f"< {TELEMETRY_GOAL_PCT:g}%",
            "met": met,
        }
        paired = figures["telemetry_overhead_paired"].get(batch)
        how = "a vs b"
        if alternating is not None:
            how = (
                f"mean of {alternating['pairs']} alternating pairs of {alternating['seconds_each']} s, a and b "
                f"side by side; standard error {alternating['standard_error_pct']:.1f} points, median "
                f"{alternating['median_pct']:.1f}%"
            )
        elif paired is not None and paired["rounds"] > 1:
            how = (
                f"median of {paired['rounds']} rounds, a vs b in the same round; "
                f"rounds {paired['min_pct']:.1f}% .. {paired['max_pct']:.1f}%"
            )
        print(
            f"telemetry overhead, batch {batch:>2}: {pct:6.1f}% of throughput ({how})   "
            f"goal < {TELEMETRY_GOAL_PCT:g}%: {'met' if met else 'MISSED'}"
        )
    for batch, cost in figures["in_process"].items():
        implied = cost.get("implied_throughput_cost_pct")
        share = f"; {implied:.1f}% of b's throughput under wrk" if implied is not None else ""
        print(
            f"telemetry in-process, batch {batch:>2}: +{cost['added_us']:.1f} us per request "
            f"({cost['telemetry_on_us']:.1f} vs {cost['telemetry_off_us']:.1f} us, median of {cost['pairs']:.0f} "
            f"pairs){share}"
        )
    for batch in BATCHES:
        ratio = figures["modelops_vs_mlserver"][batch]
        if ratio is None:
            print(f"modelops / MLServer,  batch {batch:>2}: n/a")
            continue
        met = ratio >= 1.0
        goals[f"modelops_vs_mlserver_batch_{batch}"] = {"value": ratio, "goal": ">= 1.0", "met": met}
        print(
            f"modelops / MLServer,  batch {batch:>2}: {ratio:6.2f}x throughput (c vs d)   "
            f"goal >= 1.0x: {'met' if met else 'MISSED'}"
        )
    return goals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per target and batch")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load first (0: none)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (one wrk thread)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every target this often, interleaved; median")
    parser.add_argument("--skip-mlserver", action="store_true", help="no MLServer (no venv, no install)")
    parser.add_argument("--skip-in-process", action="store_true", help="no in-process telemetry figure")
    parser.add_argument("--targets", default="abcd", help="targets to run, e.g. `ab` for the telemetry cost alone")
    parser.add_argument(
        "--alternate",
        type=int,
        default=0,
        metavar="N",
        help="also measure telemetry with a and b side by side: N alternating pairs per batch",
    )
    parser.add_argument("--alternate-duration", type=int, default=3, metavar="S", help="seconds of each run there")
    parser.add_argument(
        "--mlserver-workers",
        type=int,
        default=0,
        choices=[0, 1],
        help="MLServer parallel_workers: 0 = inference in the server process (default), 1 = one worker process",
    )
    parser.add_argument("--output", type=Path, help="results JSON (default bench/results/serving-<date>.json)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.connections < 1:
        parser.error("--rounds and --connections must be at least 1 and --duration positive")
    if args.alternate < 0 or args.alternate_duration < 1:
        parser.error("--alternate must be >= 0 and --alternate-duration positive")
    if not args.targets or set(args.targets) - set("abcd"):
        parser.error("--targets takes letters from abcd")
    if "d" not in args.targets:
        args.skip_mlserver = True
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _sigterm)
    started = dt.datetime.now(dt.UTC)
    facts = machine_facts()
    pins = pinning()
    versions = package_versions(
        ["modelops-operator", "numpy", "scikit-learn", "uvicorn", "uvloop", "httptools", "orjson", "prometheus-client"]
    )
    print(
        f"machine: {facts['nproc']} CPUs ({facts['cpu_model']}), {facts['memory_gib']} GiB, "
        f"Python {facts['python']}, {facts['wrk']}"
    )
    print(
        f"load: wrk -t{WRK_THREADS} -c{args.connections} -d{args.duration}s after {args.warmup}s warm-up; {pins.note}"
    )
    loadavg = os.getloadavg()[0]
    if loadavg > 0.5:
        print(
            f"warning: the 1-minute load average is {loadavg:.2f} before the run: other processes use the CPUs "
            "and the figures will be noisy (see loadavg_before per run in the JSON)"
        )
    mlserver_versions: dict[str, str] = {}
    if not args.skip_mlserver:
        mlserver_versions = ensure_mlserver()
    rows: list[Row] = []
    targets_info: dict[str, Any] = {}
    failures: list[str] = []
    failed: dict[str, set[int]] = {}  # target key -> batches not measured (any more)
    with tempfile.TemporaryDirectory(prefix="modelops-bench-") as tmp:
        workdir = Path(tmp)
        artifacts = build_artifacts(workdir)
        targets = [
            modelops_target("a", "modelops numpy-linear, telemetry on", artifacts.npz, artifacts.baseline, workdir),
            modelops_target(
                "b", "modelops numpy-linear, no telemetry", artifacts.npz, artifacts.baseline, workdir, "--no-telemetry"
            ),
            modelops_target("c", "modelops sklearn, telemetry on", artifacts.joblib, artifacts.baseline, workdir),
        ]
        if not args.skip_mlserver:
            targets.append(mlserver_target(artifacts, workdir, args.mlserver_workers))
        targets = [t for t in targets if t.key in args.targets]
        try:
            # rounds interleave the targets, so slow drifts in the machine's background load hit them all
            # alike, and every other round runs them in reverse, so a drift within a round favours none
            for round_ in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"round {round_}/{args.rounds}", flush=True)
                for target in targets if round_ % 2 else targets[::-1]:
                    batches = [b for b in BATCHES if b not in failed.get(target.key, ())]
                    if not batches:
                        continue
                    print(f"{target.key}) {target.label}", flush=True)
                    for note in target.notes if round_ == 1 else []:
                        print(f"   {note}")
                    try:
                        target_rows, info, errors = measure(
                            target, artifacts, pins, workdir, args, round_=round_, batches=batches
                        )
                    except (BenchError, subprocess.SubprocessError, OSError) as error:
                        failures.append(f"{target.key}) {target.label}: {error}")
                        print(f"  FAILED: {error}", file=sys.stderr, flush=True)
                        targets_info.setdefault(target.key, {"label": target.label})["error"] = str(error)
                        failed[target.key] = set(BATCHES)
                        continue
                    rows.extend(target_rows)
                    targets_info.setdefault(target.key, info)
                    for batch, message in errors.items():
                        failures.append(f"{target.key}) {target.label}: {message}")
                        failed.setdefault(target.key, set()).add(batch)
                        targets_info[target.key].setdefault("errors", []).append(message)
        except KeyboardInterrupt:
            print("\ninterrupted: every server has been stopped", file=sys.stderr)
            return 130
        alternating: dict[int, dict[str, Any]] = {}
        if {"a", "b"} <= set(args.targets) and args.alternate:
            print(
                f"alternating: a and b side by side, {args.alternate} pairs of {args.alternate_duration} s per batch",
                flush=True,
            )
            by_key = {t.key: t for t in targets}
            try:
                alternating = alternating_overhead(
                    by_key["a"], by_key["b"], artifacts, pins, workdir=workdir, args=args
                )
            except (BenchError, subprocess.SubprocessError, OSError) as error:
                failures.append(f"alternating a/b: {error}")
        in_process: dict[int, dict[str, float]] = {}
        if {"a", "b"} <= set(args.targets) and not args.skip_in_process:
            print("in-process: the ASGI app with telemetry on and off, no HTTP", flush=True)
            try:
                in_process = in_process_cost(artifacts)
            except (BenchError, OSError) as error:
                failures.append(f"in-process figure: {error}")
    print()
    summary, spread = summarise(rows)
    print_table(summary, spread, args.rounds)
    figures = derived(summary, rows)
    figures["in_process"] = in_process_figures(in_process, summary)
    if alternating:
        figures["telemetry_alternating"] = alternating
    goals = print_goals(figures)
    for failure in failures:
        print(f"FAILED {failure.splitlines()[0]}")
    output = args.output or RESULTS / f"serving-{started.date().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "started": started.isoformat(timespec="seconds"),
        "machine": facts,
        "settings": {
            "wrk": f"-t{WRK_THREADS} -c{args.connections} -d{args.duration}s --latency",
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "targets": args.targets,
            "pinning": pins.note,
            "server_env": SERVER_ENV,
            "features": N_FEATURES,
            "batches": list(BATCHES),
            "request": f"{BODIES} bodies per batch sent in turn, each one [N, 20] FP64 tensor, row-major data; "
            "the same bytes for every target",
            "alternate": {"pairs": args.alternate, "seconds_each": args.alternate_duration},
            "mlserver_parallel_workers": None if args.skip_mlserver else args.mlserver_workers,
        },
        "versions": {"project_venv": versions, "mlserver_venv": mlserver_versions},
        "targets": targets_info,
        "results": [{**asdict(r), "spread_pct": round(spread[(r.key, r.batch)], 1)} for r in summary],
        "all_runs": [asdict(r) for r in rows] if args.rounds > 1 else None,
        "derived": figures,
        "goals": goals,
        "failures": failures,
    }
    output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 1 if failures or not all(r.valid for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
