"""Free ports for the test suite's clusters, JupyterLab servers and extra listeners."""
from __future__ import annotations

import functools
import random
import subprocess
from collections.abc import Collection

from ..cluster.host import is_linux, system_tool
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


# The kernel's ephemeral range, by platform, as `sysctl` names it: Linux has one key holding
# both ends; macOS and the BSDs two. sysctl rather than /proc/sys: every one of them has it.
SYSCTL_KEYS = {"linux": ("net.ipv4.ip_local_port_range",),
               "bsd": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last")}
# Where sysctl cannot say: both Linux's default (32768-60999) and IANA's (49152-65535, macOS).
EPHEMERAL_FALLBACK = range(32768, 65536)


@functools.lru_cache(maxsize=1)
def ephemeral_ports() -> range:
    """The range the kernel draws outgoing connections' local ports from (32768-60999 on
    Linux by default). A port there may be free when scanned and taken by some client's
    connection a moment later, before the broker binds it: a test session once lost its whole
    cluster that way ("Broker 1 could not listen on 127.0.0.1:40122: the port is taken")."""
    keys = SYSCTL_KEYS["linux" if is_linux() else "bsd"]
    sysctl = system_tool("sysctl")
    if sysctl is None:
        return EPHEMERAL_FALLBACK
    try:
        out = subprocess.run([sysctl, "-n", *keys], capture_output=True, text=True, timeout=5)
        low, high = map(int, out.stdout.split())
    except (OSError, subprocess.SubprocessError, ValueError):
        return EPHEMERAL_FALLBACK
    return range(low, high + 1) if out.returncode == 0 and 0 < low <= high else EPHEMERAL_FALLBACK


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
