"""Free TCP ports on 127.0.0.1, so every dev-cluster component stays on loopback."""

from __future__ import annotations

import socket
from contextlib import ExitStack

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free ports on 127.0.0.1.

    All sockets stay bound until every port is known, so the ports differ from each
    other; another process can still take one before our component binds it, which
    the caller sees as a startup failure with the component's log.
    """
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port() -> int:
    """One free port on 127.0.0.1."""
    return free_ports(1)[0]
