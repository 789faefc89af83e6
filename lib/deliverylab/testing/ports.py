"""Free ports for the test suite's clusters, JupyterLab servers and extra listeners."""
from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path

from ..cluster.processes import port_is_free


def free_port(avoid: Collection[int] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (and not one of `avoid`), drawn
    below the lab's own 19092 and outside the kernel's ephemeral range (see ephemeral_ports)."""
    ephemeral = ephemeral_ports()
    for _ in range(200):
        port = random.randrange(10000, 19000)
        if port not in avoid and port not in ephemeral and port_is_free(port):
            return port
    raise RuntimeError("no free port found between 10000 and 19000")


def ephemeral_ports() -> range:
    """The range the kernel draws outgoing connections' local ports from (32768-60999 on
    Linux by default). A port there may be free when scanned and taken by some client's
    connection a moment later, before the broker binds it: a test session once lost its whole
    cluster that way ("Broker 1 could not listen on 127.0.0.1:40122: the port is taken")."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port_base(brokers: int = 3, start: int = 20092, controller_offset: int = 100) -> int:
    """The first client port from `start` (in steps of 10) where a cluster's ports are all free
    and none lies in the kernel's ephemeral range."""
    ephemeral = ephemeral_ports()
    for base in range(start, start + 2000, 10):
        ports = [base + i for i in range(brokers)] + [base + controller_offset + i for i in range(brokers)]
        if not any(p in ephemeral for p in ports) and all(port_is_free(p) for p in ports):
            return base
    raise RuntimeError(f"no free ports for a cluster between {start} and {start + 2000} outside "
                       f"the ephemeral range {ephemeral.start}-{ephemeral.stop - 1}")
