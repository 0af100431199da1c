"""Child processes that never outlive the Python process that started them.

Each child gets its own session (so its whole process group can be signalled),
logs to a file (so a startup failure can show why), is stopped with SIGTERM then
SIGKILL, and is swept by an `atexit` handler if its owner forgot. When started from
the main thread the child also gets PR_SET_PDEATHSIG, so even a SIGKILLed test run
leaves nothing behind (from other threads it would die with that thread, so no).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

KEEP_ENV = "MODELOPS_KEEP_CLUSTER"
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


class ProcessError(RuntimeError):
    """A managed component failed to start or exited early."""


def keep_workdirs() -> bool:
    """MODELOPS_KEEP_CLUSTER=1 keeps temp dirs (logs, certs, data) for a post-mortem."""
    return os.environ.get(KEEP_ENV, "") not in ("", "0", "false", "no")


def _die_with_parent() -> None:
    """Runs in the forked child before exec: SIGKILL it when our process dies.

    SIGKILL, not SIGTERM: nobody is left to escalate, and a kube-apiserver whose etcd
    is going away can sit in graceful shutdown for a long time.
    """
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file ('' if it does not exist yet)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def wait_for(
    what: str,
    ready: Callable[[], bool],
    watched: list[ManagedProcess],
    blame: ManagedProcess,
    timeout: float,
) -> None:
    """Poll `ready` until true; fail fast with a log tail if a watched process exits."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in watched:
            proc.check_running()
        try:
            if ready():
                return
        except (OSError, ValueError):  # not listening yet, TLS not up, half-written JSON
            pass
        if time.monotonic() > deadline:
            raise ProcessError(blame.describe_failure(f"not ready after {timeout:.0f}s waiting for {what}"))
        time.sleep(0.2)


class ManagedProcess:
    """One long-running component: started in its own session, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stopped = False

    def start(self) -> ManagedProcess:
        main_thread = threading.current_thread() is threading.main_thread()
        self._stopped = False  # started again after a stop or kill: the next stop must stop this one
        self._log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if main_thread else None,  # noqa: PLW1509
            )
        except OSError as e:
            self._log.close()
            raise ProcessError(f"{self.name}: cannot run {self.argv[0]}: {e}") from e
        with _live_lock:
            _live.add(self)
        return self

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise ProcessError(f"{self.name} was never started")
        return self._proc.pid

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_running(self) -> None:
        """Raise with the log tail if the component has exited."""
        if self._proc is not None and self._proc.poll() is not None:
            raise ProcessError(self.describe_failure(f"exited with code {self._proc.returncode}"))

    def describe_failure(self, what: str) -> str:
        return f"{self.name} {what}; last lines of {self.log_path}:\n{tail(self.log_path)}"

    def send_signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the whole process group (SIGSTOP/SIGCONT to freeze and thaw it)."""
        if self.running():
            self._signal_group(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code once the process has exited within `timeout` seconds, else None."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self) -> None:
        """Ask the whole process group to exit; `stop` waits for it."""
        if self.running():
            self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole process group now; `stop` reaps it."""
        if self.running():
            self._signal_group(signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after `timeout`, reap the leader."""
        proc = self._proc
        if proc is not None and not self._stopped:
            self._stopped = True
            if proc.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    proc.wait(timeout)
            # anything the leader left behind in its group goes too
            self._signal_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
        with _live_lock:
            _live.discard(self)

    def restart(self, timeout: float = 10.0) -> ManagedProcess:
        """Stop (SIGTERM, then SIGKILL after `timeout`) and start again with the same arguments and log."""
        self.stop(timeout)
        self._stopped = False
        return self.start()

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)


def stop_all(processes: Sequence[ManagedProcess], timeout: float = 10.0) -> None:
    """SIGTERM all at once (so shutdowns overlap), then stop each one for good."""
    for p in processes:
        p.terminate()
    for p in processes:
        p.stop(timeout)


@atexit.register
def _stop_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    stop_all(leftovers, timeout=5.0)
