"""Free ports for the test suite's clusters, JupyterLab servers and extra listeners."""
from __future__ import annotations

import socket
from collections.abc import Collection

from ..cluster.processes import port_is_free


def free_port(avoid: Collection[int] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (and not one of `avoid`)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid and port_is_free(port):
            return port
    raise RuntimeError("no free port found")


def free_port_base(brokers: int = 3, start: int = 39092, controller_offset: int = 100) -> int:
    """The first client port from `start` (in steps of 10) where a cluster's ports are all free."""
    for base in range(start, start + 2000, 10):
        ports = [base + i for i in range(brokers)] + [base + controller_offset + i for i in range(brokers)]
        if all(port_is_free(p) for p in ports):
            return base
    raise RuntimeError(f"no free ports for a cluster between {start} and {start + 2000}")
