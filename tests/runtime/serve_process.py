"""Start `modelops serve` as a real process on a free loopback port, for tests that talk to it over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from modelops.train.dataset import Dataset
from tests.runtime.models_fixture import write_model_dir

ROOT = Path(__file__).resolve().parents[2]


def start_server(directory: Path, *extra: str, until: str = "ready") -> tuple[subprocess.Popen[bytes], str, Dataset]:
    """A server for a model written to `directory`, once /v2/health/<until> answers 200 (at most 20 s);
    returns the process, its base URL (http://127.0.0.1:PORT) and the dataset the model was trained on."""
    _, data = write_model_dir(directory)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PYTHONPATH": str(ROOT / "operator"), "PATH": "/usr/bin:/bin"}
    serve = [sys.executable, "-m", "modelops.cli.main", "serve", "--model-dir", str(directory), "--name", "fraud"]
    flags = ["--version", "v1", "--host", "127.0.0.1", "--port", str(port), *extra]
    proc = subprocess.Popen([*serve, *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/{until}", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, url, data
